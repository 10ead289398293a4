"""The page tells the whole robustness story with the shipped models: the worst case beside the
tutorial's numbers, the masking warning where it belongs, the lesson and the method comparison."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_app import metrics
from test_app import run_app as page

from advdemo.core.config import FAST_RECIPE, Norm, TrainingAttack, robust_hparams
from advdemo.experiments.stored import best_stored_pair
from advdemo.page import viewstate
from advdemo.page.lesson import LESSON
from advdemo.store.storage import PRETRAINED_DIR, ModelStore, model_id

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore"),
              pytest.mark.skipif(not (PRETRAINED_DIR / "manifest.json").exists(), reason="no pretrained models")]

STORE = ModelStore(PRETRAINED_DIR, writable=False)
PGD_03 = robust_hparams(FAST_RECIPE, TrainingAttack.PGD, 0.3)


@pytest.fixture(autouse=True)
def _shipped_models(mnist, monkeypatch):
    monkeypatch.delenv("ADVDEMO_PRETRAINED_DIR", raising=False)
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def run_app(query: dict | None = None) -> AppTest:
    # PGD views measure on the test set, which takes longer than the tiny models' pages.
    return page(query, timeout=300)


def stored(hp, strength):
    """What the page should show: the whole test set's numbers where measured, else the subset's."""
    entries = STORE.entries()
    return best_stored_pair(entries[model_id(hp, "base")], entries[model_id(hp, "adv")], Norm.INFINITY, strength)


def masking_warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "Gradient masking" in w.value]


def test_default_page_puts_the_worst_case_next_to_the_tutorials_number():
    at = run_app()
    figures = metrics(at)
    expected = stored(FAST_RECIPE, 0.2)
    tutorial = STORE.entry(model_id(FAST_RECIPE, "adv")).metrics.fgsm
    assert figures["Regularized, FGSM ε 0.2"] == f"{tutorial.transfer.regularized:.1%}"  # the tutorial's number
    assert figures["Regularized, worst case"] == expected.regularized.worst_case.text()
    assert figures["Base, worst case"] == expected.base.worst_case.text()
    assert expected.regularized.worst_case.value < 0.6  # far below the transfer number: the lesson of the page
    # AutoAttack's attacks stand behind it, and the caption names them and the digits.
    assert expected.regularized.autoattack and expected.base.autoattack
    where = ("all 10,000 test digits" if expected.regularized.worst_case.n == 10_000
             else f"the first {expected.regularized.worst_case.n:,} test digits")
    assert any(f"Measured on {where}" in c.value and "APGD-T" in c.value and "Square" in c.value
               for c in at.caption)


def test_masking_warning_fires_on_the_masked_model_and_not_on_pgd_training():
    masked = run_app({"step": "0.3", "eps": "0.3", "mode": "white-box"})
    assert any("against an attack built from its own gradient" in w for w in masking_warnings(masked))
    robust = run_app({"tattack": "pgd", "teps": "0.3", "eps": "0.3", "attack": "pgd", "iters": "40",
                      "mode": "white-box"})
    assert masking_warnings(robust) == []
    assert float(metrics(robust)["Regularized, worst case"].split("%")[0]) > 80


def test_each_lesson_step_is_one_click_to_its_view():
    at = run_app()
    for i, step in enumerate(LESSON):
        at.button(key=f"lesson{i}").click().run()
        assert not at.exception, at.exception
        assert at.query_params == viewstate.to_query(step.view)
        # Every step shows a pretrained model, but the last: a class trains that one itself.
        assert any("not trained yet" in s.value for s in at.subheader) == step.trains, step.title
        assert str(step.text) in [i.value for i in at.info]


def test_the_last_lesson_step_trains_the_live_recipe_beside_the_shipped_model():
    from advdemo.core.config import LIVE_ROBUST, OVERFITTING
    from advdemo.page.lesson import SHIPPED_ROBUST

    [live] = [step for step in LESSON if step.trains]
    assert live is LESSON[-1] and live.view.hparams() == LIVE_ROBUST and SHIPPED_ROBUST == PGD_03
    at = run_app(viewstate.to_query(live.view))
    assert not at.exception and not at.button(key="train").disabled
    [table] = [t.value for t in at.table if "worst case" in t.value.columns and len(t.value) == 2]
    shipped, yours = table.iloc[0], table.iloc[1]
    for row, hp in ((shipped, PGD_03), (yours, LIVE_ROBUST)):
        assert f"PGD-{hp.adv_pgd_iterations}, {hp.adv_total_epochs} epochs, batch {hp.batch(True)}" in row["training"]
    expected = STORE.entry(model_id(PGD_03, "adv"))
    assert shipped["worst case"] == stored(PGD_03, 0.3).regularized.worst_case.text() and expected is not None
    assert (yours == "–").sum() >= 5  # not trained yet
    # What goes wrong, from its stored lines: a collapse the class sees without waiting.
    collapsed = STORE.entry(model_id(OVERFITTING, "adv"))
    assert collapsed is not None and any("catastrophic overfitting" in c.value for c in at.caption)


def test_method_comparison_lists_all_three_methods_with_numbers():
    at = run_app()
    [table] = [t for t in at.table if "training" in t.value.columns]
    rows = table.value
    assert len(rows) == 4
    assert not (rows["worst case"] == "–").any()


def test_the_default_curve_shows_the_range_over_the_shipped_seeds():
    import json

    at = run_app()
    [chart] = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")][:1]
    bars = [layer for layer in chart["layer"] if layer["mark"]["type"] == "errorbar"]
    assert bars and {v["seeds"] for v in bars[0]["data"]["values"]} == {3}
    assert any("trained from 3 seeds" in c.value for c in at.caption)
