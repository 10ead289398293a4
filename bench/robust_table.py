"""The tables of docs/robustness.md, from pretrained/manifest.json, as Markdown.

* AutoAttack's attacks beside the strong evaluation's, per model, and the worst case over all of them;
* the tutorial configuration under the strong evaluation's attacks, with their worst case;
* the training methods side by side at each epsilon;
* the full-test-set numbers of the robust models;
* the worst case of the whole L-infinity grid at epsilon 0.2;
* every gradient-masking sign the detector finds in the grid.

    python bench/robust_table.py
"""

from __future__ import annotations

import argparse
import dataclasses

from common import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=str(ROOT / "pretrained"))
    args = parser.parse_args()

    from advdemo.core.config import FAST_RECIPE, GRID_MULTIPLIERS, NORM_SPECS, ROBUST_EPSILONS, ModelKind, Norm
    from advdemo.core.masking import masking_signs
    from advdemo.core.training import training_summary
    from advdemo.experiments.report import compare_methods
    from advdemo.experiments.stored import stored_pair
    from advdemo.i18n import english
    from advdemo.store.manifest import AutoAttackKind, StrongKind
    from advdemo.store.storage import ModelStore, model_id

    store = ModelStore(args.store, writable=False)
    models = store.entries()
    base_entry = models[model_id(FAST_RECIPE, ModelKind.BASE)]
    tutorial = models[model_id(FAST_RECIPE, ModelKind.REGULARIZED)]

    def pct(v):
        return "–" if v is None else f"{v:.1%}"

    print("**Every attack that was run, per model** (L∞; each attack on every digit the model gets right "
          "clean; the worst case counts a digit only if no attack of the row fools the model on it; ± is the "
          "95% interval; the time is all attacks' wall time on two cores, shared with other jobs, so a rough guide)\n")
    names = ("transfer_fgsm", "whitebox_fgsm", "whitebox_pgd", "apgd_ce", "apgd_t", "square")
    print("| model | training | ε | digits | clean | transfer FGSM | white-box FGSM | PGD-40 × 5 | APGD-CE | "
          "APGD-T | Square | worst case | time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    def summary(e):
        return "none (base model)" if e.kind is ModelKind.BASE else training_summary(e.hparams)

    for kind in (AutoAttackKind.FULL, AutoAttackKind.SUBSET):
        for mid, e in sorted(models.items(), key=lambda kv: (kv[1].kind.value, kv[0])):
            for eps in ROBUST_EPSILONS:
                record = e.metrics.autoattack(Norm.INFINITY, eps, kind)
                if record is None or not record.current():
                    continue
                a = record.accuracies
                cells = [pct(getattr(a, name).value) for name in names]
                print(f"| `{mid}` | {summary(e)} | {eps:g} | {record.examples:,} | {pct(a.clean.value)} | "
                      + " | ".join(cells) + f" | **{a.worst_case.text()}** | "
                      f"{sum(record.seconds.values()) / 60:.0f} min |")
    print()

    checks = [(mid, e.metrics.strong(Norm.INFINITY, StrongKind.CHECK)) for mid, e in models.items()
              if e.kind is ModelKind.REGULARIZED and e.metrics.strong(Norm.INFINITY, StrongKind.CHECK)]
    if checks:
        print("**A stronger PGD as a check** (`bench/stronger_attack.py`, stored under `strong_check`; L∞, the "
              "same digits as the PGD-40 × 5 column above)\n")
        print("| model | ε | digits | PGD steps × restarts | white-box PGD | worst case (FGSM and this PGD) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for mid, curve in checks:
            for eps in curve.strengths:
                acc = curve.at(eps)
                print(f"| `{mid}` | {eps:g} | {curve.examples:,} | {curve.config.iterations} × {curve.config.restarts} "
                      f"| {pct(acc.whitebox_pgd.value)} | {acc.worst_case.text()} |")
        print()

    print("**The tutorial configuration** (L∞ step 0.2, multiplier 0.2), under the strong evaluation's attacks. "
          "FGSM columns on the first "
          "1,000 test digits here, to match the PGD columns; the page's FGSM numbers use all 10,000.\n")
    print("| ε | model | transfer FGSM | white-box FGSM | white-box PGD | worst case |")
    print("| --- | --- | --- | --- | --- | --- |")
    for eps in ROBUST_EPSILONS:
        pair = stored_pair(base_entry, tutorial, Norm.INFINITY, eps)
        if pair is None:
            continue
        for name, acc in (("base", pair.base), ("regularized", pair.regularized)):
            print(f"| {eps:g} | {name} | {pct(acc.transfer_fgsm.value)} | {pct(acc.whitebox_fgsm.value)} | "
                  f"{pct(acc.whitebox_pgd.value)} | {acc.worst_case.text()} |")
    print()

    for eps in ROBUST_EPSILONS:
        print(f"**Training methods at L∞ ε = {eps:g}** (clean and transfer FGSM on 10,000 digits; PGD and "
              "worst case on the digits given)\n")
        print("| training | clean | transfer FGSM | white-box PGD | worst case | digits | worst case over | "
              "training time |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        tr = english()
        for r in compare_methods([store], FAST_RECIPE, eps):
            time = r.training_time()
            over = tr("compare.with_autoattack" if r.autoattack else "compare.without_autoattack")
            print(f"| {r.name} | {pct(r.clean)} | {pct(r.transfer_fgsm)} | "
                  f"{'–' if r.whitebox_pgd is None else r.whitebox_pgd.text()} | "
                  f"{'–' if r.worst_case is None else r.worst_case.text()} | "
                  f"{'–' if r.worst_case is None else f'{r.worst_case.n:,}'} | "
                  f"{'–' if r.worst_case is None else over} | {time} |")
        print()

    full = [(mid, e) for mid, e in models.items() if e.metrics.strong(Norm.INFINITY, StrongKind.FULL)]
    if full:
        print("**On the whole test set** (10,000 digits, white-box PGD-40 with 5 random restarts, L∞)\n")
        print("| model | training | clean | " + " | ".join(f"PGD ε {e:g} | worst ε {e:g}" for e in ROBUST_EPSILONS)
              + " |")
        print("| --- | --- | --- | " + " | ".join("--- | ---" for _ in ROBUST_EPSILONS) + " |")
        for mid, e in full:
            curve = e.metrics.strong(Norm.INFINITY, StrongKind.FULL)
            cells = []
            for eps in ROBUST_EPSILONS:
                acc = curve.at(eps)
                cells += ["–", "–"] if acc is None else [acc.whitebox_pgd.text(), acc.worst_case.text()]
            print(f"| `{mid}` | {summary(e)} | {pct(curve.clean)} | " + " | ".join(cells) + " |")
        print()

    print("**Learning curves of the robust models**: the training loss (clean + 4 × adversarial) at each "
          "epoch, and the clean training accuracy at the end\n")
    print("| training | epochs | loss by epoch | final training accuracy | wall / CPU time |")
    print("| --- | --- | --- | --- | --- |")
    for r in (row for eps in ROBUST_EPSILONS for row in compare_methods([store], FAST_RECIPE, eps)[2:]):
        e = models.get(r.model_id)
        if e is None:
            continue
        h = e.metrics.train_history
        losses = " → ".join(f"{v:.3f}" for v in h.get("loss", []))
        acc = h.get("sparse_categorical_accuracy", [None])[-1]
        print(f"| {summary(e)} | {len(h.get('loss', []))} | {losses} | "
              f"{pct(acc)} | {r.training_time()} |")
    print()

    print("**Worst case at L∞ ε = 0.2 across the FGSM grid** (first 1,000 test digits; rows: step, columns: "
          "multiplier)\n")
    steps = NORM_SPECS[Norm.INFINITY].grid_steps
    print("| step | " + " | ".join(f"×{m:g}" for m in GRID_MULTIPLIERS) + " |")
    print("| --- | " + " | ".join("---" for _ in GRID_MULTIPLIERS) + " |")
    for s in steps:
        cells = []
        for m in GRID_MULTIPLIERS:
            hp = dataclasses.replace(FAST_RECIPE, adv_step_size=s, adv_multiplier=m)
            pair = stored_pair(base_entry, models.get(model_id(hp, ModelKind.REGULARIZED)), Norm.INFINITY, 0.2)
            cells.append("–" if pair is None else pct(pair.regularized.worst_case.value))
        print(f"| {s:g} | " + " | ".join(cells) + " |")
    print()

    print("**Gradient-masking signs** found by the detector (`advdemo.core.masking.masking_signs`) in the "
          "stored numbers on the first 1,000 test digits (AutoAttack's where measured, else the strong "
          "evaluation's curves), L∞ attacks at ε 0.1, 0.2 and 0.3\n")
    print("| model | training | ε | sign | should be stronger | should be weaker |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mid, e in sorted(models.items(), key=lambda kv: (kv[1].hparams.adv_grad_norm.value, kv[0])):
        if e.kind is not ModelKind.REGULARIZED:
            continue
        for eps in ROBUST_EPSILONS:
            record = e.metrics.autoattack(Norm.INFINITY, eps, AutoAttackKind.SUBSET)
            record = record if record is not None and record.current() else None
            pair = stored_pair(base_entry, e, Norm.INFINITY, eps)
            acc = record.accuracies if record else pair.regularized if pair else None
            for sign in masking_signs(acc, eps, Norm.INFINITY) if acc else []:
                print(f"| `{mid}` | {summary(e)} | {eps:g} | {sign.kind} | "
                      f"{pct(sign.stronger)} | {pct(sign.weaker)} |")
    print()


if __name__ == "__main__":
    main()
