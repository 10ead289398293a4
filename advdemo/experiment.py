"""The tutorial's experiment as library calls: train a model pair, measure it.

Shared by the CLI (``reproduce``, ``train``, ``evaluate``, ``sweep``), the app
and the benchmarks. Functions return plain data; they never print.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from advdemo.attacks import fgsm_directions, perturb
from advdemo.config import NORM_SPECS, Attack, AttackMethod, EvalMode, HParams, Norm
from advdemo.data import Mnist
from advdemo.evaluation import accuracy, attack_pair, evaluate_attacked, fgsm_curve, robustness_curve
from advdemo.logs import LogFn, log_info
from advdemo.rendering import tutorial_grid_png
from advdemo.storage import ModelStore, StoreError, model_id
from advdemo.training import ProgressFn, train_adversarial, train_base


def fgsm_metrics(base, adv, images: np.ndarray, labels: np.ndarray, norm: Norm, step: float) -> dict[str, float]:
    """Clean, transfer-FGSM and white-box-FGSM accuracy of both models, each in [0, 1].

    Keys: ``base_clean_acc``, ``adv_clean_acc``, ``base_transfer_acc``,
    ``adv_transfer_acc``, ``base_whitebox_acc``, ``adv_whitebox_acc``.
    """
    attack = Attack(norm=norm, strength=step)
    transfer = evaluate_attacked(base, adv, images, labels, attack)
    # White-box on the base model is the transfer attack itself; only the
    # regularized model needs an attack of its own.
    adv_own = perturb(adv, images, labels, attack)
    return {
        "base_clean_acc": accuracy(base, images, labels),
        "adv_clean_acc": accuracy(adv, images, labels),
        "base_transfer_acc": transfer["base_attacked_acc"],
        "adv_transfer_acc": transfer["adv_attacked_acc"],
        "base_whitebox_acc": transfer["base_attacked_acc"],
        "adv_whitebox_acc": accuracy(adv, adv_own, labels),
    }


def pair_metrics(base, adv, hparams: HParams, mnist: Mnist, base_cache: dict | None = None) -> dict[str, Any]:
    """The metrics a manifest records for a regularized model and its base.

    FGSM at the model's own norm and step, in both modes, plus robustness
    curves (FGSM, the norm's standard strengths) in both modes. ``base_cache``
    (a dict kept by the caller) saves recomputing the base model's part when
    many regularized models share one base.
    """
    x, y = mnist.test_images, mnist.test_labels
    norm = hparams.adv_grad_norm
    strengths = NORM_SPECS[norm].strengths
    cache = {} if base_cache is None else base_cache
    key = (id(base), norm, len(y))
    if key not in cache:
        directions = fgsm_directions(base, x, y, norm)[0]
        cache[key] = (directions, fgsm_curve(base, x, y, directions, strengths))
    curves = {
        mode.value: robustness_curve(base, adv, x, y, Attack(norm=norm, mode=mode), strengths, base_fgsm=cache[key])
        for mode in EvalMode
    }
    step = hparams.adv_step_size
    if step in strengths:  # always so on the grid: read the FGSM numbers off the curves
        i = strengths.index(step)
        transfer, whitebox = curves[EvalMode.TRANSFER.value], curves[EvalMode.WHITEBOX.value]
        metrics: dict[str, Any] = {
            "base_clean_acc": transfer["base"][0], "adv_clean_acc": transfer["adv"][0],
            "base_transfer_acc": transfer["base"][i], "adv_transfer_acc": transfer["adv"][i],
            "base_whitebox_acc": whitebox["base"][i], "adv_whitebox_acc": whitebox["adv"][i],
        }
    else:
        metrics = fgsm_metrics(base, adv, x, y, norm, step)
    metrics["attack"] = {"method": "fgsm", "norm": norm.value, "strength": step}
    metrics["curves"] = curves
    metrics["test_examples"] = int(len(y))
    return metrics


def stored_fgsm_curve(base_entry: dict, adv_entry: dict, attack: Attack, test_examples: int) -> dict | None:
    """The FGSM curve :func:`pair_metrics` stored for ``attack``'s norm and mode, or None.

    Only if it belongs to this base model, covers ``test_examples`` digits and
    the norm's standard strengths. ``{"strengths", "base", "adv"}``, accuracies in [0, 1].
    """
    metrics = adv_entry.get("metrics", {})
    stored = metrics.get("curves", {}).get(attack.mode.value)
    if (stored and attack.method is AttackMethod.FGSM and metrics.get("base_model") == base_entry["id"]
            and metrics.get("attack", {}).get("norm") == attack.norm.value
            and metrics.get("test_examples") == test_examples
            and list(stored["strengths"]) == list(NORM_SPECS[attack.norm].strengths)):
        return stored
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


def obtain_model(kind: str, hparams: HParams, mnist: Mnist, stores: list[ModelStore], *,
                 progress: ProgressFn | None = None, log: LogFn = log_info):
    """Load the ``kind`` model for ``hparams`` from ``stores``, or train and save it.

    Trained models go into the first writable store. Returns
    ``(keras.Model, manifest entry, trained_now: bool)``.
    """
    mid = model_id(hparams, kind)
    found = find_model(stores, mid, log)
    if found:
        return found[0], found[1], False
    train = train_base if kind == "base" else train_adversarial
    log(f"training the {'base' if kind == 'base' else 'adversarially regularized'} model ({mid})")
    result = train(hparams, mnist.train_images, mnist.train_labels, progress)
    writable = next((s for s in stores if s.writable), None)
    if writable is None:
        raise StoreError("no writable model store to save the trained model in")
    metrics = {"train_history": result.history}
    entry = writable.put(hparams, kind, result.model.get_weights(), train_seconds=result.seconds, metrics=metrics)
    return result.model, entry, True


def reproduce(hparams: HParams, mnist: Mnist, stores: list[ModelStore], *,
              progress: ProgressFn | None = None, log: LogFn = log_info, grid_size: int = 32) -> dict[str, Any]:
    """The whole tutorial: train (or load) both models, evaluate them, draw the grid.

    Returns a plain dict with the six accuracies of :func:`fgsm_metrics`,
    ``train_seconds``, ``eval_seconds``, the model ids and ``grid_png`` (bytes
    of the tutorial's perturbed-digit figure for the first ``grid_size`` test
    images).
    """
    base, base_entry, base_new = obtain_model("base", hparams, mnist, stores, progress=progress, log=log)
    adv, adv_entry, adv_new = obtain_model("adv", hparams, mnist, stores, progress=progress, log=log)
    log("evaluating on the full test set: clean, transfer FGSM and white-box FGSM")
    start = time.perf_counter()
    metrics = fgsm_metrics(base, adv, mnist.test_images, mnist.test_labels,
                           hparams.adv_grad_norm, hparams.adv_step_size)
    eval_seconds = time.perf_counter() - start
    x, y = mnist.test_images[:grid_size], mnist.test_labels[:grid_size]
    shown = attack_pair(base, adv, x, y, Attack(norm=hparams.adv_grad_norm, strength=hparams.adv_step_size))
    return {
        **metrics,
        "train_seconds": round(base_entry["train_seconds"] + adv_entry["train_seconds"], 2),
        "trained_now": base_new or adv_new,
        "eval_seconds": round(eval_seconds, 2),
        "base_model": base_entry["id"],
        "adv_model": adv_entry["id"],
        "test_examples": int(len(mnist.test_labels)),
        "grid_png": tutorial_grid_png(shown.base_images, y, shown.base_pred, shown.adv_pred),
    }
