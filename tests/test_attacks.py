"""Perturbations: exact answers where they can be computed by hand, NSL's
answers on the same inputs, and properties (budget, range) everywhere."""

import dataclasses

import numpy as np
import pytest
from conftest import TINY

from advdemo.core.attacks import fgsm_directions, perturb
from advdemo.core.compat import keras, tf
from advdemo.core.config import NORM_SPECS, Attack, AttackMethod, Norm
from advdemo.core.model import build_base_model
from advdemo.core.training import wrap_adversarial


def linear_model(seed=0):
    """logits = W x + b on flattened 28x28 images, with known random weights."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((28, 28, 1), name="image")
    logits = keras.layers.Dense(10)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, logits)
    # Small weights keep logits moderate, so float32 softmax is not saturated.
    w = (0.05 * rng.normal(size=(784, 10))).astype(np.float32)
    b = rng.normal(size=10).astype(np.float32)
    model.set_weights([w, b])
    return model, w, b


def hand_gradient(x, y, w, b):
    """d CE / d x for a linear softmax classifier: W (softmax(Wx + b) - onehot(y))."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    z = flat @ w + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return (p @ w.T).reshape(x.shape)


def test_fgsm_linf_on_a_linear_model_is_x_plus_eps_sign_grad(synthetic):
    model, w, b = linear_model()
    x, y = synthetic
    x = 0.2 + 0.6 * x  # away from the [0, 1] edges, so no clipping hides a sign
    eps = 0.1
    expected = x + eps * np.sign(hand_gradient(x, y, w, b))
    got = perturb(model, x, y, Attack(norm=Norm.INFINITY, strength=eps))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_targeted_fgsm_on_a_linear_model_is_x_minus_eps_sign_grad_of_the_targets_loss(synthetic):
    model, w, b = linear_model(2)
    x, y = synthetic
    x = 0.2 + 0.6 * x
    eps, target = 0.1, 3
    expected = x - eps * np.sign(hand_gradient(x, np.full(len(y), target), w, b))
    got = perturb(model, x, y, Attack(norm=Norm.INFINITY, strength=eps, target=target))
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("method", [AttackMethod.FGSM, AttackMethod.PGD])
def test_targeted_attacks_keep_the_budget_and_the_pixel_range(synthetic, method):
    model = build_base_model(TINY)
    x, y = synthetic
    attack = Attack(method=method, norm=Norm.INFINITY, strength=0.2, pgd_iterations=5, target=7)
    got = perturb(model, x, y, attack)
    assert got.min() >= 0.0 and got.max() <= 1.0
    assert np.abs(got - x).max() <= 0.2 + 1e-6


def test_fgsm_l2_and_l1_directions_by_hand(synthetic):
    model, w, b = linear_model(1)
    x, y = synthetic
    g = hand_gradient(x, y, w, b).reshape(len(x), -1)
    l2, _ = fgsm_directions(model, x, y, Norm.L2)
    np.testing.assert_allclose(l2.reshape(len(x), -1), g / np.linalg.norm(g, axis=1, keepdims=True), atol=1e-5)
    l1, _ = fgsm_directions(model, x, y, Norm.L1)
    l1 = l1.reshape(len(x), -1)
    expected = np.zeros_like(g)
    expected[np.arange(len(x)), np.abs(g).argmax(axis=1)] = np.sign(g[np.arange(len(x)), np.abs(g).argmax(axis=1)])
    np.testing.assert_allclose(l1, expected, atol=1e-6)


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(3)
    return build_base_model(TINY)


