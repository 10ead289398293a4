"""The interactive robustness chart shows exactly the stored numbers."""

from __future__ import annotations

import json

import pytest

from advdemo.core.config import FAST_RECIPE, Attack, ModelKind, Norm
from advdemo.core.results import Curve
from advdemo.experiments.stored import stored_fgsm_curve, stored_worst_curves
from advdemo.i18n import Language, catalogue, english
from advdemo.page.charts import curve_chart, curve_rows
from advdemo.store.storage import PRETRAINED_DIR, ModelStore, model_id

NAMES = english()
#: The models' names in the English legend (the tutorial's).
MODEL_NAMES = {ModelKind.BASE: "base", ModelKind.REGULARIZED: "adv-regularized"}


def chart_values(chart) -> list[dict]:
    """The data of the chart's first layer (its curves), as Vega-Lite receives it."""
    spec = chart.to_dict()
    return spec["layer"][0]["data"]["values"]


def test_every_point_of_both_curves_is_plotted_once():
    curve = Curve((0.0, 0.1, 0.2), (0.99, 0.8, 0.5), (0.99, 0.97, 0.95), examples=100)
    worst = Curve((0.0, 0.1, 0.2), (0.99, 0.5, 0.1), (0.99, 0.9, 0.6), examples=50)
    values = chart_values(curve_chart(curve, 0.1, "ε", NAMES, worst, flips=(0.1, None)))
    assert len(values) == 12
    plotted = {(v["model"], v["measure"], v["strength"]): (v["accuracy"], v["digits"]) for v in values}
    assert plotted[("adv-regularized", "attack", 0.2)] == (0.95, 100)
    assert plotted[("base", "worst case", 0.1)] == (0.5, 50)
    layers = curve_chart(curve, 0.1, "ε", NAMES, worst, flips=(0.1, None)).to_dict()["layer"]
    assert layers[1]["data"]["values"] == [{"strength": 0.1}]  # the current strength
    assert layers[2]["data"]["values"] == [{"model": "base", "strength": 0.1, "accuracy": 0.0}]  # only one flips
    json.dumps(curve_chart(curve, None, "ε", NAMES).to_dict())  # a plain JSON spec, no current strength


@pytest.mark.skipif(not (PRETRAINED_DIR / "manifest.json").exists(), reason="no pretrained models")
def test_the_chart_of_the_default_page_matches_the_manifest():
    store = ModelStore(PRETRAINED_DIR, writable=False)
    base = store.entry(model_id(FAST_RECIPE, ModelKind.BASE))
    reg = store.entry(model_id(FAST_RECIPE, ModelKind.REGULARIZED))
    curve = stored_fgsm_curve(base, reg, Attack(), 10_000)
    worst = stored_worst_curves(base, reg, Norm.INFINITY)
    values = chart_values(curve_chart(curve, 0.2, "ε", NAMES, worst))
    raw = json.loads((PRETRAINED_DIR / "manifest.json").read_text())["models"][reg.id]["metrics"]["curves"]
    for kind, key in ((ModelKind.BASE, "base"), (ModelKind.REGULARIZED, "adv")):
        shown = [v["accuracy"] for v in values if v["model"] == MODEL_NAMES[kind] and v["measure"] == "attack"]
        assert shown == raw["transfer"][key]  # exactly the manifest's numbers, in order of strength
    worst_shown = [v for v in values if v["measure"] == "worst case"]
    assert worst_shown and all(v["digits"] == 1000 for v in worst_shown)
    assert len(curve_rows(curve, worst)) == len(values)


def test_seed_bars_span_the_lowest_to_the_highest_seed():
    from advdemo.page.charts import seed_ranges

    seeds = [Curve((0.0, 0.2), (0.99, 0.40), (0.98, 0.92), 100), Curve((0.0, 0.2), (0.98, 0.45), (0.99, 0.95), 100),
             Curve((0.0, 0.2), (0.99, 0.42), (0.99, 0.93), 100)]
    ranges = {(r.model, r.strength): (r.low, r.high) for r in seed_ranges(seeds)}
    assert ranges[(ModelKind.BASE, 0.2)] == (0.40, 0.45)
    assert ranges[(ModelKind.REGULARIZED, 0.0)] == (0.98, 0.99)
    layers = curve_chart(seeds[0], 0.2, "ε", NAMES, seeds=seeds).to_dict()["layer"]
    bars = next(layer for layer in layers if layer["mark"]["type"] == "errorbar")
    assert {(v["model"], v["strength"], v["low"], v["high"]) for v in bars["data"]["values"]} >= {
        ("base", 0.2, 0.40, 0.45), ("adv-regularized", 0.2, 0.92, 0.95)}
    assert not any(layer["mark"]["type"] == "errorbar"
                   for layer in curve_chart(seeds[0], 0.2, "ε", NAMES, seeds=seeds[:1]).to_dict()["layer"])


def test_the_chinese_chart_plots_the_same_numbers_with_chinese_names():
    curve = Curve((0.0, 0.1), (0.99, 0.8), (0.99, 0.97), examples=100)
    english_values = chart_values(curve_chart(curve, 0.1, "ε", english()))
    chinese = curve_chart(curve, 0.1, "ε", catalogue(Language.ZH)).to_dict()
    chinese_values = chinese["layer"][0]["data"]["values"]
    assert [(v["strength"], v["accuracy"]) for v in chinese_values] == [
        (v["strength"], v["accuracy"]) for v in english_values]
    assert {v["model"] for v in chinese_values} == {"基础模型", "对抗正则化模型"}
    assert {v["measure"] for v in chinese_values} == {"攻击"}
    encoding = chinese["layer"][0]["encoding"]
    assert encoding["y"]["title"] == "测试准确率"
    assert [t["title"] for t in encoding["tooltip"]] == ["模型", "度量", "强度", "准确率", "样本数"]
