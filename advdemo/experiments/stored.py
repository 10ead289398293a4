"""Numbers the stores already hold, looked up without loading a model.

The page shows a stored number before it would measure one, and the reports
read only these. Each lookup prefers AutoAttack's worst case
(:mod:`advdemo.core.autoattack_eval`) to the strong evaluation's alone, and the
whole test set to the fixed subset of its first digits.
"""

from __future__ import annotations

from collections.abc import Sequence

from advdemo.core.accuracies import Accuracies, AutoAttackRecord, PairAccuracies, StrongCurve
from advdemo.core.config import NORM_SPECS, Attack, Norm
from advdemo.core.results import Curve
from advdemo.store.manifest import AutoAttackKind, ModelEntry, StrongKind
from advdemo.store.storage import ModelStore

#: Lookups prefer the whole test set.
STRONG_BEST_FIRST = (StrongKind.FULL, StrongKind.SUBSET)
AUTOATTACK_BEST_FIRST = (AutoAttackKind.FULL, AutoAttackKind.SUBSET)


def stored_entry(stores: Sequence[ModelStore], mid: str) -> ModelEntry | None:
    """Model ``mid``'s manifest entry in the first of ``stores`` that has it, or None."""
    for store in stores:
        entry = store.entry(mid)
        if entry is not None:
            return entry
    return None


def stored_fgsm_curve(base_entry: ModelEntry, regularized_entry: ModelEntry, attack: Attack,
                      test_examples: int) -> Curve | None:
    """The FGSM curve :func:`pair_metrics` stored for ``attack``'s norm and mode, or None.

    Only if it belongs to this base model, covers ``test_examples`` digits and
    the norm's standard strengths.
    """
    metrics = regularized_entry.metrics
    stored = metrics.fgsm_curve(attack.mode)
    measured = metrics.fgsm_attack
    if (stored is not None and attack.shares_direction and metrics.base_model == base_entry.id
            and measured is not None and measured.norm is attack.norm and stored.examples == test_examples
            and stored.strengths == tuple(NORM_SPECS[attack.norm].strengths)):
        return stored
    return None


def _paired(base_entry: ModelEntry | None, reg_entry: ModelEntry | None) -> bool:
    """Whether ``reg_entry``'s transfer attacks were crafted on ``base_entry``'s model."""
    return base_entry is not None and reg_entry is not None and reg_entry.metrics.base_model == base_entry.id


def _stored_curves(base_entry: ModelEntry | None, reg_entry: ModelEntry | None, norm: Norm,
                   kind: StrongKind) -> tuple[StrongCurve, StrongCurve] | None:
    """Both models' stored strong curves for ``norm``, if they exist and were measured alike."""
    if base_entry is None or reg_entry is None or not _paired(base_entry, reg_entry):
        return None
    base, reg = base_entry.metrics.strong(norm, kind), reg_entry.metrics.strong(norm, kind)
    if base is None or reg is None or (base.config, base.examples, base.strengths) != (
            reg.config, reg.examples, reg.strengths):
        return None
    return base, reg


def stored_pair(base_entry: ModelEntry | None, reg_entry: ModelEntry | None, norm: Norm, strength: float,
                kind: StrongKind = StrongKind.SUBSET) -> PairAccuracies | None:
    """Both models' stored strong-evaluation accuracies at ``strength``, or None if either curve lacks it."""
    curves = _stored_curves(base_entry, reg_entry, norm, kind)
    if curves is None:
        return None
    b, a = curves[0].at(strength), curves[1].at(strength)
    return PairAccuracies(norm, strength, b, a, "manifest") if b and a else None


def current_record(entry: ModelEntry | None, norm: Norm, strength: float,
                   kind: AutoAttackKind) -> AutoAttackRecord | None:
    """The AutoAttack record of ``kind`` an entry holds, or None (absent, malformed, or measured with other
    settings than today's defaults, which the page's captions name)."""
    record = entry.metrics.autoattack(norm, strength, kind) if entry is not None else None
    return record if record is not None and record.current() else None


def stored_autoattack(entry: ModelEntry | None, norm: Norm, strength: float) -> AutoAttackRecord | None:
    """A model's stored AutoAttack record at ``strength``: the whole test set's if measured, else the subset's."""
    for kind in AUTOATTACK_BEST_FIRST:
        record = current_record(entry, norm, strength, kind)
        if record is not None:
            return record
    return None


def stored_autoattack_pair(base_entry: ModelEntry | None, reg_entry: ModelEntry | None, norm: Norm,
                           strength: float) -> PairAccuracies | None:
    """Both models' stored AutoAttack accuracies at ``strength`` on the same digits, or None."""
    for kind in AUTOATTACK_BEST_FIRST:
        base = current_record(base_entry, norm, strength, kind)
        reg = current_record(reg_entry, norm, strength, kind)
        if base is not None and reg is not None and base.examples == reg.examples:
            return PairAccuracies(norm, float(strength), base.accuracies, reg.accuracies, "manifest")
    return None


def best_stored_pair(base_entry: ModelEntry | None, reg_entry: ModelEntry | None, norm: Norm,
                     strength: float) -> PairAccuracies | None:
    """Both models' stored worst case at ``strength``: AutoAttack's where it was measured
    (:func:`stored_autoattack_pair`), else :func:`stored_pair`; each from the whole test set where
    it was measured, else from the fixed subset."""
    if _paired(base_entry, reg_entry):
        hit = stored_autoattack_pair(base_entry, reg_entry, norm, strength)
        if hit is not None:
            return hit
    for kind in STRONG_BEST_FIRST:
        hit = stored_pair(base_entry, reg_entry, norm, strength, kind)
        if hit is not None:
            return hit
    return None


def stored_worst_curves(base_entry: ModelEntry | None, reg_entry: ModelEntry | None, norm: Norm) -> Curve | None:
    """Both models' stored worst-case curves (the strong evaluation's, on the fixed subset), or None."""
    curves = _stored_curves(base_entry, reg_entry, norm, StrongKind.SUBSET)
    if curves is None:
        return None
    base, reg = curves
    return Curve(reg.strengths, base.worst_case, reg.worst_case, reg.examples)


def stored_rates(entry: ModelEntry, norm: Norm, strength: float) -> Accuracies | None:
    """One model's stored accuracies at ``strength``: AutoAttack's where measured, else the strong
    evaluation's; each the full test set's if measured, else the subset's."""
    record = stored_autoattack(entry, norm, strength)
    if record is not None:
        return record.accuracies
    for kind in STRONG_BEST_FIRST:
        curve = entry.metrics.strong(norm, kind)
        acc = curve.at(strength) if curve else None
        if acc is not None:
            return acc
    return None
