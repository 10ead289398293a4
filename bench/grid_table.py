"""Tables of the pretrained grid's metrics from pretrained/manifest.json, as Markdown.

For each norm: the regularized model's clean, transfer-FGSM and white-box-FGSM
accuracy (at its own step) for every step size and multiplier. Prints to stdout.

    python bench/grid_table.py [--store pretrained]
"""

from __future__ import annotations

import argparse

from common import ROOT

from advdemo.core.config import EvalMode, ModelKind, Norm
from advdemo.store.storage import ModelStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=str(ROOT / "pretrained"))
    args = parser.parse_args()
    # Seed 0 only: the grid as the page shows it (bench/seed_table.py reports the other seeds).
    models = {k: m for k, m in ModelStore(args.store, writable=False).entries().items() if m.hparams.seed == 0}
    adv = [m for m in models.values() if m.kind is ModelKind.REGULARIZED and m.metrics.fgsm is not None]
    base = next(m for m in models.values() if m.kind is ModelKind.BASE)
    print(f"Base model: clean {base.metrics.base_clean:.4f}; {len(adv)} regularized models.\n")
    for norm in (Norm.INFINITY, Norm.L2):
        rows = [m for m in adv if m.hparams.adv_grad_norm is norm and m.hparams.adv_epsilon is None]
        if not rows:
            continue
        steps = sorted({m.hparams.adv_step_size for m in rows})
        mults = sorted({m.hparams.adv_multiplier for m in rows})
        by = {(m.hparams.adv_step_size, m.hparams.adv_multiplier): m.metrics for m in rows}
        fgsm = {k: v.fgsm for k, v in by.items()}
        for title, field in (("clean", "clean"), ("transfer FGSM at the model's own step", "transfer"),
                             ("white-box FGSM at the model's own step", "whitebox")):
            print(f"**{norm.value}, {title}** (rows: step size; columns: multiplier)\n")
            print("| step | " + " | ".join(f"×{m:g}" for m in mults) + " | base |")
            print("| --- | " + " | ".join("---" for _ in mults) + " | --- |")
            for s in steps:
                cells = [f"{getattr(fgsm[(s, m)], field).regularized:.4f}" if (s, m) in fgsm else "–" for m in mults]
                any_m = next((fgsm[(s, m)] for m in mults if (s, m) in fgsm), None)
                base_cell = f"{getattr(any_m, field).base:.4f}" if any_m else "–"
                print(f"| {s:g} | " + " | ".join(cells) + f" | {base_cell} |")
            print()
        # The same attack for every model: FGSM at the norm's default strength, transfer.
        probe = {Norm.INFINITY: 0.2, Norm.L2: 2.0}[norm]
        print(f"**{norm.value}, transfer FGSM at ε = {probe:g} for every model** (comparable across rows)\n")
        print("| step | " + " | ".join(f"×{m:g}" for m in mults) + " |")
        print("| --- | " + " | ".join("---" for _ in mults) + " |")
        for s in steps:
            cells = []
            for m in mults:
                metrics = by.get((s, m))
                if metrics is None:
                    cells.append("–")
                    continue
                curve = metrics.fgsm_curve(EvalMode.TRANSFER)
                cells.append("–" if curve is None else f"{curve.at(probe).attacked.regularized:.4f}")
            print(f"| {s:g} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
