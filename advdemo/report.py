"""Honest robustness tables: the tutorial's numbers next to the strong evaluation's.

* :func:`honest_table`: both models of one configuration at several attack
  strengths, under every attack and in the worst case (stored with pretrained
  models, measured otherwise).
* :func:`compare_methods`: the three training methods at one epsilon, from
  the pretrained models' manifest entries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from advdemo.autoattack_eval import stored_autoattack, stored_autoattack_pair
from advdemo.config import NORM_SPECS, EvalMode, HParams, ModelKind, Norm, StrongEval, TrainingAttack, robust_hparams
from advdemo.i18n import Catalogue, Message, english, message
from advdemo.results import Curve, FgsmMetrics
from advdemo.robustness import (
    STORED_KEYS_BEST_FIRST,
    STRONG_FULL_KEY,
    STRONG_KEY,
    Accuracies,
    EvalProgressFn,
    PairAccuracies,
    Rate,
    StrongCurve,
    strong_curves,
)
from advdemo.storage import ModelStore, model_id


def _stored_curves(base_entry: dict | None, reg_entry: dict | None, norm: Norm,
                   key: str) -> tuple[StrongCurve, StrongCurve] | None:
    """Both models' stored strong curves for ``norm``, if they exist and were measured alike."""
    if not base_entry or not reg_entry or reg_entry.get("metrics", {}).get("base_model") != base_entry.get("id"):
        return None
    base, reg = StrongCurve.from_entry(base_entry, norm, key), StrongCurve.from_entry(reg_entry, norm, key)
    if base is None or reg is None or (base.config, base.examples, base.strengths) != (
            reg.config, reg.examples, reg.strengths):
        return None
    return base, reg


def stored_pair(base_entry: dict | None, reg_entry: dict | None, norm: Norm, strength: float,
                key: str = STRONG_KEY) -> PairAccuracies | None:
    """Both models' stored accuracies at ``strength``, or None if either curve lacks it."""
    curves = _stored_curves(base_entry, reg_entry, norm, key)
    if curves is None:
        return None
    b, a = curves[0].at(strength), curves[1].at(strength)
    return PairAccuracies(norm, strength, b, a, "manifest") if b and a else None


def best_stored_pair(base_entry: dict | None, reg_entry: dict | None, norm: Norm,
                     strength: float) -> PairAccuracies | None:
    """Both models' stored worst case at ``strength``: AutoAttack's where it was measured
    (:func:`advdemo.autoattack_eval.stored_autoattack_pair`), else :func:`stored_pair`; each from the
    whole test set where it was measured, else from the fixed subset."""
    if base_entry and reg_entry and reg_entry.get("metrics", {}).get("base_model") == base_entry.get("id"):
        hit = stored_autoattack_pair(base_entry, reg_entry, norm, strength)
        if hit is not None:
            return hit
    for key in STORED_KEYS_BEST_FIRST:
        hit = stored_pair(base_entry, reg_entry, norm, strength, key)
        if hit is not None:
            return hit
    return None


def stored_worst_curves(base_entry: dict | None, reg_entry: dict | None, norm: Norm) -> Curve | None:
    """Both models' stored worst-case curves, or None."""
    curves = _stored_curves(base_entry, reg_entry, norm, STRONG_KEY)
    if curves is None:
        return None
    base, reg = curves
    return Curve(reg.strengths, base.worst_case, reg.worst_case, reg.examples)


def honest_table(base, regularized, base_entry: dict | None, reg_entry: dict | None, images: np.ndarray,
                 labels: np.ndarray, norm: Norm, strengths: Sequence[float], cfg: StrongEval = StrongEval(), *,
                 progress: EvalProgressFn | None = None) -> list[PairAccuracies]:
    """Both models at each strength (ascending): stored when the manifest has it, else measured.

    Stored numbers on the whole test set come first, then those on the fixed
    subset. The strengths the manifest lacks are measured together on the
    first ``cfg.examples`` of ``images`` ``(N, 28, 28, 1)`` and ``labels``
    ``(N,)``, carried over along them (:func:`advdemo.robustness.outcome_curve`).
    """
    strengths = sorted(float(s) for s in strengths)
    found: dict[float, PairAccuracies] = {}
    for s in strengths:
        hit = best_stored_pair(base_entry, reg_entry, norm, s)
        if hit:
            found[s] = hit
    missing = [s for s in strengths if s not in found]
    if missing:
        x, y = images[:cfg.examples], labels[:cfg.examples]
        for outcome in strong_curves(base, regularized, x, y, norm, missing, cfg, progress=progress):
            found[outcome.strength] = PairAccuracies.of(outcome)
    return [found[s] for s in strengths]


