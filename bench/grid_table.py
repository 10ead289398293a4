"""Tables of the pretrained grid's metrics from pretrained/manifest.json, as Markdown.

For each norm: the regularized model's clean, transfer-FGSM and white-box-FGSM
accuracy (at its own step) for every step size and multiplier. Prints to stdout.

    python bench/grid_table.py [--manifest pretrained/manifest.json]
"""

from __future__ import annotations

import argparse
import json

from common import ROOT

from advdemo.results import Curve, FgsmMetrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=str(ROOT / "pretrained" / "manifest.json"))
    args = parser.parse_args()
    # Seed 0 only: the grid as the page shows it (bench/seed_table.py reports the other seeds).
    models = {k: m for k, m in json.load(open(args.manifest))["models"].items() if m["hparams"].get("seed", 0) == 0}
    adv = [m for m in models.values() if m["kind"] == "adv"]
    base = next(m for m in models.values() if m["kind"] == "base")
    print(f"Base model: clean {base['metrics']['base_clean_acc']:.4f}; {len(adv)} regularized models.\n")
    for norm in ("infinity", "l2"):
        rows = [m for m in adv if m["hparams"]["adv_grad_norm"] == norm]
        if not rows:
            continue
        steps = sorted({m["hparams"]["adv_step_size"] for m in rows})
        mults = sorted({m["hparams"]["adv_multiplier"] for m in rows})
        by = {(m["hparams"]["adv_step_size"], m["hparams"]["adv_multiplier"]): m["metrics"] for m in rows}
        fgsm = {k: FgsmMetrics.from_json(v) for k, v in by.items()}
        for title, field in (("clean", "clean"), ("transfer FGSM at the model's own step", "transfer"),
                             ("white-box FGSM at the model's own step", "whitebox")):
            print(f"**{norm}, {title}** (rows: step size; columns: multiplier)\n")
            print("| step | " + " | ".join(f"×{m:g}" for m in mults) + " | base |")
            print("| --- | " + " | ".join("---" for _ in mults) + " | --- |")
            for s in steps:
                cells = [f"{getattr(fgsm[(s, m)], field).regularized:.4f}" if (s, m) in fgsm else "–" for m in mults]
                any_m = next((fgsm[(s, m)] for m in mults if (s, m) in fgsm), None)
                base_cell = f"{getattr(any_m, field).base:.4f}" if any_m else "–"
                print(f"| {s:g} | " + " | ".join(cells) + f" | {base_cell} |")
            print()
        # The same attack for every model: FGSM at the norm's default strength, transfer.
        probe = {"infinity": 0.2, "l2": 2.0}[norm]
        print(f"**{norm}, transfer FGSM at ε = {probe:g} for every model** (comparable across rows)\n")
        print("| step | " + " | ".join(f"×{m:g}" for m in mults) + " |")
        print("| --- | " + " | ".join("---" for _ in mults) + " |")
        for s in steps:
            cells = []
            for m in mults:
                metrics = by.get((s, m))
                if metrics is None:
                    cells.append("–")
                    continue
                curve = Curve.from_json(metrics["curves"]["transfer"], metrics["test_examples"])
                cells.append(f"{curve.at(probe).attacked.regularized:.4f}")
            print(f"| {s:g} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
