"""The job queue: every heavy computation of the server, one at a time, shared and bounded.

Training and measurements (:mod:`advdemo.serving.tasks`) never run in a page's
thread, so no session waits on one. A class shares one small server, so:

* a request for a task that is already queued or running joins that job
  (single flight): sessions asking the same get the same job;
* each owner (a browser session) has at most ``per_owner`` jobs queued or
  running, and at most one training;
* at most ``capacity`` jobs are queued or running (``training_capacity``
  trainings); past that a request is refused with the estimated wait;
* measurements go before trainings (they take seconds, a training minutes);
  otherwise first come, first served;
* an owner can cancel their own job, queued or running;
* finished jobs are forgotten after ``keep_seconds`` (their results live on
  in the store).

A failed job keeps one sentence for the page; its traceback goes to the
server log (the ``advdemo`` logger).
"""

from __future__ import annotations

import atexit
import enum
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from advdemo.core.training import Progress
from advdemo.i18n import LocalizedError, Message, minutes
from advdemo.logs import LOGGER
from advdemo.serving.tasks import Task, TrainTask


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
    """Raised by a runner that stopped because its job was cancelled."""


@dataclass(frozen=True)
class Steps:
    """A measurement's progress: ``done`` of ``total`` units."""

    done: int
    total: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


@dataclass(frozen=True)
class JobView:
    """A snapshot of a job, safe to hand to any thread.

    ``position`` is 0 while running, 1 for the next in the queue; ``wait_seconds``
    is the estimated time until it starts (0 once running), ``left_seconds`` until
    it ends. ``error`` is one sentence for the server's operator (never shown on a
    hosted page).
    """

    state: JobState
    position: int
    progress: Progress | Steps | None
    error: str | None
    seconds: float
    owner: str | None = None
    wait_seconds: float = 0.0
    left_seconds: float = 0.0
    label: Message | None = None


#: The share of a job done before its own pace, not its estimate, says how long it has left.
PACE_KNOWN = 0.05


@dataclass
class _Job:
    task: Task
    owner: str | None
    expected: float  # seconds the job is expected to run
    arrived: int  # arrival order
    state: JobState = JobState.QUEUED
    progress: Progress | Steps | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def training(self) -> bool:
        return isinstance(self.task, TrainTask)

    @property
    def order(self) -> tuple[int, int]:
        return int(self.training), self.arrived

    def left(self) -> float:
        """Seconds until this running job ends: from its own rate once it has progress, else its estimate."""
        elapsed = time.monotonic() - self.started
        fraction = self.progress.fraction if self.progress is not None else 0.0
        if fraction >= PACE_KNOWN:
            return max(0.0, elapsed / fraction - elapsed)
        return max(0.0, self.expected - elapsed)


def _waiting(jobs: Iterable[_Job]) -> list[_Job]:
    """The queued jobs, in the order they will run."""
    return sorted((j for j in jobs if j.state is JobState.QUEUED), key=lambda j: j.order)


def _running_left(jobs: Iterable[_Job]) -> float:
    return sum(j.left() for j in jobs if j.state is JobState.RUNNING)


def _view(jobs: Collection[_Job], job: _Job) -> JobView:
    """What a page sees of ``job`` among ``jobs``: its place in the queue, the wait before it and the time left."""
    position, wait = 0, 0.0
    if job.state is JobState.QUEUED:
        waiting = _waiting(jobs)
        position = waiting.index(job) + 1
        wait = _running_left(jobs) + sum(j.expected for j in waiting[:position - 1])
    left = job.left() if job.state is JobState.RUNNING else wait + job.expected if job.state.active else 0.0
    return JobView(job.state, position, job.progress, job.error, time.monotonic() - job.started, job.owner,
                   wait, left, job.task.label())


#: Runs a task, reporting through the progress function, and stops early (raising
#: :class:`Cancelled`) once the event is set.
Runner = Callable[[Task, Callable[[Any], None], threading.Event], None]


@dataclass(frozen=True)
class Admission:
    """Which new jobs a queue admits: at most ``capacity`` active jobs, ``training_capacity`` of them
    trainings, ``per_owner`` per session and one training per session (None: no bound)."""

    capacity: int | None = None
    training_capacity: int | None = None
    per_owner: int | None = None

    def check(self, active: list[_Job], task: Task, owner: str | None, wait_all: float) -> None:
        """Raise :class:`QueueError` unless a job for ``task`` fits beside ``active``; ``wait_all`` is
        the seconds until the queue would be empty, for the message."""
        training = isinstance(task, TrainTask)
        if owner is not None:
            mine = [j for j in active if j.owner == owner]
            if training and any(j.training for j in mine):
                raise QueueError("training.one_per_session")
            if self.per_owner is not None and len(mine) >= self.per_owner:
                raise QueueError("jobs.per_session", limit=self.per_owner)
        if self.capacity is not None and len(active) >= self.capacity:
            raise QueueError("jobs.queue_full", wait=minutes(wait_all))
        if training and self.training_capacity is not None and (
                sum(j.training for j in active) >= self.training_capacity):
            raise QueueError("training.queue_full", capacity=self.training_capacity, wait=minutes(wait_all))


