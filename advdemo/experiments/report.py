"""Honest robustness tables: the tutorial's numbers next to the strong evaluation's.

* :func:`honest_table`: both models of one configuration at several attack
  strengths, under every attack and in the worst case (stored with pretrained
  models, measured otherwise).
* :func:`compare_methods`: the three training methods at one epsilon, from
  the pretrained models' manifest entries.
* :func:`measured_row`: one regularized model's row from its strong evaluation
  (the lesson's live model beside the shipped one).

The spread across seeds is :mod:`advdemo.experiments.seeds`; stored lookups are
:mod:`advdemo.experiments.stored`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from advdemo.core.accuracies import Accuracies, PairAccuracies, Rate
from advdemo.core.config import (
    NORM_SPECS,
    EvalMode,
    HParams,
    ModelKind,
    Norm,
    StrongEval,
    TrainingAttack,
    robust_hparams,
)
from advdemo.core.robustness import EvalProgressFn, strong_curves
from advdemo.experiments.stored import best_stored_pair, stored_entry, stored_rates
from advdemo.i18n import Catalogue, Message, english, message
from advdemo.store.manifest import ModelEntry
from advdemo.store.storage import ModelStore, model_id


def honest_table(base, regularized, base_entry: ModelEntry | None, reg_entry: ModelEntry | None, images: np.ndarray,
                 labels: np.ndarray, norm: Norm, strengths: Sequence[float], cfg: StrongEval = StrongEval(), *,
                 progress: EvalProgressFn | None = None) -> list[PairAccuracies]:
    """Both models at each strength (ascending): stored when the manifest has it, else measured.

    Stored numbers on the whole test set come first, then those on the fixed
    subset. The strengths the manifest lacks are measured together on the
    first ``cfg.examples`` of ``images`` ``(N, 28, 28, 1)`` and ``labels``
    ``(N,)``, carried over along them (:func:`advdemo.core.robustness.outcome_curve`).
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


def compare_methods(stores: Sequence[ModelStore], recipe: HParams, epsilon: float) -> list[MethodRow]:
    """The base model and each training method (the tutorial's FGSM, random-start FGSM, PGD) at ``epsilon``.

    Read from the stores' manifests only (no model is loaded); a model that is
    not stored, or a number not measured, comes back as None.
    """
    fgsm_strengths = tuple(NORM_SPECS[Norm.INFINITY].strengths)
    # One row per training method (advdemo.core.config.TRAINING_SPECS), after the base model.
    methods: list[tuple[Message, HParams, TrainingAttack | None]] = [(message("compare.base"), recipe, None)]
    methods += [(message(f"compare.{t.value}", step=recipe.adv_step_size, multiplier=recipe.adv_multiplier,
                         epsilon=epsilon), robust_hparams(recipe, t, epsilon), t) for t in TrainingAttack]
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
        stored = fgsm_entry.metrics.fgsm_curve(EvalMode.TRANSFER) if fgsm_entry is not None else None
        clean = transfer = None
        if stored is not None and stored.strengths == fgsm_strengths and epsilon in fgsm_strengths:
            at = stored.at(epsilon)
            clean, transfer = at.clean.of(kind), at.attacked.of(kind)
        strong = stored_rates(entry, Norm.INFINITY, epsilon)
        pgd, worst = (None, None) if strong is None else (strong.whitebox_pgd, strong.worst_case)
        rows.append(MethodRow(name, mid, training, clean, transfer, pgd, worst, entry.train_seconds, entry.epochs,
                              entry.metrics.train_cpu_seconds, strong is not None and strong.autoattack))
    return rows


def measured_row(name: Message, entry: ModelEntry | None, accuracies: Accuracies | None) -> MethodRow:
    """A regularized model's row from its strong evaluation at one strength (``accuracies``; None: not measured
    yet). Unlike :func:`compare_methods`' rows, its clean and transfer FGSM accuracies are measured on the
    evaluation's digits (``worst_case.n``), not the whole test set. ``entry`` None: not trained yet."""
    if entry is None:
        return MethodRow(name, "", None, None, None, None, None, None, None)
    acc = accuracies
    return MethodRow(name, entry.id, entry.hparams.training_attack, None if acc is None else acc.clean.value,
                     None if acc is None else acc.transfer_fgsm.value, None if acc is None else acc.whitebox_pgd,
                     None if acc is None else acc.worst_case, entry.train_seconds, entry.epochs,
                     entry.metrics.train_cpu_seconds, acc is not None and acc.autoattack)
