"""One model service per server process, shared by every app session.

It puts together the parts the page needs, each in a module of its own:

* :class:`advdemo.store.pairs.PairLoader`: the page's models load once and are
  shared (for light work only: the grids and a user's own digit);
* :class:`advdemo.serving.measurements.Measurements`: the numbers that are stored
  (manifest, the stores' results, this process's memo);
* :class:`advdemo.serving.jobs.JobQueue`: every heavy computation (training and the
  measurements nobody has stored yet) as one bounded, shared queue of jobs,
  run by an engine (:mod:`advdemo.serving.engines`) in a low-priority child process,
  never in a page's run. A finished measurement is kept in the writable
  store, so it is never measured again, even after a restart.

The page's question "what is this number?" always gets an answer at once:
the number, or a :class:`Pending` job to follow. This module adds the
server's limits on what may be asked for.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advdemo import environment
from advdemo.core.accuracies import PairAccuracies
from advdemo.core.config import FAST_RECIPE, LIVE_ROBUST, TRAINING_SPECS, Attack, HParams, ModelKind, Norm
from advdemo.core.data import TRAIN_SIZE, Mnist, load_mnist, training_data_problem
from advdemo.core.results import Curve, Evaluation
from advdemo.core.training import expected_training_seconds
from advdemo.i18n import Message, message
from advdemo.logs import LOGGER
from advdemo.serving.engines import ChildSettings, Engine, ProcessEngine, ThreadEngine
from advdemo.serving.estimates import estimate
from advdemo.serving.gate import ForegroundGate
from advdemo.serving.jobs import JobQueue, JobState, JobView, QueueError
from advdemo.serving.measurements import Measurements, MeasurementTask
from advdemo.serving.tasks import Task, TrainTask, store_result
from advdemo.serving.worker import LocalContext, ModelTrainer
from advdemo.store.pairs import ModelPair, PairLoader
from advdemo.store.storage import ModelStore, StoreError, default_stores, model_id

__all__ = ["JobState", "JobView", "Limits", "ModelPair", "ModelService", "Pending", "QueueError"]

HOSTED_ENV = "ADVDEMO_HOSTED"
TRAINING_ENV = "ADVDEMO_TRAINING"
QUEUE_ENV = "ADVDEMO_QUEUE_CAPACITY"
JOBS_ENV = "ADVDEMO_JOB_CAPACITY"
#: A Ray cluster's address (``auto``, ``ray://host:10001``, or ``local`` for a Ray instance of this machine).
RAY_ENV = "ADVDEMO_RAY_ADDRESS"
HOSTED_EPOCHS = 2
HOSTED_TRAIN_EXAMPLES = 20_000
#: Trainings queued or running at once on a hosted server: a class of 30 cannot fill it for an hour.
HOSTED_QUEUE_CAPACITY = 5
#: Jobs of any kind queued or running at once on a hosted server, and per browser session.
HOSTED_JOB_CAPACITY = 40
PER_SESSION_JOBS = 4
#: A hosted server trains a robust model on demand if it is expected to take no longer than the lesson's.
HOSTED_ROBUST_SECONDS = expected_training_seconds(LIVE_ROBUST, TRAIN_SIZE)


@dataclass(frozen=True)
class Limits:
    """Bounds on the heavy work a server does on demand.

    Hosted mode (``ADVDEMO_HOSTED=1``) trains at most :data:`HOSTED_EPOCHS`
    epochs on the first :data:`HOSTED_TRAIN_EXAMPLES` images, so a custom
    configuration costs a shared server about a minute, and trains robust
    models only as fast as :data:`advdemo.core.config.LIVE_ROBUST`, the
    lesson's "train it yourself" (in full: those are bounded by their cost);
    ``ADVDEMO_TRAINING=off`` switches on-demand training off. Limits
    enter the configuration itself, so a bounded model never poses as a full
    one. A hosted server also snaps attack strengths to the standard ones
    (:func:`advdemo.page.viewstate.parse_query`) and keeps file paths and
    exception texts for its log.
    """

    enabled: bool = True
    max_epochs: int = 100
    train_examples: int | None = None  # None: the whole training set
    #: Whether robust (PGD, random-start FGSM) configurations may train on demand.
    robust: bool = True
    #: Where ``robust`` is off, robust configurations expected to train in no more than this many seconds
    #: (:func:`advdemo.core.training.expected_training_seconds`, the whole training set) still may, unbounded.
    robust_seconds: float | None = None
    #: Trainings queued or running at once (None: no bound); each session has at most one.
    queue_capacity: int | None = None
    #: Jobs of any kind queued or running at once (None: no bound).
    job_capacity: int | None = None
    #: Jobs one session may have queued or running at once.
    per_session: int = PER_SESSION_JOBS
    #: A server shared by people who must not see its file paths or exception texts.
    hosted: bool = False

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        """Limits from ``ADVDEMO_HOSTED``, ``ADVDEMO_TRAINING``, ``ADVDEMO_QUEUE_CAPACITY`` and
        ``ADVDEMO_JOB_CAPACITY`` (whole numbers)."""
        env = os.environ if environ is None else environ
        enabled = environment.switch(env, TRAINING_ENV, default=True)
        hosted = environment.switch(env, HOSTED_ENV, default=False)
        capacity = environment.whole(env, QUEUE_ENV, 1, 10_000) or (HOSTED_QUEUE_CAPACITY if hosted else None)
        jobs = environment.whole(env, JOBS_ENV, 1, 100_000) or (HOSTED_JOB_CAPACITY if hosted else None)
        if hosted:
            # PGD training costs several times FGSM's: a shared server trains none costlier than the lesson's.
            return cls(enabled=enabled, max_epochs=HOSTED_EPOCHS, train_examples=HOSTED_TRAIN_EXAMPLES, robust=False,
                       robust_seconds=HOSTED_ROBUST_SECONDS, queue_capacity=capacity, job_capacity=jobs, hosted=True)
        return cls(enabled=enabled, queue_capacity=capacity, job_capacity=jobs)

    def _fast_robust(self, hparams: HParams) -> bool:
        return (TRAINING_SPECS[hparams.training_attack].robust and not self.robust and self.robust_seconds is not None
                and expected_training_seconds(hparams, TRAIN_SIZE) <= self.robust_seconds)

    def allows(self, hparams: HParams) -> bool:
        """Whether ``hparams`` may train on demand within these limits."""
        robust = TRAINING_SPECS[hparams.training_attack].robust
        return self.enabled and (not robust or self.robust or self._fast_robust(hparams))

    def bound(self, hparams: HParams) -> HParams:
        """``hparams`` within these limits (a robust configuration allowed by its cost stays whole)."""
        if self._fast_robust(hparams):
            return hparams
        examples = hparams.train_examples
        if self.train_examples is not None:
            examples = min(examples or self.train_examples, self.train_examples)
        adv_epochs = None if hparams.adv_epochs is None else min(hparams.adv_epochs, self.max_epochs)
        return dataclasses.replace(hparams, epochs=min(hparams.epochs, self.max_epochs),
                                   train_examples=examples, adv_epochs=adv_epochs)


@dataclass(frozen=True)
class Pending:
    """A number that is not measured yet: the task that measures it, and its job.

    ``job`` is None when the queue refused the request (``refusal`` says why,
    in one sentence); the page asks again later.
    """

    task: MeasurementTask
    job: JobView | None
    refusal: Message | None = None

    @property
    def failed(self) -> bool:
        return self.job is not None and self.job.state is JobState.FAILED


def choose_engine(stores: list[ModelStore], data_dir: str | None, trainer: ModelTrainer | None,
                  settings: ChildSettings, gate: ForegroundGate) -> Engine:
    """The engine the environment asks for: a Ray cluster (``ADVDEMO_RAY_ADDRESS``, with the ``cluster`` extra;
    several replicas share its jobs), the calling thread (``ADVDEMO_JOB_ENGINE=thread``, or a stub
    ``trainer``), else low-priority child processes."""
    address = os.environ.get(RAY_ENV)
    if address and trainer is None:
        from advdemo.serving.ray_engine import RayEngine  # noqa: PLC0415 - the optional extra

        return RayEngine(stores, data_dir, None if address == "local" else address)
    if trainer is not None or os.environ.get("ADVDEMO_JOB_ENGINE") == "thread":
        return ThreadEngine(LocalContext(stores, data_dir, trainer))
    return ProcessEngine(stores, data_dir, settings, gate)


class JobRunner:
    """Runs the queue's jobs on an engine, and keeps each measurement's result in this process and in the
    writable store, so that it is never measured again."""

    def __init__(self, engine: Engine, measurements: Measurements, stores: list[ModelStore]):
        self.engine, self._measurements, self._stores = engine, measurements, stores
        #: How many times each task was computed by this process (a task is never computed twice).
        self.computed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, task: Task, report: Callable[[Any], None], cancel: threading.Event) -> None:
        # A job waits in this replica's queue; meanwhile another replica (or another process sharing the
        # store) may have measured the same number. Then it is read, not measured again.
        if not isinstance(task, TrainTask) and self._measurements.result(task) is not None:
            LOGGER.info("job %s (%s) was measured meanwhile elsewhere: read from the store", task.key(), task.kind)
            return
        start = time.perf_counter()
        data = self.engine.run(task, report, cancel)
        seconds = time.perf_counter() - start
        with self._lock:
            self.computed[task.key()] += 1
        LOGGER.info("job %s (%s) took %.1f s", task.key(), task.kind, seconds)
        if isinstance(task, TrainTask):
            return
        self._measurements.keep(task, data)
        if not self.engine.stores_results:
            store_result(self._stores, task, data, seconds)


class ModelService:
    """Models, jobs and results for the page: see the module docstring."""

    def __init__(self, stores: list[ModelStore] | None = None, data_dir: str | None = None,
                 recipe: HParams = FAST_RECIPE, limits: Limits = Limits(),
                 trainer: ModelTrainer | None = None, engine: Engine | None = None):
        """``trainer``, if given, trains each model in the queue's thread instead of a child process,
        as ``trainer(kind, hparams, mnist, stores, progress=...)`` (tests pass stubs); ``engine`` replaces
        the engine the environment chooses (:func:`choose_engine`)."""
        self.stores = stores if stores is not None else default_stores()
        self.data_dir = data_dir
        self.recipe = recipe
        self.limits = limits
        self._pairs = PairLoader(self.stores)
        self.child_settings = ChildSettings.from_env()
        #: Pages run their reruns in ``gate.interactive()``: jobs wait while they do.
        self.gate = ForegroundGate(self.child_settings.pause)
        self.engine = engine = engine or choose_engine(self.stores, data_dir, trainer, self.child_settings, self.gate)
        self.measurements = Measurements(self.mnist, self.stores)
        self.runner = JobRunner(engine, self.measurements, self.stores)
        self._queue = JobQueue(self.runner, capacity=limits.job_capacity, training_capacity=limits.queue_capacity,
                               per_owner=limits.per_session, on_idle=engine.release)

    @property
    def notes(self) -> list[str]:
        """Skipped corrupt model files, unreadable manifests and the like, for the operator."""
        problems = [f"{s.root}: {s.problem}" for s in self.stores if s.problem]
        return [*self._pairs.notes, *problems]

    def mnist(self) -> Mnist:
        """The MNIST test set (and the training set where it is at hand), loaded once per process.

        Without local files this is the test set shipped with advdemo, so the
        page never waits for a download (raises DataError with instructions).
        """
        return load_mnist(self.data_dir, training=False)

    def training_data_problem(self) -> Message | None:
        """Why training cannot get its data, in one sentence, or None (:mod:`advdemo.core.data`)."""
        return training_data_problem(self.data_dir)

    def training_hparams(self, hparams: HParams) -> HParams:
        """``hparams`` within this service's training limits."""
        return self.limits.bound(hparams)

    def pair(self, hparams: HParams) -> ModelPair | None:
        """The stored pair for ``hparams`` (loaded once), or None if it is not trained yet.

        A fully trained pair (e.g. pretrained) is preferred; otherwise the pair
        trained within this server's limits.
        """
        for candidate in dict.fromkeys([hparams, self.training_hparams(hparams)]):
            pair = self._pairs.load(candidate)
            if pair is not None:
                return pair
        return None

    def held_networks(self) -> list[Any]:
        """The Keras networks this server holds now: its cached pairs' and the spares (the memory
        benchmark counts their graphs)."""
        return self._pairs.held_networks()

    # Light work and stored numbers (the page's run) are :attr:`measurements`': ``svc.measurements.curve(…)``.

    # -- numbers that may need a job: the answer now, or the job to follow ----------------

    def test_metrics(self, pair: ModelPair, attack: Attack, owner: str | None = None) -> Evaluation | Pending:
        """Clean and attacked test accuracy of both models under ``attack``."""
        found = self.measurements.test_metrics(pair, attack)
        return found if found is not None else self.measure(self.measurements.metrics_task(pair, attack), owner)

    def curve(self, pair: ModelPair, attack: Attack, owner: str | None = None) -> Curve | Pending:
        """Both models' accuracy at the standard strengths of ``attack.norm`` (``attack.strength`` is ignored)."""
        found = self.measurements.curve(pair, attack)
        return found if found is not None else self.measure(self.measurements.curve_task(pair, attack), owner)

    def strong(self, pair: ModelPair, norm: Norm, strength: float,
               owner: str | None = None) -> PairAccuracies | Pending:
        """Both models' strong-evaluation accuracies at ``strength``."""
        found = self.measurements.strong(pair, norm, strength)
        return (found if found is not None
                else self.measure(self.measurements.strong_task(pair, norm, strength), owner))

    def measure(self, task: MeasurementTask, owner: str | None = None) -> Any:
        """``task``'s result if anyone has it, else a :class:`Pending` job (joined, queued or refused).

        A job that failed is not asked again until the queue forgets it, so a
        page that polls never starts the same failure over and over.
        """
        hit = self.measurements.result(task)
        if hit is not None:
            return hit
        view = self._queue.view(task.key())
        if view is not None and view.state is JobState.FAILED:
            return Pending(task, view)
        try:
            view = self._queue.request(task, owner)
        except QueueError as exc:
            return Pending(task, None, exc.message)
        if view.state is JobState.DONE:  # finished between the two looks
            hit = self.measurements.result(task)
            if hit is not None:
                return hit
        return Pending(task, view)

    # -- training ------------------------------------------------------------------------

    def expected_seconds(self, hparams: HParams) -> float:
        """Rough wall time of training ``hparams`` (both models) on this server's training digits, at its pace."""
        return estimate(self.stores, hparams, hparams.train_examples or TRAIN_SIZE, with_base=True).seconds

    def request_training(self, hparams: HParams, owner: str | None = None) -> JobView:
        """Queue training for ``hparams`` for ``owner`` (a session) unless it is queued, running or done already.

        Raises StoreError when this server trains nothing (or nothing robust)
        on demand, and :class:`advdemo.serving.jobs.QueueError` when ``owner`` has
        another training or the queue is full.
        """
        if not self.limits.enabled:
            raise StoreError("training on demand is switched off on this server")
        if not self.limits.allows(hparams):
            raise StoreError("this server trains robust models on demand only as fast as the lesson's; "
                             "pick a pretrained one")
        hparams = self.training_hparams(hparams)
        return self._queue.request(TrainTask(hparams, self.expected_seconds(hparams)), owner)

    def cancel_training(self, hparams: HParams, owner: str | None) -> bool:
        """Cancel ``owner``'s job for ``hparams``; returns whether there was one to cancel."""
        return self._queue.cancel(model_id(self.training_hparams(hparams), ModelKind.REGULARIZED), owner)

    def job(self, hparams: HParams) -> JobView | None:
        """The training job for ``hparams``, if the queue knows one."""
        return self._queue.view(model_id(self.training_hparams(hparams), ModelKind.REGULARIZED))

    def busy(self) -> int:
        """How many jobs are queued or running."""
        return self._queue.busy()

    def wait_idle(self, timeout: float = 600.0) -> bool:
        """Block until no job is queued or running (tools and tests; never a page); returns whether it happened."""
        deadline = time.monotonic() + timeout
        while self._queue.busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._queue.busy()

    def failure_text(self, view: JobView | None) -> Message:
        """What the page says about a failed job: the error for a local operator, never on a hosted page."""
        if self.limits.hosted or view is None or not view.error:
            return message("jobs.failed_hosted")
        return message("jobs.failed", error=view.error)
