"""A digit of the user's own: the smallest flipping strength, computed by hand on a linear model."""

from __future__ import annotations

import numpy as np
import pytest

from advdemo.core.compat import keras
from advdemo.core.config import Attack, AttackMethod, EvalMode, Norm
from advdemo.serving.own_digit import examine, search_strengths, smallest_flip
from advdemo.store.pairs import ModelPair

THRESHOLD = 0.3  # class 1's constant logit


def linear_model(scale: float = 1.0) -> keras.Model:
    """logit 0 = scale * mean(x), logit 1 = 0.3 * scale, the other classes far below.

    On the grey digit x = 0.5 with label 0, FGSM (L-infinity) lowers every pixel
    by s, so logit 0 = scale * (0.5 - s): the answer flips once s > 0.2.
    """
    inputs = keras.Input((28, 28, 1))
    dense = keras.layers.Dense(10)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.zeros((784, 10), np.float32)
    kernel[:, 0] = scale / 784
    bias = np.full(10, -100.0, np.float32)
    bias[0], bias[1] = 0.0, THRESHOLD * scale
    dense.set_weights([kernel, bias])
    return model


GREY = np.full((28, 28, 1), 0.5, np.float32)


def first_above(strengths: np.ndarray, value: float) -> float:
    return round(float(min(s for s in strengths if s > value + 1e-9)), 6)


@pytest.mark.parametrize("method", [AttackMethod.FGSM, AttackMethod.PGD])
def test_the_smallest_flip_is_the_first_strength_past_the_hand_computed_one(method):
    model = linear_model()
    attack = Attack(method=method, norm=Norm.INFINITY)
    flip = smallest_flip(model, model, GREY, 0, attack)
    grid = search_strengths(attack)
    assert flip.strength == first_above(grid, 0.5 - THRESHOLD)
    assert flip.resolution == pytest.approx(grid[0]) and flip.searched_to == pytest.approx(grid[-1])
    assert smallest_flip(model, model, GREY, 1, attack).strength == 0.0  # already wrong: flipped at 0


def test_no_flip_within_the_range_is_said_as_none():
    model = linear_model()
    flip = smallest_flip(model, model, np.ones((28, 28, 1), np.float32), 0, Attack(norm=Norm.INFINITY))
    # logit 0 = 1 - s stays above 0.3 for every s up to 0.45 (the largest standard L-inf strength)
    assert flip.strength is None and flip.searched_to == pytest.approx(0.45)


def test_transfer_crafts_against_the_base_model_and_white_box_against_each():
    base = linear_model()
    # The same decision, but its gradient points the other way: a masked model.
    inverted = linear_model(scale=-1.0)
    pair = ModelPair(None, base, inverted, {"id": "b"}, {"id": "r"}, {})
    transfer = examine(pair, GREY, 0, Attack(norm=Norm.INFINITY, strength=0.25, mode=EvalMode.TRANSFER))
    whitebox = examine(pair, GREY, 0, Attack(norm=Norm.INFINITY, strength=0.25, mode=EvalMode.WHITEBOX))
    # The inverted model answers 1 on grey (-0.5 < -0.3); with label 0 it is wrong from the start.
    assert transfer.regularized_clean_proba.argmax() == 1
    assert transfer.regularized_flip.strength == 0.0  # wrong before any attack
    np.testing.assert_array_equal(transfer.attacked.regularized_images, transfer.attacked.base_images)
    assert not np.array_equal(whitebox.attacked.regularized_images, whitebox.attacked.base_images)
    assert transfer.base_flip == whitebox.base_flip  # the base model is always attacked through its own gradient
    for report in (transfer, whitebox):
        assert report.attacked.base_images.min() >= 0.0 and report.attacked.base_images.max() <= 1.0
        assert np.abs(report.attacked.base_images - GREY).max() <= 0.25 + 1e-6
