"""Strong evaluation: worst case per digit, PGD restarts, the masking detector,
and robust training through NSL's own configuration."""

import dataclasses

import numpy as np
import pytest
from conftest import TINY, linear_model

from advdemo.core.accuracies import Accuracies, Rate, wilson_interval
from advdemo.core.attacks import perturb
from advdemo.core.compat import keras
from advdemo.core.config import (
    Attack,
    AttackMethod,
    ConfigError,
    HParams,
    Norm,
    StrongEval,
    TrainingAttack,
    robust_hparams,
)
from advdemo.core.masking import describe_sign, masking_signs
from advdemo.core.model import build_base_model
from advdemo.core.robustness import outcome_curve, pgd_correct, strong_at, strong_curves
from advdemo.core.training import steps_per_epoch, train_adversarial
from advdemo.store.storage import model_id

FAST = StrongEval(iterations=5, restarts=2)


@pytest.fixture(scope="module")
def pair():
    """Two tiny untrained CNNs: a 'base' and a 'regularized' model with different weights."""
    keras.utils.set_random_seed(1)
    base = build_base_model(TINY)
    keras.utils.set_random_seed(2)
    adv = build_base_model(TINY)
    return base, adv


@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(5)
    return rng.random((96, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 96).astype(np.int64)


def test_wilson_interval_known_values():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_worst_case_is_below_every_attack_per_digit(pair, digits):
    base, adv = pair
    x, y = digits
    # Labels the models mostly get right, so the attacks have something to fool.
    y = np.asarray(adv(x).numpy().argmax(-1))
    for o in (strong_at(base, adv, x, y, Norm.INFINITY, 0.1, FAST).regularized,
              strong_at(base, adv, x, y, Norm.INFINITY, 0.1, FAST).base):
        for each in (o.clean, o.transfer_fgsm, o.whitebox_fgsm, o.whitebox_pgd):
            assert not np.any(o.worst_case & ~each)  # robust in the worst case implies robust to each
        # At a single strength nothing is carried over: the worst case is exactly the AND.
        assert np.array_equal(o.worst_case, o.clean & o.transfer_fgsm & o.whitebox_fgsm & o.whitebox_pgd)
        acc = Accuracies.of(o)
        assert acc.worst_case.value <= min(acc.clean.value, acc.transfer_fgsm.value, acc.whitebox_fgsm.value,
                                           acc.whitebox_pgd.value)


def test_more_restarts_never_raise_the_worst_case(pair, digits):
    base, adv = pair
    x, _ = digits
    y = np.asarray(adv(x).numpy().argmax(-1))
    previous = None
    for restarts in (1, 2, 4):
        cfg = dataclasses.replace(FAST, restarts=restarts)
        robust = pgd_correct(adv, x, y, Norm.INFINITY, 0.15, cfg)
        if previous is not None:
            assert not np.any(robust & ~previous)  # every digit robust now was robust with fewer restarts
        previous = robust


@pytest.mark.parametrize("iterations", [1, 2, 3, 6])
def test_every_pgd_iterate_stays_in_the_ball_and_unit_range(pair, digits, iterations):
    """Deterministic, seeded PGD: k iterations give the k-th iterate of a longer run."""
    _, adv = pair
    x, y = digits
    eps = 0.1
    attack = Attack(method=AttackMethod.PGD, strength=eps, pgd_iterations=iterations, pgd_step_size=0.04,
                    random_start=True, seed=7)
    out = perturb(adv, x, y, attack)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(out - x).max() <= eps * (1 + 1e-6)


def test_pgd_in_parts_equals_one_run(pair, digits):
    """The strong evaluation runs PGD in parts to drop fooled digits early; the iterates are the same."""
    _, adv = pair
    x, y = digits
    attack = Attack(method=AttackMethod.PGD, strength=0.1, pgd_iterations=12, random_start=True, seed=3)
    whole = perturb(adv, x, y, attack)
    first = perturb(adv, x, y, attack, iterations=5)
    np.testing.assert_allclose(perturb(adv, x, y, attack, start=first, iterations=7), whole, atol=1e-6)


def test_curves_are_monotone_and_start_clean(pair, digits):
    base, adv = pair
    x, _ = digits
    y = np.asarray(adv(x).numpy().argmax(-1))
    curve = strong_curves(base, adv, x, y, Norm.INFINITY, [0.0, 0.05, 0.1, 0.2], FAST)
    for kind in ("base", "regularized"):
        outcomes = [getattr(p, kind) for p in curve]
        assert np.array_equal(outcomes[0].worst_case, outcomes[0].clean)
        for earlier, later in zip(outcomes, outcomes[1:]):
            for name in ("whitebox_pgd", "worst_case"):  # carried over along the curve
                assert not np.any(getattr(later, name) & ~getattr(earlier, name)), name
            # The worst case so far is below every attack at this strength and at every earlier one.
            for each in (later.transfer_fgsm, later.whitebox_fgsm, later.whitebox_pgd, earlier.worst_case):
                assert not np.any(later.worst_case & ~each)
    # The base model's own gradient is the transfer attack.
    assert all(np.array_equal(p.base.transfer_fgsm, p.base.whitebox_fgsm) for p in curve)


def test_strengths_must_ascend_and_fit_the_norm(pair, digits):
    base, _ = pair
    x, y = digits
    with pytest.raises(ValueError, match="ascending"):
        outcome_curve(base, x, y, Norm.INFINITY, [0.2, 0.1], FAST)
    with pytest.raises(ConfigError, match="strength"):
        outcome_curve(base, x, y, Norm.INFINITY, [0.1, 0.9], FAST)


# -- the gradient-masking detector --------------------------------------------


@pytest.fixture(scope="module")
def masked_and_plain():
    rng = np.random.default_rng(11)
    w = (0.1 * rng.normal(size=(784, 10))).astype(np.float32)
    # Binary-looking digits: every pixel 0.1 or 0.9, far from the threshold.
    x = np.where(rng.random((400, 28, 28, 1)) < 0.5, 0.1, 0.9).astype(np.float32)
    plain, masked = linear_model(w), linear_model(w, masked=True)
    y = plain(x).numpy().argmax(-1).astype(np.int64)  # both models are right on every digit
    assert np.array_equal(masked(x).numpy().argmax(-1), y)
    return plain, masked, x, y


def test_masking_detector_fires_on_a_masked_model(masked_and_plain):
    plain, masked, x, y = masked_and_plain
    result = strong_at(plain, masked, x, y, Norm.INFINITY, 0.45, FAST)
    acc = Accuracies.of(result.regularized)
    assert acc.whitebox_fgsm.value == 1.0  # a zero gradient moves nothing
    assert acc.transfer_fgsm.value < 0.8  # the plain model's gradient still fools it
    signs = masking_signs(acc, 0.45, Norm.INFINITY)
    assert signs[0].kind == "whitebox-above-transfer"
    assert "own gradient" in describe_sign(signs[0]) and f"{acc.whitebox_fgsm.value:.1%}" in describe_sign(signs[0])


def test_masking_detector_quiet_on_an_unmasked_model(masked_and_plain):
    plain, _, x, y = masked_and_plain
    for eps in (0.05, 0.2, 0.45):
        acc = Accuracies.of(strong_at(plain, plain, x, y, Norm.INFINITY, eps, FAST).regularized)
        assert masking_signs(acc, eps, Norm.INFINITY) == [], eps


def _rate(value, n=1000):
    k = round(value * n)
    return Rate.of(np.arange(n) < k)


def test_pgd_far_below_fgsm_rule():
    resisted_one_step = Accuracies(_rate(0.99), _rate(0.93), _rate(0.93), _rate(0.45), _rate(0.45))
    assert [s.kind for s in masking_signs(resisted_one_step, 0.2, Norm.INFINITY)] == ["pgd-far-below-fgsm"]
    # An undefended model: errors double from FGSM to PGD, which is no masking sign.
    undefended = Accuracies(_rate(0.99), _rate(0.48), _rate(0.48), _rate(0.02), _rate(0.02))
    assert masking_signs(undefended, 0.2, Norm.INFINITY) == []
    # A robust model: PGD a few points under FGSM.
    robust = Accuracies(_rate(0.98), _rate(0.95), _rate(0.93), _rate(0.89), _rate(0.89))
    assert masking_signs(robust, 0.3, Norm.INFINITY) == []


def test_whitebox_above_transfer_needs_more_than_noise():
    # 1 point above, with 1,000 digits each: inside the intervals, so no sign.
    close = Accuracies(_rate(0.99), _rate(0.90), _rate(0.91), _rate(0.88), _rate(0.88))
    assert masking_signs(close, 0.3, Norm.INFINITY) == []
    far = Accuracies(_rate(0.99), _rate(0.646), _rate(0.843), _rate(0.6), _rate(0.6))
    assert [s.kind for s in masking_signs(far, 0.3, Norm.INFINITY)][0] == "whitebox-above-transfer"


# -- robust training through NSL ----------------------------------------------


def test_training_attack_fields_keep_old_ids():
    """The new fields enter a model's id only when changed, so shipped models keep theirs."""
    assert model_id(TINY, "adv") == model_id(dataclasses.replace(TINY, adv_pgd_iterations=1), "adv")
    robust = robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=2, epochs=1)
    assert model_id(robust, "adv") != model_id(TINY, "adv")
    assert model_id(robust, "base") == model_id(TINY, "base")  # the base model stays shared


