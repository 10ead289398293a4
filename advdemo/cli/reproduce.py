"""``advdemo reproduce``: the whole tutorial, trained or loaded, measured and drawn."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from advdemo.core.config import Attack, HParams, ModelKind
from advdemo.core.data import Mnist
from advdemo.core.evaluation import attack_pair
from advdemo.core.results import FgsmMetrics
from advdemo.core.training import ProgressFn
from advdemo.experiments.experiment import fgsm_metrics, obtain_model
from advdemo.logs import LogFn, log_info
from advdemo.page.rendering import tutorial_grid_png
from advdemo.store.manifest import Metrics
from advdemo.store.storage import ModelStore


@dataclass(frozen=True)
class Reproduction:
    """The tutorial's run: its six accuracies, timings, model ids and the perturbed-digit figure (PNG bytes)."""

    metrics: FgsmMetrics
    train_seconds: float
    trained_now: bool
    eval_seconds: float
    base_model: str
    regularized_model: str
    test_examples: int
    grid_png: bytes

    def to_json(self) -> dict[str, Any]:
        """Everything but the figure, with the manifest's accuracy keys."""
        return {**Metrics().with_fgsm(self.metrics).data, "train_seconds": self.train_seconds,
                "trained_now": self.trained_now,
                "eval_seconds": self.eval_seconds, "base_model": self.base_model,
                "adv_model": self.regularized_model, "test_examples": self.test_examples}


def reproduce(hparams: HParams, mnist: Mnist, stores: list[ModelStore], *,
              progress: ProgressFn | None = None, log: LogFn = log_info, grid_size: int = 32) -> Reproduction:
    """The whole tutorial: train (or load) both models, evaluate them on the whole test set, draw the grid
    of the first ``grid_size`` test digits."""
    base, base_entry, base_new = obtain_model(ModelKind.BASE, hparams, mnist, stores, progress=progress, log=log)
    reg, reg_entry, reg_new = obtain_model(ModelKind.REGULARIZED, hparams, mnist, stores, progress=progress, log=log)
    log("evaluating on the full test set: clean, transfer FGSM and white-box FGSM")
    start = time.perf_counter()
    metrics = fgsm_metrics(base, reg, mnist.test_images, mnist.test_labels,
                           hparams.adv_grad_norm, hparams.adv_step_size)
    eval_seconds = time.perf_counter() - start
    x, y = mnist.test_images[:grid_size], mnist.test_labels[:grid_size]
    shown = attack_pair(base, reg, x, y, Attack(norm=hparams.adv_grad_norm, strength=hparams.adv_step_size))
    return Reproduction(
        metrics=metrics,
        train_seconds=round(base_entry.train_seconds + reg_entry.train_seconds, 2),
        trained_now=base_new or reg_new,
        eval_seconds=round(eval_seconds, 2),
        base_model=base_entry.id,
        regularized_model=reg_entry.id,
        test_examples=int(len(mnist.test_labels)),
        grid_png=tutorial_grid_png(shown.base_images, y, shown.base_pred, shown.regularized_pred),
    )
