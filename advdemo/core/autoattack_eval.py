"""The reviewer's worst case at one strength: the strong evaluation's attacks and AutoAttack's, per digit.

A digit counts as robust only if the model answers it correctly clean and
under each of transfer FGSM, white-box FGSM, white-box PGD (the strong
evaluation, :mod:`advdemo.core.robustness`), APGD-CE, APGD-T and Square
(:mod:`advdemo.core.autoattack`). Each attack runs on every digit the model gets
right clean, so each has its own accuracy as well as its share in the worst
case; the worst case is exact per digit.

Square's 5,000 queries take minutes per thousand robust digits on two cores,
too long for a page: the records are measured ahead of time
(:mod:`advdemo.experiments.autoattack_runs`, ``advdemo autoattack``) and kept
in each model's manifest entry (:class:`advdemo.store.manifest.Metrics`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from advdemo.core.accuracies import Accuracies, Rate
from advdemo.core.attacks import fgsm_directions
from advdemo.core.autoattack import apgd, square
from advdemo.core.compat import keras
from advdemo.core.config import AutoAttackEval, Norm, StrongEval
from advdemo.core.evaluation import predict
from advdemo.core.robustness import pgd_correct

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
