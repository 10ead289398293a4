"""A dropped pair's networks take the next pair's weights (advdemo.store.pairs.NetworkPool): the
server stops building networks, and nobody may see another model's answers through them."""

from __future__ import annotations

import gc

import numpy as np
from conftest import L2_VIEW

from advdemo.core.config import FAST_RECIPE, Attack, AttackMethod, EvalMode, ModelKind
from advdemo.core.evaluation import attack_pair, predict_proba
from advdemo.page.viewstate import ViewState
from advdemo.store.pairs import PairLoader
from advdemo.store.storage import ModelStore, model_id

PGD = Attack(method=AttackMethod.PGD, strength=0.2, pgd_iterations=5, mode=EvalMode.WHITEBOX,
             random_start=True)


def digits(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n)


def fresh(store: ModelStore, hparams, kind: ModelKind):
    return store.load(model_id(hparams, kind))[0]


def test_a_dropped_pairs_networks_serve_the_next_pair_with_its_own_answers(stored_models):
    store = ModelStore(stored_models, writable=False)
    loader = PairLoader([store], size=1)
    x, y = digits()
    first = loader.load(ViewState().hparams(FAST_RECIPE))
    attack_pair(first.base, first.regularized, x, y, PGD)  # its networks now hold compiled attacks
    networks = {id(first.base), id(first.regularized)}
    del first
    l2 = L2_VIEW.hparams(FAST_RECIPE)
    second = loader.load(l2)  # the cache holds one pair: the first goes
    gc.collect()
    assert loader.networks.spares() == 2 and loader.networks.built == 4
    held = {id(net) for net in loader.held_networks()}  # the cached pair's and the spares
    assert held == networks | {id(second.base), id(second.regularized)}

    third = loader.load(ViewState().hparams(FAST_RECIPE))  # loaded into the first pair's networks
    assert {id(third.base), id(third.regularized)} == networks and loader.networks.built == 4
    del second
    gc.collect()
    reused = loader.load(l2)  # and the L2 pair again, into the second's
    assert loader.networks.built == 4
    for pair, hparams in ((third, ViewState().hparams(FAST_RECIPE)), (reused, l2)):
        base, regularized = fresh(store, hparams, ModelKind.BASE), fresh(store, hparams, ModelKind.REGULARIZED)
        np.testing.assert_allclose(predict_proba(pair.regularized, x), predict_proba(regularized, x), atol=1e-6)
        got, want = attack_pair(pair.base, pair.regularized, x, y, PGD), attack_pair(base, regularized, x, y, PGD)
        np.testing.assert_allclose(got.regularized_images, want.regularized_images, atol=1e-5)
        np.testing.assert_array_equal(got.regularized_pred, want.regularized_pred)


def test_a_pair_still_in_use_keeps_its_networks(stored_models):
    """A page run or a job may hold a pair the cache has dropped: its networks must not change under it."""
    store = ModelStore(stored_models, writable=False)
    loader = PairLoader([store], size=1)
    held = loader.load(ViewState().hparams(FAST_RECIPE))
    loader.load(L2_VIEW.hparams(FAST_RECIPE))
    gc.collect()
    assert loader.networks.spares() == 0
    again = loader.load(ViewState().hparams(FAST_RECIPE))
    assert again is not held and again.regularized is not held.regularized and loader.networks.built == 6
