"""Engines run the job queue's tasks somewhere other than a page's run, and return their results as JSON.

* :class:`ProcessEngine` (the server's): a child process at the lowest CPU
  priority (:mod:`advdemo.serving.worker`), stopped while pages rerun
  (:class:`advdemo.serving.gate.ForegroundGate`). Measurements share one long-lived
  child, so TensorFlow loads once, not per job; each training has a child of
  its own. A cancel stops the child; it restarts with the next job.
* :class:`ThreadEngine`: the same tasks in a thread of this process, with
  model copies of their own (tests, and platforms without child processes).

Another engine (a Ray cluster, say) only needs :meth:`Engine.run` and
:meth:`Engine.release`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from advdemo import environment
from advdemo.logs import LOGGER
from advdemo.serving.gate import ForegroundGate
from advdemo.serving.jobs import Cancelled, Steps
from advdemo.serving.tasks import Task, run_to_json
from advdemo.store.storage import ModelStore

#: The child's niceness: the lowest priority, so interactive work always comes first.
NICENESS = 19
#: Operators may change the child's niceness (0..19) and cap its TensorFlow threads (bench/bench_isolation.py
#: compares these settings).
NICE_ENV = "ADVDEMO_TRAINING_NICE"
THREADS_ENV = "ADVDEMO_TRAINING_THREADS"
IDLE_ENV = "ADVDEMO_TRAINING_IDLE_CLASS"
PAUSE_ENV = "ADVDEMO_TRAINING_PAUSE"
_POLL_SECONDS = 0.2


class JobFailed(RuntimeError):
    """A task failed where it ran; the message is one sentence for the server's operator."""


class Engine(Protocol):
    #: Whether the engine's tasks keep their measurements in the writable store themselves (else the job
    #: runner does).
    stores_results: bool

    def run(self, task: Task, report: Any, cancel: threading.Event) -> dict[str, Any]:
        """Run ``task``, calling ``report`` with its progress; return its result's JSON form
        (``task.encode``). Raises :class:`~advdemo.serving.jobs.Cancelled` once ``cancel`` is set."""
        ...

    def release(self) -> None:
        """Free what an idle engine holds (a child process)."""
        ...


def _reporter(report: Any) -> Any:
    """A task's progress callback: measurements call it with ``(done, total)``, training with a Progress."""
    return lambda *p: report(Steps(*p) if len(p) > 1 else p[0])


class ThreadEngine:
    """Runs tasks in the calling thread (the queue's worker) with a :class:`advdemo.serving.worker.LocalContext`."""

    stores_results = False

    def __init__(self, context: Any):
        self.context = context

    def run(self, task: Task, report: Any, cancel: threading.Event) -> dict[str, Any]:
        result = run_to_json(task, self.context, _reporter(report), cancel.is_set)
        if cancel.is_set():
            raise Cancelled()
        return result

    def release(self) -> None:
        pass


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


@dataclass(frozen=True)
class StoreSpec:
    """Where a child finds (and writes) models: a store's folder and whether it is writable."""

    root: str
    writable: bool

    @classmethod
    def of(cls, store: ModelStore) -> StoreSpec:
        return cls(str(store.root), store.writable)


class Child:
    """One child process of :mod:`advdemo.serving.worker`, serving tasks one at a time."""

    def __init__(self, setup: dict[str, Any], gate: ForegroundGate | None):
        self._gate = gate
        # glibc's per-thread malloc arenas let TensorFlow's threads hold ~200 MB more than they use.
        env = {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
        self.proc = subprocess.Popen([sys.executable, "-m", "advdemo.serving.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._send({**setup, "parent": os.getpid()})
        if gate is not None:
            gate.attach(self.proc.pid)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout,), name="advdemo-worker-reader",
                         daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, task: Task, report: Any, cancel: threading.Event) -> dict[str, Any]:
        """Send ``task`` and follow it to its result (see :mod:`advdemo.serving.worker` for the protocol)."""
        from advdemo.serving.worker import progress_from_json  # noqa: PLC0415

        try:
            self._send({"task": task.to_json()})
        except OSError:
            raise JobFailed(f"the worker process had ended (exit code {self.proc.poll()})") from None
        while True:
            if cancel.is_set():
                raise Cancelled()
            try:
                line = self._lines.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:  # the child's stdout closed: it has ended
                self.proc.wait()
                raise JobFailed(f"the worker process stopped unexpectedly (exit code {self.proc.returncode})")
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours: a library printed to stdout
            if "progress" in message:
                report(progress_from_json(message["progress"]))
            elif "result" in message:
                return message["result"]
            elif "error" in message:
                LOGGER.error("a job failed in the worker process:\n%s", message.get("traceback", ""))
                raise JobFailed(message["error"])

    def stop(self) -> None:
        if self._gate is not None:
            self._gate.detach(self.proc.pid)  # a stopped child would not even see SIGTERM
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """End ``proc`` if it still runs: SIGTERM, then SIGKILL after ``timeout`` seconds; reap it either way."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ProcessEngine:
    """Runs tasks in child processes (see the module docstring)."""

    stores_results = False

    def __init__(self, stores: list[ModelStore], data_dir: str | None, settings: ChildSettings = ChildSettings(),
                 gate: ForegroundGate | None = None):
        self._setup = {"stores": [asdict(StoreSpec.of(s)) for s in stores], "data_dir": data_dir,
                       "settings": asdict(settings)}
        self._gate = gate
        self._child: Child | None = None
        self._lock = threading.Lock()

    def run(self, task: Task, report: Any, cancel: threading.Event) -> dict[str, Any]:
        if task.dedicated:
            child = Child(self._setup, self._gate)
            try:
                return child.run(task, report, cancel)
            finally:
                child.stop()
        with self._lock:
            if self._child is None or not self._child.alive:
                self._child = Child(self._setup, self._gate)
            child = self._child
        try:
            return child.run(task, report, cancel)
        except Cancelled:
            self.release()  # a cancelled task stops with its child
            raise
        except JobFailed:
            if not child.alive:
                self.release()  # the next job starts a new one
            raise

    def release(self) -> None:
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.stop()


__all__ = ["Child", "ChildSettings", "Engine", "JobFailed", "ProcessEngine", "StoreSpec", "ThreadEngine",
           "stop_process"]
