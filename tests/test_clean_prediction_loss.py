"""The TRADES-like adversarial loss: NSL's neighbours scored against the clean prediction."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import TINY

from advdemo.core.clean_prediction_loss import CleanPredictionRegularization, kl_from_clean
from advdemo.core.compat import nsl, tf
from advdemo.core.config import (
    AdversarialLoss,
    ConfigError,
    HParams,
    TrainingAttack,
    from_dict,
    robust_hparams,
    to_dict,
)
from advdemo.core.model import IMAGE_KEY, LABEL_KEY, build_base_model
from advdemo.core.training import train_adversarial, training_summary, wrap_adversarial
from advdemo.i18n import Language, catalogue
from advdemo.store.storage import model_id

ROBUST = robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=3, epochs=1)
TRADES_LIKE = dataclasses.replace(ROBUST, adv_loss=AdversarialLoss.CLEAN_PREDICTION)


def test_kl_from_clean_by_hand():
    clean = tf.constant([[0.5, 0.5], [1.0, 0.0]])
    logits = tf.constant([[0.0, math.log(3.0)], [0.0, 0.0]])  # softmax: (1/4, 3/4) and (1/2, 1/2)
    first, second = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75), math.log(2.0)
    assert float(kl_from_clean(clean, logits)) == pytest.approx((first + second) / 2, rel=1e-6)
    assert float(kl_from_clean(clean, logits, tf.constant([[1.0], [0.0]]))) == pytest.approx(first / 2, rel=1e-6)
    # No divergence from itself.
    assert float(kl_from_clean(tf.nn.softmax(logits), logits)) == pytest.approx(0.0, abs=1e-6)


def test_the_choice_is_keyed_only_when_changed_and_needs_a_random_start():
    assert model_id(ROBUST, "adv") == model_id(dataclasses.replace(ROBUST, adv_loss="labels"), "adv")
    assert model_id(TRADES_LIKE, "adv") != model_id(ROBUST, "adv")
    assert model_id(TRADES_LIKE, "base") == model_id(ROBUST, "base")  # the base model stays shared
    assert from_dict(HParams, to_dict(TRADES_LIKE)) == TRADES_LIKE
    with pytest.raises(ConfigError, match="adv_loss='clean-prediction' needs adv_random_init"):
        dataclasses.replace(TRADES_LIKE, adv_random_init=False)
    with pytest.raises(ConfigError, match="adv_loss='kl' is invalid: expected one of 'labels', 'clean-prediction'"):
        dataclasses.replace(ROBUST, adv_loss="kl")


def test_the_summary_says_what_the_neighbours_are_scored_against():
    assert "TRADES" not in training_summary(ROBUST)
    assert "moves from the clean digit's (KL, as in TRADES)" in training_summary(TRADES_LIKE)
    assert "TRADES" in training_summary(TRADES_LIKE, catalogue(Language.ZH))


def _adversarial_term(hp: HParams, base, images: np.ndarray, labels: np.ndarray) -> float:
    """The scaled adversarial term of one call on this batch, with the random start drawn from one seed."""
    wrapped = wrap_adversarial(base, hp)
    tf.random.set_seed(7)
    wrapped({IMAGE_KEY: tf.constant(images), LABEL_KEY: tf.constant(labels)})
    labeled, scaled = (float(loss) for loss in wrapped.losses)
    assert labeled > 0
    return scaled


def test_the_adversarial_term_reads_the_clean_prediction_not_the_labels(rng):
    images = rng.random((8, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 8).astype(np.int64)
    base = build_base_model(TINY)
    assert isinstance(wrap_adversarial(base, TRADES_LIKE), CleanPredictionRegularization)
    assert type(wrap_adversarial(base, ROBUST)) is nsl.keras.AdversarialRegularization

    term = _adversarial_term(TRADES_LIKE, base, images, labels)
    assert term > 0
    assert _adversarial_term(TRADES_LIKE, base, images, (labels + 1) % 10) == pytest.approx(term, rel=1e-6)
    # NSL's own term does read them.
    assert _adversarial_term(ROBUST, base, images, labels) != pytest.approx(
        _adversarial_term(ROBUST, base, images, (labels + 1) % 10), rel=1e-3)

    # A network whose output never changes: no neighbour moves its prediction, while NSL's own term
    # stays the multiplier times the cross-entropy of the uniform prediction, ln 10.
    base.set_weights([np.zeros_like(w) for w in base.get_weights()])
    assert _adversarial_term(TRADES_LIKE, base, images, labels) == pytest.approx(0.0, abs=1e-6)
    assert _adversarial_term(ROBUST, base, images, labels) == pytest.approx(ROBUST.adv_multiplier * math.log(10),
                                                                            rel=1e-5)


def test_trades_like_training_runs_on_a_tiny_synthetic_set(rng):
    images = rng.random((128, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 128).astype(np.int64)
    hp = dataclasses.replace(TRADES_LIKE, adv_epochs=2)
    result = train_adversarial(hp, images, labels)
    assert len(result.history["loss"]) == 2 and np.all(np.isfinite(result.history["loss"]))
    assert all(v >= 0 for v in result.history["scaled_adversarial_loss"])
    # Same seed and data, the other loss: the trained weights differ.
    plain = train_adversarial(dataclasses.replace(ROBUST, adv_epochs=2), images, labels).model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(plain, result.model.get_weights()))
