"""One model service per server process, shared by every app session.

* Models load once and are shared. Keras models are not guaranteed to be
  thread-safe, so each pair is used under its own lock.
* Training goes to one background queue (:mod:`advdemo.jobs`), never into a
  page's thread, so no session freezes.
* Results that do not depend on the session (test-set accuracy, curves and
  the strong evaluation for a model pair and an attack) are computed once and
  reused. For pretrained models they come straight from the manifest.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advdemo.config import FAST_RECIPE, NORM_SPECS, Attack, AttackMethod, HParams, Norm, StrongEval, TrainingAttack
from advdemo.data import Mnist, load_mnist
from advdemo.evaluation import attack_pair, evaluate, robustness_curve
from advdemo.experiment import find_model, obtain_model, stored_fgsm_curve
from advdemo.jobs import JobState, JobView, TrainingQueue
from advdemo.memo import LruCache
from advdemo.report import best_stored_pair, stored_worst_curves
from advdemo.robustness import EvalProgressFn, PairAccuracies, strong_at
from advdemo.storage import KINDS, ModelStore, StoreError, default_stores, model_id
from advdemo.training import ProgressFn

#: PGD costs a gradient per iteration per image, so its test-set numbers use
#: the first this many test images (the page says so), and its curves fewer still.
PGD_EXAMPLES = 1000
PGD_CURVE_EXAMPLES = 300
_MEMO_SIZE = 256
_PAIR_CACHE_SIZE = 16  # ~1 MB of weights each; bounds memory on a long-running server

__all__ = ["JobState", "JobView", "Limits", "ModelPair", "ModelService"]


@dataclass
class ModelPair:
    """A base model and its regularized copy, with their manifest entries."""

    hparams: HParams
    base: Any
    adv: Any
    base_entry: dict
    adv_entry: dict
    sources: dict[str, str]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.base_entry["id"], self.adv_entry["id"]


HOSTED_ENV = "ADVDEMO_HOSTED"
TRAINING_ENV = "ADVDEMO_TRAINING"


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

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        env = os.environ if environ is None else environ
        enabled = env.get(TRAINING_ENV, "on").strip().lower() not in {"off", "0", "false", "no"}
        if env.get(HOSTED_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
            # PGD training costs several times FGSM's: a shared server offers the pretrained robust models only.
            return cls(enabled=enabled, max_epochs=HOSTED_EPOCHS, train_examples=HOSTED_TRAIN_EXAMPLES, robust=False)
        return cls(enabled=enabled)


HOSTED_EPOCHS = 2
HOSTED_TRAIN_EXAMPLES = 20_000


class ModelService:
    """Models, training and results for the page: see the module docstring."""

    def __init__(self, stores: list[ModelStore] | None = None, data_dir: str | None = None,
                 recipe: HParams = FAST_RECIPE, limits: Limits = Limits(),
                 trainer: Callable[..., Any] | None = None):
        self.stores = stores if stores is not None else default_stores()
        self.data_dir = data_dir
        self.recipe = recipe
        self.limits = limits
        self._lock = threading.Lock()
        self._pairs: LruCache[ModelPair] = LruCache(_PAIR_CACHE_SIZE)
        self._memo: LruCache[Any] = LruCache(_MEMO_SIZE)
        self._model_trainer = trainer or obtain_model
        self._queue = TrainingQueue(self._train)
        self.notes: list[str] = []  # skipped corrupt files and the like, for the page to show

    # -- data and models -----------------------------------------------------

    def mnist(self) -> Mnist:
        """MNIST, loaded once per process (raises DataError with instructions)."""
        return load_mnist(self.data_dir)

    def training_hparams(self, hparams: HParams) -> HParams:
        """``hparams`` within this service's training limits."""
        examples = hparams.train_examples
        if self.limits.train_examples is not None:
            examples = min(examples or self.limits.train_examples, self.limits.train_examples)
        adv_epochs = None if hparams.adv_epochs is None else min(hparams.adv_epochs, self.limits.max_epochs)
        return dataclasses.replace(hparams, epochs=min(hparams.epochs, self.limits.max_epochs),
                                   train_examples=examples, adv_epochs=adv_epochs)

    def _find(self, mid: str):
        def note(message: str) -> None:
            with self._lock:
                if message not in self.notes:
                    self.notes.append(message)

        return find_model(self.stores, mid, note)

    def pair(self, hparams: HParams) -> ModelPair | None:
        """The stored pair for ``hparams`` (loaded once), or None if it is not trained yet.

        A fully trained pair (e.g. pretrained) is preferred; otherwise the pair
        trained within this server's limits.
        """
        for candidate in dict.fromkeys([hparams, self.training_hparams(hparams)]):
            pair = self._load_pair(candidate)
            if pair is not None:
                return pair
        return None

    def _load_pair(self, hparams: HParams) -> ModelPair | None:
        key = (model_id(hparams, "base"), model_id(hparams, "adv"))
        hit = self._pairs.get(key)
        if hit is not None:
            return hit
        found = []
        for mid in key:
            loaded = self._find(mid)
            if loaded is None:
                return None
            found.append(loaded)
        (base, base_entry, base_store), (adv, adv_entry, adv_store) = found
        sources = {kind: "pretrained" if not store.writable else "trained on this machine"
                   for kind, store in (("base", base_store), ("adv", adv_store))}
        return self._pairs.put(key, ModelPair(hparams, base, adv, base_entry, adv_entry, sources))

    # -- training ------------------------------------------------------------

    def request_training(self, hparams: HParams) -> JobView:
        """Queue training for ``hparams`` unless it is queued, running or done already."""
        if not self.limits.enabled:
            raise StoreError("training on demand is switched off on this server")
        if hparams.training_attack is not TrainingAttack.FGSM and not self.limits.robust:
            raise StoreError("this server trains no robust models on demand; pick a pretrained one")
        hparams = self.training_hparams(hparams)
        return self._queue.request(model_id(hparams, "adv"), hparams)

    def job(self, hparams: HParams) -> JobView | None:
        return self._queue.view(model_id(self.training_hparams(hparams), "adv"))

    def busy(self) -> int:
        """How many jobs are queued or running."""
        return self._queue.busy()

    def _train(self, hparams: HParams, progress: ProgressFn) -> None:
        mnist = self.mnist()
        for kind in KINDS:
            self._model_trainer(kind, hparams, mnist, self.stores, progress=progress)

    # -- results -------------------------------------------------------------

    def ready(self, pair: ModelPair, attack: Attack) -> bool:
        """Whether :meth:`test_metrics` and :meth:`curve` for ``attack`` answer at once,
        from the manifest or from an earlier computation."""
        stored = self._stored_curve(pair, attack) is not None
        metrics = self._metrics_in_manifest(pair, attack) or self._metrics_key(pair, attack) in self._memo
        return metrics and (stored or self._curve_key(pair, attack) in self._memo)

    @staticmethod
    def _curve_key(pair: ModelPair, attack: Attack) -> tuple:
        return "curve", pair.key, dataclasses.replace(attack, strength=0.0)

    @staticmethod
    def _metrics_key(pair: ModelPair, attack: Attack) -> tuple:
        return "metrics", pair.key, attack

    def _stored_curve(self, pair: ModelPair, attack: Attack) -> dict | None:
        return stored_fgsm_curve(pair.base_entry, pair.adv_entry, attack, len(self.mnist().test_labels))

    def _metrics_in_manifest(self, pair: ModelPair, attack: Attack) -> bool:
        """Whether the stored curve holds ``attack``'s strength, so no evaluation is needed."""
        return attack.strength in NORM_SPECS[attack.norm].strengths and self._stored_curve(pair, attack) is not None

    def attack_digits(self, pair: ModelPair, images: np.ndarray, labels: np.ndarray, attack: Attack):
        """Both models on attacked ``images``: an :class:`advdemo.evaluation.Attacked`."""
        with pair.lock:
            return attack_pair(pair.base, pair.adv, images, labels, attack)

    def examples_for(self, attack: Attack, *, curve: bool = False) -> int:
        """How many test images the page's numbers for ``attack`` use."""
        n = len(self.mnist().test_labels)
        if attack.method is AttackMethod.PGD:
            return min(n, PGD_CURVE_EXAMPLES if curve else PGD_EXAMPLES)
        return n

    def curve(self, pair: ModelPair, attack: Attack) -> dict:
        """Accuracy of both models at the standard strengths of ``attack.norm``.

        ``{"strengths", "base", "adv", "examples"}``; from the manifest when it has them.
        """
        stored = self._stored_curve(pair, attack)
        if stored:
            return {**stored, "examples": len(self.mnist().test_labels)}

        def compute() -> dict:
            n = self.examples_for(attack, curve=True)
            mnist = self.mnist()
            with pair.lock:
                curve = robustness_curve(pair.base, pair.adv, mnist.test_images[:n], mnist.test_labels[:n],
                                         attack, NORM_SPECS[attack.norm].strengths)
            return {**curve, "examples": n}

        return self._memo.get_or_compute(self._curve_key(pair, attack), compute)

    def test_metrics(self, pair: ModelPair, attack: Attack) -> dict:
        """Clean and attacked test accuracy of both models: the keys of
        :func:`advdemo.evaluation.evaluate` plus ``examples``."""
        if self._metrics_in_manifest(pair, attack):
            curve = self.curve(pair, attack)
            i = NORM_SPECS[attack.norm].strengths.index(attack.strength)
            return {"base_clean_acc": curve["base"][0], "adv_clean_acc": curve["adv"][0],
                    "base_attacked_acc": curve["base"][i], "adv_attacked_acc": curve["adv"][i],
                    "examples": curve["examples"]}

        def compute() -> dict:
            n = self.examples_for(attack)
            mnist = self.mnist()
            with pair.lock:
                result = evaluate(pair.base, pair.adv, mnist.test_images[:n], mnist.test_labels[:n], attack)
            return {**result, "examples": n}

        return self._memo.get_or_compute(self._metrics_key(pair, attack), compute)

    # -- strong evaluation ---------------------------------------------------

    def strong_curve(self, pair: ModelPair, norm: Norm) -> dict | None:
        """The stored worst-case curves ``{"strengths", "base", "adv", "examples"}`` for ``norm``, or None."""
        return stored_worst_curves(pair.base_entry, pair.adv_entry, norm)

    def strong_ready(self, pair: ModelPair, norm: Norm, strength: float) -> bool:
        """Whether :meth:`strong` answers at once (stored, or computed earlier in this process)."""
        return (best_stored_pair(pair.base_entry, pair.adv_entry, norm, strength) is not None
                or ("strong", pair.key, norm, strength) in self._memo)

    def strong(self, pair: ModelPair, norm: Norm, strength: float,
               progress: EvalProgressFn | None = None) -> PairAccuracies:
        """Both models' strong-evaluation accuracies at ``strength``: stored, or measured now.

        Stored numbers come from the whole test set where it was measured,
        else from the fixed subset. Otherwise measured now on the first
        :attr:`StrongEval.examples` test digits, with ``progress`` called as it
        goes (tens of seconds on two cores).
        """
        stored = best_stored_pair(pair.base_entry, pair.adv_entry, norm, strength)
        if stored is not None:
            return stored

        def compute() -> PairAccuracies:
            cfg = StrongEval()
            mnist = self.mnist()
            x, y = mnist.test_images[:cfg.examples], mnist.test_labels[:cfg.examples]
            with pair.lock:
                return PairAccuracies.of(strong_at(pair.base, pair.adv, x, y, norm, strength, cfg, progress=progress))

        return self._memo.get_or_compute(("strong", pair.key, norm, strength), compute)
