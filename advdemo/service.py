"""One model service per server process, shared by every app session.

It puts together the parts the page needs, each in a module of its own:

* :class:`advdemo.pairs.PairLoader`: models load once and are shared;
* :class:`advdemo.jobs.TrainingQueue`: training runs in one bounded, fair
  background queue, never in a page's thread, so no session freezes; each
  job trains in a child process at the lowest CPU priority
  (:mod:`advdemo.training_process`), so it never slows other users' pages;
* :class:`advdemo.measurements.Measurements`: results that do not depend on
  the session, from the manifest or computed once.

This module adds the server's limits on on-demand training.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advdemo import environment
from advdemo.config import FAST_RECIPE, HParams, ModelKind, TrainingAttack
from advdemo.data import TRAIN_SIZE, Mnist, load_mnist, training_data_problem
from advdemo.i18n import Message
from advdemo.jobs import Cancelled, JobState, JobView, QueueError, TrainingQueue
from advdemo.measurements import Measurements
from advdemo.pairs import ModelPair, PairLoader
from advdemo.storage import ModelStore, StoreError, default_stores, model_id
from advdemo.training import ProgressFn, expected_training_seconds
from advdemo.training_process import ChildSettings, ForegroundGate, StoreSpec, train_in_child

__all__ = ["JobState", "JobView", "Limits", "ModelPair", "ModelService", "QueueError"]

HOSTED_ENV = "ADVDEMO_HOSTED"
TRAINING_ENV = "ADVDEMO_TRAINING"
QUEUE_ENV = "ADVDEMO_QUEUE_CAPACITY"
HOSTED_EPOCHS = 2
HOSTED_TRAIN_EXAMPLES = 20_000
#: Jobs queued or running at once on a hosted server: a class of 30 cannot fill it for an hour.
HOSTED_QUEUE_CAPACITY = 5


@dataclass(frozen=True)
class Limits:
    """Bounds on on-demand training.

    Hosted mode (``ADVDEMO_HOSTED=1``) trains at most :data:`HOSTED_EPOCHS`
    epochs on the first :data:`HOSTED_TRAIN_EXAMPLES` images, so a custom
    configuration costs a shared server about a minute; ``ADVDEMO_TRAINING=off``
    switches on-demand training off. Limits enter the configuration itself, so
    a bounded model never poses as a full one.
    """

    enabled: bool = True
    max_epochs: int = 100
    train_examples: int | None = None  # None: the whole training set
    #: Whether robust (PGD, random-start FGSM) configurations may train on demand.
    robust: bool = True
    #: Jobs queued or running at once (None: no bound); each session has at most one.
    queue_capacity: int | None = None

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        """Limits from ``ADVDEMO_HOSTED``, ``ADVDEMO_TRAINING`` and ``ADVDEMO_QUEUE_CAPACITY`` (a whole number)."""
        env = os.environ if environ is None else environ
        enabled = environment.switch(env, TRAINING_ENV, default=True)
        hosted = environment.switch(env, HOSTED_ENV, default=False)
        capacity = environment.whole(env, QUEUE_ENV, 1, 10_000) or (HOSTED_QUEUE_CAPACITY if hosted else None)
        if hosted:
            # PGD training costs several times FGSM's: a shared server offers the pretrained robust models only.
            return cls(enabled=enabled, max_epochs=HOSTED_EPOCHS, train_examples=HOSTED_TRAIN_EXAMPLES, robust=False,
                       queue_capacity=capacity)
        return cls(enabled=enabled, queue_capacity=capacity)

    def bound(self, hparams: HParams) -> HParams:
        """``hparams`` within these limits."""
        examples = hparams.train_examples
        if self.train_examples is not None:
            examples = min(examples or self.train_examples, self.train_examples)
        adv_epochs = None if hparams.adv_epochs is None else min(hparams.adv_epochs, self.max_epochs)
        return dataclasses.replace(hparams, epochs=min(hparams.epochs, self.max_epochs),
                                   train_examples=examples, adv_epochs=adv_epochs)


class ModelService:
    """Models, training and results for the page: see the module docstring.

    The result methods (:meth:`test_metrics`, :meth:`curve`, :meth:`strong`, …)
    are those of :class:`advdemo.measurements.Measurements`.
    """

    def __init__(self, stores: list[ModelStore] | None = None, data_dir: str | None = None,
                 recipe: HParams = FAST_RECIPE, limits: Limits = Limits(),
                 trainer: Callable[..., Any] | None = None):
        """``trainer``, if given, replaces the child process: it is called in the queue's thread as
        ``trainer(kind, hparams, mnist, stores, progress=...)`` for each model (tests pass stubs)."""
        self.stores = stores if stores is not None else default_stores()
        self.data_dir = data_dir
        self.recipe = recipe
        self.limits = limits
        self._pairs = PairLoader(self.stores)
        self._model_trainer = trainer
        self.child_settings = ChildSettings.from_env()
        #: Pages run their reruns in ``gate.interactive()``: training waits while they do.
        self.gate = ForegroundGate(self.child_settings.pause)
        self._queue = TrainingQueue(self._train, capacity=limits.queue_capacity, estimate=self.expected_seconds)
        self.measurements = Measurements(self.mnist)
        m = self.measurements
        self.ready, self.attack_digits, self.examples_for = m.ready, m.attack_digits, m.examples_for
        self.curve, self.test_metrics = m.curve, m.test_metrics
        self.strong, self.strong_ready, self.strong_curve = m.strong, m.strong_ready, m.strong_curve
        self.seed_curves, self.own_digit = m.seed_curves, m.own_digit

    @property
    def notes(self) -> list[str]:
        """Skipped corrupt model files and the like, for the page to show."""
        return self._pairs.notes

    def mnist(self) -> Mnist:
        """The MNIST test set (and the training set where it is at hand), loaded once per process.

        Without local files this is the test set shipped with advdemo, so the
        page never waits for a download (raises DataError with instructions).
        """
        return load_mnist(self.data_dir, training=False)

    def training_data_problem(self) -> Message | None:
        """Why training cannot get its data, in one sentence, or None (:func:`advdemo.data.training_data_problem`)."""
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

    # -- training ------------------------------------------------------------

    def expected_seconds(self, hparams: HParams) -> float:
        """Rough wall time of training ``hparams`` (both models) on this server's training digits."""
        return expected_training_seconds(hparams, hparams.train_examples or TRAIN_SIZE, with_base=True)

    def request_training(self, hparams: HParams, owner: str | None = None) -> JobView:
        """Queue training for ``hparams`` for ``owner`` (a session) unless it is queued, running or done already.

        Raises StoreError when this server trains nothing (or nothing robust)
        on demand, and :class:`advdemo.jobs.QueueError` when ``owner`` has
        another job or the queue is full.
        """
        if not self.limits.enabled:
            raise StoreError("training on demand is switched off on this server")
        if hparams.training_attack is not TrainingAttack.FGSM and not self.limits.robust:
            raise StoreError("this server trains no robust models on demand; pick a pretrained one")
        hparams = self.training_hparams(hparams)
        return self._queue.request(model_id(hparams, ModelKind.REGULARIZED), hparams, owner)

    def cancel_training(self, hparams: HParams, owner: str | None) -> bool:
        """Cancel ``owner``'s job for ``hparams``; returns whether there was one to cancel."""
        return self._queue.cancel(model_id(self.training_hparams(hparams), ModelKind.REGULARIZED), owner)

    def job(self, hparams: HParams) -> JobView | None:
        return self._queue.view(model_id(self.training_hparams(hparams), ModelKind.REGULARIZED))

    def busy(self) -> int:
        """How many jobs are queued or running."""
        return self._queue.busy()

    def _train(self, hparams: HParams, progress: ProgressFn, cancel: threading.Event) -> None:
        if self._model_trainer is None:
            train_in_child(hparams, progress, cancel, data_dir=self.data_dir,
                           stores=[StoreSpec(str(s.root), s.writable) for s in self.stores],
                           settings=self.child_settings, gate=self.gate)
            return
        mnist = self.training_mnist()
        for kind in ModelKind:
            if cancel.is_set():
                raise Cancelled()
            self._model_trainer(kind, hparams, mnist, self.stores, progress=progress)

    def training_mnist(self) -> Mnist:
        """The whole of MNIST, training set included (raises DataError with instructions)."""
        return load_mnist(self.data_dir)
