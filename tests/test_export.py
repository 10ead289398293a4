"""The page's numbers as CSV and JSON files: every number with its digit count."""

from __future__ import annotations

import csv
import io
import json

from advdemo.core.accuracies import Accuracies, PairAccuracies, Rate
from advdemo.core.config import Norm
from advdemo.core.results import Curve, Evaluation, PairAccuracy
from advdemo.page.export import CSV_COLUMNS, results_csv, results_json

EV = Evaluation(PairAccuracy(0.99, 0.98), PairAccuracy(0.41, 0.93), examples=10_000)
CURVE = Curve((0.0, 0.2), (0.99, 0.41), (0.98, 0.93), examples=10_000)


def _acc(worst: float, n: int) -> Accuracies:
    rate = Rate(worst, worst - 0.01, worst + 0.01, n)
    return Accuracies(rate, rate, rate, rate, rate)


def test_csv_rows_are_the_figures_the_worst_case_and_the_curve():
    strong = PairAccuracies(Norm.INFINITY, 0.2, _acc(0.02, 1000), _acc(0.46, 1000), "manifest")
    rows = list(csv.DictReader(io.StringIO(results_csv(EV, 0.2, CURVE, None, strong))))
    assert tuple(rows[0]) == CSV_COLUMNS
    table = {(r["model"], r["measure"], float(r["strength"])): (float(r["accuracy"]), int(r["digits"])) for r in rows}
    assert table[("regularized", "attacked", 0.2)] == (0.93, 10_000)
    assert table[("base", "clean", 0.0)] == (0.99, 10_000)
    assert table[("regularized", "worst case now", 0.2)] == (0.46, 1000)
    assert table[("base", "curve: attack", 0.2)] == (0.41, 10_000)
    assert len(rows) == 4 + 2 + 4


def test_json_carries_the_view_to_reproduce_the_numbers():
    data = json.loads(results_json({"eps": "0.2"}, EV, 0.2, CURVE))
    assert data["view"] == {"eps": "0.2"} and len(data["rows"]) == 8
    assert {"model": "base", "measure": "attacked", "strength": 0.2, "accuracy": 0.41, "digits": 10_000} in data["rows"]
