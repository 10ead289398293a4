"""The rule that page reruns come first: heavy jobs' child processes stop while any page reruns.

Lower CPU priority alone is not enough on a small VM: measured
(``bench/bench_isolation.py``), a slider move's p95 was still 1.5-2x its idle
value while a child trained at the lowest priority, because the training's
use of caches and memory slows the server's own TensorFlow work. So the page
runs its reruns inside :meth:`ForegroundGate.interactive`, which stops the
children (SIGSTOP) while any page reruns and lets them go on (SIGCONT) 1 s
after the last one ends; the p95 ratio is then 1.0. Jobs take the time
between clicks (in a busy class, that can be much longer than they would take
alone). On Windows, which has neither signal, the children only run at low
priority.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator


class ForegroundGate:
    """Stops the job children while interactive work runs, and lets them go on ``linger`` seconds
    after the last of it ends (POSIX).

    The linger covers what follows a rerun (the browser drawing its result,
    and a student's next move a moment later), which a job's use of caches
    and memory would slow as well. In a busy class some page is always
    rerunning, and jobs would never run: so children stopped for ``max_pause``
    seconds run for ``grant`` seconds whatever the pages do (at their low
    priority, the pages still come first for the CPU), and a student waiting
    for a number gets it in a bounded time. A gate that is not ``enabled``
    only counts: it never stops a child.
    """

    def __init__(self, enabled: bool = True, linger: float = 1.0, max_pause: float = 6.0,
                 grant: float = 1.0) -> None:
        self.enabled = enabled
        self.linger = linger
        self.max_pause = max_pause
        self.grant = grant
        self._lock = threading.Lock()
        self._active = 0
        self._generation = 0  # counts the moments interactive work ended, so a stale resume does nothing
        self._episode = 0  # counts the stops, so a stale grant does nothing
        self._stopped = False
        self._granting = False
        self._last_end = -float("inf")
        self._children: set[int] = set()

    def _signal(self, pid: int, name: str) -> None:
        sig = getattr(signal, name, None)
        if sig is None or not self.enabled:  # Windows: no stopping, the child's low priority has to do
            return
        with contextlib.suppress(OSError):  # the child has just ended
            os.kill(pid, sig)

    def _later(self, seconds: float, fn, *args) -> None:
        timer = threading.Timer(seconds, fn, args=args)
        timer.daemon = True
        timer.start()

    def attach(self, pid: int) -> None:
        """A new child: stopped at once if a page is rerunning now (or just was)."""
        with self._lock:
            self._children.add(pid)
            if self._stopped:
                self._signal(pid, "SIGSTOP")
                if len(self._children) == 1 and self.max_pause > 0:  # the stop had no child to grant a turn to
                    self._later(self.max_pause, self._grant_turn, self._episode)

    def detach(self, pid: int) -> None:
        """A child that is about to end (or be terminated): never leave it stopped."""
        with self._lock:
            self._children.discard(pid)
        self._signal(pid, "SIGCONT")

    @contextlib.contextmanager
    def interactive(self) -> Iterator[None]:
        """Run the body with every job child stopped (nested and concurrent uses count)."""
        with self._lock:
            self._active += 1
            if not self._stopped and not self._granting:
                self._stop_locked()
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self._generation += 1
                    self._last_end = time.monotonic()
                    if self.linger > 0 and self._children:  # no timer at all while nothing runs
                        self._later(self.linger, self._resume, self._generation)
                    else:
                        self._resume_locked()

    def _stop_locked(self) -> None:
        self._stopped = True
        self._episode += 1
        for pid in self._children:
            self._signal(pid, "SIGSTOP")
        if self.max_pause > 0 and self._children:
            self._later(self.max_pause, self._grant_turn, self._episode)

    def _grant_turn(self, episode: int) -> None:
        """The children have been stopped for ``max_pause``: let them run for ``grant`` seconds."""
        with self._lock:
            if not self._stopped or episode != self._episode:
                return
            self._granting = True
            self._resume_locked()
            self._later(self.grant, self._end_grant)

    def _end_grant(self) -> None:
        with self._lock:
            self._granting = False
            if self._active > 0 or time.monotonic() - self._last_end < self.linger:
                self._stop_locked()  # a pending linger timer resumes them, as after any rerun

    def _resume(self, generation: int) -> None:
        with self._lock:
            if self._active == 0 and generation == self._generation:
                self._resume_locked()

    def _resume_locked(self) -> None:
        self._stopped = False
        for pid in self._children:
            self._signal(pid, "SIGCONT")

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._stopped and bool(self._children)