class JobQueue:
    """Jobs by task key, run one at a time by a worker thread, in the order of the module docstring.

    ``on_idle`` is called by the worker after ``idle_seconds`` without a job
    (an engine frees its child process then).
    """

    def __init__(self, runner: Runner, *, capacity: int | None = None, training_capacity: int | None = None,
                 per_owner: int | None = None, keep_seconds: float = 600.0,
                 on_idle: Callable[[], None] | None = None, idle_seconds: float = 300.0):
        self._runner = runner
        self._admission = Admission(capacity, training_capacity, per_owner)
        self._keep = keep_seconds
        self._on_idle = on_idle
        self._idle_seconds = idle_seconds
        self._changed = threading.Condition()
        self._jobs: dict[str, _Job] = {}
        self._arrivals = 0
        self._worker: threading.Thread | None = None
        self._closed = False
        _OPEN_QUEUES.add(self)

    # -- requests ----------------------------------------------------------------

    def request(self, task: Task, owner: str | None = None) -> JobView:
        """Queue ``task``, or join its job if it is queued, running or done.

        Raises :class:`QueueError` if ``owner`` has too many active jobs
        or the queue is full.
        """
        key = task.key()
        with self._changed:
            self._prune()
            job = self._jobs.get(key)
            if job is not None and job.state in (JobState.QUEUED, JobState.RUNNING, JobState.DONE):
                return self._view(job)
            self._admission.check([j for j in self._jobs.values() if j.state.active], task, owner, self._wait_all())
            self._arrivals += 1
            job = _Job(task, owner, task.expected_seconds(), self._arrivals)
            self._jobs[key] = job
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="advdemo-jobs", daemon=True)
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
                self._finish(job, JobState.CANCELLED)
            job.cancel.set()  # a running job stops at its next check
            return True

    def view(self, key: str) -> JobView | None:
        with self._changed:
            return None if (job := self._jobs.get(key)) is None else self._view(job)

    def busy(self) -> int:
        """How many jobs are queued or running."""
        with self._changed:
            return sum(j.state.active for j in self._jobs.values())

    def __len__(self) -> int:
        """How many jobs the queue remembers, finished ones included."""
        with self._changed:
            return len(self._jobs)

    # -- bookkeeping (lock held) -------------------------------------------------

    def _waiting(self) -> list[_Job]:
        return _waiting(self._jobs.values())

    def _wait_all(self) -> float:
        return _running_left(self._jobs.values()) + sum(j.expected for j in self._waiting())

    def _view(self, job: _Job) -> JobView:
        return _view(self._jobs.values(), job)

    def _finish(self, job: _Job, state: JobState, error: str | None = None) -> None:
        job.state, job.error, job.ended = state, error, time.monotonic()
        self._changed.notify_all()

    def _prune(self) -> None:
        """Forget jobs that ended more than ``keep_seconds`` ago."""
        now = time.monotonic()
        for key in [k for k, j in self._jobs.items() if j.ended is not None and now - j.ended > self._keep]:
            del self._jobs[key]

    # -- the worker --------------------------------------------------------------

    def close(self, timeout: float = 60.0) -> None:
        """Cancel every job and wait up to ``timeout`` seconds for the running one to stop.

        Called for every queue when the interpreter exits: a job still computing in a thread
        when Python tears its threads down would abort the process.
        """
        with self._changed:
            self._closed = True
            for job in self._jobs.values():
                if job.state is JobState.QUEUED:
                    self._finish(job, JobState.CANCELLED)
                job.cancel.set()
            self._changed.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)
        if self._on_idle is not None:
            self._on_idle()

    def _next(self) -> _Job | None:
        """Wait for the next job and mark it running; None after ``idle_seconds`` without one, or once closed."""
        with self._changed:
            deadline = time.monotonic() + self._idle_seconds
            while not self._waiting():
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._changed.wait(left)
            job = self._waiting()[0]
            job.state, job.started = JobState.RUNNING, time.monotonic()
            return job

    def _work(self) -> None:
        while not self._closed:
            job = self._next()
            if job is None:
                if self._on_idle is not None:
                    self._on_idle()
                continue

            def report(p: Progress | Steps, job: _Job = job) -> None:
                with self._changed:
                    job.progress = p

            try:
                self._runner(job.task, report, job.cancel)
                outcome, error = JobState.DONE, None
            except Cancelled:
                outcome, error = JobState.CANCELLED, None
            except Exception as exc:  # one sentence in the page, the traceback in the server log
                LOGGER.exception("job %s failed", job.task.key())
                outcome, error = JobState.FAILED, f"{type(exc).__name__}: {exc}"
            with self._changed:
                self._finish(job, JobState.CANCELLED if job.cancel.is_set() else outcome,
                             None if job.cancel.is_set() else error)
                self._prune()


#: Every queue not yet closed, closed when the interpreter exits (weakly held: a dropped queue just goes).
_OPEN_QUEUES: weakref.WeakSet[JobQueue] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for q in list(_OPEN_QUEUES):
        q.close()


__all__ = ["Cancelled", "JobQueue", "JobState", "JobView", "QueueError", "Runner", "Steps"]
