"""Training in a child process at low CPU priority, so a class's sliders stay fast.

TensorFlow's training threads would otherwise take the cores the page's reruns
need: on a 2-core server one student's custom training made every other page
slower. The child (``python -m advdemo.training_process``) runs at ``nice``
19 and, on Linux, in the idle scheduling class, so the kernel gives the
server's page reruns the CPU whenever they want it, and training takes what
is left. The child writes its models through
:class:`advdemo.storage.ModelStore`, which writes atomically, so a child
killed at any moment (a cancel, a crash, a restart) leaves no partial model.

Lower priority alone is not enough on a small VM: measured
(``bench/bench_isolation.py``), a slider move's p95 was still 1.5-2x its idle
value while a child trained at the lowest priority, because the training's
use of caches and memory slows the server's own TensorFlow work. So the page
runs its reruns inside :meth:`ForegroundGate.interactive`, which stops the
children (SIGSTOP) while any page reruns and lets them go on (SIGCONT) 1 s
after the last one ends; the p95 ratio is then 1.0. Training takes the time
between clicks (in a busy class, that can be much longer than it would take
alone). On Windows, which has neither signal, the children only run at low
priority.

The request goes to the child's stdin as JSON; progress, the end and any
failure come back on its stdout as JSON lines. Its stderr (TensorFlow's log)
goes to the server's. A failure comes back as one sentence for the page and a
traceback for the server log.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from advdemo import environment
from advdemo.config import HParams, ModelKind, from_dict, to_dict
from advdemo.jobs import Cancelled
from advdemo.logs import LOGGER
from advdemo.training import Progress, ProgressFn

#: The child's niceness: the lowest priority, so interactive work always comes first.
NICENESS = 19
#: Operators may change the child's niceness (0..19) and cap its TensorFlow threads (bench/bench_isolation.py
#: compares these settings).
NICE_ENV = "ADVDEMO_TRAINING_NICE"
THREADS_ENV = "ADVDEMO_TRAINING_THREADS"
IDLE_ENV = "ADVDEMO_TRAINING_IDLE_CLASS"
PAUSE_ENV = "ADVDEMO_TRAINING_PAUSE"
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ChildSettings:
    """How the child runs: its niceness (0..19), TensorFlow's thread count (None: TensorFlow's default),
    whether it runs in Linux's idle scheduling class (CPU time only when no other process wants it;
    ignored elsewhere), and whether it is stopped while pages rerun (:class:`ForegroundGate`)."""

    niceness: int = NICENESS
    threads: int | None = None
    idle_class: bool = True
    pause: bool = True

    @classmethod
    def from_env(cls, environ=None) -> ChildSettings:
        env = os.environ if environ is None else environ
        niceness = environment.whole(env, NICE_ENV, 0, 19)
        return cls(NICENESS if niceness is None else niceness, environment.whole(env, THREADS_ENV, 1, 256),
                   environment.switch(env, IDLE_ENV, default=True), environment.switch(env, PAUSE_ENV, default=True))


class TrainingFailed(RuntimeError):
    """The child process failed; the message is one sentence for the page."""


@dataclass(frozen=True)
class StoreSpec:
    """Where a child finds (and writes) models: a store's folder and whether it is writable."""

    root: str
    writable: bool


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


def _progress_json(p: Progress) -> dict[str, Any]:
    return {**asdict(p), "model": p.model.value}


def _progress_from_json(data: dict[str, Any]) -> Progress:
    return Progress(**{**data, "model": ModelKind(data["model"])})


def train_in_child(hparams: HParams, progress: ProgressFn, cancel: threading.Event, *, data_dir: str | None,
                   stores: list[StoreSpec], settings: ChildSettings = ChildSettings(),
                   gate: ForegroundGate | None = None) -> None:
    """Train both models of ``hparams`` in a child process; returns when they are stored.

    Calls ``progress`` with the child's reports. Raises :class:`Cancelled` if
    ``cancel`` is set meanwhile (the child is terminated), and
    :class:`TrainingFailed` if the child fails or dies (its traceback is logged).
    ``gate`` stops the child while pages rerun.
    """
    request = {"hparams": to_dict(hparams), "data_dir": data_dir, "stores": [asdict(s) for s in stores],
               "settings": asdict(settings), "parent": os.getpid()}
    proc = subprocess.Popen([sys.executable, "-m", "advdemo.training_process"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(request))
    proc.stdin.close()
    if gate is not None:
        gate.attach(proc.pid)
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream=proc.stdout) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="advdemo-training-reader", daemon=True).start()
    outcome: dict[str, Any] | None = None
    try:
        while outcome is None:
            if cancel.is_set():
                raise Cancelled()
            try:
                line = lines.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:  # the child's stdout closed: it has ended
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours: a library printed to stdout
            if "progress" in message:
                progress(_progress_from_json(message["progress"]))
            elif "done" in message or "error" in message:
                outcome = message
    finally:
        if gate is not None:
            gate.detach(proc.pid)  # a stopped child would not even see SIGTERM
        stop_process(proc)
    if outcome is None:
        raise TrainingFailed(f"the training process stopped unexpectedly (exit code {proc.returncode})")
    if "error" in outcome:
        LOGGER.error("training in a child process failed:\n%s", outcome.get("traceback", ""))
        raise TrainingFailed(outcome["error"])


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """End ``proc`` if it still runs: SIGTERM, then SIGKILL after ``timeout`` seconds; reap it either way."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this child when the server dies, even while it is stopped.

    (The kernel tracks the server's thread that started the child: the
    training queue's worker, which lives as long as the server.)
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415

    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
    if os.getppid() != parent:  # the server died before the line above ran
        raise SystemExit(1)


def main() -> None:
    """The child: read the request from stdin, train, report on stdout (see the module docstring)."""
    try:
        request = json.loads(sys.stdin.read())
        _die_with_parent(request["parent"])
        settings = ChildSettings(**request["settings"])
        if hasattr(os, "nice"):  # POSIX; on Windows the child keeps normal priority
            os.nice(settings.niceness)
        if settings.idle_class and hasattr(os, "SCHED_IDLE"):  # Linux
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        if settings.threads:
            from advdemo.compat import tf  # noqa: PLC0415 - after lowering the priority: TF is slow to load

            tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
            tf.config.threading.set_inter_op_parallelism_threads(settings.threads)
        from advdemo.data import load_mnist  # noqa: PLC0415
        from advdemo.experiment import obtain_model  # noqa: PLC0415
        from advdemo.storage import ModelStore  # noqa: PLC0415

        hp = from_dict(HParams, request["hparams"])
        mnist = load_mnist(request["data_dir"])
        stores = [ModelStore(s["root"], writable=s["writable"]) for s in request["stores"]]
        for kind in ModelKind:
            obtain_model(kind, hp, mnist, stores, progress=lambda p: _send({"progress": _progress_json(p)}))
        _send({"done": True})
    except BaseException as exc:  # everything goes back to the parent, which logs it
        _send({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
