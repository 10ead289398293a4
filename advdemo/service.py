"""One model service per server process, shared by every app session.

* Models load once and are shared. Keras models are not guaranteed to be
  thread-safe, so each pair is used under its own lock.
* Training runs on one background worker, never in a page's thread, so no
  session freezes. Requests for the same configuration join the same job;
  others wait in a FIFO queue and can see their place in it.
* Results that do not depend on the session (full-test-set accuracy and
  curves for a model pair and an attack) are computed once and reused. For
  FGSM at the standard strengths they come straight from the manifest.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advdemo.config import FAST_RECIPE, NORM_SPECS, Attack, AttackMethod, HParams, Norm, StrongEval, TrainingAttack
from advdemo.data import Mnist, load_mnist
from advdemo.evaluation import attack_pair, evaluate, robustness_curve
from advdemo.experiment import find_model, obtain_model
from advdemo.logs import LOGGER
from advdemo.robustness import EvalProgressFn, PairAccuracies, StrongCurve, strong_at
from advdemo.storage import ModelStore, StoreError, default_stores, model_id
from advdemo.training import Progress

#: PGD costs a gradient per iteration per image, so its test-set numbers use
#: the first this many test images (the page says so), and its curves fewer still.
PGD_EXAMPLES = 1000
PGD_CURVE_EXAMPLES = 300
_MEMO_SIZE = 256
_PAIR_CACHE_SIZE = 16  # ~1 MB of weights each; bounds memory on a long-running server


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
    def __init__(self, stores: list[ModelStore] | None = None, data_dir: str | None = None,
                 recipe: HParams = FAST_RECIPE, limits: Limits = Limits(),
                 trainer: Callable[..., Any] | None = None):
        self.stores = stores if stores is not None else default_stores()
        self.data_dir = data_dir
        self.recipe = recipe
        self.limits = limits
        self._lock = threading.Lock()
        self._pairs: collections.OrderedDict[tuple[str, str], ModelPair] = collections.OrderedDict()
        self._memo: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
        self._jobs: dict[str, _Job] = {}
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._waiting: list[str] = []
        self._trainer = trainer
        self._worker: threading.Thread | None = None
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
        with self._lock:
            if key in self._pairs:
                self._pairs.move_to_end(key)
                return self._pairs[key]
        found = []
        for mid in key:
            hit = self._find(mid)
            if hit is None:
                return None
            found.append(hit)
        (base, base_entry, base_store), (adv, adv_entry, adv_store) = found
        sources = {kind: "pretrained" if not store.writable else "trained on this machine"
                   for kind, store in (("base", base_store), ("adv", adv_store))}
        pair = ModelPair(hparams, base, adv, base_entry, adv_entry, sources)
        with self._lock:
            pair = self._pairs.setdefault(key, pair)
            while len(self._pairs) > _PAIR_CACHE_SIZE:
                self._pairs.popitem(last=False)
        return pair

    # -- training ------------------------------------------------------------

    def request_training(self, hparams: HParams) -> JobView:
        """Queue training for ``hparams`` unless it is queued, running or done already."""
        if not self.limits.enabled:
            raise StoreError("training on demand is switched off on this server")
        if hparams.training_attack is not TrainingAttack.FGSM and not self.limits.robust:
            raise StoreError("this server trains no robust models on demand; pick a pretrained one")
        hparams = self.training_hparams(hparams)
        key = model_id(hparams, "adv")
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
        return self.job(hparams)  # type: ignore[return-value]

    def job(self, hparams: HParams) -> JobView | None:
        key = model_id(self.training_hparams(hparams), "adv")
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
                job = self._queue.get(timeout=60)
            except queue.Empty:
                return  # idle: the next request starts a new worker
            with self._lock:
                self._waiting.remove(job.key)
                job.state, job.started = JobState.RUNNING, time.monotonic()

            def report(p: Progress, job=job) -> None:
                with self._lock:
                    job.progress = p

            try:
                mnist = self.mnist()
                train = self._trainer or obtain_model
                for kind in ("base", "adv"):
                    train(kind, job.hparams, mnist, self.stores, progress=report)
                with self._lock:
                    job.state = JobState.DONE
            except Exception as exc:  # one sentence in the page, the traceback in the server log
                LOGGER.exception("training job %s failed", job.key)
                with self._lock:
                    job.state, job.error = JobState.FAILED, f"{type(exc).__name__}: {exc}"

    # -- results -------------------------------------------------------------

    def _memoized(self, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = compute()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def _has_memo(self, key: tuple) -> bool:
        with self._lock:
            return key in self._memo

    def ready(self, pair: ModelPair, attack: Attack) -> bool:
        """Whether :meth:`test_metrics` and :meth:`curve` for ``attack`` answer at once,
        from the manifest or from an earlier computation."""
        stored = self._stored_curve(pair, attack) is not None
        metrics = self._metrics_in_manifest(pair, attack) or self._has_memo(self._metrics_key(pair, attack))
        return metrics and (stored or self._has_memo(self._curve_key(pair, attack)))

    @staticmethod
    def _curve_key(pair: ModelPair, attack: Attack) -> tuple:
        return "curve", pair.key, dataclasses.replace(attack, strength=0.0)

    @staticmethod
    def _metrics_key(pair: ModelPair, attack: Attack) -> tuple:
        return "metrics", pair.key, attack

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

    def _stored_curve(self, pair: ModelPair, attack: Attack) -> dict | None:
        metrics = pair.adv_entry.get("metrics", {})
        stored = metrics.get("curves", {}).get(attack.mode.value)
        if (stored and attack.method is AttackMethod.FGSM and metrics.get("base_model") == pair.base_entry["id"]
                and metrics.get("attack", {}).get("norm") == attack.norm.value
                and metrics.get("test_examples") == len(self.mnist().test_labels)
                and list(stored["strengths"]) == list(NORM_SPECS[attack.norm].strengths)):
            return stored
        return None

    def curve(self, pair: ModelPair, attack: Attack) -> dict:
        """Accuracy of both models at the standard strengths of ``attack.norm``.

        ``{"strengths", "base", "adv", "examples"}``; from the manifest when it has them.
        """
        stored = self._stored_curve(pair, attack)
        if stored:
            return {**stored, "examples": len(self.mnist().test_labels)}
        key = self._curve_key(pair, attack)

        def compute() -> dict:
            n = self.examples_for(attack, curve=True)
            mnist = self.mnist()
            with pair.lock:
                curve = robustness_curve(pair.base, pair.adv, mnist.test_images[:n], mnist.test_labels[:n],
                                         attack, NORM_SPECS[attack.norm].strengths)
            return {**curve, "examples": n}

        return self._memoized(key, compute)

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

        return self._memoized(self._metrics_key(pair, attack), compute)

    # -- strong evaluation ---------------------------------------------------

    def _stored_strong(self, pair: ModelPair, norm: Norm) -> tuple[StrongCurve, StrongCurve] | None:
        """Both models' stored strong curves for ``norm``, if the manifest has matching ones."""
        base = StrongCurve.from_entry(pair.base_entry, norm)
        adv = StrongCurve.from_entry(pair.adv_entry, norm)
        if (base is None or adv is None or pair.adv_entry.get("metrics", {}).get("base_model") != pair.base_entry["id"]
                or (base.config, base.examples, base.strengths) != (adv.config, adv.examples, adv.strengths)):
            return None
        return base, adv

    def strong_curve(self, pair: ModelPair, norm: Norm) -> dict | None:
        """The stored worst-case curves ``{"strengths", "base", "adv", "examples"}`` for ``norm``, or None."""
        stored = self._stored_strong(pair, norm)
        if stored is None:
            return None
        base, adv = stored
        return {"strengths": list(adv.strengths), "base": list(base.worst_case), "adv": list(adv.worst_case),
                "examples": adv.examples}

    def strong_ready(self, pair: ModelPair, norm: Norm, strength: float) -> bool:
        """Whether :meth:`strong` answers at once (stored, or computed earlier in this process)."""
        stored = self._stored_strong(pair, norm)
        return (stored is not None and strength in stored[1].strengths) or self._has_memo(
            ("strong", pair.key, norm, strength))

    def strong(self, pair: ModelPair, norm: Norm, strength: float,
               progress: EvalProgressFn | None = None) -> PairAccuracies:
        """Both models' strong-evaluation accuracies at ``strength``: stored, or measured now.

        Measured on the first :attr:`StrongEval.examples` test digits, with
        ``progress`` called as it goes (tens of seconds on two cores).
        """
        stored = self._stored_strong(pair, norm)
        if stored is not None and strength in stored[1].strengths:
            base, adv = stored
            return PairAccuracies(norm, strength, base.at(strength), adv.at(strength), "manifest")

        def compute() -> PairAccuracies:
            cfg = StrongEval()
            mnist = self.mnist()
            x, y = mnist.test_images[:cfg.examples], mnist.test_labels[:cfg.examples]
            with pair.lock:
                return PairAccuracies.of(strong_at(pair.base, pair.adv, x, y, norm, strength, cfg, progress=progress))

        return self._memoized(("strong", pair.key, norm, strength), compute)

