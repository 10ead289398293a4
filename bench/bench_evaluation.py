"""Robustness evaluation on the full test set: the tutorial's loop vs advdemo's, in one process.

Baseline, exactly the tutorial's code: ``perturb_on_batch`` of the reference
model on batches of 32, eagerly, the clip to [0, 1], then both models'
predictions. advdemo: compiled, batched FGSM (``advdemo.core.evaluation``).

Reports medians over repetitions, the speed-up, how close each path comes to
the machine's compute limit, and checks that both paths give the same
accuracies. Also times the robustness curve (10 strengths, both models).

    python bench/bench_evaluation.py [--repeats 5] [--tutorial-repeats 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses

from common import machine, matmul_gflops, median, peak_fractions, report, timed, tutorial_models


def network_flops(model) -> float:
    """Forward FLOPs of one image through the network (2 per multiply-add)."""
    macs = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, h, w, c_out = layer.output_shape
            kh, kw = layer.kernel_size
            macs += h * w * c_out * kh * kw * layer.input_shape[-1]
        elif kind == "Dense":
            macs += layer.input_shape[-1] * layer.units
    return 2.0 * macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tutorial-repeats", type=int, default=3)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    from advdemo.core.compat import keras, tf
    from advdemo.core.config import FAST_RECIPE, NORM_SPECS, Attack, EvalMode, Norm
    from advdemo.core.data import load_mnist
    from advdemo.core.evaluation import evaluate_attacked, robustness_curve
    from advdemo.core.training import wrap_adversarial

    mnist = load_mnist(args.data_dir)
    x, y = mnist.test_images, mnist.test_labels
    base, adv, models = tutorial_models(mnist)
    attack = Attack(norm=Norm.INFINITY, strength=0.2)

    # -- the tutorial's loop, verbatim in substance ------------------------------------------
    reference = wrap_adversarial(base, dataclasses.replace(FAST_RECIPE, adv_step_size=0.2))
    test_set = tf.data.Dataset.from_tensor_slices({"image": x, "label": y}).batch(32)

    def tutorial_loop() -> dict:
        metrics = {name: keras.metrics.SparseCategoricalAccuracy() for name in ("base", "adv")}
        for batch in test_set:
            perturbed = reference.perturb_on_batch(batch)
            perturbed["image"] = tf.clip_by_value(perturbed["image"], 0.0, 1.0)
            y_true = perturbed.pop("label")
            for name, model in (("base", base), ("adv", adv)):
                metrics[name](y_true, model(perturbed))
        return {name: float(m.result()) for name, m in metrics.items()}

    tutorial_times, tutorial_acc = timed(tutorial_loop, args.tutorial_repeats)

    # -- advdemo -----------------------------------------------------------------------------
    transfer_times, ours = timed(lambda: evaluate_attacked(base, adv, x, y, attack), args.repeats)
    whitebox = dataclasses.replace(attack, mode=EvalMode.WHITEBOX)
    whitebox_times, _ = timed(lambda: evaluate_attacked(base, adv, x, y, whitebox), args.repeats)
    strengths = NORM_SPECS[Norm.INFINITY].strengths
    curve_times, _ = timed(lambda: robustness_curve(base, adv, x, y, attack, strengths), max(1, args.repeats // 2))
    curve_wb_times, _ = timed(lambda: robustness_curve(base, adv, x, y, whitebox, strengths),
                              max(1, args.repeats // 2))

    # Transfer FGSM = one input gradient of the base model (~2 forward passes of work)
    # plus a forward pass of each model: about 4 forward passes per image.
    flops = network_flops(base) * len(y) * 4
    peak = matmul_gflops()
    t_tutorial, t_ours = median(tutorial_times), median(transfer_times)
    report("evaluation", {
        "machine": machine(), "models": models, "test_images": int(len(y)),
        "tutorial_loop_s": round(t_tutorial, 3), "tutorial_loop_runs_s": [round(t, 3) for t in tutorial_times],
        "advdemo_transfer_s": round(t_ours, 3), "advdemo_transfer_runs_s": [round(t, 3) for t in transfer_times],
        "speedup": round(t_tutorial / t_ours, 2),
        "advdemo_whitebox_s": round(median(whitebox_times), 3),
        "curve_transfer_10_strengths_s": round(median(curve_times), 3),
        "curve_whitebox_10_strengths_s": round(median(curve_wb_times), 3),
        "tutorial_acc": tutorial_acc,
        "advdemo_acc": {"base": ours.base, "adv": ours.regularized},
        "network_mflops_per_image": round(network_flops(base) / 1e6, 2),
        **peak_fractions(flops, peak, {"advdemo": t_ours, "tutorial": t_tutorial}),
    })


if __name__ == "__main__":
    main()
