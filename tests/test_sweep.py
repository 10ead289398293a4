import dataclasses

import numpy as np
import pytest
from conftest import TINY

from advdemo.core import training
from advdemo.core.config import GRID_MULTIPLIERS, NORM_SPECS, TUTORIAL, EvalMode, ModelKind, Norm
from advdemo.core.data import Mnist
from advdemo.experiments import grids, sweep
from advdemo.store.storage import ModelStore, model_id


def test_default_grid_is_48_points_including_the_tutorials():
    points = list(grids.grid_hparams(TUTORIAL))
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
    first = store.entry(model_id(points[0], "adv"))

    assert sweep.run_sweep(store, tiny_mnist, TINY, points=points) == 3
    assert calls == points  # the first was not trained again
    assert store.entry(model_id(points[0], "adv")) == first
    metrics = store.entry(model_id(points[1], "adv")).metrics
    transfer, whitebox = metrics.fgsm_curve(EvalMode.TRANSFER), metrics.fgsm_curve(EvalMode.WHITEBOX)
    assert transfer.strengths == NORM_SPECS[Norm.INFINITY].strengths
    assert all(0.0 <= a <= 1.0 for a in whitebox.regularized)
    assert np.isclose(transfer.regularized[0], metrics.fgsm.clean.regularized)


def test_a_corrupt_finished_model_is_trained_again(tmp_path, tiny_mnist):
    points = [TINY]
    store = ModelStore(tmp_path, writable=True)
    sweep.run_sweep(store, tiny_mnist, TINY, points=points)
    path = tmp_path / store.entry(model_id(TINY, "adv")).file
    path.write_bytes(b"garbage")
    assert not sweep.is_stored(store, model_id(TINY, "adv"))
    assert sweep.run_sweep(store, tiny_mnist, TINY, points=points) == 2
    assert sweep.is_stored(store, model_id(TINY, "adv"))


def test_manifest_metrics_equal_a_direct_evaluation(tmp_path, tiny_mnist):
    """The sweep reads FGSM numbers off its curves; they must equal computing them directly."""
    from advdemo.experiments.experiment import fgsm_metrics

    hp = dataclasses.replace(TINY, adv_step_size=0.15)  # a standard strength
    store = ModelStore(tmp_path, writable=True)
    sweep.run_sweep(store, tiny_mnist, TINY, points=[hp])
    base, _ = store.load(model_id(hp, "base"))
    adv, entry = store.load(model_id(hp, "adv"))
    direct = fgsm_metrics(base, adv, tiny_mnist.test_images, tiny_mnist.test_labels, hp.adv_grad_norm, 0.15)
    np.testing.assert_allclose(dataclasses.astuple(entry.metrics.fgsm), dataclasses.astuple(direct), rtol=1e-6)


def test_robust_grid_covers_each_epsilon_with_both_methods_pgd_03_first():
    from advdemo.core.config import ROBUST_EPSILONS, TrainingAttack

    points = list(grids.robust_grid_hparams(TUTORIAL))
    assert {(p.training_attack, p.adv_epsilon) for p in points} == {
        (a, e) for a in (TrainingAttack.PGD, TrainingAttack.FGSM_RS) for e in ROBUST_EPSILONS}
    assert (points[0].training_attack, points[0].adv_epsilon) == (TrainingAttack.PGD, max(ROBUST_EPSILONS))
    assert {model_id(p, "base") for p in points} == {model_id(TUTORIAL, "base")}  # one shared base model


