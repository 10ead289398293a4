"""The reviewer's worst case at one strength: the strong evaluation's attacks and AutoAttack's, per digit.

A digit counts as robust only if the model answers it correctly clean and
under each of transfer FGSM, white-box FGSM, white-box PGD (the strong
evaluation, :mod:`advdemo.robustness`), APGD-CE, APGD-T and Square
(:mod:`advdemo.autoattack`). Each attack runs on every digit the model gets
right clean, so each has its own accuracy as well as its share in the worst
case; the worst case is exact per digit.

The numbers are measured ahead of time (``advdemo autoattack``): Square's
5,000 queries take minutes per thousand robust digits on two cores, too long
for a page. They are stored in a model's manifest entry, under
:data:`AUTOATTACK_KEY` (the first 1,000 test digits) and
:data:`AUTOATTACK_FULL_KEY` (the whole test set), by norm and strength.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from advdemo.attacks import fgsm_directions
from advdemo.autoattack import apgd, square
from advdemo.compat import keras
from advdemo.config import (
    ROBUST_EPSILONS,
    AutoAttackEval,
    ConfigError,
    HParams,
    ModelKind,
    Norm,
    StrongEval,
    TrainingAttack,
    from_dict,
    robust_hparams,
    to_dict,
)
from advdemo.data import Mnist
from advdemo.evaluation import predict
from advdemo.logs import LogFn, log_info
from advdemo.robustness import Accuracies, PairAccuracies, Rate, pgd_correct
from advdemo.storage import ModelStore, model_id

AUTOATTACK_KEY = "autoattack"
AUTOATTACK_FULL_KEY = "autoattack_full"
#: Lookups prefer the whole test set.
AUTOATTACK_KEYS_BEST_FIRST = (AUTOATTACK_FULL_KEY, AUTOATTACK_KEY)
#: The attacks, in the order they run; each is a field of :class:`AutoAttackOutcomes`.
ATTACKS = ("transfer_fgsm", "whitebox_fgsm", "whitebox_pgd", "apgd_ce", "apgd_t", "square")

#: Called with the name of the attack that has just finished.
StageFn = Callable[[str], None]


@dataclass(frozen=True)
class AutoAttackOutcomes:
    """Per digit, whether the model answers correctly: bool arrays ``(N,)``.

    Every attack's array counts clean mistakes as failures. ``square`` is
    None under L2, which Square does not attack here.
    """

    clean: np.ndarray
    transfer_fgsm: np.ndarray
    whitebox_fgsm: np.ndarray
    whitebox_pgd: np.ndarray
    apgd_ce: np.ndarray
    apgd_t: np.ndarray
    square: np.ndarray | None

    @property
    def worst_case(self) -> np.ndarray:
        """Correct clean and under every attack."""
        worst = self.clean.copy()
        for name in ATTACKS:
            outcome = getattr(self, name)
            if outcome is not None:
                worst &= outcome
        return worst

    def accuracies(self) -> Accuracies:
        return Accuracies(Rate.of(self.clean), Rate.of(self.transfer_fgsm), Rate.of(self.whitebox_fgsm),
                          Rate.of(self.whitebox_pgd), Rate.of(self.worst_case), Rate.of(self.apgd_ce),
                          Rate.of(self.apgd_t), None if self.square is None else Rate.of(self.square))


def autoattack_outcomes(model: keras.Model, images: np.ndarray, labels: np.ndarray, norm: Norm, strength: float, *,
                        transfer_directions: np.ndarray | None = None, strong: StrongEval = StrongEval(),
                        cfg: AutoAttackEval = AutoAttackEval(),
                        stage: StageFn | None = None) -> tuple[AutoAttackOutcomes, dict[str, float]]:
    """Every attack's per-digit outcomes against ``model`` at ``strength``, and each attack's seconds.

    ``images`` ``(N, 28, 28, 1)`` in [0, 1], ``labels`` ``(N,)``.
    ``transfer_directions`` are the base model's FGSM directions for these
    images (None: ``model`` is the base model, whose own gradient is the
    transfer attack). L-infinity runs every attack; L2 all but Square.
    ``stage`` is called after each attack with its name.
    """
    labels = np.asarray(labels, np.int64)
    seconds: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
        start = time.perf_counter()
        result = fn()
        seconds[name] = round(time.perf_counter() - start, 2)
        if stage:
            stage(name)
        return result

    own, predictions = fgsm_directions(model, images, labels, norm)
    clean = predictions == labels
    index = np.flatnonzero(clean)

    def fgsm(directions: np.ndarray) -> np.ndarray:
        return clean & (predict(model, np.clip(images + np.float32(strength) * directions, 0.0, 1.0)) == labels)

    def on_clean(fooled: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        correct = clean.copy()
        if len(index):
            correct[index] = ~fooled(images[index], labels[index])
        return correct

    def apgd_run(targets: int) -> np.ndarray:
        # APGD-T starts once per target class, as AutoAttack runs it; APGD-CE from every start asked for.
        return on_clean(lambda x, y: apgd(model, x, y, norm, strength, iterations=cfg.apgd_iterations,
                                          restarts=1 if targets else cfg.apgd_restarts, targets=targets,
                                          seed=cfg.seed).fooled)

    transfer = timed("transfer_fgsm", lambda: fgsm(own if transfer_directions is None else transfer_directions))
    whitebox = timed("whitebox_fgsm", lambda: transfer if transfer_directions is None else fgsm(own))
    pgd = timed("whitebox_pgd", lambda: pgd_correct(model, images, labels, norm, strength, strong, alive=clean))
    apgd_ce = timed("apgd_ce", lambda: apgd_run(0))
    apgd_t = timed("apgd_t", lambda: apgd_run(cfg.targets))
    gradient_free = None
    if norm is Norm.INFINITY:
        gradient_free = timed("square", lambda: on_clean(lambda x, y: square(
            model, x, y, norm, strength, queries=cfg.square_queries, p_init=cfg.square_p_init, seed=cfg.seed).fooled))
    return AutoAttackOutcomes(clean, transfer, whitebox, pgd, apgd_ce, apgd_t, gradient_free), seconds


@dataclass(frozen=True)
class AutoAttackRecord:
    """One model's accuracies under every attack at one strength, as stored in its manifest entry.

    Measured on the first ``accuracies.clean.n`` test digits; ``seconds`` is
    each attack's wall time.
    """

    norm: Norm
    strength: float
    accuracies: Accuracies
    config: AutoAttackEval
    strong: StrongEval
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def examples(self) -> int:
        return self.accuracies.clean.n

    def to_json(self) -> dict[str, Any]:
        return {"norm": self.norm.value, "strength": self.strength, "config": to_dict(self.config),
                "strong": to_dict(self.strong), "seconds": dict(self.seconds),
                "rates": {name: [r.value, r.low, r.high, r.n] for name, r in self.accuracies.rates().items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AutoAttackRecord:
        """Inverse of :meth:`to_json`; ValueError on malformed data."""
        try:
            rates = {name: Rate(float(v), float(lo), float(hi), int(n)) for name, (v, lo, hi, n) in
                     data["rates"].items()}
            record = cls(Norm(data["norm"]), float(data["strength"]), Accuracies(**rates),
                         from_dict(AutoAttackEval, data["config"]), from_dict(StrongEval, data["strong"]),
                         {str(k): float(v) for k, v in data.get("seconds", {}).items()})
        except (KeyError, TypeError, ConfigError) as exc:
            raise ValueError(f"malformed AutoAttack record: {exc}") from None
        if not record.accuracies.autoattack:
            raise ValueError("malformed AutoAttack record: no APGD accuracy")
        return record

    @classmethod
    def from_entry(cls, entry: dict | None, norm: Norm, strength: float, key: str) -> AutoAttackRecord | None:
        """The record a manifest entry holds under ``metrics[key][norm][strength]``, or None (absent,
        malformed, or measured with other settings than today's defaults, which the page's captions name)."""
        record = cls.stored(entry, norm, strength, key)
        return record if record is not None and record.current() else None

    @classmethod
    def stored(cls, entry: dict | None, norm: Norm, strength: float, key: str) -> AutoAttackRecord | None:
        """The record under ``metrics[key][norm][strength]`` whatever its settings, or None (absent or malformed)."""
        data = ((entry or {}).get("metrics") or {}).get(key, {}).get(norm.value, {}).get(strength_key(strength))
        try:
            return cls.from_json(data) if data else None
        except ValueError:
            return None

    def current(self) -> bool:
        """Whether this was measured with the default settings."""
        return (self.config, self.strong) == (AutoAttackEval(), StrongEval())


def strength_key(strength: float) -> str:
    """How a strength is spelled as a manifest key: ``0.3`` -> ``"0.3"``."""
    return f"{strength:g}"


def stored_autoattack(entry: dict | None, norm: Norm, strength: float) -> AutoAttackRecord | None:
    """A model's stored record at ``strength``: the whole test set's if measured, else the subset's."""
    for key in AUTOATTACK_KEYS_BEST_FIRST:
        record = AutoAttackRecord.from_entry(entry, norm, strength, key)
        if record is not None:
            return record
    return None


