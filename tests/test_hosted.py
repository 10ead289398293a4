"""Hosting: bounded training, one job at a time, crashes and corrupt files, the container's command."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import streamlit as st
from conftest import ROOT, write_mnist_subset
from streamlit.testing.v1 import AppTest

from advdemo.core.config import FAST_RECIPE, TUTORIAL
from advdemo.serving.service import HOSTED_EPOCHS, HOSTED_TRAIN_EXAMPLES, JobState, Limits, ModelService, QueueError
from advdemo.store.storage import ModelStore, StoreError, model_id


def test_hosted_limits_from_env():
    assert Limits.from_env({}) == Limits()
    hosted = Limits.from_env({"ADVDEMO_HOSTED": "1"})
    assert hosted.max_epochs == HOSTED_EPOCHS and hosted.train_examples == HOSTED_TRAIN_EXAMPLES
    assert not Limits.from_env({"ADVDEMO_TRAINING": "off"}).enabled
    svc = ModelService(stores=[], limits=hosted)
    bounded = svc.training_hparams(TUTORIAL)
    assert bounded.epochs == HOSTED_EPOCHS and bounded.train_examples == HOSTED_TRAIN_EXAMPLES
    # A bounded model never poses as a full one.
    assert model_id(bounded, "adv") != model_id(TUTORIAL, "adv")


def test_the_queue_capacity_is_five_when_hosted_and_configurable():
    assert Limits.from_env({}).queue_capacity is None
    assert Limits.from_env({"ADVDEMO_HOSTED": "1"}).queue_capacity == 5
    assert Limits.from_env({"ADVDEMO_HOSTED": "1", "ADVDEMO_QUEUE_CAPACITY": "12"}).queue_capacity == 12
    assert Limits.from_env({"ADVDEMO_QUEUE_CAPACITY": "2"}).queue_capacity == 2
    for bad in ("0", "-1", "five", "٣"):
        with pytest.raises(ValueError, match="ADVDEMO_QUEUE_CAPACITY"):
            Limits.from_env({"ADVDEMO_QUEUE_CAPACITY": bad})


def test_a_session_with_a_job_in_the_queue_is_told_so_by_the_service():
    release = threading.Event()

    def trainer(kind, hparams, mnist, stores, progress=None):
        assert release.wait(30)

    svc = ModelService(stores=[], trainer=trainer, limits=Limits(queue_capacity=2))
    first, second, third = (dataclasses.replace(FAST_RECIPE, adv_multiplier=m) for m in (0.5, 1.0, 1.5))
    svc.request_training(first, owner="ada")
    with pytest.raises(QueueError, match="already have a model in training"):
        svc.request_training(second, owner="ada")
    svc.request_training(second, owner="bob")
    with pytest.raises(QueueError, match="queue is full"):
        svc.request_training(third, owner="cy")
    assert svc.cancel_training(second, owner="bob") and svc.job(second).state is JobState.CANCELLED
    release.set()


def test_hosted_mode_trains_robust_models_only_as_fast_as_the_lessons():
    from advdemo.core.config import LIVE_ROBUST, TrainingAttack, robust_hparams

    limits = Limits.from_env({"ADVDEMO_HOSTED": "1"})
    hosted = ModelService(stores=[], limits=limits)
    shipped = robust_hparams(FAST_RECIPE, TrainingAttack.PGD, 0.3)
    for costlier in (shipped, robust_hparams(FAST_RECIPE, TrainingAttack.PGD, 0.3, iterations=10, epochs=6),
                     dataclasses.replace(LIVE_ROBUST, adv_epochs=LIVE_ROBUST.adv_total_epochs + 1)):
        assert not limits.allows(costlier)
        with pytest.raises(StoreError, match="only as fast as the lesson's"):
            hosted.request_training(costlier)
    # The lesson's recipe, and anything cheaper, trains whole: its cost is its bound, and a model trained
    # on 20,000 digits for 2 epochs would not be the recipe it claims.
    for cheaper in (LIVE_ROBUST, robust_hparams(FAST_RECIPE, TrainingAttack.PGD, 0.2, iterations=3, epochs=4)):
        assert limits.allows(cheaper) and hosted.training_hparams(cheaper) == cheaper
    # Where robust training is allowed at all, a robust configuration's own epochs are bounded too.
    bounded = ModelService(stores=[], limits=Limits(max_epochs=2)).training_hparams(shipped)
    assert bounded.adv_total_epochs == 2
    assert not Limits(robust=False).allows(LIVE_ROBUST) and Limits(robust=False).allows(TUTORIAL)


def test_training_switched_off_is_refused_clearly():
    svc = ModelService(stores=[], limits=Limits(enabled=False))
    with pytest.raises(StoreError, match="switched off"):
        svc.request_training(TUTORIAL)


def test_one_job_at_a_time_with_queue_positions_and_shared_requests():
    started, release, order = threading.Event(), threading.Event(), []

    def trainer(kind, hparams, mnist, stores, progress=None):
        if kind == "adv":
            order.append(hparams.adv_multiplier)
            started.set()
            assert release.wait(30)

    svc = ModelService(stores=[], trainer=trainer)
    configs = [dataclasses.replace(FAST_RECIPE, adv_multiplier=m) for m in (0.2, 0.5, 1.0)]
    for hp in configs:
        svc.request_training(hp)
    assert started.wait(10)
    views = [svc.job(hp) for hp in configs]
    assert [v.state for v in views] == [JobState.RUNNING, JobState.QUEUED, JobState.QUEUED]
    assert [v.position for v in views] == [0, 1, 2]
    assert svc.request_training(configs[2]).position == 2  # a second session joins, no new job
    assert svc.busy() == 3
    release.set()
    deadline = time.monotonic() + 20
    while svc.busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert order == [0.2, 0.5, 1.0] and svc.busy() == 0
    assert all(svc.job(hp).state is JobState.DONE for hp in configs)


def test_a_failed_job_reports_its_error_and_the_worker_lives_on():
    def trainer(kind, hparams, mnist, stores, progress=None):
        if hparams.adv_multiplier == 0.5:
            raise StoreError("could not write x: the disk is full; nothing was changed")

    svc = ModelService(stores=[], trainer=trainer)
    bad, good = (dataclasses.replace(FAST_RECIPE, adv_multiplier=m) for m in (0.5, 1.0))
    svc.request_training(bad)
    svc.request_training(good)
    deadline = time.monotonic() + 20
    while svc.busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc.job(bad).state is JobState.FAILED and "the disk is full" in svc.job(bad).error
    assert svc.job(good).state is JobState.DONE


@pytest.mark.integration
def test_training_killed_midway_leaves_no_partial_model(tmp_path, mnist):
    data, store_dir = tmp_path / "mnist", tmp_path / "store"
    write_mnist_subset(data, n_train=2048, n_test=64)
    flags = ["train", "--data-dir", str(data), "--out", str(store_dir), "--recipe", "tutorial", "--epochs", "2",
             "--batch-size", "32"]
    proc = subprocess.Popen([sys.executable, "-m", "advdemo.cli.commands", *flags], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # Wait until the regularized model is mid-training (its first epoch done), then kill -9.
    deadline = time.monotonic() + 240
    line = ""
    while time.monotonic() < deadline and " adv epoch" not in line:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = ModelStore(store_dir, writable=False)
    hp = dataclasses.replace(TUTORIAL, epochs=2)
    assert model_id(hp, "adv") not in store.entries()
    assert {p.name for p in store_dir.iterdir()} <= {".lock", "manifest.json", model_id(hp, "base") + ".weights.npz"}
    # After a restart, the finished base model is reused and the regularized one trained afresh.
    result = subprocess.run([sys.executable, "-m", "advdemo.cli.commands", *flags], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "base: " in result.stderr and "already stored" in result.stderr
    ModelStore(store_dir, writable=False).load(model_id(hp, "adv"))


def test_corrupt_cached_models_are_rejected_and_the_page_keeps_working(app_env, monkeypatch, stored_models):
    cache = ModelStore(app_env / "model-cache", writable=True)
    hp = dataclasses.replace(FAST_RECIPE, adv_multiplier=1.0)
    from advdemo.core.model import build_base_model

    entry = cache.put(hp, "adv", build_base_model(hp).get_weights(), train_seconds=1)
    (cache.root / entry.file).write_bytes(b"\x00" * 100)  # corrupt on disk
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params = {"mult": "1"}
    at.run()
    assert not at.exception
    assert any("skipping a copy of " + entry.id in i.value and "SHA-256" in i.value for i in at.info)
    assert any("not trained yet" in s.value for s in at.subheader)  # offered for retraining, not loaded
    # A hosted page says what happened, never where: paths and exception texts go to the server's log.
    monkeypatch.setenv("ADVDEMO_HOSTED", "1")
    st.cache_resource.clear()
    hosted = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    hosted.query_params = {"mult": "1"}
    hosted.run()
    assert not hosted.exception
    shown = " ".join(e.value for kind in ("info", "warning", "error", "markdown", "caption")
                     for e in getattr(hosted, kind))
    assert "could not be read and was skipped" in shown
    assert str(app_env) not in shown and "SHA-256" not in shown and entry.id not in shown
    st.cache_resource.clear()


def test_a_failed_measurement_says_one_sentence_and_no_more_on_a_hosted_page(app_env, monkeypatch):
    from test_app import settle_jobs

    from advdemo.serving import tasks

    def broken(*args, **kwargs):
        raise OSError(f"[Errno 28] No space left on device: '{app_env}/secret/path'")

    monkeypatch.setattr(tasks.MetricsTask, "run", broken)
    for hosted, expected in (("0", "No space left on device"), ("1", "its log has the details")):
        monkeypatch.setenv("ADVDEMO_HOSTED", hosted)
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params = {"eps": "0.15"}  # on the standard strengths, so hosted mode measures it too
        at.run()
        settle_jobs(at)
        at.run()  # the placeholder's own redraw, as a browser's page would run it
        failed = [w.value for w in at.warning if "failed" in w.value]
        assert failed and expected in failed[0], failed
        if hosted == "1":
            assert str(app_env) not in " ".join(failed) and "OSError" not in " ".join(failed)
        assert not at.exception
    st.cache_resource.clear()


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_container_command_serves_the_app_and_passes_its_healthcheck(app_env):
    text = _dockerfile()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    health = re.search(r"HEALTHCHECK .*?\\\n\s+CMD (.*)$", text, re.M).group(1)
    env_block = re.search(r"^ENV (.*?)\n\n", text, re.M | re.S).group(1)
    env = dict(re.findall(r"(\w+)=(\S+)", env_block))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env.update(STREAMLIT_SERVER_PORT=port, ADVDEMO_CACHE_DIR=str(app_env / "cache"),
               TFDS_DATA_DIR=str(app_env / "tfds"))
    full_env = {**os.environ, **env}
    assert cmd[:3] == ["streamlit", "run", "app.py"] and "0.0.0.0" in cmd
    server = subprocess.Popen([sys.executable, "-m", *cmd], cwd=ROOT, env=full_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, ok = time.monotonic() + 60, False
        while time.monotonic() < deadline and not ok:
            time.sleep(0.5)
            check = subprocess.run(shlex.split(health.replace("python", sys.executable, 1)), env=full_env,
                                   capture_output=True, timeout=10)
            ok = check.returncode == 0
        assert ok, "the HEALTHCHECK never passed"
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
        assert b"<html" in page.lower()
    finally:
        server.terminate()
        server.wait(timeout=20)


def requirement_pins() -> dict[str, str]:
    """``requirements.txt`` as {normalized distribution name: pinned version}."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt must pin exact versions: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_requirements_pin_every_dependency_and_ci_tests_exactly_those_versions():
    import tomllib
    from importlib.metadata import version

    pins = requirement_pins()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]).lower() for dep in declared}
    assert names <= set(pins), f"not pinned in requirements.txt: {sorted(names - set(pins))}"
    different = {name: (pinned, version(name)) for name, pinned in pins.items() if version(name) != pinned}
    if different and not os.environ.get("CI"):
        pytest.skip(f"this environment is not the pinned set (pinned, installed): {different}")
    assert not different, different  # CI installs with -c requirements.txt: the pins are what it tests


