"""The training queue: one background worker, jobs in FIFO order, fair to every session.

Training never runs in a page's thread, so no session freezes. A class shares
one small server, so the queue is bounded:

* a request for a configuration that is already queued, running or done joins
  that job;
* each owner (a browser session) has at most one job queued or running;
* at most ``capacity`` jobs are queued or running; past that a request is
  refused with the estimated wait;
* an owner can cancel their own job, queued or running.

A failed job keeps one sentence for the page; its traceback goes to the server
log (the ``advdemo`` logger).
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from advdemo.config import HParams
from advdemo.i18n import LocalizedError, minutes
from advdemo.logs import LOGGER
from advdemo.training import Progress, ProgressFn


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (JobState.QUEUED, JobState.RUNNING)


class QueueError(LocalizedError, RuntimeError):
    """A request the queue refuses; the message says why and what to do, in one sentence."""


class Cancelled(Exception):
    """Raised by a trainer that stopped because its job was cancelled."""


@dataclass(frozen=True)
class JobView:
    """A snapshot of a training job, safe to hand to any thread.

    ``position`` is 0 while running, 1 for the next in the queue; ``wait_seconds``
    is the estimated time until it starts (0 once running).
    """

    state: JobState
    position: int
    progress: Progress | None
    error: str | None
    seconds: float
    owner: str | None = None
    wait_seconds: float = 0.0


@dataclass
class _Job:
    key: str
    hparams: HParams
    owner: str | None
    expected: float  # seconds the job is expected to run
    state: JobState = JobState.QUEUED
    progress: Progress | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    cancel: threading.Event = field(default_factory=threading.Event)


#: Trains whatever ``hparams`` needs, reporting through the progress function, and
#: stops early (raising :class:`Cancelled`) once the event is set.
Trainer = Callable[[HParams, ProgressFn, threading.Event], None]


class TrainingQueue:
    """Jobs by key, run one at a time by a worker thread.

    ``estimate(hparams)`` gives a job's expected seconds, for the waits the
    queue quotes; ``capacity`` bounds the jobs queued or running (None: no bound).
    """

    def __init__(self, trainer: Trainer, *, capacity: int | None = None,
                 estimate: Callable[[HParams], float] = lambda hp: 0.0):
        self._trainer = trainer
        self._capacity = capacity
        self._estimate = estimate
        self._changed = threading.Condition()
        self._jobs: dict[str, _Job] = {}
        self._waiting: deque[_Job] = deque()
        self._worker: threading.Thread | None = None

    def request(self, key: str, hparams: HParams, owner: str | None = None) -> JobView:
        """Queue ``hparams`` under ``key``, or join that job if it is queued, running or done.

        Raises :class:`QueueError` if ``owner`` already has another active job
        or the queue is full.
        """
        with self._changed:
            job = self._jobs.get(key)
            if job is not None and job.state in (JobState.QUEUED, JobState.RUNNING, JobState.DONE):
                return self._view(job)
            mine = [j for j in self._jobs.values() if j.state.active and owner is not None and j.owner == owner]
            if mine:
                raise QueueError("training.one_per_session")
            active = [j for j in self._jobs.values() if j.state.active]
            if self._capacity is not None and len(active) >= self._capacity:
                raise QueueError("training.queue_full", capacity=self._capacity,
                                 wait=minutes(self._wait(len(self._waiting))))
            job = _Job(key, hparams, owner, self._estimate(hparams))
            self._jobs[key] = job
            self._waiting.append(job)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="advdemo-trainer", daemon=True)
                self._worker.start()
            self._changed.notify_all()
            return self._view(job)

    def cancel(self, key: str, owner: str | None = None) -> bool:
        """Cancel job ``key`` if it is active and ``owner``'s (any owner if None); returns whether it was."""
        with self._changed:
            job = self._jobs.get(key)
            if job is None or not job.state.active or (owner is not None and job.owner != owner):
                return False
            if job.state is JobState.QUEUED:
                self._waiting.remove(job)
                job.state = JobState.CANCELLED
            job.cancel.set()  # a running trainer stops at its next check
            return True

    def view(self, key: str) -> JobView | None:
        with self._changed:
            job = self._jobs.get(key)
            return None if job is None else self._view(job)

    def owned(self, owner: str) -> JobView | None:
        """``owner``'s active job, if any."""
        with self._changed:
            job = next((j for j in self._jobs.values() if j.state.active and j.owner == owner), None)
            return None if job is None else self._view(job)

    def busy(self) -> int:
        """How many jobs are queued or running."""
        with self._changed:
            return sum(j.state.active for j in self._jobs.values())

    def _wait(self, ahead: int) -> float:
        """Seconds until the job at index ``ahead`` of the waiting line starts (lock held)."""
        running = [j for j in self._jobs.values() if j.state is JobState.RUNNING]
        left = sum(max(0.0, j.expected - (time.monotonic() - j.started)) for j in running)
        return left + sum(j.expected for j in list(self._waiting)[:ahead])

    def _view(self, job: _Job) -> JobView:
        position = self._waiting.index(job) + 1 if job.state is JobState.QUEUED else 0
        wait = self._wait(position - 1) if position else 0.0
        return JobView(job.state, position, job.progress, job.error, time.monotonic() - job.started, job.owner, wait)

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting:
                    self._changed.wait()
                job = self._waiting.popleft()
                job.state, job.started = JobState.RUNNING, time.monotonic()

            def report(p: Progress, job: _Job = job) -> None:
                with self._changed:
                    job.progress = p

            try:
                self._trainer(job.hparams, report, job.cancel)
                outcome, error = JobState.DONE, None
            except Cancelled:
                outcome, error = JobState.CANCELLED, None
            except Exception as exc:  # one sentence in the page, the traceback in the server log
                LOGGER.exception("training job %s failed", job.key)
                outcome, error = JobState.FAILED, f"{type(exc).__name__}: {exc}"
            with self._changed:
                job.state, job.error = (JobState.CANCELLED, None) if job.cancel.is_set() else (outcome, error)
