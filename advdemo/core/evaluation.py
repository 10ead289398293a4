"""Accuracy of the base and regularized models, clean and under attack.

Two modes (:class:`advdemo.core.config.EvalMode`):

* transfer, the tutorial's: examples are crafted against the base model and
  fed to both models;
* white-box: each model is attacked through its own gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from advdemo.core.attacks import fgsm_directions, perturb, probabilities
from advdemo.core.compat import keras
from advdemo.core.config import Attack, EvalMode
from advdemo.core.results import Curve, Evaluation, PairAccuracy

#: Progress of a measurement: steps done, steps in all.
StepProgressFn = Callable[[int, int], None]


#: Class probabilities ``(N, 10)`` float32 for images ``(N, 28, 28, 1)`` in [0, 1], through the model's
#: compiled graph (:func:`advdemo.core.attacks.probabilities`).
predict_proba = probabilities


def predict(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Predicted classes ``(N,)`` int64 for images ``(N, 28, 28, 1)`` in [0, 1]."""
    return predict_proba(model, images).argmax(axis=-1)


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` classified as ``labels``, in [0, 1]."""
    return float(np.mean(predict(model, images) == labels)) if len(labels) else float("nan")


@dataclass(frozen=True)
class Attacked:
    """Adversarial examples and both models' answers on them.

    In transfer mode ``base_images`` and ``regularized_images`` are the same
    array (crafted against the base model); in white-box mode each model has
    its own. Images ``(N, 28, 28, 1)`` float32 in [0, 1]; probabilities ``(N, 10)``.
    """

    base_images: np.ndarray
    regularized_images: np.ndarray
    base_proba: np.ndarray
    regularized_proba: np.ndarray

    @property
    def base_pred(self) -> np.ndarray:
        return self.base_proba.argmax(axis=-1)

    @property
    def regularized_pred(self) -> np.ndarray:
        return self.regularized_proba.argmax(axis=-1)

    def accuracy(self, labels: np.ndarray) -> PairAccuracy:
        """Both models' accuracy on these examples, each in [0, 1]."""
        return PairAccuracy(float(np.mean(self.base_pred == labels)), float(np.mean(self.regularized_pred == labels)))

    def hits(self, labels: np.ndarray, target: int) -> PairAccuracy:
        """The share of the examples of other classes than ``target`` each model reads as ``target``."""
        others = labels != target
        return PairAccuracy(*(float(np.mean(pred[others] == target)) if others.any() else float("nan")
                              for pred in (self.base_pred, self.regularized_pred)))


def attack_pair(base: keras.Model, regularized: keras.Model, images: np.ndarray, labels: np.ndarray,
                attack: Attack) -> Attacked:
    """Attack both models as ``attack.mode`` says and record their predictions."""
    base_images = perturb(base, images, labels, attack)
    reg_images = base_images if attack.mode is EvalMode.TRANSFER else perturb(regularized, images, labels, attack)
    return Attacked(base_images, reg_images, predict_proba(base, base_images), predict_proba(regularized, reg_images))


def evaluate(base: keras.Model, regularized: keras.Model, images: np.ndarray, labels: np.ndarray,
             attack: Attack, progress: StepProgressFn | None = None) -> Evaluation:
    """Clean and attacked accuracy of both models on ``images`` ``(N, 28, 28, 1)``, and under a targeted
    attack the share of the digits of other classes each model reads as the target (``hits``).

    ``progress(done, 3)`` after each part: the base model clean, the regularized model clean, both attacked.
    """
    report = progress or (lambda done, total: None)
    base_clean = accuracy(base, images, labels)
    report(1, 3)
    clean = PairAccuracy(base_clean, accuracy(regularized, images, labels))
    report(2, 3)
    shown = attack_pair(base, regularized, images, labels, attack)
    hits = None if attack.target is None else shown.hits(labels, attack.target)
    report(3, 3)
    return Evaluation(clean, shown.accuracy(labels), len(labels), hits)


def fgsm_curve(model: keras.Model, images: np.ndarray, labels: np.ndarray, directions: np.ndarray,
               strengths: Sequence[float], progress: Callable[[], None] | None = None) -> list[float]:
    """Accuracy of ``model`` on ``clip(images + s * directions)`` for each strength ``s``
    (``progress()`` after each strength)."""
    out = []
    for s in strengths:
        out.append(float(np.mean(predict(model, np.clip(images + np.float32(s) * directions, 0.0, 1.0)) == labels))
                   if s else accuracy(model, images, labels))
        if progress:
            progress()
    return out


def robustness_curve(base: keras.Model, regularized: keras.Model, images: np.ndarray, labels: np.ndarray,
                     attack: Attack, strengths: Sequence[float], *,
                     base_fgsm: tuple[np.ndarray, list[float]] | None = None,
                     progress: StepProgressFn | None = None) -> Curve:
    """Accuracy of both models at each strength of ``attack`` (its own strength is ignored).

    For FGSM one gradient per model serves every strength, because the FGSM
    direction does not depend on the step size. ``base_fgsm`` may pass the base
    model's ``(directions, curve)`` for these images and strengths when it is
    already known (it does not depend on the regularized model). ``progress``
    gets ``(done, total)`` after each strength of each model.
    """
    attacks = [replace(attack, strength=float(s)) for s in strengths]  # validates every strength
    strengths = [a.strength for a in attacks]
    total, done = 2 * len(strengths), [0]

    def step() -> None:
        done[0] += 1
        if progress:
            progress(done[0], total)

    if attack.shares_direction:
        if base_fgsm is None:
            base_dir = fgsm_directions(base, images, labels, attack.norm)[0]
            base_fgsm = (base_dir, fgsm_curve(base, images, labels, base_dir, strengths, step))
        else:
            done[0] = len(strengths)
        base_dir, base_acc = base_fgsm
        reg_dir = (base_dir if attack.mode is EvalMode.TRANSFER
                   else fgsm_directions(regularized, images, labels, attack.norm)[0])
        reg_acc = fgsm_curve(regularized, images, labels, reg_dir, strengths, step)
    else:
        results = []
        for a in attacks:
            results.append(evaluate_attacked(base, regularized, images, labels, a))
            step()
            step()
        base_acc = [r.base for r in results]
        reg_acc = [r.regularized for r in results]
    return Curve(tuple(strengths), tuple(base_acc), tuple(reg_acc), len(labels))


def evaluate_attacked(base: keras.Model, regularized: keras.Model, images: np.ndarray, labels: np.ndarray,
                      attack: Attack) -> PairAccuracy:
    """Attacked accuracy of both models, each in [0, 1]."""
    return attack_pair(base, regularized, images, labels, attack).accuracy(labels)
