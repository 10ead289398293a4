"""The spread of the tutorial's numbers across training seeds, read from the stores' manifests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from advdemo.core.config import HParams, ModelKind
from advdemo.core.results import FgsmMetrics
from advdemo.experiments.stored import stored_entry
from advdemo.store.storage import ModelStore, model_id


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
            fgsm = entry.metrics.fgsm if entry is not None else None
            if fgsm is not None:
                found.append((seed, fgsm))
        if not found:
            continue
        rows.append(SeedSpread(hp, clean=_spread(found, "clean"), transfer=_spread(found, "transfer"),
                               whitebox=_spread(found, "whitebox"), base_clean=_spread(found, "clean", ModelKind.BASE)))
    return rows
