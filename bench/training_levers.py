"""Two training levers of issue 15, measured against advdemo's recipe in one run: a learning-rate
schedule (fewer epochs along a cosine) and oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``).

Each variant trains the regularized model from scratch in its own process (oneDNN is chosen when
TensorFlow is imported) and is judged with the shipped base model of advdemo's recipe: clean
accuracy of both >= 0.988, transfer FGSM L-inf 0.2 of the regularized model >= 0.93. CPU time is
reported as a ratio to advdemo's recipe measured in the same run.

    python bench/training_levers.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import machine, report

#: name: (changes to FAST_RECIPE, extra environment)
VARIANTS = {
    "advdemo recipe (3 epochs, lr 0.002)": ({}, {}),
    "oneDNN off": ({}, {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "2 epochs, cosine from lr 0.003": ({"adv_epochs": 2, "adv_cosine_decay": True, "learning_rate": 0.003}, {}),
    "2 epochs, cosine from lr 0.004": ({"adv_epochs": 2, "adv_cosine_decay": True, "learning_rate": 0.004}, {}),
}


def one(changes: dict, data_dir: str | None) -> dict:
    """Train one variant's regularized model here; its CPU seconds and quality."""
    import dataclasses

    from bench_training import timed_call

    from advdemo.config import FAST_RECIPE, ModelKind, Norm
    from advdemo.data import load_mnist
    from advdemo.experiment import fgsm_metrics, find_model
    from advdemo.storage import default_stores, model_id
    from advdemo.training import train_adversarial

    mnist = load_mnist(data_dir)
    hparams = dataclasses.replace(FAST_RECIPE, **changes)
    seconds, cpu, result = timed_call(lambda: train_adversarial(hparams, mnist.train_images, mnist.train_labels),
                                      keep=True)
    found = find_model(default_stores(), model_id(FAST_RECIPE, ModelKind.BASE))
    assert found is not None, "the shipped base model of advdemo's recipe is missing"
    fgsm = fgsm_metrics(found[0], result.model, mnist.test_images, mnist.test_labels, Norm.INFINITY, 0.2)
    return {"adv_train_s": round(seconds, 1), "adv_cpu_s": round(cpu, 1),
            **{k: round(v, 4) for k, v in fgsm.to_json().items()},
            "meets_target": fgsm.clean.base >= 0.988 and fgsm.clean.regularized >= 0.988
            and fgsm.transfer.regularized >= 0.93}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one variant, print its JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(json.loads(args.one), args.data_dir)))
        return
    result: dict = {"machine": machine()}
    for name, (changes, env) in VARIANTS.items():
        command = [sys.executable, __file__, "--one", json.dumps(changes)]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        out = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
        result[name] = json.loads(out.strip().splitlines()[-1])
    reference = result["advdemo recipe (3 epochs, lr 0.002)"]["adv_cpu_s"]
    for name in VARIANTS:
        result[name]["cpu_ratio_to_advdemo"] = round(reference / result[name]["adv_cpu_s"], 2)
    report("training_levers", result)


if __name__ == "__main__":
    main()
