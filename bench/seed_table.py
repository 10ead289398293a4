"""The spread across seeds of the 'spread' grid, as Markdown (for docs/grid.md).

Reads the stores given (the pretrained store holds seed 0; `advdemo sweep --grid spread --seeds 1,2
--out DIR` trains the others) and prints, per configuration, the regularized model's clean,
transfer-FGSM and white-box-FGSM accuracy at its own step (whole test set) as mean ± standard
deviation across the seeds found, and the base model's clean accuracy.

    python bench/seed_table.py [--store DIR ...] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse

from common import ROOT

from advdemo.core.config import FAST_RECIPE
from advdemo.core.training import training_summary
from advdemo.experiments.grids import spread_grid_hparams
from advdemo.experiments.seeds import seed_spread
from advdemo.store.storage import ModelStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", action="append", default=[], help="a model store (repeatable)")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    stores = [ModelStore(d, writable=False) for d in [str(ROOT / "pretrained"), *args.store]]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = seed_spread(stores, list(spread_grid_hparams(FAST_RECIPE)), seeds)
    print("| configuration | seeds | clean | transfer FGSM | white-box FGSM | base model clean |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {training_summary(r.hparams)} | {', '.join(map(str, r.clean.seeds))} | {r.clean.text()} | "
              f"{r.transfer.text()} | {r.whitebox.text()} | {r.base_clean.text()} |")


if __name__ == "__main__":
    main()
