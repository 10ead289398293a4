"""Is PGD-40 with 5 restarts strong enough? The PGD-trained model under a much stronger attack.

Runs white-box PGD with more steps and more random restarts (default: 100
steps, 20 restarts, the MNIST challenge's step count) on the first 1,000 test
digits at one epsilon, next to the stored PGD-40 x 5 number on the same digits.
If the stronger attack found many more adversarial examples, the stored
numbers would flatter the model.

    python bench/stronger_attack.py [--epsilon 0.3] [--iterations 100] [--restarts 20]
"""

from __future__ import annotations

import argparse
import time

from common import machine, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilon", type=float, default=0.3)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    from advdemo.config import FAST_RECIPE, Norm, StrongEval, TrainingAttack, robust_hparams
    from advdemo.data import load_mnist
    from advdemo.report import stored_pair
    from advdemo.robustness import Accuracies, strong_at
    from advdemo.storage import default_stores, model_id

    store = default_stores()[0]
    hp = robust_hparams(FAST_RECIPE, TrainingAttack.PGD, args.epsilon)
    base, base_entry = store.load(model_id(hp, "base"))
    adv, adv_entry = store.load(model_id(hp, "adv"))
    stored = stored_pair(base_entry, adv_entry, Norm.INFINITY, args.epsilon)
    cfg = StrongEval(iterations=args.iterations, restarts=args.restarts, examples=stored.examples)
    mnist = load_mnist(args.data_dir)
    x, y = mnist.test_images[:cfg.examples], mnist.test_labels[:cfg.examples]
    start = time.perf_counter()
    strong = Accuracies.of(strong_at(base, adv, x, y, Norm.INFINITY, args.epsilon, cfg).regularized)
    report("stronger_attack", {
        "machine": machine(), "model": adv_entry["id"], "epsilon": args.epsilon, "examples": cfg.examples,
        "stored": {"iterations": StrongEval().iterations, "restarts": StrongEval().restarts,
                   "whitebox_pgd": stored.regularized.whitebox_pgd.value,
                   "worst_case": stored.regularized.worst_case.value},
        "stronger": {"iterations": cfg.iterations, "restarts": cfg.restarts,
                     "whitebox_pgd": strong.whitebox_pgd.value, "worst_case": strong.worst_case.value},
        "seconds": round(time.perf_counter() - start, 1),
    })


if __name__ == "__main__":
    main()