@pytest.mark.parametrize("norm", list(Norm))
@pytest.mark.parametrize("method", list(AttackMethod))
def test_perturbation_within_budget_and_unit_range(cnn, synthetic, norm, method):
    if method is AttackMethod.PGD and not NORM_SPECS[norm].supports_pgd:
        pytest.skip("NSL has no L1 projection")
    x, y = synthetic
    eps = NORM_SPECS[norm].default_step
    attack = Attack(method=method, norm=norm, strength=eps, pgd_iterations=5, random_start=method is AttackMethod.PGD)
    adv = perturb(cnn, x, y, attack)
    assert adv.shape == x.shape and adv.dtype == np.float32
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    delta = (adv - x).reshape(len(x), -1)
    size = {Norm.INFINITY: np.abs(delta).max(axis=1), Norm.L2: np.linalg.norm(delta, axis=1),
            Norm.L1: np.abs(delta).sum(axis=1)}[norm]
    assert np.all(size <= eps * (1 + 1e-5)), size.max()
    assert np.any(size > 0.5 * eps)  # it really perturbs


def test_zero_strength_changes_nothing(cnn, synthetic):
    x, y = synthetic
    np.testing.assert_array_equal(perturb(cnn, x, y, Attack(strength=0.0)), x)


def nsl_perturb(model, x, y, norm, step, **pgd):
    """The tutorial's path: perturb_on_batch with explicit per-feature clip values."""
    hp = dataclasses.replace(TINY, adv_grad_norm=norm, adv_step_size=step)
    wrapper = wrap_adversarial(model, hp)
    from advdemo.core.compat import nsl
    wrapper.adv_config = nsl.configs.make_adv_reg_config(
        adv_step_size=step, adv_grad_norm=norm.value,
        clip_value_min={"image": 0.0}, clip_value_max={"image": 1.0}, **pgd)
    batch = {"image": tf.constant(x), "label": tf.constant(y)}
    return np.asarray(wrapper.perturb_on_batch(batch)["image"])


@pytest.mark.parametrize("norm", list(Norm))
def test_fgsm_matches_nsl_perturb_on_batch(cnn, synthetic, norm):
    x, y = synthetic
    step = NORM_SPECS[norm].default_step
    expected = nsl_perturb(cnn, x, y, norm, step)
    got = perturb(cnn, x, y, Attack(norm=norm, strength=step))
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("norm", [Norm.INFINITY, Norm.L2])
def test_pgd_matches_nsl_perturb_on_batch(cnn, synthetic, norm):
    x, y = synthetic
    eps = NORM_SPECS[norm].default_step
    attack = Attack(method="pgd", norm=norm, strength=eps, pgd_iterations=4)
    expected = nsl_perturb(cnn, x, y, norm, attack.step_per_iteration, pgd_iterations=4, pgd_epsilon=eps)
    np.testing.assert_allclose(perturb(cnn, x, y, attack), expected, atol=1e-5)


def test_perturbation_does_not_depend_on_batch_neighbours(cnn, synthetic):
    x, y = synthetic
    whole = perturb(cnn, x, y, Attack())
    np.testing.assert_array_equal(perturb(cnn, x[:5], y[:5], Attack()), whole[:5])


def test_attack_graphs_stay_few_per_model_and_go_with_the_model(synthetic):
    """A server sees every step count, strength, seed, batch size and start; each model keeps one graph
    per kind (PGD, FGSM, the FGSM direction, its probabilities), and a dropped model takes its graphs with
    it (a tf.function over models would keep every model forever)."""
    import gc
    import weakref

    from advdemo.core.attacks import graph_count
    from advdemo.core.evaluation import predict_proba

    images, labels = synthetic[0][:8], synthetic[1][:8]
    model, _, _ = linear_model()
    for size in (8, 1, 3):
        x, y = images[:size], labels[:size]
        for iterations in range(1, 41, 13):
            for strength in (0.05, 0.3):
                for seed in (0, 1):
                    pgd = Attack(method=AttackMethod.PGD, strength=strength, pgd_iterations=iterations,
                                 random_start=True, seed=seed)
                    perturb(model, x, y, pgd, start=perturb(model, x, y, pgd, iterations=1), iterations=2)
            perturb(model, x, y, Attack(method=AttackMethod.PGD, strength=0.2, pgd_iterations=iterations))
            perturb(model, x, y, Attack(strength=0.01 * iterations))
            fgsm_directions(model, x, y, Norm.INFINITY)
            predict_proba(model, x)
    assert graph_count(model) == 4
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
