"""Real MNIST, short training: the tutorial's claim holds in miniature."""

import dataclasses

import numpy as np
import pytest

from advdemo.core.compat import nsl, tf
from advdemo.core.config import FAST_RECIPE, Attack, EvalMode
from advdemo.core.evaluation import evaluate
from advdemo.core.model import build_base_model
from advdemo.core.training import Progress, train_adversarial, train_base, wrap_adversarial

pytestmark = pytest.mark.integration

N_TRAIN, N_TEST = 8000, 1000
RECIPE = dataclasses.replace(FAST_RECIPE, epochs=2, train_examples=N_TRAIN)


@pytest.fixture(scope="module")
def trained(mnist):
    reports: list[Progress] = []
    base = train_base(RECIPE, mnist.train_images, mnist.train_labels)
    adv = train_adversarial(RECIPE, mnist.train_images, mnist.train_labels, progress=reports.append)
    return base, adv, reports


def test_regularized_model_is_more_robust_than_base(trained, mnist):
    base, adv, _ = trained
    x, y = mnist.test_images[:N_TEST], mnist.test_labels[:N_TEST]
    transfer = evaluate(base.model, adv.model, x, y, Attack())
    whitebox = evaluate(base.model, adv.model, x, y, Attack(mode=EvalMode.WHITEBOX))
    assert transfer.clean.base > 0.9 and transfer.clean.regularized > 0.9
    assert transfer.attacked.regularized > transfer.attacked.base + 0.2, transfer
    assert whitebox.attacked.regularized > whitebox.attacked.base + 0.1, whitebox


def test_progress_reports_epochs_steps_and_metrics(trained):
    *_, reports = trained
    steps = -(-N_TRAIN // RECIPE.batch_size)
    assert reports[-1].epoch == RECIPE.epochs and reports[-1].step == reports[-1].steps == steps
    assert reports[-1].fraction == 1.0 and {"loss", "acc"} <= set(reports[-1].metrics)
    assert all(r.model == "adv" for r in reports)
    assert [r.epoch for r in reports] == sorted(r.epoch for r in reports)


def test_training_is_seeded(mnist):
    small = dataclasses.replace(RECIPE, epochs=1, train_examples=512)
    a = train_base(small, mnist.train_images, mnist.train_labels).model.get_weights()
    b = train_base(small, mnist.train_images, mnist.train_labels).model.get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, atol=1e-5)


def test_nsl_adversarial_regularization_trains_and_perturbs(mnist):
    """The compat shim's promise: NSL 1.4.0's Keras wrapper works on this TensorFlow."""
    hp = dataclasses.replace(FAST_RECIPE, epochs=1)
    model = wrap_adversarial(build_base_model(hp), hp)
    batch = {"image": tf.constant(mnist.train_images[:256]), "label": tf.constant(mnist.train_labels[:256])}
    history = model.fit(tf.data.Dataset.from_tensor_slices(batch).batch(64), epochs=2, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert "scaled_adversarial_loss" in history.history
    perturbed = model.perturb_on_batch(batch)
    assert perturbed["image"].shape == (256, 28, 28, 1)
    delta = np.abs(np.asarray(perturbed["image"]) - mnist.train_images[:256])
    assert delta.max() == pytest.approx(hp.adv_step_size, rel=1e-5)
    assert isinstance(model, nsl.keras.AdversarialRegularization)