def test_training_attack_kinds_and_validation():
    assert TINY.training_attack is TrainingAttack.FGSM
    assert robust_hparams(TINY, TrainingAttack.FGSM_RS, 0.2).training_attack is TrainingAttack.FGSM_RS
    pgd = robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=10)
    assert pgd.training_attack is TrainingAttack.PGD and pgd.adv_step_size == pytest.approx(0.075)
    assert pgd.adv_clip and pgd.adv_random_init and pgd.adv_epsilon == 0.3
    with pytest.raises(ConfigError, match="adv_epsilon is required"):
        HParams(adv_pgd_iterations=5)
    with pytest.raises(ConfigError, match="adv_epsilon is not available for norm 'l1'"):
        HParams(adv_grad_norm=Norm.L1, adv_step_size=1.0, adv_epsilon=0.5, adv_random_init=True)
    with pytest.raises(ConfigError, match="adv_pgd_iterations=0"):
        HParams(adv_pgd_iterations=0)


@pytest.mark.parametrize("attack", [TrainingAttack.FGSM_RS, TrainingAttack.PGD])
def test_random_start_training_runs_on_a_tiny_synthetic_set(rng, attack):
    """100 digits in batches of 64: the last, partial batch is dropped, as NSL's random start needs."""
    images = rng.random((100, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 100).astype(np.int64)
    hp = robust_hparams(TINY, attack, 0.3, iterations=3, epochs=2)
    assert steps_per_epoch(hp, len(images), adversarial=True) == 1
    result = train_adversarial(hp, images, labels)
    assert len(result.history["loss"]) == 2 and np.all(np.isfinite(result.history["loss"]))
    assert result.history["scaled_adversarial_loss"][0] > 0


def test_a_stopped_training_resumes_after_its_last_finished_epoch(rng, tmp_path):
    from advdemo.core.training import TrainingCancelled

    images = rng.random((128, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 128).astype(np.int64)
    hp = robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=2, epochs=3)
    seen: list[int] = []

    def stop_in_epoch_3(p):
        seen.append(p.epoch)
        if p.epoch == 3:
            raise TrainingCancelled("stopped")

    with pytest.raises(TrainingCancelled):
        train_adversarial(hp, images, labels, stop_in_epoch_3, checkpoints=tmp_path)
    assert max(seen) == 3
    seen.clear()
    resumed = train_adversarial(hp, images, labels, lambda p: seen.append(p.epoch), checkpoints=tmp_path)
    assert set(seen) == {3} and len(resumed.history["loss"]) == 1  # only the epoch that was missing
    # Finished: a third run has nothing left to train.
    again = train_adversarial(hp, images, labels, checkpoints=tmp_path)
    assert again.history.get("loss", []) == []
    np.testing.assert_array_equal(again.model.get_weights()[0], resumed.model.get_weights()[0])


def test_a_finished_averaged_training_returns_the_average_again(rng, tmp_path):
    images = rng.random((64, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 64).astype(np.int64)
    hp = dataclasses.replace(robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=2, epochs=2), adv_ema=0.5)
    first = train_adversarial(hp, images, labels, checkpoints=tmp_path).model.get_weights()
    again = train_adversarial(hp, images, labels, checkpoints=tmp_path)
    assert again.history == {}
    for a, b in zip(first, again.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_weight_averaging_is_a_training_choice_of_its_own(rng):
    images = rng.random((128, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 128).astype(np.int64)
    hp = robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=2, epochs=2)
    averaged = dataclasses.replace(hp, adv_ema=0.5)
    assert model_id(averaged, "adv") != model_id(hp, "adv") and model_id(averaged, "base") == model_id(hp, "base")
    plain_weights = train_adversarial(hp, images, labels).model.get_weights()
    averaged_weights = train_adversarial(averaged, images, labels).model.get_weights()
    # Same seed, same steps: only the averaging makes the shipped weights differ.
    assert any(not np.allclose(a, b) for a, b in zip(plain_weights, averaged_weights))
    with pytest.raises(ConfigError, match="adv_ema"):
        dataclasses.replace(hp, adv_ema=1.5)


def test_the_regularized_model_trains_with_its_own_batch_and_learning_rate(rng):
    from advdemo.core.training import Progress, _optimizer

    images = rng.random((256, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 256).astype(np.int64)
    hp = robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=2, epochs=1, batch=128)
    # Twice TINY's batch, twice its learning rate; the base model stays TINY's.
    assert (hp.batch(True), hp.rate(True), hp.batch(False), hp.rate(False)) == (
        128, pytest.approx(2 * TINY.learning_rate), 64, TINY.learning_rate)
    assert model_id(hp, "base") == model_id(TINY, "base")
    assert model_id(hp, "adv") != model_id(robust_hparams(TINY, TrainingAttack.PGD, 0.3, iterations=2, epochs=1),
                                           "adv")
    assert robust_hparams(TINY, TrainingAttack.PGD, 0.3, batch=TINY.batch_size).adv_batch_size is None
    reports: list[Progress] = []
    result = train_adversarial(hp, images, labels, reports.append)
    assert reports[-1].steps == 2 and len(result.history["loss"]) == 1  # 256 digits in batches of 128
    assert float(_optimizer(hp, adversarial=True).learning_rate) == pytest.approx(2 * TINY.learning_rate)
    assert float(_optimizer(hp).learning_rate) == pytest.approx(TINY.learning_rate)
    with pytest.raises(ConfigError, match="adv_batch_size"):
        dataclasses.replace(hp, adv_batch_size=0)


def test_expected_training_time_grows_with_the_attack_and_the_epochs():
    from advdemo.core.config import FAST_RECIPE
    from advdemo.core.training import expected_training_seconds, training_summary

    fgsm = expected_training_seconds(FAST_RECIPE, 60_000)
    rs = expected_training_seconds(robust_hparams(FAST_RECIPE, TrainingAttack.FGSM_RS, 0.3), 60_000)
    pgd = robust_hparams(FAST_RECIPE, TrainingAttack.PGD, 0.3)
    assert fgsm < rs < expected_training_seconds(pgd, 60_000)
    longer = dataclasses.replace(pgd, adv_epochs=2 * pgd.adv_total_epochs)
    assert expected_training_seconds(longer, 60_000) == pytest.approx(2 * expected_training_seconds(pgd, 60_000))
    assert training_summary(pgd) == ("PGD, 10 steps of 0.075 from a random start within L∞ ε 0.3, clipped to [0, 1], "
                                     "multiplier 4, 20 epochs")
    assert training_summary(FAST_RECIPE) == "FGSM, L∞ step 0.2, multiplier 0.2, 3 epochs"
