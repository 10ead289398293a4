"""Is PGD-40 with 5 restarts strong enough? The PGD-trained model under a much stronger attack.

Runs white-box PGD with more steps and more random restarts (default: 100
steps, 20 restarts, the MNIST challenge's step count) on the first 1,000 test
digits at one epsilon, next to the stored PGD-40 x 5 number on the same digits.
If the stronger attack found many more adversarial examples, the stored
numbers would flatter the model. The result is stored in the manifest too, under
``strong_check`` (resumable: a stored result is read back, not measured again).

    python bench/stronger_attack.py [--epsilon 0.3] [--iterations 100] [--restarts 20]
"""

from __future__ import annotations

import argparse

from common import machine, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilon", type=float, default=0.3)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--data-dir")
    parser.add_argument("--store", default="pretrained", help="the store holding the models (default %(default)s)")
    args = parser.parse_args()

    from advdemo.core.config import FAST_RECIPE, Norm, StrongEval, TrainingAttack, robust_hparams
    from advdemo.core.data import load_mnist
    from advdemo.experiments.stored import stored_pair
    from advdemo.experiments.sweep import run_strong_evaluation
    from advdemo.store.manifest import StrongKind
    from advdemo.store.storage import ModelStore, model_id

    store = ModelStore(args.store, writable=True)
    hp = robust_hparams(FAST_RECIPE, TrainingAttack.PGD, args.epsilon)
    base_id, adv_id = model_id(hp, "base"), model_id(hp, "adv")
    stored = stored_pair(store.entry(base_id), store.entry(adv_id), Norm.INFINITY, args.epsilon)
    cfg = StrongEval(iterations=args.iterations, restarts=args.restarts, examples=stored.examples)
    mnist = load_mnist(args.data_dir, training=False)
    run_strong_evaluation(store, mnist, base_id, [(adv_id, Norm.INFINITY)], cfg=cfg,
                          strengths={Norm.INFINITY: (args.epsilon,)}, kind=StrongKind.CHECK)
    curve = store.entry(adv_id).metrics.strong(Norm.INFINITY, StrongKind.CHECK)
    strong = curve.at(args.epsilon)
    report("stronger_attack", {
        "machine": machine(), "model": adv_id, "epsilon": args.epsilon, "examples": cfg.examples,
        "stored": {"iterations": StrongEval().iterations, "restarts": StrongEval().restarts,
                   "whitebox_pgd": stored.regularized.whitebox_pgd.value,
                   "worst_case": stored.regularized.worst_case.value},
        "stronger": {"iterations": cfg.iterations, "restarts": cfg.restarts,
                     "whitebox_pgd": strong.whitebox_pgd.value, "worst_case": strong.worst_case.value},
        "seconds": curve.seconds,
    })


if __name__ == "__main__":
    main()
