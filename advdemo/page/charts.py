"""The robustness curve as an interactive chart (Vega-Lite, through Altair).

Values show on hover, the chart follows the page's theme, and its menu saves
it as PNG or SVG. :func:`curve_rows` is the chart's data, one row per point,
so the numbers can be checked (and downloaded) without drawing anything.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt

from advdemo.core.config import ModelKind
from advdemo.core.results import Curve, ProbeHistory
from advdemo.i18n import Catalogue, english
from advdemo.page.rendering import ADV_COLOR, BASE_COLOR

#: The models' colours, as everywhere on the page.
COLORS = {ModelKind.BASE: BASE_COLOR, ModelKind.REGULARIZED: ADV_COLOR}
MARKER = "#D55E00"
HEIGHT = 280  # pixels


class CurveMeasure(enum.StrEnum):
    """Which line a point belongs to: the page's attack (solid) or the worst case (dotted)."""

    ATTACK = "attack"
    WORST_CASE = "worst case"


@dataclass(frozen=True)
class CurvePoint:
    """One point of a curve: a model's accuracy in [0, 1] at an attack strength, measured on ``examples`` digits."""

    model: ModelKind
    measure: CurveMeasure
    strength: float
    accuracy: float
    examples: int


def curve_rows(curve: Curve, worst: Curve | None = None) -> list[CurvePoint]:
    """Every point of ``curve`` (and of the worst-case curves, if given), in order."""
    rows = []
    for measure, c in ((CurveMeasure.ATTACK, curve), (CurveMeasure.WORST_CASE, worst)):
        if c is None:
            continue
        for kind, values in ((ModelKind.BASE, c.base), (ModelKind.REGULARIZED, c.regularized)):
            rows += [CurvePoint(kind, measure, s, a, c.examples) for s, a in zip(c.strengths, values)]
    return rows


@dataclass(frozen=True)
class SeedRange:
    """One model's lowest and highest accuracy (in [0, 1]) at one strength over ``seeds`` training seeds."""

    model: ModelKind
    strength: float
    low: float
    high: float
    seeds: int


def seed_ranges(curves: Sequence[Curve]) -> list[SeedRange]:
    """Per model and strength, the lowest and highest accuracy over ``curves`` (one per seed, same strengths)."""
    rows = []
    for kind in ModelKind:
        values = [c.base if kind is ModelKind.BASE else c.regularized for c in curves]
        for i, strength in enumerate(curves[0].strengths):
            column = [v[i] for v in values]
            rows.append(SeedRange(kind, strength, min(column), max(column), len(curves)))
    return rows


#: The catalogue keys of the models' names in the legend (the tutorial's names).
NAME_KEYS = {ModelKind.BASE: "model.base_curve", ModelKind.REGULARIZED: "model.regularized_curve"}
_MEASURE_KEYS = {CurveMeasure.ATTACK: "curve.attack", CurveMeasure.WORST_CASE: "curve.worst_case"}


