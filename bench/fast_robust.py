"""A robust model in the time of a class discussion: train candidate fast recipes at L-inf eps 0.3, measure each.

Every candidate goes through NSL's configuration (``robust_hparams`` on the project's recipe, with its
choices changed): fewer PGD steps, fewer epochs, larger batches, random-start FGSM. Each one is trained
once into ``--store`` (resumable one model at a time: a stored candidate is not trained again), then
measured with the strong evaluation (PGD-40 from 5 random starts, the first 1,000 test digits) at
eps 0.3. The table lists every candidate tried, with its wall time, clean accuracy and worst case::

    python bench/fast_robust.py --train all        # or one name; skips what is stored
    python bench/fast_robust.py --evaluate         # the strong evaluation of every trained candidate
    python bench/fast_robust.py                    # the table, from what is stored

Wall times are only comparable within one machine: run it on an idle one (docs/robustness.md says which).
"""

from __future__ import annotations

import argparse
import dataclasses

from common import ROOT, machine, report, shipped_base_in

EPSILON = 0.3
B256 = {"adv_batch_size": 256, "adv_learning_rate": 0.004}
#: name: (training method, changes to ``robust_hparams(FAST_RECIPE, method, 0.3)``).
CANDIDATES: dict[str, tuple[str, dict]] = {
    "PGD-5, 6 epochs": ("pgd", {"adv_pgd_iterations": 5, "adv_step_size": 0.15, "adv_epochs": 6}),
    "PGD-3, 4 epochs": ("pgd", {"adv_pgd_iterations": 3, "adv_step_size": 0.25, "adv_epochs": 4}),
    "FGSM-RS, 5 epochs": ("fgsm-rs", {"adv_epochs": 5}),
    "PGD-2, 5 epochs": ("pgd", {"adv_pgd_iterations": 2, "adv_step_size": 0.375, "adv_epochs": 5}),
    "FGSM-RS at 1.25 eps, 6 epochs": ("fgsm-rs", {"adv_step_size": 0.375}),
    # Looking for catastrophic overfitting to show: larger steps, or nearly all of the loss adversarial.
    "FGSM-RS at 1.67 eps (step 0.5), 6 epochs": ("fgsm-rs", {"adv_step_size": 0.5}),
    "FGSM-RS at 1.25 eps, multiplier 10, 6 epochs": ("fgsm-rs", {"adv_step_size": 0.375, "adv_multiplier": 10.0}),
    "FGSM at eps without a random start, 6 epochs": ("fgsm-rs", {"adv_random_init": False}),
    "PGD-2, 7 epochs": ("pgd", {"adv_pgd_iterations": 2, "adv_step_size": 0.375, "adv_epochs": 7}),
    # The regularized model's own batch of 256, the learning rate doubled with it (robust_hparams(batch=256)).
    "PGD-3, 5 epochs, batch 256": ("pgd", {"adv_pgd_iterations": 3, "adv_step_size": 0.25, "adv_epochs": 5, **B256}),
    "PGD-3, 7 epochs, batch 256": ("pgd", {"adv_pgd_iterations": 3, "adv_step_size": 0.25, "adv_epochs": 7, **B256}),
    "PGD-5, 5 epochs, batch 256": ("pgd", {"adv_pgd_iterations": 5, "adv_step_size": 0.15, "adv_epochs": 5, **B256}),
}


def candidate_hparams() -> dict:
    """name: the candidate's HParams; each shares the shipped base model (the transfer attack's source)."""
    from advdemo.core.config import FAST_RECIPE, TrainingAttack, robust_hparams

    return {name: dataclasses.replace(robust_hparams(FAST_RECIPE, TrainingAttack(method), EPSILON), **changes)
            for name, (method, changes) in CANDIDATES.items()}


def main() -> None:
    from advdemo.core.config import ModelKind, Norm, StrongEval
    from advdemo.core.data import TRAIN_SIZE, load_mnist
    from advdemo.core.training import expected_training_seconds
    from advdemo.experiments.sweep import run_strong_evaluation, train_point
    from advdemo.store.manifest import StrongKind
    from advdemo.store.storage import ModelStore, default_cache_dir, model_id

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", choices=["all", *CANDIDATES], help="train this candidate, or every one not stored")
    parser.add_argument("--evaluate", action="store_true", help="the strong evaluation of every trained candidate")
    parser.add_argument("--store", default=str(default_cache_dir() / "fast"))
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    shipped = ModelStore(ROOT / "pretrained", writable=False)
    store = ModelStore(args.store, writable=True)
    candidates = candidate_hparams()
    cfg = StrongEval()

    if args.train or args.evaluate:
        mnist = load_mnist(args.data_dir, training=bool(args.train))
        base_id, base_model = shipped_base_in(store)

    def evaluate(names: list[str]) -> None:
        mids = [model_id(candidates[name], ModelKind.REGULARIZED) for name in names]
        jobs = [(mid, Norm.INFINITY) for mid in mids if store.entry(mid) is not None]
        run_strong_evaluation(store, mnist, base_id, jobs, cfg=cfg, strengths={Norm.INFINITY: (EPSILON,)},
                              kind=StrongKind.SUBSET, log=print)

    if args.train:  # each candidate measured as soon as it is trained: a stopped run keeps what it measured
        for name in list(CANDIDATES) if args.train == "all" else [args.train]:
            train_point(store, mnist, candidates[name], base_model, log=print)
            evaluate([name])
    if args.evaluate:
        evaluate(list(CANDIDATES))

    rows: dict = {}
    for name, hp in candidates.items():
        mid = model_id(hp, ModelKind.REGULARIZED)
        entry = shipped.entry(mid) or store.entry(mid)
        if entry is None:
            continue
        fgsm = entry.metrics.fgsm
        curve = entry.metrics.strong(Norm.INFINITY, StrongKind.SUBSET)
        probe = entry.metrics.probe
        at = None if curve is None else curve.at(EPSILON)
        rows[name] = {
            "model": entry.id, "wall_minutes": round(entry.train_seconds / 60, 2),
            "worst_case_text": None if at is None else at.worst_case.text(),
            "expected_minutes": round(expected_training_seconds(hp, TRAIN_SIZE) / 60, 2),
            "clean": None if fgsm is None else fgsm.clean.regularized,
            "worst_case": None if at is None else at.worst_case.value,
            "probe_pgd_by_epoch": None if probe is None else [p.pgd for p in probe.points],
            "probe_fgsm_by_epoch": None if probe is None else [p.fgsm for p in probe.points],
        }
    print("| candidate | wall time | expected | clean (10,000) | worst case (1,000) | probe: FGSM / PGD, last epoch |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        last = ("–" if not row["probe_pgd_by_epoch"] else
                f"{row['probe_fgsm_by_epoch'][-1]:.0%} / {row['probe_pgd_by_epoch'][-1]:.0%}")
        print(f"| {name} | {row['wall_minutes']:.1f} min | {row['expected_minutes']:.1f} min | "
              f"{row['clean']:.2%} | {row['worst_case_text'] or '–'} | {last} |")
    report("fast_robust", {"machine": machine(), "epsilon": EPSILON, "digits": cfg.examples,
                           "strong": dataclasses.asdict(cfg), "candidates": rows})


if __name__ == "__main__":
    main()
