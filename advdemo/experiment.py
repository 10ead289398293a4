"""The tutorial's experiment as library calls: train a model pair, measure it.

Shared by the CLI (``reproduce``, ``train``, ``evaluate``, ``sweep``), the app
and the benchmarks. Functions return typed results (:mod:`advdemo.results`); they never print.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from advdemo.attacks import fgsm_directions, perturb
from advdemo.config import NORM_SPECS, Attack, AttackMethod, EvalMode, HParams, ModelKind, Norm
from advdemo.data import Mnist
from advdemo.evaluation import accuracy, attack_pair, evaluate_attacked, fgsm_curve, robustness_curve
from advdemo.logs import LogFn, log_info
from advdemo.rendering import tutorial_grid_png
from advdemo.results import Curve, FgsmMetrics, PairAccuracy
from advdemo.storage import ModelStore, StoreError, model_id
from advdemo.training import ProgressFn, train_adversarial, train_base


def fgsm_metrics(base, regularized, images: np.ndarray, labels: np.ndarray, norm: Norm,
                 step: float) -> FgsmMetrics:
    """Clean, transfer-FGSM and white-box-FGSM accuracy of both models on ``images`` ``(N, 28, 28, 1)``."""
    attack = Attack(norm=norm, strength=step)
    transfer = evaluate_attacked(base, regularized, images, labels, attack)
    # White-box on the base model is the transfer attack itself; only the
    # regularized model needs an attack of its own.
    own = perturb(regularized, images, labels, attack)
    clean = PairAccuracy(accuracy(base, images, labels), accuracy(regularized, images, labels))
    return FgsmMetrics(clean, transfer, PairAccuracy(transfer.base, accuracy(regularized, own, labels)))


def pair_metrics(base, regularized, hparams: HParams, mnist: Mnist, base_cache: dict | None = None) -> dict[str, Any]:
    """The metrics a manifest records for a regularized model and its base, in the manifest's JSON form.

    FGSM at the model's own norm and step, in both modes (:class:`FgsmMetrics`),
    plus robustness curves (FGSM, the norm's standard strengths) in both modes.
    ``base_cache`` (a dict kept by the caller) saves recomputing the base
    model's part when many regularized models share one base.
    """
    x, y = mnist.test_images, mnist.test_labels
    norm = hparams.adv_grad_norm
    strengths = NORM_SPECS[norm].strengths
    cache = {} if base_cache is None else base_cache
    key = (id(base), norm, len(y))
    if key not in cache:
        directions = fgsm_directions(base, x, y, norm)[0]
        cache[key] = (directions, fgsm_curve(base, x, y, directions, strengths))
    curves = {mode: robustness_curve(base, regularized, x, y, Attack(norm=norm, mode=mode), strengths,
                                     base_fgsm=cache[key])
              for mode in EvalMode}
    step = hparams.adv_step_size
    if step in strengths:  # always so on the grid: read the FGSM numbers off the curves
        transfer, whitebox = curves[EvalMode.TRANSFER].at(step), curves[EvalMode.WHITEBOX].at(step)
        fgsm = FgsmMetrics(transfer.clean, transfer.attacked, whitebox.attacked)
    else:
        fgsm = fgsm_metrics(base, regularized, x, y, norm, step)
    return {**fgsm.to_json(), "attack": {"method": "fgsm", "norm": norm.value, "strength": step},
            "curves": {mode.value: curve.to_json() for mode, curve in curves.items()}, "test_examples": int(len(y))}


def stored_fgsm_curve(base_entry: dict, regularized_entry: dict, attack: Attack, test_examples: int) -> Curve | None:
    """The FGSM curve :func:`pair_metrics` stored for ``attack``'s norm and mode, or None.

    Only if it belongs to this base model, covers ``test_examples`` digits and
    the norm's standard strengths.
    """
    metrics = regularized_entry.get("metrics", {})
    stored = metrics.get("curves", {}).get(attack.mode.value)
    if (stored and attack.method is AttackMethod.FGSM and metrics.get("base_model") == base_entry["id"]
            and metrics.get("attack", {}).get("norm") == attack.norm.value
            and metrics.get("test_examples") == test_examples
            and list(stored["strengths"]) == list(NORM_SPECS[attack.norm].strengths)):
        return Curve.from_json(stored, test_examples)
    return None


def find_model(stores: list[ModelStore], mid: str, log: LogFn = log_info):
    """Load model ``mid`` from the first store that has a verified copy.

    Returns ``(keras.Model, entry, store)``, or None if no store has a good
    copy. A corrupt or foreign copy is reported through ``log`` and skipped.
    """
    for store in stores:
        try:
            if store.entry(mid) is None:
                continue
            model, entry = store.load(mid)
            return model, entry, store
        except StoreError as exc:
            log(f"skipping a copy of {mid}: {exc}")
    return None


def obtain_model(kind: ModelKind | str, hparams: HParams, mnist: Mnist, stores: list[ModelStore], *,
                 progress: ProgressFn | None = None, log: LogFn = log_info):
    """Load the ``kind`` model for ``hparams`` from ``stores``, or train and save it.

    Trained models go into the first writable store. Returns
    ``(keras.Model, manifest entry, trained_now: bool)``.
    """
    kind = ModelKind(kind)
    mid = model_id(hparams, kind)
    found = find_model(stores, mid, log)
    if found:
        return found[0], found[1], False
    train = train_base if kind is ModelKind.BASE else train_adversarial
    log(f"training the {'base' if kind is ModelKind.BASE else 'adversarially regularized'} model ({mid})")
    result = train(hparams, mnist.train_images, mnist.train_labels, progress)
    writable = next((s for s in stores if s.writable), None)
    if writable is None:
        raise StoreError("no writable model store to save the trained model in")
    metrics = {"train_history": result.history}
    entry = writable.put(hparams, kind, result.model.get_weights(), train_seconds=result.seconds, metrics=metrics)
    return result.model, entry, True


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
        return {**self.metrics.to_json(), "train_seconds": self.train_seconds, "trained_now": self.trained_now,
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
        train_seconds=round(base_entry["train_seconds"] + reg_entry["train_seconds"], 2),
        trained_now=base_new or reg_new,
        eval_seconds=round(eval_seconds, 2),
        base_model=base_entry["id"],
        regularized_model=reg_entry["id"],
        test_examples=int(len(mnist.test_labels)),
        grid_png=tutorial_grid_png(shown.base_images, y, shown.base_pred, shown.regularized_pred),
    )
