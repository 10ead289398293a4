"""Training estimates: the shipped fit, scaled by this server's own recorded pace, and the basis the page names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import TINY

from advdemo.core.config import FAST_RECIPE, LIVE_ROBUST, ModelKind, TrainingAttack, robust_hparams
from advdemo.core.training import Progress, expected_training_seconds, pace
from advdemo.i18n import english
from advdemo.page import presentation as text
from advdemo.serving.estimates import Estimate, estimate
from advdemo.store.storage import ModelStore

PGD = robust_hparams(FAST_RECIPE, TrainingAttack.PGD, 0.3)


def test_the_pace_is_the_median_ratio_of_recorded_to_expected_times():
    assert pace([]) is None
    expected = expected_training_seconds(PGD, 60_000)
    assert pace([(PGD, 60_000, 2 * expected)]) == pytest.approx(2.0)
    runs = [(PGD, 60_000, r * expected) for r in (3.0, 1.0, 2.0)]
    assert pace(runs) == pytest.approx(2.0)
    assert pace([*runs, (LIVE_ROBUST, 60_000, 2.5 * expected_training_seconds(LIVE_ROBUST, 60_000))]) == \
        pytest.approx(2.25)
    assert pace([(PGD, 60_000, 0.0)]) is None  # a time nobody recorded says nothing


def _weights() -> list[np.ndarray]:
    return [np.zeros((2, 2), np.float32)]


def test_a_server_that_trained_models_estimates_at_its_own_pace(tmp_path):
    shipped = ModelStore(tmp_path / "pretrained", writable=True)
    here = ModelStore(tmp_path / "cache", writable=True)
    fit = expected_training_seconds(LIVE_ROBUST, 60_000)
    # The pretrained store is read-only on a server: its models were not trained there.
    shipped.put(PGD, "adv", _weights(), train_seconds=10 * expected_training_seconds(PGD, 60_000))
    stores = [ModelStore(tmp_path / "pretrained", writable=False), here]
    assert estimate(stores, LIVE_ROBUST, 60_000) == Estimate(pytest.approx(fit), 0)
    small = dataclasses.replace(TINY, train_examples=2_000)
    here.put(small, "base", _weights(), train_seconds=999.0)  # base models do not count
    here.put(small, "adv", _weights(), train_seconds=3 * expected_training_seconds(small, 2_000))
    # (the store keeps times to a tenth of a second)
    assert estimate(stores, LIVE_ROBUST, 60_000) == Estimate(pytest.approx(3 * fit, rel=1e-3), 1)
    with_base = expected_training_seconds(LIVE_ROBUST, 60_000, with_base=True)
    assert estimate(stores, LIVE_ROBUST, 60_000, with_base=True).seconds == pytest.approx(3 * with_base, rel=1e-3)


def test_the_page_names_the_basis_of_its_estimate_and_the_time_left():
    tr = english()
    first = text.training_plan(tr, 6, 60_000, "PGD", Estimate(427.0, 0))
    assert "about 7 minutes" in first and "recorded times of the pretrained models" in first
    assert "own pace, measured in its 3 trainings" in text.training_plan(tr, 6, 60_000, "PGD", Estimate(427.0, 3))
    early = Progress(ModelKind.REGULARIZED, 1, 6, 10, 468, {})
    assert "left" not in text.training_progress(tr, early, 400.0)[1]
    later = Progress(ModelKind.REGULARIZED, 2, 6, 100, 468, {})
    assert text.training_progress(tr, later, 300.0)[1].endswith("about 5 minutes left at its pace so far")