def test_strong_evaluation_is_stored_and_resumable(tmp_path, tiny_mnist, monkeypatch):
    from advdemo.core import robustness
    from advdemo.core.accuracies import StrongCurve
    from advdemo.core.config import StrongEval

    points = [dataclasses.replace(TINY, adv_multiplier=m) for m in (0.2, 0.5)]
    store = ModelStore(tmp_path, writable=True)
    sweep.run_sweep(store, tiny_mnist, TINY, points=points)
    base = model_id(TINY, "base")
    jobs = sweep.strong_jobs(store, base, first=[model_id(points[1], "adv")])
    assert jobs == [(model_id(points[1], "adv"), Norm.INFINITY), (model_id(points[0], "adv"), Norm.INFINITY)]
    cfg = StrongEval(iterations=3, restarts=2, examples=16)
    strengths = {Norm.INFINITY: (0.0, 0.1, 0.3)}
    assert sweep.run_strong_evaluation(store, tiny_mnist, base, jobs[:1], cfg=cfg, strengths=strengths) == 2
    calls = []
    real = robustness.outcome_curve
    monkeypatch.setattr(sweep, "outcome_curve", lambda *a, **k: calls.append(a) or real(*a, **k))
    # Resumed: the base model and the first regularized model are not measured again.
    assert sweep.run_strong_evaluation(store, tiny_mnist, base, jobs, cfg=cfg, strengths=strengths) == 1
    assert len(calls) == 1
    for mid in (base, *(m for m, _ in jobs)):
        curve = store.entry(mid).metrics.strong(Norm.INFINITY)
        assert curve.matches(cfg, 16, strengths[Norm.INFINITY])
        assert list(curve.worst_case) == sorted(curve.worst_case, reverse=True)
        assert all(w <= min(t, f, p) for w, t, f, p in
                   zip(curve.worst_case, curve.transfer_fgsm, curve.whitebox_fgsm, curve.whitebox_pgd))
        assert StrongCurve.from_json(curve.to_json()) == curve


def test_seeds_train_models_of_their_own_and_their_spread_is_the_manifests_mean_and_std(tmp_path, tiny_mnist):
    from advdemo.experiments.seeds import seed_spread

    store = ModelStore(tmp_path, writable=True)
    point = dataclasses.replace(TINY, adv_step_size=0.15)
    for seed in (0, 1, 2):
        recipe = dataclasses.replace(TINY, seed=seed)
        sweep.run_sweep(store, tiny_mnist, recipe, points=[dataclasses.replace(point, seed=seed)])
    ids = {model_id(dataclasses.replace(point, seed=s), kind) for s in (0, 1, 2) for kind in ModelKind}
    assert ids == set(store.entries())  # three seeds: three base and three regularized models
    [row] = seed_spread([store], [point], seeds=(0, 1, 2, 3))  # seed 3 is not stored: left out
    metrics = [store.entry(model_id(dataclasses.replace(point, seed=s), ModelKind.REGULARIZED)).metrics.fgsm
               for s in (0, 1, 2)]
    transfer = [m.transfer.regularized for m in metrics]
    assert row.transfer.seeds == (0, 1, 2)
    assert row.transfer.mean == pytest.approx(np.mean(transfer))
    assert row.transfer.std == pytest.approx(np.std(transfer, ddof=1))
    assert row.base_clean.mean == pytest.approx(np.mean([m.clean.base for m in metrics]))


def test_the_spread_grid_is_the_tutorials_configuration_and_three_others():
    points = list(grids.spread_grid_hparams(TUTORIAL))
    assert points[0] == TUTORIAL and len(set(points)) == 4
    assert set(points) <= set(grids.grid_hparams(TUTORIAL))  # all on the pretrained grid


def test_the_page_finds_the_stored_curves_of_every_seed_of_a_configuration(tmp_path, tiny_mnist):
    from advdemo.core.config import Attack
    from advdemo.serving.measurements import Measurements
    from advdemo.store.pairs import PairLoader

    store = ModelStore(tmp_path, writable=True)
    point = dataclasses.replace(TINY, adv_step_size=0.15)
    for seed in (0, 2):
        sweep.run_sweep(store, tiny_mnist, dataclasses.replace(TINY, seed=seed),
                        points=[dataclasses.replace(point, seed=seed)])
    pair = PairLoader([store]).load(point)
    curves = Measurements(lambda: tiny_mnist, [store]).seed_curves(pair, Attack(norm=point.adv_grad_norm))
    stored = [store.entry(model_id(dataclasses.replace(point, seed=s), ModelKind.REGULARIZED)).metrics
              .fgsm_curve(EvalMode.TRANSFER).regularized for s in (0, 2)]
    assert [c.regularized for c in curves] == stored  # seed 0's (the pair's own), then seed 2's
    other = dataclasses.replace(point, adv_multiplier=0.5)  # only one seed of it is stored: no spread
    sweep.run_sweep(store, tiny_mnist, TINY, points=[other])
    assert Measurements(lambda: tiny_mnist, [store]).seed_curves(PairLoader([store]).load(other), Attack()) == []