@dataclass(frozen=True)
class MethodRow:
    """One training method's numbers at one L-infinity epsilon (None: not measured).

    ``clean`` and ``transfer_fgsm`` are on the whole test set; PGD and the
    worst case carry their own digit counts and intervals.
    """

    name: Message  # str() gives the English name
    model_id: str
    training: TrainingAttack | None  # None: the base model, no adversarial training
    clean: float | None
    transfer_fgsm: float | None
    whitebox_pgd: Rate | None
    worst_case: Rate | None
    train_seconds: float | None
    epochs: int | None
    #: CPU time of the training (all threads), where it was recorded.
    train_cpu_seconds: float | None = None
    #: Whether AutoAttack's attacks stand behind ``worst_case`` (else the strong evaluation's only).
    autoattack: bool = False

    def training_time(self, tr: Catalogue | None = None) -> str:
        """E.g. ``"21 min (CPU 38 min), 20 epochs"`` (in ``tr``'s language, default English), or ``"–"`` if unknown."""
        tr = tr or english()
        if self.train_seconds is None:
            return "–"
        if self.train_cpu_seconds:
            return tr("compare.time_cpu", minutes=self.train_seconds / 60, cpu_minutes=self.train_cpu_seconds / 60,
                      epochs=self.epochs)
        return tr("compare.time", minutes=self.train_seconds / 60, epochs=self.epochs)


def stored_entry(stores: Sequence[ModelStore], mid: str) -> dict | None:
    """Model ``mid``'s manifest entry in the first of ``stores`` that has it, or None."""
    for store in stores:
        entry = store.entry(mid)
        if entry is not None:
            return entry
    return None


def _strong_rates(entry: dict, epsilon: float) -> Accuracies | None:
    """The stored accuracies at ``epsilon``: AutoAttack's where measured, else the strong evaluation's;
    each the full test set's if measured, else the subset's."""
    record = stored_autoattack(entry, Norm.INFINITY, epsilon)
    if record is not None:
        return record.accuracies
    for key in STORED_KEYS_BEST_FIRST:
        curve = StrongCurve.from_entry(entry, Norm.INFINITY, key)
        acc = curve.at(epsilon) if curve else None
        if acc is not None:
            return acc
    return None


