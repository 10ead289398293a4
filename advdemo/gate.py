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
from collections.abc import Iterator


class ForegroundGate:
    """Stops the training children while interactive work runs, and lets them go on ``linger``
    seconds after the last of it ends (POSIX).

    The linger covers what follows a rerun (the browser drawing its result,
    and a student's next move a moment later), which the training's use of
    caches and memory would slow as well. A gate that is not ``enabled``
    only counts: it never stops a child.
    """

    def __init__(self, enabled: bool = True, linger: float = 1.0) -> None:
        self.enabled = enabled
        self.linger = linger
        self._lock = threading.Lock()
        self._active = 0
        self._generation = 0  # counts the moments interactive work ended, so a stale resume does nothing
        self._stopped = False
        self._children: set[int] = set()

    def _signal(self, pid: int, name: str) -> None:
        sig = getattr(signal, name, None)
        if sig is None or not self.enabled:  # Windows: no stopping, the child's low priority has to do
            return
        with contextlib.suppress(OSError):  # the child has just ended
            os.kill(pid, sig)

    def attach(self, pid: int) -> None:
        """A new child: stopped at once if a page is rerunning now (or just was)."""
        with self._lock:
            self._children.add(pid)
            if self._stopped:
                self._signal(pid, "SIGSTOP")

    def detach(self, pid: int) -> None:
        """A child that is about to end (or be terminated): never leave it stopped."""
        with self._lock:
            self._children.discard(pid)
        self._signal(pid, "SIGCONT")

    @contextlib.contextmanager
    def interactive(self) -> Iterator[None]:
        """Run the body with every training child stopped (nested and concurrent uses count)."""
        with self._lock:
            self._active += 1
            if not self._stopped:
                self._stopped = True
                for pid in self._children:
                    self._signal(pid, "SIGSTOP")
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self._generation += 1
                    if self.linger > 0 and self._children:  # no timer at all while nothing trains
                        timer = threading.Timer(self.linger, self._resume, args=(self._generation,))
                        timer.daemon = True
                        timer.start()
                    else:
                        self._resume_locked()

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
