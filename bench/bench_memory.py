"""Memory across 1,000 varied page reruns: do the attack graphs stay bounded?

Each "rerun" does what a page's run does on the server: the grids' attack on 32 digits (and, every
tenth, a user's own digit) for a random view: one of 20 pretrained pairs (more than the server keeps
loaded, so pairs come and go), FGSM or PGD, either norm, any strength, 1 to 40 PGD steps, either mode.
The server's resident memory is read every 100 reruns, after a garbage collection, with the graphs its
networks hold. The same reruns run twice, each in a fresh process and for at most ``--max-seconds``:
with advdemo's attacks, and with the attacks as they were before
(``git show c4c3fd4:advdemo/core/attacks.py``, one ``tf.function`` over every model and step count).

    python bench/bench_memory.py [--reruns 1000]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, machine, report

BEFORE = "c4c3fd4"  # the last commit with the attacks that compiled one graph per model and step count


def reruns(n: int, use_old: str | None, max_seconds: float, n_configs: int = 20) -> list[dict]:
    import dataclasses
    import random

    import numpy as np
    import psutil

    from advdemo.core import evaluation
    from advdemo.core.attacks import graph_count
    from advdemo.core.config import GRID_MULTIPLIERS, NORM_SPECS, Attack, AttackMethod, EvalMode, Norm
    from advdemo.core.data import load_mnist
    from advdemo.serving import own_digit
    from advdemo.serving.service import ModelService

    if use_old:  # the attacks as they were: swap them in everywhere the page's work calls them
        import importlib.util

        spec = importlib.util.spec_from_file_location("attacks_before", use_old)
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
        for module in (evaluation, own_digit):
            module.perturb = old.perturb
        own_digit.fgsm_directions = old.fgsm_directions
    svc = ModelService()
    mnist = load_mnist(training=False)
    configs = [dataclasses.replace(svc.recipe, adv_step_size=s, adv_multiplier=m)
               for s in NORM_SPECS[Norm.INFINITY].grid_steps[:5] for m in GRID_MULTIPLIERS][:n_configs]
    rng = random.Random(0)
    process = psutil.Process()
    samples = []
    import time

    deadline = time.monotonic() + max_seconds
    for i in range(1, n + 1):
        if time.monotonic() > deadline:  # the attacks before retrace so much that 1,000 reruns take an hour
            break
        pair = svc.pair(rng.choice(configs))
        norm = rng.choice([Norm.INFINITY, Norm.L2])
        method = rng.choice(list(AttackMethod))
        attack = Attack(method=method, norm=norm, strength=rng.choice(NORM_SPECS[norm].strengths[1:]),
                        mode=rng.choice(list(EvalMode)), pgd_iterations=rng.randint(1, 40))
        start = rng.randrange(0, 9000)
        images, labels = mnist.test_images[start:start + 32], mnist.test_labels[start:start + 32]
        svc.measurements.attack_digits(pair, images, labels, attack)
        if i % 10 == 0:
            svc.measurements.own_digit(pair, np.ascontiguousarray(images[0]), int(labels[0]), attack)
        if i % 100 == 0:
            gc.collect()
            networks = svc.held_networks()
            samples.append({"reruns": i, "rss_mb": round(process.memory_info().rss / 2**20, 1),
                            "seconds": round(max_seconds - (deadline - time.monotonic()), 1),
                            "networks": len(networks), "graphs": sum(map(graph_count, networks))})
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=420, help="stop each implementation after this long")
    parser.add_argument("--configs", type=int, default=20,
                        help="pretrained pairs to choose from (the server keeps 16; more make them come and go)")
    parser.add_argument("--only-advdemo", action="store_true", help="skip the attacks before")
    parser.add_argument("--child", choices=["new", "old"], help=argparse.SUPPRESS)
    parser.add_argument("--old-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(reruns(args.reruns, args.old_file if args.child == "old" else None, args.max_seconds,
                                args.configs)))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        old_file = Path(tmp) / "attacks_before.py"
        old_file.write_text(subprocess.run(["git", "show", f"{BEFORE}:advdemo/core/attacks.py"], cwd=ROOT, check=True,
                                           capture_output=True, text=True).stdout)
        for impl in ("new",) if args.only_advdemo else ("new", "old"):
            out = subprocess.run([sys.executable, __file__, "--reruns", str(args.reruns), "--child", impl,
                                  "--old-file", str(old_file), "--max-seconds", str(args.max_seconds),
                                  "--configs", str(args.configs)],
                                 check=True, capture_output=True, text=True)
            results[impl] = json.loads(out.stdout.strip().splitlines()[-1])
    summary = {}
    for impl, samples in results.items():
        first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
        summary[impl] = {"rss_mb": [s["rss_mb"] for s in samples], "graphs": [s["graphs"] for s in samples],
                         "networks": last["networks"], "reruns_done": last["reruns"],
                         "seconds": last["seconds"],
                         f"growth_mb_from_{first['reruns']}_to_{last['reruns']}": round(last["rss_mb"] -
                                                                                       first["rss_mb"], 1)}
    report(f"memory_reruns_{args.configs}_pairs", {
        "machine": machine(), "reruns": args.reruns, "pairs": args.configs, "advdemo": summary["new"],
        **({} if args.only_advdemo else {f"attacks_before_{BEFORE}": summary["old"]})})


if __name__ == "__main__":
    main()
