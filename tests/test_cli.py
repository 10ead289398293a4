"""The command line, run as users run it: a subprocess, its exit code and output."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, write_mnist_subset


def advdemo(*args, env=None, timeout=300):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "advdemo.cli.commands", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, timeout=timeout)


@pytest.mark.parametrize("args,message", [
    (["reproduce", "--step", "0.9"], "adv_step_size=0.9 is out of range for norm 'infinity': valid range is (0, 0.5]"),
    (["train", "--norm", "l2", "--step", "11"], "adv_step_size=11.0 is out of range for norm 'l2'"),
    (["train", "--epochs", "0"], "epochs=0"),
    (["evaluate", "--attack", "pgd", "--attack-norm", "l1"], "method='pgd' is not available for norm 'l1'"),
    (["evaluate", "--strength", "abc"], "invalid float value: 'abc'"),
    (["reproduce", "--norm", "l3"], "invalid choice: 'l3'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["reproduce", "--test-examples", "0"], "--test-examples=0 is invalid"),
    (["sweep", "--seeds", "0,x"], "--seeds='0,x' is invalid: expected whole numbers"),
    (["sweep", "--seeds", "1,1"], "expected distinct whole numbers"),
])
def test_bad_arguments_exit_nonzero_with_a_message_and_no_traceback(args, message):
    result = advdemo(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_data_folder_is_a_clear_error(tmp_path):
    result = advdemo("train", "--data-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "advdemo: error: MNIST folder" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_without_models_says_what_to_do(tmp_path):
    write_mnist_subset(tmp_path / "m", 32, 32)
    result = advdemo("evaluate", "--data-dir", str(tmp_path / "m"), "--models", str(tmp_path / "empty"))
    assert result.returncode == 1 and "run 'advdemo train' with the same flags first" in result.stderr


def test_autoattack_without_the_robust_models_says_what_to_do(tmp_path):
    write_mnist_subset(tmp_path / "m", 1, 16)
    result = advdemo("autoattack", "--data-dir", str(tmp_path / "m"), "--out", str(tmp_path / "empty"))
    assert result.returncode == 2 and "train them first (advdemo sweep --grid robust)" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "empty" / "manifest.json").exists()


def test_info_names_versions_and_device():
    result = advdemo("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["tensorflow"].startswith("2.") and info["tf_keras"].startswith("2.")
    assert info["neural_structured_learning"] == "1.4.0"
    assert info["devices"] and ("CPU" in info["devices"][0] or "GPU" in info["devices"][0])


@pytest.mark.integration
def test_reproduce_writes_grid_and_json_then_train_and_evaluate_reuse_models(tmp_path, mnist):
    data = tmp_path / "mnist"
    write_mnist_subset(data, n_train=1024, n_test=256)
    out = tmp_path / "out"
    result = advdemo("reproduce", "--data-dir", str(data), "--out", str(out), "--epochs", "1",
                     "--batch-size", "64", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    for key in ("base_clean_acc", "adv_clean_acc", "base_transfer_acc", "adv_transfer_acc",
                "base_whitebox_acc", "adv_whitebox_acc", "train_seconds", "eval_seconds"):
        assert key in summary
    assert all(0.0 <= summary[k] <= 1.0 for k in summary if k.endswith("_acc"))
    assert summary["test_examples"] == 256 and "FGSM infinity 0.2" in result.stdout
    png = (out / "perturbed_digits.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "epoch 1/1" in result.stderr  # progress was shown

    store = str(out / "models")
    flags = ["--data-dir", str(data), "--recipe", "tutorial", "--epochs", "1", "--batch-size", "64"]
    trained = advdemo("train", *flags, "--out", store, "--json")
    assert trained.returncode == 0, trained.stderr
    assert "already stored" in trained.stderr  # reproduce's models were found, not retrained
    evaluated = advdemo("evaluate", *flags, "--models", store, "--mode", "white-box", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert result["base_clean_acc"] == pytest.approx(summary["base_clean_acc"])
    assert result["adv_attacked_acc"] == pytest.approx(summary["adv_whitebox_acc"])


@pytest.mark.parametrize("args,message", [
    (["train", "--train-attack", "pgd", "--step", "0.1"], "--train-attack pgd sets its own norm"),
    (["train", "--train-epsilon", "0.1"], "need --train-attack fgsm-rs or pgd"),
    (["train", "--train-attack", "pgd", "--train-epsilon", "0.9"], "adv_epsilon=0.9 is out of range"),
    (["train", "--train-attack", "pgd", "--train-pgd-iterations", "99"], "adv_pgd_iterations=99"),
    (["honest", "--strengths", "0.1,x"], "--strengths='0.1,x' is invalid"),
    (["honest", "--restarts", "0"], "restarts=0"),
    (["compare", "--epsilon", "0.9"], "strength=0.9 is out of range"),
])
def test_robustness_flags_are_validated(args, message):
    result = advdemo(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_honest_prints_every_attack_and_the_worst_case(tmp_path, stored_models):
    data = tmp_path / "mnist"
    write_mnist_subset(data, n_train=32, n_test=64)
    # 0.1 is on the stored curves (measured on 128 digits); 0.12 and 0.33 are measured now, on 64.
    result = advdemo("honest", "--data-dir", str(data), "--models", str(stored_models), "--strengths",
                     "0.1,0.12,0.33", "--strong-examples", "64", "--restarts", "2", "--strong-iterations", "5",
                     "--json")
    assert result.returncode == 0, result.stderr
    assert "worst case" in result.stdout and "white-box PGD" in result.stdout
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert [r["strength"] for r in rows] == [0.1, 0.12, 0.33]
    assert [(r["source"], r["adv"]["examples"]) for r in rows] == [("manifest", 128), ("computed", 64),
                                                                   ("computed", 64)]
    for r in rows:
        for model in ("base", "adv"):
            acc = r[model]
            assert acc["worst_case"] <= min(acc[k] for k in ("clean", "transfer_fgsm", "whitebox_fgsm", "whitebox_pgd"))
            low, high = acc["worst_case_interval"]
            assert low <= acc["worst_case"] <= high
    assert rows[2]["adv"]["worst_case"] <= rows[1]["adv"]["worst_case"]  # carried over along the strengths


def test_compare_reads_the_pretrained_models():
    result = advdemo("compare", "--epsilon", "0.3", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert [r["training"] for r in rows] == [None, "fgsm", "fgsm-rs", "pgd"]
    assert "PGD training, ε 0.3" in result.stdout


def test_evaluate_needs_no_data_option_it_uses_the_shipped_test_set(stored_models):
    env = {k: v for k, v in os.environ.items() if k != "ADVDEMO_MNIST_DIR"}
    result = subprocess.run([sys.executable, "-m", "advdemo.cli.commands", "evaluate", "--models", str(stored_models),
                             "--test-examples", "200", "--json"], capture_output=True, text=True, cwd=ROOT,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "200 test digits from the MNIST test set shipped with advdemo" in result.stderr
    evaluation = json.loads(result.stdout.strip().splitlines()[-1])
    assert evaluation["examples"] == 200 and 0.0 <= evaluation["adv_attacked_acc"] <= 1.0