def stored_autoattack_pair(base_entry: dict | None, reg_entry: dict | None, norm: Norm,
                           strength: float) -> PairAccuracies | None:
    """Both models' stored AutoAttack accuracies at ``strength`` on the same digits, or None."""
    for key in AUTOATTACK_KEYS_BEST_FIRST:
        base = AutoAttackRecord.from_entry(base_entry, norm, strength, key)
        reg = AutoAttackRecord.from_entry(reg_entry, norm, strength, key)
        if base is not None and reg is not None and base.examples == reg.examples:
            return PairAccuracies(norm, float(strength), base.accuracies, reg.accuracies, "manifest")
    return None


# -- measuring ahead of time into a store ----------------------------------------


def autoattack_jobs(recipe: HParams, *, full: bool) -> list[tuple[str, float]]:
    """The (model id, L-infinity strength) pairs measured ahead of time.

    On the first 1,000 test digits: the base model and the tutorial's model at
    ε 0.1, 0.2 and 0.3, and every robust model at its own ε. On the whole test
    set (``full``): the base and tutorial models at the same strengths and the
    ε 0.3 PGD-trained model at 0.3.
    """
    pair = [model_id(recipe, ModelKind.BASE), model_id(recipe, ModelKind.REGULARIZED)]
    jobs = [(mid, eps) for eps in ROBUST_EPSILONS for mid in pair]
    methods = (TrainingAttack.PGD,) if full else (TrainingAttack.PGD, TrainingAttack.FGSM_RS)
    for attack in methods:
        for eps in ROBUST_EPSILONS:
            if full and eps != max(ROBUST_EPSILONS):
                continue
            jobs.append((model_id(robust_hparams(recipe, attack, eps), ModelKind.REGULARIZED), eps))
    return jobs


