"""AutoAttack's attacks (APGD-CE, APGD-T, Square), the worst case they join, their stored records,
and the third masking sign. Tiny linear models, whose robustness is known exactly."""

import dataclasses

import numpy as np
import pytest
from conftest import linear_model

from advdemo.core.accuracies import Accuracies, AutoAttackRecord, PairAccuracies, Rate
from advdemo.core.autoattack import (
    BALL_TOLERANCE,
    _dlr_targeted,
    apgd,
    checkpoints,
    margin,
    square,
    square_fraction,
    verified,
)
from advdemo.core.autoattack_eval import autoattack_outcomes
from advdemo.core.compat import tf
from advdemo.core.config import AutoAttackEval, ModelKind, Norm, StrongEval
from advdemo.core.masking import describe_sign, masking_signs
from advdemo.experiments.stored import best_stored_pair, current_record, stored_autoattack_pair
from advdemo.i18n import english
from advdemo.page.presentation import worst_case_caption
from advdemo.store.manifest import AutoAttackKind, Metrics, ModelEntry

FAST_STRONG = StrongEval(iterations=10, restarts=1)
FAST_AA = AutoAttackEval(square_queries=300)


@pytest.fixture(scope="module")
def linear():
    """A random linear model, 200 binary-looking digits (pixels 0.1 or 0.9), labelled by the model itself."""
    rng = np.random.default_rng(11)
    w = (0.1 * rng.normal(size=(784, 10))).astype(np.float32)
    x = np.where(rng.random((200, 28, 28, 1)) < 0.5, 0.1, 0.9).astype(np.float32)
    model = linear_model(w)
    y = model(x).numpy().argmax(-1).astype(np.int64)
    return model, w, x, y


