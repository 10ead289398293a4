"""The page's numbers as files: the accuracies and the curve, as CSV and as JSON.

Every number carries the count of test digits it was measured on, so a file
read later still says how far to trust it.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from advdemo.core.accuracies import PairAccuracies
from advdemo.core.config import ModelKind
from advdemo.core.results import Curve, Evaluation
from advdemo.page.charts import curve_rows

#: The CSV's columns: one row per model and measure at each strength.
CSV_COLUMNS = ("model", "measure", "strength", "accuracy", "digits")


def _rows(ev: Evaluation, strength: float, curve: Curve, worst: Curve | None,
          strong: PairAccuracies | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind in ModelKind:
        rows.append({"model": kind.name.lower(), "measure": "clean", "strength": 0.0,
                     "accuracy": ev.clean.of(kind), "digits": ev.examples})
        rows.append({"model": kind.name.lower(), "measure": "attacked", "strength": strength,
                     "accuracy": ev.attacked.of(kind), "digits": ev.examples})
    if strong is not None:
        for kind, acc in ((ModelKind.BASE, strong.base), (ModelKind.REGULARIZED, strong.regularized)):
            rows.append({"model": kind.name.lower(), "measure": "worst case now", "strength": strong.strength,
                         "accuracy": acc.worst_case.value, "digits": acc.worst_case.n})
    rows += [{"model": p.model.name.lower(), "measure": f"curve: {p.measure}", "strength": p.strength,
              "accuracy": p.accuracy, "digits": p.examples} for p in curve_rows(curve, worst)]
    return rows


def results_csv(ev: Evaluation, strength: float, curve: Curve, worst: Curve | None = None,
                strong: PairAccuracies | None = None) -> str:
    """The figures beside the grids, the worst case and every curve point, one per line (:data:`CSV_COLUMNS`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_rows(ev, strength, curve, worst, strong))
    return out.getvalue()


def results_json(view: dict[str, str], ev: Evaluation, strength: float, curve: Curve, worst: Curve | None = None,
                 strong: PairAccuracies | None = None) -> str:
    """The same numbers as :func:`results_csv`, with ``view`` (the page's URL parameters) to reproduce them."""
    return json.dumps({"view": view, "rows": _rows(ev, strength, curve, worst, strong)}, indent=1)


__all__ = ["CSV_COLUMNS", "results_csv", "results_json"]
