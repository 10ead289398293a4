"""The ε ramp: NSL's training ball grows over the first epochs, one NSL wrapper per phase."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import TINY

import advdemo.core.training as training
from advdemo.core.config import ConfigError, TrainingAttack, robust_hparams
from advdemo.core.training import TrainingCancelled, train_adversarial, training_summary
from advdemo.store.storage import model_id

ROBUST = robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=3, epochs=5)
RAMPED = dataclasses.replace(ROBUST, adv_epsilon_ramp=3)


def test_the_phases_grow_the_ball_and_the_step_in_proportion():
    assert ROBUST.epsilon_phases() == [(0, 5, ROBUST)]
    phases = RAMPED.epsilon_phases()
    assert [(first, end) for first, end, _ in phases] == [(0, 1), (1, 2), (2, 5)]
    assert [hp.adv_epsilon for _, _, hp in phases] == pytest.approx([0.1, 0.2, 0.3])
    assert ROBUST.adv_step_size == pytest.approx(0.25)  # 2.5 ε over 3 steps
    assert [hp.adv_step_size for _, _, hp in phases] == pytest.approx([0.25 / 3, 0.5 / 3, 0.25])
    # Everything else is the recipe's.
    assert all(dataclasses.replace(hp, adv_epsilon=0.3, adv_step_size=ROBUST.adv_step_size) == ROBUST
               for _, _, hp in phases)
    assert dataclasses.replace(ROBUST, adv_epsilon_ramp=1).epsilon_phases()[0][:2] == (0, 5)


def test_the_ramp_is_keyed_only_when_set_and_validated():
    assert model_id(dataclasses.replace(ROBUST, adv_epsilon_ramp=None), "adv") == model_id(ROBUST, "adv")
    assert model_id(RAMPED, "adv") != model_id(ROBUST, "adv")
    assert model_id(RAMPED, "base") == model_id(ROBUST, "base")
    with pytest.raises(ConfigError, match=r"adv_epsilon_ramp=6 is invalid: expected a whole number in \[1, 5\]"):
        dataclasses.replace(ROBUST, adv_epsilon_ramp=6)
    with pytest.raises(ConfigError, match="adv_epsilon_ramp needs adv_epsilon"):
        dataclasses.replace(TINY, adv_epsilon_ramp=1)
    with pytest.raises(ConfigError, match="adv_epsilon_ramp and adv_ema do not combine"):
        dataclasses.replace(RAMPED, adv_ema=0.9)
    assert "the ball grown to ε over the first 3 epochs" in training_summary(RAMPED)


@pytest.fixture
def wrapped(monkeypatch):
    """The (ε, optimizer) of every NSL wrapper training builds."""
    seen: list[tuple[float, object]] = []
    real = training.wrap_adversarial

    def spy(base, hparams, decay_steps=None, *, optimizer=None):
        seen.append((hparams.adv_epsilon, optimizer))
        return real(base, hparams, decay_steps, optimizer=optimizer)

    monkeypatch.setattr(training, "wrap_adversarial", spy)
    return seen


def test_a_ramped_training_wraps_each_phase_with_one_optimizer_and_resumes_inside_the_ramp(rng, tmp_path, wrapped):
    images = rng.random((64, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 64).astype(np.int64)
    hp = dataclasses.replace(RAMPED, adv_epochs=3, adv_epsilon_ramp=2)
    epochs: list[tuple[int, int]] = []

    def stop_in_epoch_2(p):
        epochs.append((p.epoch, p.epochs))
        if p.epoch == 2:
            raise TrainingCancelled("stopped")

    with pytest.raises(TrainingCancelled):
        train_adversarial(hp, images, labels, stop_in_epoch_2, checkpoints=tmp_path)
    assert [eps for eps, _ in wrapped] == pytest.approx([0.15, 0.3])
    assert wrapped[0][1] is wrapped[1][1] is not None
    assert {total for _, total in epochs} == {3}  # progress counts the whole training, not a phase

    wrapped.clear()
    epochs.clear()
    resumed = train_adversarial(hp, images, labels, lambda p: epochs.append((p.epoch, p.epochs)),
                                checkpoints=tmp_path)
    assert [eps for eps, _ in wrapped] == pytest.approx([0.3])  # the first phase is done
    assert {epoch for epoch, _ in epochs} == {2, 3} and len(resumed.history["loss"]) == 2
    assert np.all(np.isfinite(resumed.history["loss"]))