def compare_methods(stores: Sequence[ModelStore], recipe: HParams, epsilon: float) -> list[MethodRow]:
    """The base model, the tutorial's FGSM regularization, random-start FGSM and PGD training at ``epsilon``.

    Read from the stores' manifests only (no model is loaded); a model that is
    not stored, or a number not measured, comes back as None.
    """
    fgsm_strengths = list(NORM_SPECS[Norm.INFINITY].strengths)
    methods = [
        (message("compare.base"), recipe, None),
        (message("compare.tutorial", step=recipe.adv_step_size, multiplier=recipe.adv_multiplier),
         recipe, TrainingAttack.FGSM),
        (message("compare.fgsm-rs", epsilon=epsilon), robust_hparams(recipe, TrainingAttack.FGSM_RS, epsilon),
         TrainingAttack.FGSM_RS),
        (message("compare.pgd", epsilon=epsilon), robust_hparams(recipe, TrainingAttack.PGD, epsilon),
         TrainingAttack.PGD),
    ]
    rows = []
    for name, hp, training in methods:
        kind = ModelKind.BASE if training is None else ModelKind.REGULARIZED
        mid = model_id(hp, kind)
        entry = stored_entry(stores, mid)
        if entry is None:
            rows.append(MethodRow(name, mid, training, None, None, None, None, None, None))
            continue
        # The FGSM curves of the base model live in its regularized models' entries.
        fgsm_entry = entry if training else stored_entry(stores, model_id(recipe, ModelKind.REGULARIZED))
        stored = (fgsm_entry or {}).get("metrics", {}).get("curves", {}).get(EvalMode.TRANSFER.value)
        clean = transfer = None
        if stored and list(stored["strengths"]) == fgsm_strengths and epsilon in fgsm_strengths:
            at = Curve.from_json(stored, (fgsm_entry or {})["metrics"]["test_examples"]).at(epsilon)
            clean, transfer = at.clean.of(kind), at.attacked.of(kind)
        strong = _strong_rates(entry, epsilon)
        epochs = entry["hparams"].get("adv_epochs") or entry["hparams"]["epochs"]
        pgd, worst = (None, None) if strong is None else (strong.whitebox_pgd, strong.worst_case)
        rows.append(MethodRow(name, mid, training, clean, transfer, pgd, worst, entry.get("train_seconds"), epochs,
                              entry.get("metrics", {}).get("train_cpu_seconds"),
                              strong is not None and strong.autoattack))
    return rows


@dataclass(frozen=True)
class Spread:
    """A number measured once per seed: its mean, sample standard deviation (0 for one seed) and the seeds."""

    mean: float
    std: float
    seeds: tuple[int, ...]

    @classmethod
    def of(cls, values: Sequence[float], seeds: Sequence[int]) -> Spread:
        array = np.asarray(values, dtype=np.float64)
        return cls(float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0, tuple(seeds))

    def text(self) -> str:
        """``"93.4% ± 1.3"``: the mean and the standard deviation in points."""
        return f"{self.mean:.1%} ± {self.std * 100:.1f}"


@dataclass(frozen=True)
class SeedSpread:
    """One configuration's regularized model across seeds: clean, transfer-FGSM and white-box-FGSM
    accuracy (at its own step, on the whole test set), and the base model's clean accuracy."""

    hparams: HParams  # the configuration, seed aside
    clean: Spread
    transfer: Spread
    whitebox: Spread
    base_clean: Spread


def _spread(found: Sequence[tuple[int, FgsmMetrics]], name: str,
            kind: ModelKind = ModelKind.REGULARIZED) -> Spread:
    return Spread.of([getattr(m, name).of(kind) for _, m in found], [seed for seed, _ in found])


def seed_spread(stores: Sequence[ModelStore], points: Sequence[HParams], seeds: Sequence[int]) -> list[SeedSpread]:
    """The spread across ``seeds`` of each of ``points``, from the stores' manifests.

    A seed whose model is not stored (or not yet evaluated) is left out; a
    point with no stored seed at all is left out of the result.
    """
    rows = []
    for hp in points:
        found: list[tuple[int, FgsmMetrics]] = []
        for seed in seeds:
            entry = stored_entry(stores, model_id(dataclasses.replace(hp, seed=seed), ModelKind.REGULARIZED))
            try:
                found.append((seed, FgsmMetrics.from_json((entry or {}).get("metrics", {}))))
            except KeyError:
                continue
        if not found:
            continue
        rows.append(SeedSpread(hp, clean=_spread(found, "clean"), transfer=_spread(found, "transfer"),
                               whitebox=_spread(found, "whitebox"), base_clean=_spread(found, "clean", ModelKind.BASE)))
    return rows


def interval_text(rate: Rate) -> str:
    """``"88.1% ± 0.6"``-style text: the value and the larger half-width of its 95% interval, in points."""
    half = max(rate.value - rate.low, rate.high - rate.value) * 100
    return f"{rate.value:.1%} ± {half:.1f}"


__all__ = ["MethodRow", "STRONG_FULL_KEY", "SeedSpread", "Spread", "best_stored_pair", "compare_methods",
           "honest_table", "interval_text", "stored_entry", "seed_spread", "stored_pair", "stored_worst_curves"]
