"""Fit the page's training-time estimate to recorded training times, and show how well it predicts each.

    python bench/fit_training_time.py [--store DIR ...]

``advdemo.core.training.expected_training_seconds`` charges each training batch a fixed part plus a
part per step of the training attack, scaled with the batch size (``_BATCH_SECONDS``). This script
fits the two numbers by least squares to the regularized models of ``pretrained/`` (the robust
recipes; the FGSM grid's 3-epoch models vary sevenfold across the machines and loads they were
trained under, and are left out) and of any further stores (``bench/fast_robust.py``'s candidates),
and prints each model's recorded and predicted minutes. Runs known to have shared their machine or
paused are left out by id (``--skip``).
"""

from __future__ import annotations

import argparse

import numpy as np
from common import ROOT, report

#: Recorded times that are not a training's own: the weight-averaging and the TRADES-like runs shared their
#: cores with other jobs (docs/robustness.md, "A model that holds").
SKIP = ("adv-c45d327dd7c7bfcd", "adv-6dde12bafa8456f3")


def main() -> None:
    from advdemo.core.config import TRAINING_SPECS, ModelKind
    from advdemo.core.data import TRAIN_SIZE
    from advdemo.core.training import _BATCH_SECONDS, expected_training_seconds, steps_per_epoch
    from advdemo.store.storage import ModelStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", action="append", default=[], help="a further store of recorded trainings")
    parser.add_argument("--skip", action="append", default=list(SKIP), metavar="ID")
    args = parser.parse_args()

    rows, xs, ys = [], [], []
    for root in [ROOT / "pretrained", *args.store]:
        for mid, entry in ModelStore(root, writable=False).entries().items():
            hp = entry.hparams
            if entry.kind is not ModelKind.REGULARIZED or mid in args.skip or not entry.train_seconds:
                continue
            if not TRAINING_SPECS[hp.training_attack].robust:
                continue
            batches = hp.adv_total_epochs * steps_per_epoch(hp, hp.train_examples or TRAIN_SIZE, adversarial=True) * (
                hp.batch(True) / 128)
            xs.append([batches, batches * hp.adv_pgd_iterations])
            ys.append(entry.train_seconds)
            rows.append((mid, hp))
    (fixed, per_step), *_ = np.linalg.lstsq(np.array(xs), np.array(ys), rcond=None)
    print(f"fit: {fixed:.4f} s a batch of 128 + {per_step:.4f} s per attack step (in use: {_BATCH_SECONDS})")
    out = []
    for (mid, hp), (batches, steps), seconds in zip(rows, xs, ys):
        fitted = batches * fixed + steps * per_step
        in_use = expected_training_seconds(hp, hp.train_examples or TRAIN_SIZE)
        out.append({"model": mid, "attack": hp.training_attack.value, "steps": hp.adv_pgd_iterations,
                    "batch": hp.batch(True), "epochs": hp.adv_total_epochs, "recorded_min": round(seconds / 60, 2),
                    "fit_ratio": round(fitted / seconds, 3), "in_use_ratio": round(in_use / seconds, 3)})
        print(f"{mid} {hp.training_attack.value:8} k={hp.adv_pgd_iterations:2} batch {hp.batch(True):3} "
              f"{hp.adv_total_epochs:2} epochs: {seconds / 60:5.1f} min recorded, fit x{fitted / seconds:.2f}, "
              f"in use x{in_use / seconds:.2f}")
    report("fit_training_time", {"fixed": round(float(fixed), 4), "per_step": round(float(per_step), 4),
                                 "models": out})


if __name__ == "__main__":
    main()
