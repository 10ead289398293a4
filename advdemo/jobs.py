"""The training queue: one background worker, jobs in FIFO order, progress for the page.

Training never runs in a page's thread, so no session freezes. Requests for
a configuration that is already queued or running join that job. A failed
job keeps one sentence for the page; its traceback goes to the server log.
"""

from __future__ import annotations

import enum
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from advdemo.config import HParams
from advdemo.logs import LOGGER
from advdemo.training import Progress, ProgressFn


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class JobView:
    """A snapshot of a training job, safe to hand to any thread."""

    state: JobState
    position: int  # 0 while running; 1 = next in the queue
    progress: Progress | None
    error: str | None
    seconds: float


@dataclass
class _Job:
    key: str
    hparams: HParams
    state: JobState = JobState.QUEUED
    progress: Progress | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)


#: Trains whatever ``hparams`` needs, reporting through the progress function.
Trainer = Callable[[HParams, ProgressFn], None]


class TrainingQueue:
    """Jobs by key, run one at a time by a worker thread that exits when idle."""

    def __init__(self, trainer: Trainer, idle_seconds: float = 60.0):
        self._trainer = trainer
        self._idle = idle_seconds
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._waiting: list[str] = []
        self._worker: threading.Thread | None = None

    def request(self, key: str, hparams: HParams) -> JobView:
        """Queue ``hparams`` under ``key`` unless that job is queued, running or done already."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.state is JobState.FAILED:
                job = _Job(key, hparams)
                self._jobs[key] = job
                self._waiting.append(key)
                self._queue.put(job)
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._work, name="advdemo-trainer", daemon=True)
                    self._worker.start()
        return self.view(key)  # type: ignore[return-value]

    def view(self, key: str) -> JobView | None:
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                return None
            position = self._waiting.index(key) + 1 if key in self._waiting else 0
            return JobView(job.state, position, job.progress, job.error, time.monotonic() - job.started)

    def busy(self) -> int:
        """How many jobs are queued or running."""
        with self._lock:
            return sum(j.state in (JobState.QUEUED, JobState.RUNNING) for j in self._jobs.values())

    def _work(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=self._idle)
            except queue.Empty:
                return  # idle: the next request starts a new worker
            with self._lock:
                self._waiting.remove(job.key)
                job.state, job.started = JobState.RUNNING, time.monotonic()

            def report(p: Progress, job: _Job = job) -> None:
                with self._lock:
                    job.progress = p

            try:
                self._trainer(job.hparams, report)
                with self._lock:
                    job.state = JobState.DONE
            except Exception as exc:  # one sentence in the page, the traceback in the server log
                LOGGER.exception("training job %s failed", job.key)
                with self._lock:
                    job.state, job.error = JobState.FAILED, f"{type(exc).__name__}: {exc}"
