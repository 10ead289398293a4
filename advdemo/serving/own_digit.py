"""A digit of the user's own (drawn or uploaded), seen and attacked by both models.

One digit at a time, so everything here is small: both models' probabilities,
the attacked pair under the page's current attack, and the smallest attack
strength that changes each model's answer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from advdemo.core.attacks import fgsm_directions, perturb
from advdemo.core.config import NORM_SPECS, Attack, EvalMode
from advdemo.core.evaluation import Attacked, attack_pair, predict_proba
from advdemo.core.results import Flip
from advdemo.store.pairs import ModelPair

#: Strengths tried when searching for the smallest one that flips a model: this
#: many evenly spaced values up to the norm's largest standard strength. FGSM
#: tries them all in one batch; PGD runs once per strength, so it tries fewer.
FGSM_SEARCH_STEPS = 100
PGD_SEARCH_STEPS = 20


@dataclass(frozen=True)
class OwnDigitReport:
    """Both models on one digit ``image`` ``(28, 28, 1)`` in [0, 1] with the class ``label``.

    ``clean_proba`` is each model's ``(10,)`` probabilities on the digit as it
    is; ``attacked`` holds the attacked pair (one digit); ``base_flip`` and
    ``regularized_flip`` the smallest strengths that change each answer.
    """

    image: np.ndarray
    label: int
    base_clean_proba: np.ndarray
    regularized_clean_proba: np.ndarray
    attacked: Attacked
    base_flip: Flip
    regularized_flip: Flip


def clean_probabilities(pair: ModelPair, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both models' ``(10,)`` probabilities for one digit ``(28, 28, 1)``."""
    x = image[np.newaxis]
    with pair.lock:
        return predict_proba(pair.base, x)[0], predict_proba(pair.regularized, x)[0]


def search_strengths(attack: Attack) -> np.ndarray:
    """The grid of strengths the flip search tries for ``attack``'s norm and method (0 excluded)."""
    top = NORM_SPECS[attack.norm].strengths[-1]
    steps = PGD_SEARCH_STEPS if attack.method.spec.iterative else FGSM_SEARCH_STEPS
    return np.linspace(0.0, top, steps + 1)[1:]


def smallest_flip(crafting_model, judged_model, image: np.ndarray, label: int, attack: Attack) -> Flip:
    """The smallest strength of ``attack`` (crafted against ``crafting_model``) that makes
    ``judged_model`` answer something other than ``label`` for ``image`` ``(28, 28, 1)``, or, for a
    targeted attack, answer its target."""
    strengths = search_strengths(attack)
    resolution = round(float(strengths[0]), 6)
    x, y = image[np.newaxis], np.array([label])
    target = attack.target

    def reached(predicted: np.ndarray) -> np.ndarray:
        return predicted == target if target is not None else predicted != label

    if reached(predict_proba(judged_model, x).argmax(-1))[0]:
        return Flip(0.0, float(strengths[-1]), resolution, target)
    if attack.shares_direction:  # one direction serves every strength
        direction = fgsm_directions(crafting_model, x, y, attack.norm)[0]
        batch = np.clip(x + strengths.astype(np.float32)[:, None, None, None] * direction, 0.0, 1.0)
    else:
        batch = np.concatenate([perturb(crafting_model, x, y, dataclasses.replace(attack, strength=float(s)))
                                for s in strengths])
    fooled = np.flatnonzero(reached(predict_proba(judged_model, batch).argmax(-1)))
    first = round(float(strengths[fooled[0]]), 6) if len(fooled) else None
    return Flip(first, float(strengths[-1]), resolution, target)


def examine(pair: ModelPair, image: np.ndarray, label: int, attack: Attack) -> OwnDigitReport:
    """Both models on ``image`` ``(28, 28, 1)`` of class ``label`` (0..9), clean and under ``attack``.

    As on the rest of the page, transfer mode crafts every example against the
    base model; white-box mode attacks each model through its own gradient.
    """
    base_clean, reg_clean = clean_probabilities(pair, image)
    x, y = image[np.newaxis], np.array([label])
    reg_crafter_is_base = attack.mode is EvalMode.TRANSFER
    with pair.lock:
        attacked = attack_pair(pair.base, pair.regularized, x, y, attack)
        base_flip = smallest_flip(pair.base, pair.base, image, label, attack)
        reg_flip = smallest_flip(pair.base if reg_crafter_is_base else pair.regularized, pair.regularized,
                                 image, label, attack)
    return OwnDigitReport(image, label, base_clean, reg_clean, attacked, base_flip, reg_flip)


__all__ = ["FGSM_SEARCH_STEPS", "PGD_SEARCH_STEPS", "Flip", "OwnDigitReport", "clean_probabilities", "examine",
           "search_strengths", "smallest_flip"]
