"""White-box PGD-40 evaluation: advdemo's compiled, batched attack vs a plain eager GradientTape loop.

Both run the same attack on the same digits: 40 L-infinity steps of
2.5 * eps / 40 from a random start in the ball, projected and clipped to
[0, 1] after each step, against the tutorial configuration's regularized
model. The reference is what one writes first: an eager ``tf.GradientTape``
loop over batches of 256. advdemo: ``advdemo.core.attacks.perturb`` (one compiled
graph per batch, advdemo's max-pool gradient).

Reports medians, the ratio, the share of the machine's matrix-multiply peak
each path reaches, and checks that both give the same accuracy.

    python bench/bench_pgd.py [--examples 1000] [--repeats 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse

from bench_evaluation import network_flops
from common import machine, matmul_gflops, median, peak_fractions, report, timed, tutorial_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=0.2)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    import numpy as np

    from advdemo.core.attacks import BATCH, perturb
    from advdemo.core.compat import tf
    from advdemo.core.config import Attack, AttackMethod, Norm
    from advdemo.core.data import load_mnist
    from advdemo.core.evaluation import accuracy

    mnist = load_mnist(args.data_dir)
    x, y = mnist.test_images[:args.examples], mnist.test_labels[:args.examples]
    _, model, models = tutorial_models(mnist)
    iterations, eps = 40, args.epsilon
    attack = Attack(method=AttackMethod.PGD, norm=Norm.INFINITY, strength=eps, pgd_iterations=iterations,
                    random_start=True, seed=0)
    step = attack.step_per_iteration

    def eager_loop() -> np.ndarray:
        out = []
        for start in range(0, len(x), BATCH):
            xb = tf.constant(x[start:start + BATCH])
            yb = tf.constant(y[start:start + BATCH], tf.int64)
            # The same random start advdemo draws, so both paths attack alike.
            noise = tf.random.stateless_uniform(tf.shape(xb), tf.constant([0, 0], tf.int64), -1.0, 1.0) * eps
            adv = tf.clip_by_value(xb + noise, 0.0, 1.0)
            for _ in range(iterations):
                with tf.GradientTape() as tape:
                    tape.watch(adv)
                    loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
                        labels=yb, logits=model(adv, training=False)))
                adv = adv + step * tf.sign(tape.gradient(loss, adv))
                adv = tf.clip_by_value(xb + tf.clip_by_value(adv - xb, -eps, eps), 0.0, 1.0)
            out.append(adv.numpy())
        return np.concatenate(out)

    eager_times, eager_adv = timed(eager_loop, args.repeats)
    ours_times, ours_adv = timed(lambda: perturb(model, x, y, attack), args.repeats)
    # One PGD step is a forward and a backward pass through the input (about 3 forward passes).
    flops = network_flops(model) * len(y) * 3 * iterations
    peak = matmul_gflops()
    t_eager, t_ours = median(eager_times), median(ours_times)
    report("pgd", {
        "machine": machine(), "models": models, "examples": int(len(y)), "iterations": iterations,
        "epsilon": eps,
        "eager_s": round(t_eager, 3), "eager_runs_s": [round(t, 3) for t in eager_times],
        "advdemo_s": round(t_ours, 3), "advdemo_runs_s": [round(t, 3) for t in ours_times],
        "speedup": round(t_eager / t_ours, 2),
        "eager_acc": accuracy(model, eager_adv, y), "advdemo_acc": accuracy(model, ours_adv, y),
        "max_abs_difference": float(np.abs(eager_adv - ours_adv).max()),
        **peak_fractions(flops, peak, {"advdemo": t_ours, "eager": t_eager}, digits=3),
    })


if __name__ == "__main__":
    main()
