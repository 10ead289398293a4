"""The live probe: a model's robustness after every epoch of its training, carried to the page and stored."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import TINY, linear_model

from advdemo.core.config import LiveProbe, ModelKind, Norm, TrainingAttack, robust_hparams
from advdemo.core.probe import measure, probe_attack
from advdemo.core.results import ProbeHistory, ProbePoint
from advdemo.store.manifest import Metrics


def test_at_strength_zero_every_line_is_the_clean_accuracy(rng):
    images, labels = rng.random((40, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, 40)
    model = linear_model(rng.normal(size=(784, 10)))
    clean, fgsm, pgd = measure(model, images, labels, Norm.INFINITY, 0.0, LiveProbe(pgd_iterations=3))
    assert clean == fgsm == pgd == np.mean(np.argmax(model.predict(images, verbose=0), -1) == labels)


def test_a_norm_without_pgd_has_no_pgd_line(rng):
    images, labels = rng.random((8, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, 8)
    clean, fgsm, pgd = measure(linear_model(rng.normal(size=(784, 10))), images, labels, Norm.L1, 0.5)
    assert pgd is None and 0.0 <= fgsm <= 1.0 and 0.0 <= clean <= 1.0


def test_the_probe_is_at_the_trainings_own_ball_or_step():
    assert probe_attack(robust_hparams(TINY, TrainingAttack.PGD, 0.2)) == (Norm.INFINITY, 0.2)
    assert probe_attack(dataclasses.replace(TINY, adv_grad_norm=Norm.L2, adv_step_size=1.5)) == (Norm.L2, 1.5)


def test_training_reports_one_point_per_epoch_and_returns_them(synthetic):
    from advdemo.core.training import Progress, train_adversarial

    images, labels = synthetic
    hp = dataclasses.replace(robust_hparams(TINY, TrainingAttack.PGD, 0.1,
                                            iterations=2, epochs=2), batch_size=32)
    reports: list[Progress] = []
    result = train_adversarial(hp, images, labels, reports.append, probe=(images[:20], labels[:20]),
                               probe_cfg=LiveProbe(examples=16, pgd_iterations=2))
    history = result.probe
    assert history is not None and (history.norm, history.strength, history.examples) == (Norm.INFINITY, 0.1, 16)
    assert [p.epoch for p in history.points] == [1, 2]
    assert all(0.0 <= v <= 1.0 for p in history.points for v in (p.clean, p.fgsm, p.pgd))
    # The last report of each epoch carries that epoch's point; the page draws the lines from them.
    ends = [r for r in reports if r.step == r.steps]
    assert [len(r.probe) for r in ends] == [1, 2] and ends[-1].probe == history.points
    assert all(r.model is ModelKind.REGULARIZED for r in reports)


def test_each_epoch_ends_in_one_report_however_slow_its_batches():
    """A batch slower than the reports' interval must not report the epoch's end before the epoch does
    (without the epoch's probe point); CI's loaded machine once saw two."""
    from advdemo.core.training import _ReportProgress

    reports = []
    callback = _ReportProgress(ModelKind.REGULARIZED, 2, 3, reports.append, per_second=1e9)  # every batch is slow
    for epoch in range(2):
        callback.on_epoch_begin(epoch)
        for batch in range(3):
            callback.on_train_batch_end(batch, {"loss": 1.0})
        callback.on_epoch_end(epoch, {"loss": 1.0})
    assert [(r.epoch, r.step) for r in reports] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]


def test_the_history_round_trips_through_the_manifest_and_the_worker():
    from advdemo.core.training import Progress
    from advdemo.serving.worker import progress_from_json, progress_json

    history = ProbeHistory(Norm.INFINITY, 0.3, 300, (ProbePoint(1, 0.9, 0.5, 0.2), ProbePoint(2, 0.95, 0.7, 0.4)))
    assert Metrics().with_probe(history).probe == history
    l1 = ProbeHistory(Norm.L1, 2.0, 300, (ProbePoint(1, 0.9, 0.5, None),))
    assert Metrics().with_probe(l1).probe == l1
    report = Progress(ModelKind.REGULARIZED, 2, 20, 5, 468, {"loss": 0.5}, history.points)
    assert progress_from_json(progress_json(report)) == report


@pytest.mark.parametrize("norm, lines", [(Norm.INFINITY, 3), (Norm.L1, 2)])
def test_the_chart_has_a_row_per_epoch_and_line(norm, lines):
    from advdemo.i18n import english
    from advdemo.page.charts import probe_rows, probe_spec

    pgd = None if norm is Norm.L1 else 0.3
    history = ProbeHistory(norm, 0.3, 300, tuple(ProbePoint(e, 0.9, 0.6, pgd) for e in (1, 2, 3)))
    rows = probe_rows(history, english())
    assert len(rows) == 3 * lines and {r["line"] for r in rows} >= {"clean", "white-box FGSM"}
    assert probe_spec(history, english(), epochs=20)["encoding"]["x"]["scale"]["domain"] == [1, 20]