def test_no_unsafe_deserialization_no_secrets_and_xsrf_on():
    sources = list((ROOT / "advdemo").rglob("*.py")) + list((ROOT / "ui").glob("*.py")) + [ROOT / "app.py"]
    code = "\n".join(p.read_text() for p in sources)
    for risky in ("import pickle", "allow_pickle=True", "load_model(", "safe_mode=False", "eval(", "exec(",
                  "yaml.load(", "marshal"):
        assert risky not in code, risky
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert re.search(r"^enableXsrfProtection = true$", config, re.M)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    secret = re.compile(r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[A-Za-z0-9]{36}|"
                        r"xox[baprs]-[A-Za-z0-9-]+|(?i:(password|secret|api_key)\s*=\s*['\"][^'\"]{6,}))")
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".npz", ".png"} or not path.is_file():
            continue
        assert not secret.search(path.read_text(errors="ignore")), name


def test_a_number_asked_by_many_sessions_is_measured_once_and_kept_across_restarts(app_env, monkeypatch):
    from advdemo.core import evaluation
    from advdemo.core.config import Attack
    from advdemo.serving.service import Pending

    calls = {"evaluate": 0, "curve": 0, "perturb": 0}
    for name, key in (("evaluate", "evaluate"), ("robustness_curve", "curve"), ("perturb", "perturb")):
        real = getattr(evaluation, name)

        def counted(*args, _real=real, _key=key, **kwargs):
            calls[_key] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(evaluation, name, counted)
    svc = ModelService()  # app_env's environment: its MNIST subset and stored models, jobs in a thread
    pair = svc.pair(FAST_RECIPE)
    attack = Attack(strength=0.13)  # off the standard strengths: nothing is stored for it
    answers = []

    def session(i: int) -> None:
        answers.append((svc.test_metrics(pair, attack, owner=f"s{i}"), svc.curve(pair, attack, owner=f"s{i}")))

    threads = [threading.Thread(target=session, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(a, Pending) and isinstance(c, Pending) for a, c in answers)  # nobody waited
    assert svc.wait_idle(120)
    ev, curve = svc.test_metrics(pair, attack), svc.curve(pair, attack)
    assert ev.examples == 128 and curve.examples == 128 and 0 <= ev.attacked.regularized <= 1
    assert calls["evaluate"] == 1 and calls["curve"] == 1  # eight sessions, one measurement each
    perturbs = calls["perturb"]
    assert set(svc.runner.computed.values()) == {1} and len(svc.runner.computed) == 2
    # A new server process (a restart) finds both in the store: no job, no attack.
    again = ModelService()
    assert again.test_metrics(again.pair(FAST_RECIPE), attack) == ev and again.busy() == 0
    assert calls["perturb"] == perturbs and not again.runner.computed


def test_a_queued_job_whose_number_another_replica_stored_meanwhile_is_read_not_measured(app_env, monkeypatch):
    """Two replicas share the store; one measured a number while the same job still waited in the other's
    queue. When the other's queue reaches it, the number is read from the store: no second measurement."""
    from advdemo.core import evaluation
    from advdemo.core.config import Attack

    calls = {"evaluate": 0}
    real = evaluation.evaluate

    def counted(*args, **kwargs):
        calls["evaluate"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", counted)
    first, second = ModelService(), ModelService()  # app_env: both on the same cache folder
    attack = Attack(strength=0.13)
    task = first.measurements.metrics_task(first.pair(FAST_RECIPE), attack)  # waiting in the first's queue
    second.test_metrics(second.pair(FAST_RECIPE), attack, owner="bob")
    assert second.wait_idle(120) and calls["evaluate"] == 1
    first.runner(task, lambda progress: None, threading.Event())  # the first's queue reaches it now
    assert calls["evaluate"] == 1 and not first.runner.computed
    assert first.test_metrics(first.pair(FAST_RECIPE), attack) == second.test_metrics(second.pair(FAST_RECIPE), attack)


def test_a_damaged_cache_never_takes_the_page_down(app_env):
    from advdemo.core.config import Attack
    from advdemo.experiments.report import compare_methods
    from advdemo.serving.service import Pending

    cache = app_env / "model-cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "manifest.json").write_text('{"format": 1, "models": {"x": ')  # cut off mid-write
    (cache / "results.json").write_text("[]")
    svc = ModelService()
    assert compare_methods(svc.stores, svc.recipe, 0.2)  # rows, their numbers from the readable store
    pair = svc.pair(FAST_RECIPE)
    assert pair is not None and svc.measurements.seed_curves(pair, Attack()) == []
    assert isinstance(svc.test_metrics(pair, Attack(strength=0.13)), Pending)
    assert any("results.json" in note or "manifest.json" in note for note in svc.notes)
    assert svc.wait_idle(120)  # the result is stored; the damaged file was set aside, not lost
    assert (cache / "results.json.broken").exists() and svc.measurements.result(
        svc.measurements.metrics_task(pair, Attack(strength=0.13))) is not None
    (cache / "manifest.json").unlink()
    (cache / "manifest.json").mkdir()  # unreadable (tests run as root, for whom no mode bit denies reading)
    fresh = ModelService()
    assert fresh.pair(FAST_RECIPE) is not None and compare_methods(fresh.stores, fresh.recipe, 0.2)
    assert any("Is a directory" in note for note in fresh.notes)
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader].count("Compare training methods") == 1
