"""The pretrained grid: one base model and a regularized model per grid point.

Resumable: a model whose verified weights are already in the store is
skipped, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from advdemo.core.accuracies import StrongCurve
from advdemo.core.attacks import fgsm_directions
from advdemo.core.config import (
    NORM_SPECS,
    HParams,
    ModelKind,
    Norm,
    StrongEval,
    TrainingAttack,
)
from advdemo.core.data import Mnist
from advdemo.core.robustness import outcome_curve
from advdemo.core.training import ProgressFn
from advdemo.experiments.experiment import pair_metrics, train_and_store
from advdemo.experiments.grids import grid_hparams, robust_grid_hparams
from advdemo.logs import LogFn, log_info
from advdemo.store.manifest import StrongKind
from advdemo.store.storage import ModelStore, StoreError, model_id


def is_stored(store: ModelStore, mid: str) -> bool:
    """Whether ``mid`` is in ``store`` with weights matching its hash."""
    if store.entry(mid) is None:
        return False
    try:
        store.read_weights(mid)
        return True
    except StoreError:
        return False


def base_model(store: ModelStore, mnist: Mnist, recipe: HParams, progress: ProgressFn | None = None,
               log: LogFn = log_info):
    """The recipe's base model from ``store``, trained and stored first if it is not there."""
    base_mid = model_id(recipe, ModelKind.BASE)
    if is_stored(store, base_mid):
        return store.load(base_mid)[0]
    log(f"training the base model {base_mid}")
    return train_and_store(store, recipe, ModelKind.BASE, mnist, progress=progress)[0]


def is_done(store: ModelStore, hp: HParams) -> bool:
    """Whether grid point ``hp``'s regularized model is stored and evaluated."""
    mid = model_id(hp, ModelKind.REGULARIZED)
    entry = store.entry(mid)
    return entry is not None and entry.metrics.has_fgsm_curves() and is_stored(store, mid)


def point_label(hp: HParams) -> str:
    return f"{hp.adv_grad_norm.value} step {hp.adv_step_size:g} x{hp.adv_multiplier:g} seed {hp.seed}"


def train_point(store: ModelStore, mnist: Mnist, hp: HParams, base, base_cache: dict | None = None,
                progress: ProgressFn | None = None, log: LogFn = log_info, checkpoints: Path | None = None) -> bool:
    """Train (unless stored) and evaluate grid point ``hp`` into ``store``; returns whether it trained.

    The model is stored before its evaluation, so a failure in the
    evaluation never costs the training. Both engines run exactly this.
    ``checkpoints``: a folder where the training saves each epoch and resumes
    from (:func:`advdemo.core.training.train_adversarial`).
    """
    mid = model_id(hp, ModelKind.REGULARIZED)
    trained = False
    if is_stored(store, mid):  # trained, but stopped before its evaluation
        model, entry = store.load(mid)
    else:
        log(f"{point_label(hp)}: training {mid}")
        model, entry = train_and_store(store, hp, ModelKind.REGULARIZED, mnist, progress=progress,
                                       checkpoints=checkpoints)
        trained = True
    measured = pair_metrics(base, model, hp, mnist, base_cache)
    store.update_metrics(mid, lambda metrics: metrics.merged(measured))
    fgsm = measured.fgsm
    assert fgsm is not None  # pair_metrics measures all six
    log(f"{point_label(hp)}: clean {fgsm.clean.regularized:.4f}, transfer {fgsm.transfer.regularized:.4f}, "
        f"white-box {fgsm.whitebox.regularized:.4f} ({entry.train_seconds:.0f} s)")
    return trained


def check_shared_base(recipe: HParams, points: Sequence[HParams]) -> None:
    if any(model_id(hp, ModelKind.BASE) != model_id(recipe, ModelKind.BASE) for hp in points):
        raise ValueError("every grid point must share the recipe's base model")


def count_stored(store: ModelStore, recipe: HParams, points: Sequence[HParams]) -> int:
    """How many of the grid's models (its regularized models and the base) ``store`` holds."""
    return (sum(is_stored(store, model_id(hp, ModelKind.REGULARIZED)) for hp in points)
            + is_stored(store, model_id(recipe, ModelKind.BASE)))


