import dataclasses

import numpy as np
import pytest

from advdemo import sweep, training
from advdemo.config import GRID_MULTIPLIERS, NORM_SPECS, TUTORIAL, Norm
from advdemo.data import Mnist
from advdemo.storage import ModelStore, model_id

from conftest import TINY


def test_default_grid_is_48_points_including_the_tutorials():
    points = list(sweep.grid_hparams(TUTORIAL))
    assert len(points) == 48 == len(set(points))
    assert TUTORIAL in points
    assert {p.adv_grad_norm for p in points} == {Norm.INFINITY, Norm.L2}
    assert {p.adv_multiplier for p in points} == set(GRID_MULTIPLIERS)
    assert {p.adv_step_size for p in points if p.adv_grad_norm is Norm.L2} == set(NORM_SPECS[Norm.L2].grid_steps)
    assert len({model_id(p, "base") for p in points}) == 1


@pytest.fixture
def tiny_mnist(synthetic):
    images, labels = synthetic
    return Mnist(images, labels, images[:16], labels[:16], source="synthetic")


def test_resume_skips_finished_models(tmp_path, tiny_mnist, monkeypatch):
    points = [dataclasses.replace(TINY, adv_multiplier=m) for m in (0.2, 0.5)]
    calls = []
    real = training.train_adversarial

    def counting(hp, *args, **kwargs):
        calls.append(hp)
        return real(hp, *args, **kwargs)

    monkeypatch.setattr(training, "train_adversarial", counting)
    store = ModelStore(tmp_path, writable=True)
    assert sweep.run_sweep(store, tiny_mnist, TINY, points=points, limit=1) == 2  # base + first point
    assert calls == points[:1]
    first = dict(store.entry(model_id(points[0], "adv")))

    assert sweep.run_sweep(store, tiny_mnist, TINY, points=points) == 3
    assert calls == points  # the first was not trained again
    assert store.entry(model_id(points[0], "adv")) == first
    entry = store.entry(model_id(points[1], "adv"))
    curves = entry["metrics"]["curves"]
    assert set(curves) == {"transfer", "white-box"}
    assert curves["transfer"]["strengths"] == list(NORM_SPECS[Norm.INFINITY].strengths)
    assert all(0.0 <= a <= 1.0 for a in curves["white-box"]["adv"])
    assert np.isclose(curves["transfer"]["adv"][0], entry["metrics"]["adv_clean_acc"])


def test_a_corrupt_finished_model_is_trained_again(tmp_path, tiny_mnist):
    points = [TINY]
    store = ModelStore(tmp_path, writable=True)
    sweep.run_sweep(store, tiny_mnist, TINY, points=points)
    path = tmp_path / store.entry(model_id(TINY, "adv"))["file"]
    path.write_bytes(b"garbage")
    assert not sweep.is_stored(store, model_id(TINY, "adv"))
    assert sweep.run_sweep(store, tiny_mnist, TINY, points=points) == 2
    assert sweep.is_stored(store, model_id(TINY, "adv"))


def test_manifest_metrics_equal_a_direct_evaluation(tmp_path, tiny_mnist):
    """The sweep reads FGSM numbers off its curves; they must equal computing them directly."""
    from advdemo.experiment import fgsm_metrics

    hp = dataclasses.replace(TINY, adv_step_size=0.15)  # a standard strength
    store = ModelStore(tmp_path, writable=True)
    sweep.run_sweep(store, tiny_mnist, TINY, points=[hp])
    base, _ = store.load(model_id(hp, "base"))
    adv, entry = store.load(model_id(hp, "adv"))
    direct = fgsm_metrics(base, adv, tiny_mnist.test_images, tiny_mnist.test_labels, hp.adv_grad_norm, 0.15)
    for key, value in direct.items():
        assert entry["metrics"][key] == pytest.approx(value), key
