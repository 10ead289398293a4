"""The tutorial's experiment as library calls: train a model pair, measure it.

Shared by the CLI (``reproduce``, ``train``, ``evaluate``, ``sweep``), the app
and the benchmarks. Functions return typed results (:mod:`advdemo.core.results`); they never print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from advdemo.core import training
from advdemo.core.attacks import fgsm_directions, perturb
from advdemo.core.config import NORM_SPECS, Attack, EvalMode, HParams, ModelKind, Norm
from advdemo.core.data import Mnist
from advdemo.core.evaluation import accuracy, evaluate_attacked, fgsm_curve, robustness_curve
from advdemo.core.results import FgsmMetrics, PairAccuracy
from advdemo.core.training import ProgressFn
from advdemo.logs import LogFn, log_info
from advdemo.store.manifest import Metrics, ModelEntry
from advdemo.store.storage import ModelStore, StoreError, find_model, model_id


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


def pair_metrics(base, regularized, hparams: HParams, mnist: Mnist, base_cache: dict | None = None) -> Metrics:
    """The metrics a manifest records for a regularized model measured with its base.

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
    return Metrics().with_fgsm(fgsm).with_fgsm_curves(Attack(norm=norm, strength=step), curves, len(y))


def train_and_store(store: ModelStore, hparams: HParams, kind: ModelKind, mnist: Mnist, *,
                    progress: ProgressFn | None = None, checkpoints: Path | None = None) -> tuple[Any, ModelEntry]:
    """Train the ``kind`` model of ``hparams`` on ``mnist``'s training digits and store it; the one writer
    of trained models, for the CLI, the sweep, its Ray tasks and the page's training jobs.

    Every model is stored with the same metrics: its training history, wall and
    CPU time, a regularized model's base model id (its transfer attacks'
    source) and its robustness after each epoch on a probe of ``mnist``'s test
    digits (:mod:`advdemo.core.probe`), and a base model's clean accuracy on them.
    ``checkpoints``: a folder a regularized model's training saves each epoch
    in and resumes from (:func:`advdemo.core.training.train_adversarial`).
    Returns ``(keras.Model, ModelEntry)``.
    """
    if kind is ModelKind.BASE:
        result = training.train_base(hparams, mnist.train_images, mnist.train_labels, progress)
        metrics = Metrics.of_training(result.history, cpu_seconds=result.cpu_seconds).with_base_clean(
            accuracy(result.model, mnist.test_images, mnist.test_labels), len(mnist.test_labels))
    else:
        result = training.train_adversarial(hparams, mnist.train_images, mnist.train_labels, progress,
                                            checkpoints=checkpoints, probe=(mnist.test_images, mnist.test_labels))
        metrics = Metrics.of_training(result.history, cpu_seconds=result.cpu_seconds,
                                      base_model=model_id(hparams, ModelKind.BASE))
        if result.probe is not None and result.probe.points:
            metrics = metrics.with_probe(result.probe)
    entry = store.put(hparams, kind, result.model.get_weights(), train_seconds=result.seconds, metrics=metrics)
    return result.model, entry


def obtain_model(kind: ModelKind | str, hparams: HParams, mnist: Mnist, stores: list[ModelStore], *,
                 progress: ProgressFn | None = None, log: LogFn = log_info):
    """Load the ``kind`` model for ``hparams`` from ``stores``, or train and store it (:func:`train_and_store`).

    Trained models go into the first writable store. Returns
    ``(keras.Model, ModelEntry, trained_now: bool)``.
    """
    kind = ModelKind(kind)
    mid = model_id(hparams, kind)
    found = find_model(stores, mid, log)
    if found:
        return found[0], found[1], False
    writable = next((s for s in stores if s.writable), None)
    if writable is None:
        raise StoreError("no writable model store to save the trained model in")
    log(f"training the {'base' if kind is ModelKind.BASE else 'adversarially regularized'} model ({mid})")
    model, entry = train_and_store(writable, hparams, kind, mnist, progress=progress)
    return model, entry, True
