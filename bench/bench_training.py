"""Training to the tutorial's quality: the tutorial's recipe vs advdemo's, in one run.

Baseline, the tutorial's code path: a ``tf.data`` pipeline over uint8 examples
with per-element ``normalize``, ``shuffle(10000)``, ``batch(32)``, 5 epochs,
Keras' default Adam, and TensorFlow's own kernels. advdemo: in-memory float
tensors, batch 128, 3 epochs, learning rate 0.002, and its faster max-pool
gradient (``FAST_RECIPE``). Both train the base and the regularized model; both
pairs are then judged by the quality target (clean >= 0.988 for both models,
transfer FGSM L-inf 0.2 >= 0.93 for the regularized one).

    python bench/bench_training.py [--data-dir DIR] [--skip-tutorial]
"""

from __future__ import annotations

import argparse
import os
import time

from common import machine, report


def timed_call(fn, keep: bool = False):
    """Wall seconds and this process's CPU seconds (user + system) of ``fn()``, and its result if ``keep``.

    CPU time is reported next to wall time because this machine is a VM whose share of its two
    cores varies: identical runs have taken up to 1.8x longer in wall time at the same CPU time.
    """
    before, start = os.times(), time.perf_counter()
    result = fn()
    seconds, after = time.perf_counter() - start, os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return (seconds, cpu, result) if keep else (seconds, cpu)


def tutorial_recipe(mnist) -> dict:
    """The tutorial's cells, with tfds.load replaced by the same examples from memory."""
    from advdemo.core.compat import keras, nsl, tf
    from advdemo.core.config import TUTORIAL as HPARAMS
    from advdemo.core.model import build_base_model

    keras.utils.set_random_seed(0)
    raw = tf.data.Dataset.from_tensor_slices({
        "image": (mnist.train_images * 255).round().astype("uint8"), "label": mnist.train_labels})

    def normalize(features):
        features["image"] = tf.cast(features["image"], dtype=tf.float32) / 255.0
        return features

    def convert_to_tuples(features):
        return features["image"], features["label"]

    def convert_to_dictionaries(image, label):
        return {"image": image, "label": label}

    train_dataset = raw.map(normalize).shuffle(10000).batch(HPARAMS.batch_size).map(convert_to_tuples)
    base_model = build_base_model(HPARAMS)
    base_model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["acc"])
    base_seconds, base_cpu = timed_call(lambda: base_model.fit(train_dataset, epochs=HPARAMS.epochs, verbose=0))

    adv_config = nsl.configs.make_adv_reg_config(multiplier=HPARAMS.adv_multiplier,
                                                 adv_step_size=HPARAMS.adv_step_size,
                                                 adv_grad_norm=HPARAMS.adv_grad_norm.value)
    base_adv_model = build_base_model(HPARAMS)
    adv_model = nsl.keras.AdversarialRegularization(base_adv_model, label_keys=["label"], adv_config=adv_config)
    adv_model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["acc"])
    adv_seconds, adv_cpu = timed_call(
        lambda: adv_model.fit(train_dataset.map(convert_to_dictionaries), epochs=HPARAMS.epochs, verbose=0))
    return {"base": base_model, "adv": base_adv_model, "base_s": base_seconds, "adv_s": adv_seconds,
            "base_cpu_s": base_cpu, "adv_cpu_s": adv_cpu}


def advdemo_recipe(mnist) -> dict:
    from advdemo.core.config import FAST_RECIPE
    from advdemo.core.training import train_adversarial, train_base

    base_s, base_cpu, base = timed_call(lambda: train_base(FAST_RECIPE, mnist.train_images, mnist.train_labels),
                                        keep=True)
    adv_s, adv_cpu, adv = timed_call(lambda: train_adversarial(FAST_RECIPE, mnist.train_images, mnist.train_labels),
                                     keep=True)
    return {"base": base.model, "adv": adv.model, "base_s": base_s, "adv_s": adv_s,
            "base_cpu_s": base_cpu, "adv_cpu_s": adv_cpu}


def quality(run: dict, mnist) -> dict:
    from advdemo.core.config import Norm
    from advdemo.experiments.experiment import fgsm_metrics
    from advdemo.store.manifest import Metrics

    fgsm = fgsm_metrics(run["base"], run["adv"], mnist.test_images, mnist.test_labels, Norm.INFINITY, 0.2)
    m: dict = {k: round(v, 4) for k, v in Metrics().with_fgsm(fgsm).data.items()}
    m["meets_target"] = (fgsm.clean.base >= 0.988 and fgsm.clean.regularized >= 0.988
                         and fgsm.transfer.regularized >= 0.93)
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--skip-tutorial", action="store_true", help="measure advdemo's recipe only")
    args = parser.parse_args()
    from advdemo.core.data import load_mnist

    mnist = load_mnist(args.data_dir)
    result: dict = {"machine": machine()}
    runs = {"advdemo": advdemo_recipe}
    if not args.skip_tutorial:
        runs = {"tutorial": tutorial_recipe, **runs}
    for name, recipe in runs.items():
        run = recipe(mnist)
        result[name] = {"base_train_s": round(run["base_s"], 1), "adv_train_s": round(run["adv_s"], 1),
                        "base_cpu_s": round(run["base_cpu_s"], 1), "adv_cpu_s": round(run["adv_cpu_s"], 1),
                        **quality(run, mnist)}
    if "tutorial" in result:
        result["adv_speedup"] = round(result["tutorial"]["adv_train_s"] / result["advdemo"]["adv_train_s"], 2)
        result["total_speedup"] = round(
            (result["tutorial"]["adv_train_s"] + result["tutorial"]["base_train_s"])
            / (result["advdemo"]["adv_train_s"] + result["advdemo"]["base_train_s"]), 2)
        result["adv_cpu_speedup"] = round(result["tutorial"]["adv_cpu_s"] / result["advdemo"]["adv_cpu_s"], 2)
    report("training", result)


if __name__ == "__main__":
    main()