def run_sweep(store: ModelStore, mnist: Mnist, recipe: HParams, *, progress: ProgressFn | None = None,
              log: LogFn = log_info, limit: int | None = None, points: list[HParams] | None = None) -> int:
    """Train whatever of the grid ``store`` lacks, one model at a time in this process (the local engine);
    returns how many grid models it then holds.

    ``limit`` stops after that many newly trained models; ``points`` replaces
    the default grid (tests use a tiny one).
    """
    points = list(grid_hparams(recipe)) if points is None else points
    check_shared_base(recipe, points)
    base = base_model(store, mnist, recipe, progress, log)
    trained = 0
    base_cache: dict = {}  # the base model's FGSM directions and curve, shared by every grid point
    for i, hp in enumerate(points, 1):
        if is_done(store, hp):
            log(f"[{i}/{len(points)}] {point_label(hp)}: already stored, skipped")
            continue
        if limit is not None and trained >= limit:
            break
        trained += train_point(store, mnist, hp, base, base_cache, progress, log)
    return count_stored(store, recipe, points)


def strong_jobs(store: ModelStore, base_mid: str, first: Sequence[str] = ()) -> list[tuple[str, Norm]]:
    """The (model, attack norm) curves ``base_mid``'s regularized models get stored, most useful first.

    Every model under L-infinity attack (the page's default attack), ``first``
    ahead of the rest, then the L2-trained models under L2 attack. Other
    pairings are measured on demand. The base model's curve for a norm comes
    along with the first job of that norm.
    """
    entries = store.entries()
    adv = [mid for mid, e in entries.items() if e.kind is ModelKind.REGULARIZED and e.metrics.base_model == base_mid]
    adv = [m for m in first if m in adv] + [m for m in adv if m not in first]
    l2 = [m for m in adv if entries[m].hparams.adv_grad_norm is Norm.L2]
    return [(mid, Norm.INFINITY) for mid in adv] + [(mid, Norm.L2) for mid in l2]


def run_strong_evaluation(store: ModelStore, mnist: Mnist, base_mid: str, jobs: list[tuple[str, Norm]], *,
                          cfg: StrongEval = StrongEval(), strengths: dict[Norm, tuple[float, ...]] | None = None,
                          kind: StrongKind = StrongKind.SUBSET, log: LogFn = log_info) -> int:
    """Add strong-evaluation curves to ``store``'s manifest: one per (regularized model, norm) in ``jobs``.

    The base model ``base_mid`` gets its curve for each norm too. Resumable: a
    model that already has a curve with the same configuration, digits and
    strengths is skipped. Returns how many curves were computed.
    """
    x, y = mnist.test_images[:cfg.examples], mnist.test_labels[:cfg.examples]
    base, _ = store.load(base_mid)
    base_own: dict[Norm, tuple] = {}  # the base model's FGSM directions and predictions, per norm
    computed = 0

    def wanted(norm: Norm) -> tuple[float, ...]:
        return tuple((strengths or {}).get(norm, NORM_SPECS[norm].strengths))

    def fresh(mid: str, norm: Norm) -> bool:
        entry = store.entry(mid)
        curve = entry.metrics.strong(norm, kind) if entry is not None else None
        return curve is not None and curve.matches(cfg, len(y), wanted(norm))

    def evaluate(mid: str, norm: Norm, model, transfer, own=None) -> None:
        nonlocal computed
        start = time.perf_counter()
        outcomes = outcome_curve(model, x, y, norm, wanted(norm), cfg, transfer_directions=transfer, own=own)
        curve = StrongCurve.of(outcomes, wanted(norm), norm, cfg, time.perf_counter() - start)
        store.update_metrics(mid, lambda metrics: metrics.with_strong(curve, kind))
        computed += 1
        log(f"{mid} {norm.value}: worst case {', '.join(f'{v:.3f}' for v in curve.worst_case)} "
            f"({curve.seconds:.0f} s, {len(y)} digits)")

    for mid, norm in jobs:
        if norm not in base_own:
            base_own[norm] = fgsm_directions(base, x, y, norm)
            if not fresh(base_mid, norm):
                evaluate(base_mid, norm, base, None, own=base_own[norm])
        if not fresh(mid, norm):
            evaluate(mid, norm, store.load(mid)[0], base_own[norm][0])
    return computed


def full_test_set_jobs(store: ModelStore, recipe: HParams) -> list[tuple[str, Norm]]:
    """The models whose headline numbers are measured on the whole test set: the PGD-trained
    models and the tutorial configuration, under L-infinity attack."""
    pgd = [model_id(hp, ModelKind.REGULARIZED) for hp in robust_grid_hparams(recipe)
           if hp.training_attack is TrainingAttack.PGD]
    return [(mid, Norm.INFINITY) for mid in [*pgd, model_id(recipe, ModelKind.REGULARIZED)] if is_stored(store, mid)]