def store_record(store: ModelStore, mid: str, record: AutoAttackRecord, key: str) -> None:
    """Add ``record`` to model ``mid``'s manifest entry under ``metrics[key][norm][strength]``."""
    previous = dict((store.entry(mid) or {}).get("metrics", {}).get(key, {}))
    by_strength = {**previous.get(record.norm.value, {}), strength_key(record.strength): record.to_json()}
    store.update_metrics(mid, {key: {**previous, record.norm.value: by_strength}})


def run_autoattack(store: ModelStore, mnist: Mnist, base_mid: str, jobs: list[tuple[str, float]], *,
                   examples: int, key: str, norm: Norm = Norm.INFINITY, cfg: AutoAttackEval = AutoAttackEval(),
                   strong: StrongEval = StrongEval(), log: LogFn = log_info) -> int:
    """Measure every attack on each (model, strength) of ``jobs`` into ``store``'s manifest.

    On the first ``examples`` test digits, transfer attacks crafted on
    ``base_mid``. Resumable: a record measured with the same settings on as
    many digits is skipped. Returns how many records were added. (The page
    shows only records measured with the default settings.)
    """
    x, y = mnist.test_images[:examples], mnist.test_labels[:examples]
    base, _ = store.load(base_mid)
    transfer = fgsm_directions(base, x, y, norm)[0]
    added = 0
    for mid, strength in jobs:
        if _measured(store.entry(mid), norm, strength, key, (cfg, strong, len(y))):
            continue
        model = base if mid == base_mid else store.load(mid)[0]
        outcomes, seconds = autoattack_outcomes(
            model, x, y, norm, strength, transfer_directions=None if mid == base_mid else transfer, strong=strong,
            cfg=cfg, stage=_stage_log(log, f"{mid} ε {strength:g}"))
        record = AutoAttackRecord(norm, float(strength), outcomes.accuracies(), cfg, strong, seconds)
        store_record(store, mid, record, key)
        added += 1
        log(f"{mid} ε {strength:g}: worst case {record.accuracies.worst_case.value:.2%} on {len(y):,} digits "
            f"({sum(seconds.values()):.0f} s)")
    return added


def _stage_log(log: LogFn, where: str) -> StageFn:
    return lambda name: log(f"{where}: {name} done")


def _measured(entry: dict | None, norm: Norm, strength: float, key: str,
              how: tuple[AutoAttackEval, StrongEval, int]) -> bool:
    record = AutoAttackRecord.stored(entry, norm, strength, key)
    return record is not None and (record.config, record.strong, record.examples) == how
