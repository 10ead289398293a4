"""The grids of models the sweep trains, by name (``advdemo sweep --grid``); light to import, so the
command line lists them without loading TensorFlow."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from advdemo.core.config import (
    GRID_MULTIPLIERS,
    NORM_SPECS,
    ROBUST_EPSILONS,
    HParams,
    Norm,
    robust_hparams,
    robust_methods,
)

GRID_NORMS = (Norm.INFINITY, Norm.L2)


def grid_hparams(recipe: HParams) -> Iterator[HParams]:
    """Every grid point: norms x their steps x multipliers (48 by default)."""
    for norm in GRID_NORMS:
        for step in NORM_SPECS[norm].grid_steps:
            for multiplier in GRID_MULTIPLIERS:
                yield dataclasses.replace(recipe, adv_grad_norm=norm, adv_step_size=step, adv_multiplier=multiplier)


def spread_grid_hparams(recipe: HParams) -> Iterator[HParams]:
    """The grid points whose spread across seeds is measured: the tutorial's configuration, a small step,
    a large multiplier, and the L2 norm's default (4 points)."""
    for norm, step, multiplier in ((Norm.INFINITY, recipe.adv_step_size, recipe.adv_multiplier),
                                   (Norm.INFINITY, NORM_SPECS[Norm.INFINITY].grid_steps[0], recipe.adv_multiplier),
                                   (Norm.INFINITY, recipe.adv_step_size, GRID_MULTIPLIERS[-1]),
                                   (Norm.L2, NORM_SPECS[Norm.L2].default_step, recipe.adv_multiplier)):
        yield dataclasses.replace(recipe, adv_grad_norm=norm, adv_step_size=step, adv_multiplier=multiplier)


def robust_grid_hparams(recipe: HParams) -> Iterator[HParams]:
    """The robust models: PGD and random-start FGSM training at each L-infinity epsilon (6 by default).

    The costliest and most important (PGD at the largest epsilon) comes first,
    so an interrupted sweep has it.
    """
    for attack in robust_methods():
        for epsilon in sorted(ROBUST_EPSILONS, reverse=True):
            yield robust_hparams(recipe, attack, epsilon)


#: The grids ``advdemo sweep --grid`` trains, by name.
GRIDS: dict[str, Callable[[HParams], Iterator[HParams]]] = {
    "tutorial": grid_hparams, "robust": robust_grid_hparams, "spread": spread_grid_hparams}
