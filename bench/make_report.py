"""Print the measured tables of docs/benchmarks.md from bench/out/*.json.

Every number in those tables comes from a benchmark's own JSON output, so the
document cannot drift from what was measured.

    python bench/make_report.py > /tmp/tables.md
"""

from __future__ import annotations

import json

from common import OUT

from advdemo.store.manifest import Metrics


def load(name: str) -> dict | None:
    path = OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def fmt(value, unit: str = "") -> str:
    return "–" if value is None else f"{value:g}{unit}"


def train_time(run: dict, kind: str) -> str:
    """A training time, with its CPU time where the run recorded it: ``137 s (CPU 259 s)``."""
    cpu = f" (CPU {run[kind + '_cpu_s']:.0f} s)" if kind + "_cpu_s" in run else ""
    return f"{run[kind + '_train_s']:.0f} s{cpu}"


def main() -> None:
    ev, tr, app, prof = load("evaluation"), load("training"), load("app"), load("profile_ops")
    pgd = load("pgd")
    bad = load("bad_input")
    iso = load("isolation")
    loads = sorted(OUT.glob("load_*.json"))
    any_run = next((r for r in (ev, tr, app) if r), None)
    if any_run:
        m = any_run["machine"]
        print(f"Machine: {m['cpu']}, {m['cores']} cores, {', '.join(m['devices'])}; "
              f"TensorFlow {m['tensorflow']}, tf-keras {m['tf_keras']}, NSL {m['neural_structured_learning']}, "
              f"Python {m['python']}.\n")
    if ev:
        print("### Robustness evaluation (full test set, FGSM L∞ 0.2, both models)\n")
        print("| what | tutorial's loop | advdemo | ratio | goal |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| transfer FGSM, both models (median of {len(ev['tutorial_loop_runs_s'])} / "
              f"{len(ev['advdemo_transfer_runs_s'])} runs) | {ev['tutorial_loop_s']:.2f} s | "
              f"{ev['advdemo_transfer_s']:.2f} s | **{ev['speedup']:.1f}×** | ≥ 5× |")
        print(f"| white-box FGSM, both models | – | {ev['advdemo_whitebox_s']:.2f} s | | |")
        print(f"| robustness curve, 10 strengths, transfer | – | {ev['curve_transfer_10_strengths_s']:.2f} s | "
              f"| ≤ 10 s |")
        print(f"| robustness curve, 10 strengths, white-box | – | {ev['curve_whitebox_10_strengths_s']:.2f} s "
              f"| | ≤ 10 s |")
        print(f"| accuracy under attack (base / regularized) | {ev['tutorial_acc']['base']:.4f} / "
              f"{ev['tutorial_acc']['adv']:.4f} | {ev['advdemo_acc']['base']:.4f} / {ev['advdemo_acc']['adv']:.4f} "
              "| same | |")
        print(f"\nCompute limit: the network costs {ev['network_mflops_per_image']} MFLOP per image forward; "
              f"a transfer evaluation is about 4 forward passes of work per image. A 2048² float32 matrix "
              f"product runs at {ev['matmul_gflops']} GFLOP/s here. advdemo's evaluation reaches "
              f"{ev['advdemo_gflops']} GFLOP/s (**{ev['advdemo_fraction_of_matmul_peak']:.0%}** of that), the "
              f"tutorial's loop {ev['tutorial_fraction_of_matmul_peak']:.0%}. Models: {ev['models']}.\n")
    if pgd:
        print(f"### White-box PGD-{pgd['iterations']} (L∞ ε {pgd['epsilon']:g}, {pgd['examples']:,} digits, "
              "one model)\n")
        print("| what | eager GradientTape loop | advdemo | ratio |")
        print("| --- | --- | --- | --- |")
        print(f"| PGD-{pgd['iterations']} with a random start (median of {len(pgd['advdemo_runs_s'])} runs) | "
              f"{pgd['eager_s']:.2f} s | {pgd['advdemo_s']:.2f} s | **{pgd['speedup']:.1f}×** |")
        print(f"| accuracy under the attack | {pgd['eager_acc']:.4f} | {pgd['advdemo_acc']:.4f} | "
              f"{'same' if pgd['eager_acc'] == pgd['advdemo_acc'] else 'differs'} |")
        print(f"| share of the {pgd['matmul_gflops']} GFLOP/s matrix-multiply peak | "
              f"{pgd['eager_fraction_of_matmul_peak']:.0%} | {pgd['advdemo_fraction_of_matmul_peak']:.0%} | |\n")
        print("Both paths run the same attack from the same random start; their adversarial examples differ by at "
              f"most {pgd['max_abs_difference']:.1e} per pixel. One PGD step is about 3 forward passes of work. "
              f"Models: {pgd['models']}.\n")
    if tr:
        print("### Training to the tutorial's quality\n")
        print("| recipe | base model | regularized model | base clean | adv clean | adv transfer FGSM | "
              "meets target |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, label in (("tutorial", "tutorial (batch 32, 5 epochs, uncached tf.data)"),
                            ("advdemo", "advdemo FAST_RECIPE (batch 128, 3 epochs, lr 0.002)")):
            if name in tr:
                r = tr[name]
                fgsm = Metrics(r).fgsm  # bench_training.py writes the manifest's names for the six numbers
                print(f"| {label} | {train_time(r, 'base')} | {train_time(r, 'adv')} | "
                      f"{fgsm.clean.base:.4f} | {fgsm.clean.regularized:.4f} | {fgsm.transfer.regularized:.4f} | "
                      f"{'yes' if r['meets_target'] else 'no'} |")
        if "adv_speedup" in tr:
            print(f"\nRegularized model: **{tr['adv_speedup']:.2f}×** faster "
                  f"(goal: 3×, i.e. at most a third of the time); both models together: "
                  f"{tr['total_speedup']:.2f}×"
                  + (f"; in CPU time, the regularized model: {tr['adv_cpu_speedup']:.2f}×" if "adv_cpu_speedup" in tr
                     else "") + ".\n")
    if app:
        print("### The page, through the real server and Chromium\n")
        print("| what | measured | goal |")
        print("| --- | --- | --- |")
        print(f"| slider move → grids updated, median | {app['slider_median_s']:.3f} s | |")
        print(f"| slider move → grids updated, p95 ({app['slider_moves']} moves) | {app['slider_p95_s']:.3f} s "
              "| ≤ 1 s |")
        if "server_cpu_per_move_s" in app:
            print(f"| server CPU time per slider move | {app['server_cpu_per_move_s']:.3f} s | |")
            print(f"| server CPU time per newly opened session | {app['server_cpu_per_new_session_s']:.3f} s | |")
        print(f"| cold start, `streamlit run` → first complete page | {app['cold_start_s']:.1f} s | ≤ 15 s |")
        print(f"| server peak RSS, 1 session | {app['rss_1_session_mb']:.0f} MB | |")
        ten = next((v for k, v in app.items() if k.startswith("rss_") and "sessions" in k), None)
        print(f"| server peak RSS, 10 sessions | {ten:.0f} MB | ≤ 1.5 GB |\n")
    for path in loads:
        ld = json.loads(path.read_text())
        mode = ", hosted mode (`--hosted`)" if ld.get("hosted") else ""
        print(f"### Load test: {ld['sessions']} browser sessions for {ld['seconds']:g} s{mode}\n")
        print("| errors | reruns | rerun p50 | rerun p95 | first page load p50 / max | server peak RSS |")
        print("| --- | --- | --- | --- | --- | --- |")
        print(f"| {ld['errors']} | {ld['reruns']} | {fmt(ld['rerun_p50_s'], ' s')} | {fmt(ld['rerun_p95_s'], ' s')} "
              f"| {fmt(ld.get('page_load_p50_s'), ' s')} / {fmt(ld.get('page_load_max_s'), ' s')} "
              f"| {ld['peak_rss_mb']:.0f} MB |\n")
        if ld.get("control_waits"):
            print(f"{ld['control_waits']} times a session found its slider briefly missing (the page "
                  f"mid-redraw) and waited for it to come back: {ld['control_wait_samples'][0]}.\n")
        if "server_cpu_s" in ld:
            cores = ld["machine"]["cores"]
            print(f"CPU over the {ld['wall_s']:g} s run ({cores} cores, {cores * ld['wall_s']:.0f} core-seconds): "
                  f"server {ld['server_cpu_s']:g} s, the {ld['sessions']} Chromium tabs {ld['browser_cpu_s']:g} s, "
                  f"the load generator (Python and Playwright's driver) {ld['driver_cpu_s']:g} s.\n")
    if iso:
        print(f"### One student trains, another moves a slider ({iso['moves']} moves a phase, hosted mode)\n")
        print("| training process | slider p50 idle → during | slider p95 idle → during | p95 ratio | training |")
        print("| --- | --- | --- | --- | --- |")
        for name, r in iso["variants"].items():
            print(f"| {name} | {r['idle_p50_s']:.3f} s → {r['training_p50_s']:.3f} s | {r['idle_p95_s']:.3f} s → "
                  f"{r['training_p95_s']:.3f} s | **{r['p95_ratio']:.2f}** | {r['training_wall_s']:.0f} s |")
        print("\nGoal: p95 during training ≤ 1.2 × idle. Each row is its own fresh server; idle and during are "
              "measured in the same run.\n")
    if bad:
        print(f"### Bad input and safety: {bad['passed']} of {bad['cases']} test cases pass\n")
        print("| requirement | test cases | passed | seconds |")
        print("| --- | --- | --- | --- |")
        for row in bad["requirements"]:
            print(f"| {row['requirement']} | {row['cases']} | {row['passed']} | {row['seconds']:g} |")
        print()
    if prof:
        print(f"### Profile: seconds per 10,000 images (batch {prof['batch']})\n")
        print("| op | s / 10k images |")
        print("| --- | --- |")
        for op, seconds in prof["seconds_per_10k_images"].items():
            print(f"| {op} | {seconds:.3f} |")
        print()


if __name__ == "__main__":
    main()