def curve_chart(curve: Curve, current: float | None, xlabel: str, tr: Catalogue | None = None,
                worst: Curve | None = None, flips: tuple[float | None, float | None] | None = None,
                seeds: Sequence[Curve] = ()) -> alt.LayerChart:
    """Both models' accuracy against attack strength: solid for ``curve``, dotted for ``worst``,
    a dashed rule at ``current``, and triangles on the axis where each model changes its answer
    on the user's own digit (``flips``: base, regularized; None where it does not). ``seeds``, the
    same configuration's curves from several seeds, adds bars from their lowest to highest value.
    Legends and tooltips speak ``tr``'s language (default English)."""
    tr = tr or english()
    names = {kind: tr(key) for kind, key in NAME_KEYS.items()}

    def tip(field: str, key: str, fmt: str | None = None) -> alt.Tooltip:
        return alt.Tooltip(field, title=tr(key)) if fmt is None else alt.Tooltip(field, title=tr(key), format=fmt)

    data = [{"model": names[p.model], "measure": tr(_MEASURE_KEYS[p.measure]), "strength": p.strength,
             "accuracy": p.accuracy, "digits": p.examples} for p in curve_rows(curve, worst)]
    measures: list[str] = list(dict.fromkeys(str(p["measure"]) for p in data))
    color = alt.Color("model:N", scale=alt.Scale(domain=[names[k] for k in ModelKind],
                                                 range=[COLORS[k] for k in ModelKind]),
                      legend=alt.Legend(title=None, orient="bottom"))
    lines = alt.Chart(alt.Data(values=data)).mark_line(point=True).encode(
        x=alt.X("strength:Q", title=xlabel),
        y=alt.Y("accuracy:Q", title=tr("curve.accuracy_axis"), scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        color=color,
        strokeDash=alt.StrokeDash("measure:N", legend=alt.Legend(title=None, orient="bottom"),
                                  scale=alt.Scale(domain=measures, range=[[1, 0], [2, 3]][:len(measures)])),
        tooltip=[tip("model:N", "curve.model"), tip("measure:N", "curve.measure"),
                 tip("strength:Q", "curve.strength", fmt="g"), tip("accuracy:Q", "curve.accuracy", fmt=".1%"),
                 tip("digits:Q", "curve.digits", fmt=",")],
    )
    layers: list[alt.Chart] = [lines]
    if len(seeds) > 1:
        ranges = [{**dataclasses.asdict(r), "model": names[r.model]} for r in seed_ranges(seeds)]
        layers.append(alt.Chart(alt.Data(values=ranges)).mark_errorbar(ticks=True).encode(
            x="strength:Q", y=alt.Y("low:Q", title=tr("curve.accuracy_axis")), y2="high:Q", color=color,
            tooltip=[tip("model:N", "curve.model"), tip("strength:Q", "curve.strength", fmt="g"),
                     tip("low:Q", "curve.low", fmt=".1%"), tip("high:Q", "curve.high", fmt=".1%"),
                     tip("seeds:Q", "curve.seeds")]))
    if current is not None:
        layers.append(alt.Chart(alt.Data(values=[{"strength": current}])).mark_rule(
            color=MARKER, strokeDash=[4, 3]).encode(x="strength:Q",
                                                    tooltip=[tip("strength:Q", "curve.strength", fmt="g")]))
    marks = [{"model": names[k], "strength": s, "accuracy": 0.0} for k, s in zip(ModelKind, flips or ())
             if s is not None]
    if marks:
        layers.append(alt.Chart(alt.Data(values=marks)).mark_point(shape="triangle-up", size=160, filled=True,
                                                                   opacity=1).encode(
            x="strength:Q", y="accuracy:Q", color=color,  # on the strength axis
            tooltip=[tip("model:N", "curve.model"), tip("strength:Q", "curve.strength", fmt="g")]))
    return alt.LayerChart(layer=layers).properties(height=HEIGHT)


#: The probe's lines: the catalogue key of each, and its colour (the accuracy it shows falls from first to last).
PROBE_LINES = {"clean": ("probe.clean", "#0072B2"), "fgsm": ("probe.fgsm", "#E69F00"), "pgd": ("probe.pgd", MARKER)}


def probe_rows(history: ProbeHistory, tr: Catalogue | None = None) -> list[dict[str, object]]:
    """The probe chart's data: one row per epoch and measured line (``line`` in ``tr``'s language)."""
    tr = tr or english()
    return [{"epoch": p.epoch, "line": tr(PROBE_LINES[name][0]), "accuracy": value, "digits": history.examples}
            for p in history.points for name, value in (("clean", p.clean), ("fgsm", p.fgsm), ("pgd", p.pgd))
            if value is not None]


def probe_spec(history: ProbeHistory, tr: Catalogue, epochs: int | None = None) -> dict:
    """A model's robustness after each epoch of its training, as a Vega-Lite spec: clean, white-box FGSM and
    white-box PGD accuracy on the probe's digits; the x axis spans ``epochs`` (the training's length) if given."""
    names = [tr(key) for key, _ in PROBE_LINES.values()]
    axis = alt.Scale(domain=[1, max(epochs or 1, *(p.epoch for p in history.points), 2)])
    chart = alt.Chart(alt.Data(values=probe_rows(history, tr))).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title=tr("probe.epoch"), scale=axis, axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("accuracy:Q", title=tr("curve.accuracy_axis"), scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        color=alt.Color("line:N", scale=alt.Scale(domain=names, range=[c for _, c in PROBE_LINES.values()]),
                        legend=alt.Legend(title=None, orient="bottom")),
        tooltip=[alt.Tooltip("line:N", title=tr("curve.measure")), alt.Tooltip("epoch:Q", title=tr("probe.epoch")),
                 alt.Tooltip("accuracy:Q", title=tr("curve.accuracy"), format=".1%"),
                 alt.Tooltip("digits:Q", title=tr("curve.digits"), format=",")])
    return chart.properties(height=HEIGHT).to_dict()


@functools.lru_cache(maxsize=512)
def _spec_json(curve: Curve, current: float | None, xlabel: str, tr: Catalogue, worst: Curve | None,
               flips: tuple[float | None, float | None] | None, seeds: tuple[Curve, ...]) -> str:
    return json.dumps(curve_chart(curve, current, xlabel, tr, worst, flips, seeds=seeds).to_dict())


def curve_spec(curve: Curve, current: float | None, xlabel: str, tr: Catalogue,
               worst: Curve | None = None, flips: tuple[float | None, float | None] | None = None,
               seeds: Sequence[Curve] = ()) -> dict:
    """:func:`curve_chart` as a Vega-Lite spec (a fresh dict), built once per distinct view.

    Building an Altair chart costs about 20 ms of CPU, more than the rest of a
    slider move; a class shares a few dozen views, so the page keeps the specs.
    """
    return json.loads(_spec_json(curve, current, xlabel, tr, worst, flips, tuple(seeds)))


__all__ = ["COLORS", "HEIGHT", "CurveMeasure", "CurvePoint", "SeedRange", "curve_chart", "curve_rows", "curve_spec",
           "probe_rows", "probe_spec", "seed_ranges"]