def exactly_robust(w: np.ndarray, x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """Whether each digit is robust within L-inf ``eps`` (and [0, 1]) for logits = W (2x - 1), exactly.

    Each margin z_y - z_j is linear in x, so its minimum over the box puts each pixel at the end that
    lowers it; a digit is robust iff every such minimum stays positive.
    """
    flat = x.reshape(len(x), -1).astype(np.float64)
    low, high = np.clip(flat - eps, 0, 1), np.clip(flat + eps, 0, 1)
    robust = np.ones(len(x), bool)
    for j in range(10):
        a = w[:, y].T.astype(np.float64) - w[:, j][None, :]  # d(z_y - z_j) / dh per pixel
        worst = np.where(a > 0, low, high)
        robust &= (((2 * worst - 1) * a).sum(axis=1) > 0) | (y == j)
    return robust


# -- the pieces, by hand -------------------------------------------------------


def test_apgd_checkpoints_follow_the_reference():
    # 22% of the iterations, then windows shrinking by 3% down to at least 6%.
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(10) == [2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_square_schedule_follows_the_reference():
    assert [square_fraction(q, 0.8) for q in (0, 10, 11, 50, 51, 4001, 9000)] == [
        0.8, 0.8, 0.4, 0.4, 0.2, 0.8 / 128, 0.8 / 512]


def test_losses_by_hand():
    logits = tf.constant([[3.0, 1.0, 2.0, 0.0]])
    # Targeted DLR towards class 2: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2) = -(3 - 2) / (3 - 0.5).
    assert _dlr_targeted(logits, tf.constant([0]), tf.constant([2])).numpy() == pytest.approx([-0.4])
    assert margin(logits, tf.constant([0])).numpy() == pytest.approx([1.0])
    assert margin(logits, tf.constant([1])).numpy() == pytest.approx([-2.0])


def test_verified_rejects_what_is_not_an_adversarial_example(linear):
    model, _, x, y = linear
    eps = 0.1
    signs = np.where(np.random.default_rng(0).random(x.shape) < 0.5, -1.0, 1.0)
    other = (x + eps * signs).astype(np.float32)  # the full budget on every pixel, in random directions
    fooled = model(other).numpy().argmax(-1) != y
    assert fooled.any()
    assert np.array_equal(verified(model, x, y, other, Norm.INFINITY, eps), fooled)
    # Just outside the ball, or a pixel outside [0, 1]: never counted, whatever the model answers.
    assert not verified(model, x, y, other, Norm.INFINITY, eps - 10 * BALL_TOLERANCE).any()
    outside = other.copy()
    outside[:, 0, 0, 0] = -0.01
    assert not verified(model, x, y, outside, Norm.INFINITY, 1.0).any()
    # The clean digits fool nothing.
    assert not verified(model, x, y, x, Norm.INFINITY, eps).any()


# -- the attacks on a model whose robustness is known exactly ---------------------------


@pytest.mark.parametrize("norm, eps", [(Norm.INFINITY, 0.02), (Norm.L2, 0.5)])
def test_apgd_examples_keep_the_budget(linear, norm, eps):
    model, _, x, y = linear
    for targets in (0, 3):
        result = apgd(model, x, y, norm, eps, iterations=20, targets=targets)
        delta = (result.examples - x).reshape(len(x), -1)
        size = np.abs(delta).max(1) if norm is Norm.INFINITY else np.sqrt((delta.astype(np.float64) ** 2).sum(1))
        assert (size <= eps + BALL_TOLERANCE).all()
        assert result.examples.min() >= 0.0 and result.examples.max() <= 1.0
        assert result.fooled.any() and not result.fooled.all()
        assert np.array_equal(result.fooled, model(result.examples).numpy().argmax(-1) != y)


def test_square_examples_keep_the_budget(linear):
    model, _, x, y = linear
    eps = 0.02
    result = square(model, x, y, Norm.INFINITY, eps, queries=200)
    assert np.abs(result.examples - x).max() <= eps + BALL_TOLERANCE
    assert result.examples.min() >= 0.0 and result.examples.max() <= 1.0
    assert result.fooled.any()
    assert np.array_equal(result.fooled, model(result.examples).numpy().argmax(-1) != y)
    with pytest.raises(ValueError, match="square"):
        square(model, x, y, Norm.L2, 1.0)


def test_apgd_t_finds_exactly_the_digits_a_linear_model_cannot_keep(linear):
    model, w, x, y = linear
    eps = 0.02
    exact = exactly_robust(w, x, y, eps)
    assert 0 < exact.sum() < len(y)
    # The targeted loss towards class t of a linear model rises fastest towards the box's corner
    # that lowers z_y - z_t: trying every class finds every digit that can be fooled.
    assert np.array_equal(~apgd(model, x, y, Norm.INFINITY, eps, targets=9).fooled, exact)


def test_worst_case_is_exact_and_below_each_attack(linear):
    model, w, x, y = linear
    eps = 0.02
    outcomes, seconds = autoattack_outcomes(model, x, y, Norm.INFINITY, eps, strong=FAST_STRONG, cfg=FAST_AA)
    assert set(seconds) == {"transfer_fgsm", "whitebox_fgsm", "whitebox_pgd", "apgd_ce", "apgd_t", "square"}
    everything = [outcomes.transfer_fgsm, outcomes.whitebox_fgsm, outcomes.whitebox_pgd, outcomes.apgd_ce,
                  outcomes.apgd_t, outcomes.square]
    assert np.array_equal(outcomes.worst_case, np.logical_and.reduce([outcomes.clean, *everything]))
    for attack in everything:
        assert (outcomes.worst_case <= attack).all()
    assert np.array_equal(outcomes.worst_case, exactly_robust(w, x, y, eps))
    acc = outcomes.accuracies()
    assert acc.autoattack and acc.worst_case.value <= min(acc.apgd_ce.value, acc.apgd_t.value, acc.square.value)


def test_l2_runs_apgd_without_square(linear):
    model, _, x, y = linear
    outcomes, _ = autoattack_outcomes(model, x[:50], y[:50], Norm.L2, 0.5, strong=FAST_STRONG,
                                      cfg=dataclasses.replace(FAST_AA, targets=2))
    assert outcomes.square is None and outcomes.accuracies().square is None
    assert (outcomes.worst_case <= outcomes.apgd_t).all()


# -- a model that hides from gradients -----------------------------------------------------


@pytest.fixture(scope="module")
def masked():
    """Class 0 while most pixels are bright, read through a threshold whose gradient is exactly zero.

    Digits have 10-30% dark pixels (0.1) and the rest bright (0.9). Within L-inf 0.45 any pixel can
    cross the threshold, so a perturbation that darkens enough pixels fools the model on every digit;
    a random start crosses it on a few pixels only, and a gradient attack never moves.
    """
    rng = np.random.default_rng(3)
    w = np.zeros((784, 10), np.float32)
    w[:, 0] = 5.0 / 784
    bias = np.array([0.0, 0.0] + [-10.0] * 8, np.float32)
    dark = rng.random((100, 1, 1, 1)) * 0.2 + 0.1
    x = np.where(rng.random((100, 28, 28, 1)) < dark, 0.1, 0.9).astype(np.float32)
    y = np.zeros(100, np.int64)
    hidden, plain = linear_model(w, bias, masked=True), linear_model(w, bias)
    assert (hidden(x).numpy().argmax(-1) == 0).all() and (plain(x).numpy().argmax(-1) == 0).all()
    return hidden, plain, x, y


def test_square_finds_what_a_zero_gradient_hides_from_pgd(masked):
    hidden, _, x, y = masked
    outcomes, _ = autoattack_outcomes(hidden, x, y, Norm.INFINITY, 0.45, strong=FAST_STRONG, cfg=FAST_AA)
    # Every gradient attack keeps every digit; Square, with 300 queries, fools nearly all.
    assert outcomes.whitebox_pgd.all() and outcomes.apgd_ce.all() and outcomes.apgd_t.all()
    assert outcomes.square.mean() <= 0.1
    assert np.array_equal(outcomes.worst_case, outcomes.square)
    acc = outcomes.accuracies()
    signs = masking_signs(acc, 0.45, Norm.INFINITY)
    assert [s.kind for s in signs] == ["gradient-free-below-gradient"]
    assert (signs[0].stronger, signs[0].weaker) == (1.0, acc.square.value)
    text = describe_sign(signs[0])
    assert "Square" in text and "100.0%" in text and f"{acc.square.value:.1%}" in text


def test_no_gradient_free_sign_where_the_gradient_works(masked):
    _, plain, x, y = masked
    outcomes, _ = autoattack_outcomes(plain, x, y, Norm.INFINITY, 0.45, strong=FAST_STRONG, cfg=FAST_AA)
    assert not outcomes.apgd_ce.any() and not outcomes.square.any()
    assert masking_signs(outcomes.accuracies(), 0.45, Norm.INFINITY) == []


def _rate(value, n=1000):
    return Rate.of(np.arange(n) < round(value * n))


def test_gradient_free_sign_needs_more_than_noise():
    # The numbers for the eps 0.3 PGD model on 1,000 digits: Square 88.5% against APGD 89.5%,
    # inside both intervals, so no sign.
    close = Accuracies(_rate(0.99), _rate(0.95), _rate(0.95), _rate(0.92), _rate(0.884), _rate(0.895),
                       _rate(0.895), _rate(0.885))
    assert masking_signs(close, 0.3, Norm.INFINITY) == []
    far = dataclasses.replace(close, square=_rate(0.80), worst_case=_rate(0.80))
    sign = masking_signs(far, 0.3, Norm.INFINITY)[0]
    assert (sign.kind, sign.stronger, sign.weaker) == ("gradient-free-below-gradient", 0.895, 0.8)


# -- stored records ---------------------------------------------------------------


def _record(worst: float, n: int = 1000, cfg: AutoAttackEval = AutoAttackEval()) -> AutoAttackRecord:
    acc = Accuracies(_rate(0.99, n), _rate(0.95, n), _rate(0.95, n), _rate(0.92, n), _rate(worst, n),
                     _rate(0.90, n), _rate(0.90, n), _rate(worst, n))
    return AutoAttackRecord(Norm.INFINITY, 0.3, acc, cfg, StrongEval(), {"square": 12.5})


def _entry(mid: str, base: str | None, **records: AutoAttackRecord) -> ModelEntry:
    """A manifest entry holding ``records`` by kind (``autoattack=``, ``autoattack_full=``)."""
    metrics = Metrics.of_training({}, base_model=base)
    for kind, record in records.items():
        metrics = metrics.with_autoattack(record, AutoAttackKind(kind))
    return ModelEntry(mid, ModelKind.REGULARIZED if base else ModelKind.BASE, f"{mid}.weights.npz", "0" * 64, 0,
                      {}, 0.0, metrics, {}, "")


def test_record_round_trips_and_rejects_what_it_cannot_trust():
    record = _record(0.884)
    assert AutoAttackRecord.from_json(record.to_json()) == record
    assert current_record(_entry("m", None, autoattack=record), Norm.INFINITY, 0.3, AutoAttackKind.SUBSET) == record
    for broken in ({}, {"norm": "infinity"}, {**record.to_json(), "rates": {"clean": [1, 0, 1]}}):
        with pytest.raises(ValueError):
            AutoAttackRecord.from_json(broken)
    # Measured with other settings than the page names: not shown.
    weaker = _record(0.95, cfg=AutoAttackEval(square_queries=100))
    assert current_record(_entry("m", None, autoattack=weaker), Norm.INFINITY, 0.3, AutoAttackKind.SUBSET) is None
    assert _entry("m", None, autoattack=weaker).metrics.autoattack(Norm.INFINITY, 0.3) == weaker  # kept, though
    assert current_record(_entry("m", None, autoattack=record), Norm.INFINITY, 0.2, AutoAttackKind.SUBSET) is None


def test_the_page_prefers_autoattack_and_the_whole_test_set():
    base = _entry("base", None, autoattack=_record(0.0), autoattack_full=_record(0.0, 10000))
    reg = _entry("adv", "base", autoattack=_record(0.884), autoattack_full=_record(0.91, 10000))
    pair = best_stored_pair(base, reg, Norm.INFINITY, 0.3)
    assert pair is not None and pair.regularized.autoattack
    assert (pair.examples, pair.regularized.worst_case.value) == (10000, 0.91)
    reg_subset = _entry("adv", "base", autoattack=_record(0.884))
    assert stored_autoattack_pair(base, reg_subset, Norm.INFINITY, 0.3).examples == 1000
    # Another base model's records are not this pair's.
    assert best_stored_pair(base, _entry("adv", "other", autoattack=_record(0.884)), Norm.INFINITY, 0.3) is None


def test_caption_names_every_attack_behind_the_number():
    tr = english()
    acc = _record(0.884).accuracies
    strong = PairAccuracies(Norm.INFINITY, 0.3, acc, acc, "manifest")
    caption = worst_case_caption(tr, strong, 10000)
    for name in ("transfer FGSM", "white-box FGSM", "white-box PGD", "APGD-CE", "APGD-T", "Square", "5,000",
                 "first 1,000"):
        assert name in caption, name
    assert "every attack" not in caption
    l2 = PairAccuracies(Norm.L2, 2.0, dataclasses.replace(acc, square=None), dataclasses.replace(acc, square=None),
                        "manifest")
    assert "APGD-T" in worst_case_caption(tr, l2, 10000) and "no Square" in worst_case_caption(tr, l2, 10000)
    plain = PairAccuracies(Norm.INFINITY, 0.3, dataclasses.replace(acc, apgd_ce=None, apgd_t=None, square=None),
                           dataclasses.replace(acc, apgd_ce=None, apgd_t=None, square=None), "manifest")
    assert "APGD" not in worst_case_caption(tr, plain, 10000)



def test_records_are_measured_once_into_the_manifest(random_digits_store):
    from advdemo.experiments.autoattack_runs import run_autoattack
    from advdemo.experiments.stored import stored_autoattack

    store, mnist, base, adv = random_digits_store
    cfg = AutoAttackEval(apgd_iterations=5, targets=1, square_queries=20)
    lines: list[str] = []
    run = lambda: run_autoattack(store, mnist, base, [(base, 0.1), (adv, 0.1)], examples=12,  # noqa: E731
                                 kind=AutoAttackKind.SUBSET, cfg=cfg, strong=FAST_STRONG, log=lines.append)
    assert run() == 2
    assert any("worst case" in line and "12 digits" in line for line in lines)
    record = store.entry(adv).metrics.autoattack(Norm.INFINITY, 0.1)
    assert (record.config, record.strong, record.examples) == (cfg, FAST_STRONG, 12)
    assert record.accuracies.worst_case.value <= min(r.value for r in record.accuracies.rates().values())
    assert run() == 0  # resumable: nothing measured twice
    # Measured with lighter settings than the page names: stored, but never shown.
    assert stored_autoattack(store.entry(adv), Norm.INFINITY, 0.1) is None
