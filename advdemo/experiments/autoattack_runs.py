"""AutoAttack's records measured ahead of time into a store, and read back for the page and the reports.

``advdemo autoattack`` runs :func:`run_autoattack`: the base model and the
tutorial's model at ε 0.1, 0.2 and 0.3 and every robust model at its own ε,
on the first 1,000 test digits, and the headline models on the whole test
set (:func:`autoattack_jobs`). Each record is stored as soon as it is
measured, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from advdemo.core.accuracies import AutoAttackRecord
from advdemo.core.attacks import fgsm_directions
from advdemo.core.autoattack_eval import StageFn, autoattack_outcomes
from advdemo.core.config import (
    ROBUST_EPSILONS,
    AutoAttackEval,
    HParams,
    ModelKind,
    Norm,
    StrongEval,
    TrainingAttack,
    robust_hparams,
    robust_methods,
)
from advdemo.core.data import Mnist
from advdemo.experiments.autoattack_parts import PART, measure_in_parts, part_paths
from advdemo.logs import LogFn, log_info
from advdemo.memo import array_digest
from advdemo.store.manifest import AutoAttackKind, Metrics, ModelEntry
from advdemo.store.storage import ModelStore, model_id


def autoattack_jobs(recipe: HParams, *, full: bool) -> list[tuple[str, float]]:
    """The (model id, L-infinity strength) pairs measured ahead of time.

    On the first 1,000 test digits: the base model and the tutorial's model at
    ε 0.1, 0.2 and 0.3, and every robust model at its own ε. On the whole test
    set (``full``): the base and tutorial models at the same strengths and the
    ε 0.3 PGD-trained model at 0.3.
    """
    pair = [model_id(recipe, ModelKind.BASE), model_id(recipe, ModelKind.REGULARIZED)]
    jobs = [(mid, eps) for eps in ROBUST_EPSILONS for mid in pair]
    methods = [TrainingAttack.PGD] if full else robust_methods()
    for attack in methods:
        for eps in ROBUST_EPSILONS:
            if full and eps != max(ROBUST_EPSILONS):
                continue
            jobs.append((model_id(robust_hparams(recipe, attack, eps), ModelKind.REGULARIZED), eps))
    return jobs


def run_autoattack(store: ModelStore, mnist: Mnist, base_mid: str, jobs: list[tuple[str, float]], *,
                   examples: int, kind: AutoAttackKind, norm: Norm = Norm.INFINITY,
                   cfg: AutoAttackEval = AutoAttackEval(), strong: StrongEval = StrongEval(),
                   parts: Path | None = None, part: int = PART, log: LogFn = log_info) -> int:
    """Measure every attack on each (model, strength) of ``jobs`` into ``store``'s manifest.

    On the first ``examples`` test digits, transfer attacks crafted on
    ``base_mid``. Resumable: a record measured with the same settings on as
    many digits is skipped. With ``parts`` (a folder), more than ``part`` digits are
    measured ``part`` at a time and each part is kept there until its record is
    stored, so a stopped run loses at most one part
    (:mod:`advdemo.experiments.autoattack_parts`). Returns how many records were
    added. (The page shows only records measured with the default settings.)
    """
    x, y = mnist.test_images[:examples], mnist.test_labels[:examples]
    base, _ = store.load(base_mid)
    transfer = fgsm_directions(base, x, y, norm)[0]
    added = 0
    for mid, strength in jobs:
        if _measured(store.entry(mid), norm, strength, kind, (cfg, strong, len(y))):
            continue
        model = base if mid == base_mid else store.load(mid)[0]
        where = f"{mid} ε {strength:g}"

        def measure(start: int, end: int, model=model, mid=mid, strength=strength, where=where):
            return autoattack_outcomes(
                model, x[start:end], y[start:end], norm, strength, strong=strong, cfg=cfg,
                transfer_directions=None if mid == base_mid else transfer[start:end], stage=_stage_log(log, where))

        pieces = (part_paths(parts, mid, norm, strength, len(y), (cfg, strong), part,
                             _source(store, mid, base_mid, x, y)) if parts and len(y) > part else [])
        if pieces:
            outcomes, seconds = measure_in_parts(pieces, norm is Norm.INFINITY, measure, log=_where_log(log, where))
        else:
            outcomes, seconds = measure(0, len(y))
        record = AutoAttackRecord(norm, float(strength), outcomes.accuracies(), cfg, strong, seconds)
        store.update_metrics(mid, functools.partial(Metrics.with_autoattack, record=record, kind=kind))
        for _, _, path in pieces:
            path.unlink(missing_ok=True)
        added += 1
        log(f"{mid} ε {strength:g}: worst case {record.accuracies.worst_case.value:.2%} on {len(y):,} digits "
            f"({sum(seconds.values()):.0f} s)")
    return added


def _source(store: ModelStore, mid: str, base_mid: str, x: np.ndarray, y: np.ndarray) -> str:
    """What a part's outcomes depend on besides the settings: the weights (the base model's too, for
    transfer) and the digits."""
    shas = [entry.sha256 if (entry := store.entry(m)) is not None else "" for m in (mid, base_mid)]
    return ":".join([*shas, (array_digest(x) + array_digest(np.asarray(y, np.int64))).hex()])


def _where_log(log: LogFn, where: str) -> LogFn:
    return lambda message: log(f"{where}: {message}")


def _stage_log(log: LogFn, where: str) -> StageFn:
    return lambda name: log(f"{where}: {name} done")


def _measured(entry: ModelEntry | None, norm: Norm, strength: float, kind: AutoAttackKind,
              how: tuple[AutoAttackEval, StrongEval, int]) -> bool:
    record = entry.metrics.autoattack(norm, strength, kind) if entry is not None else None
    return record is not None and (record.config, record.strong, record.examples) == how
