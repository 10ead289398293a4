"""The sweep on Ray: the same store as the local engine, and a killed worker costs nothing but a rerun.

Needs Ray (``pip install -e ".[cluster]"``); skipped without it, except where
``ADVDEMO_REQUIRE_RAY`` is set (CI installs the extra and sets it).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import pytest
from conftest import TINY, write_mnist_subset

from advdemo.core.config import ModelKind
from advdemo.core.data import load_mnist
from advdemo.experiments.sweep import run_sweep
from advdemo.store.storage import ModelStore, model_id

if os.environ.get("ADVDEMO_REQUIRE_RAY"):
    import ray  # noqa: F401 - fails loudly where Ray must be there
ray = pytest.importorskip("ray")

from advdemo.experiments.ray_sweep import run_sweep_ray  # noqa: E402

pytestmark = pytest.mark.integration

#: Metrics of the two engines may differ by this much: one of the 64 test digits (TensorFlow's
#: reductions on another thread count can round differently).
TOLERANCE = 1 / 64
TIMINGS = {"train_seconds", "train_cpu_seconds", "train_history", "created", "seconds"}


def grid(seed: int) -> tuple:
    recipe = dataclasses.replace(TINY, seed=seed)
    return recipe, [dataclasses.replace(recipe, adv_multiplier=m) for m in (0.2, 1.0)]


def comparable(entry: dict) -> dict:
    """A manifest entry without its timings."""
    out = {k: v for k, v in entry.items() if k not in TIMINGS}
    out["metrics"] = {k: v for k, v in entry.get("metrics", {}).items() if k not in TIMINGS}
    return out


def numbers(value, path=""):
    """Every number in a JSON value, by its path."""
    if isinstance(value, dict):
        return {p: n for k, v in value.items() for p, n in numbers(v, f"{path}/{k}").items()}
    if isinstance(value, list):
        return {p: n for i, v in enumerate(value) for p, n in numbers(v, f"{path}/{i}").items()}
    return {path: value} if isinstance(value, (int, float)) and not isinstance(value, bool) else {}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_mnist_subset(folder, n_train=256, n_test=64)
    return folder


def test_ray_and_local_engines_write_the_same_store(tmp_path, data):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    mnist = load_mnist(data)
    for seed in (0, 1):  # 2 configurations x 2 seeds
        recipe, points = grid(seed)
        run_sweep(ModelStore(local, writable=True), mnist, recipe, points=points)
        result = run_sweep_ray(str(on_ray), str(data), recipe, points, num_cpus=2)
        assert result.stored == 3 and not result.failed
    a, b = ModelStore(local, writable=False).entries(), ModelStore(on_ray, writable=False).entries()
    assert set(a) == set(b) and len(a) == 6  # the same model ids: 2 bases, 4 regularized models
    for mid in a:
        left, right = comparable(a[mid].to_json()), comparable(b[mid].to_json())
        assert {k: v for k, v in left.items() if k not in ("metrics", "sha256", "size_bytes", "versions")} == \
            {k: v for k, v in right.items() if k not in ("metrics", "sha256", "size_bytes", "versions")}
        x, y = numbers(left["metrics"]), numbers(right["metrics"])
        assert set(x) == set(y), mid
        assert all(abs(x[p] - y[p]) <= TOLERANCE for p in x), mid
    again = run_sweep_ray(str(on_ray), str(data), *grid(0), num_cpus=2)  # resuming: nothing left to do
    assert again.tasks == 0 and again.stored == 3


def _task_processes():
    import psutil

    return [p for p in psutil.process_iter(["cmdline"]) if "ray::_task" in " ".join(p.info["cmdline"] or [])]


def test_a_killed_worker_leaves_no_partial_model_and_a_rerun_finishes(tmp_path):
    data = tmp_path / "mnist"
    write_mnist_subset(data, n_train=2048, n_test=64)
    store_dir = tmp_path / "store"
    recipe = dataclasses.replace(TINY, epochs=1)
    slow = dataclasses.replace(recipe, adv_multiplier=0.5, adv_epochs=20)  # longer than the wait below
    outcome = {}

    def sweep():
        outcome["result"] = run_sweep_ray(str(store_dir), str(data), recipe, [slow], num_cpus=2, retries=0)

    thread = threading.Thread(target=sweep)
    thread.start()
    store = ModelStore(store_dir, writable=False)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (store.entry(model_id(recipe, ModelKind.BASE)) and _task_processes()):
        time.sleep(0.5)  # the base model is stored and the slow point's task has started
    time.sleep(3)
    victims = _task_processes()
    assert victims, "the slow task never started"
    for p in victims:
        p.kill()
    thread.join(180)
    result = outcome["result"]
    assert len(result.failed) == 1 and result.stored == 1  # the base only
    assert store.entry(model_id(slow, ModelKind.REGULARIZED)) is None
    assert not [p for p in store_dir.iterdir() if p.name.startswith(".") and p.name != ".lock" or ".tmp" in p.name]
    base_entry = store.entry(model_id(recipe, ModelKind.BASE))
    finished = run_sweep_ray(str(store_dir), str(data), recipe, [slow], num_cpus=2)  # the rerun
    assert not finished.failed and finished.stored == 2
    assert store.entry(model_id(recipe, ModelKind.BASE)) == base_entry  # the base model was kept, not retrained


def test_two_replicas_share_one_job_on_ray_and_a_restarted_one_finds_its_result(stored_models, data, tmp_path,
                                                                                monkeypatch):
    """The page's job system on Ray (``ADVDEMO_RAY_ADDRESS``): two replicas asking for the same measurement
    start one task in the cluster, both get its numbers, and a replica started afterwards reads them from the
    shared store without a job."""
    from advdemo.core.config import Attack
    from advdemo.page.viewstate import ViewState
    from advdemo.serving.ray_engine import RayEngine, registry
    from advdemo.serving.service import ModelService, Pending, choose_engine

    shared = tmp_path / "shared-store"

    def replica() -> ModelService:
        stores = [ModelStore(stored_models, writable=False), ModelStore(shared, writable=True)]
        return ModelService(stores=stores, data_dir=str(data), engine=RayEngine(stores, str(data)))

    try:
        first, second = replica(), replica()
        hp, attack = ViewState().hparams(), Attack(strength=0.15)  # nothing stored for this strength
        asked = [svc.test_metrics(svc.pair(hp), attack, owner) for svc, owner in ((first, "ada"), (second, "bob"))]
        assert all(isinstance(answer, Pending) for answer in asked)
        deadline = time.monotonic() + 300
        while any(isinstance(answer, Pending) for answer in asked) and time.monotonic() < deadline:
            time.sleep(1)
            asked = [svc.test_metrics(svc.pair(hp), attack, owner) for svc, owner in ((first, "ada"), (second, "bob"))]
        assert not any(isinstance(answer, Pending) for answer in asked), "the job never ended"
        assert asked[0] == asked[1]
        started = ray.get(registry().started.remote())
        assert list(started.values()) == [1]  # one task in the cluster for both replicas
        # A replica whose queue reaches the same request only now, after the task ended, gets its result
        # from the registry (the engine alone, without the job runner's look into the store): no second task.
        task = first.measurements.metrics_task(first.pair(hp), attack)
        late = first.runner.engine.run(task, lambda progress: None, threading.Event())
        assert first.measurements.keep(task, late) == asked[0]
        assert ray.get(registry().started.remote()) == started
        restarted = replica()
        assert restarted.measurements.test_metrics(restarted.pair(hp), attack) == asked[0]
        monkeypatch.setenv("ADVDEMO_RAY_ADDRESS", "local")  # how an operator asks for it
        assert isinstance(choose_engine(first.stores, str(data), None, first.child_settings, first.gate), RayEngine)
    finally:
        ray.shutdown()


def test_the_page_on_ray_shows_a_placeholder_that_fills_in_and_another_replica_starts_no_second_task(app_env,
                                                                                                   monkeypatch):
    """The page itself with ``ADVDEMO_RAY_ADDRESS``: a number nobody stored shows a placeholder at once, its job
    runs as a Ray task, the page's next run shows the number, and another service instance on the same store
    (another replica) gets it without a task."""
    import streamlit as st
    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    from advdemo.core.config import Attack
    from advdemo.page.viewstate import ViewState
    from advdemo.serving.ray_engine import RayEngine, registry
    from advdemo.serving.service import ModelService, Pending
    from advdemo.store.storage import default_stores

    monkeypatch.setenv("ADVDEMO_RAY_ADDRESS", "local")
    monkeypatch.setenv("ADVDEMO_CACHE_DIR", str(app_env / "shared-store"))
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
        at.query_params = {"eps": "0.15"}  # no number is stored for this strength
        at.run()
        assert not at.exception, at.exception
        waiting = [c.value for c in at.caption if "Being measured on the server" in c.value]
        figures = len(at.metric)  # the stored ones (the worst case ships measured)
        assert waiting  # the placeholder

        from ui.shared import get_service

        svc = get_service()
        assert isinstance(svc.runner.engine, RayEngine)
        assert svc.wait_idle(300)
        at.run()  # what the page's own redraw does when its jobs end
        assert not at.exception, at.exception
        assert len(at.metric) > figures and not [c.value for c in at.caption if "Being measured" in c.value]
        started = ray.get(registry().started.remote())
        assert started and set(started.values()) == {1}  # each of the page's numbers: one task

        stores = default_stores()
        other = ModelService(stores=stores, data_dir=os.environ["ADVDEMO_MNIST_DIR"],
                             engine=RayEngine(stores, os.environ["ADVDEMO_MNIST_DIR"]))
        answer = other.test_metrics(other.pair(ViewState().hparams()), Attack(strength=0.15), "another-student")
        assert not isinstance(answer, Pending)  # read from the shared store
        assert ray.get(registry().started.remote()) == started  # and no second task
    finally:
        st.cache_resource.clear()
        ray.shutdown()


def test_a_training_on_ray_reports_its_progress_across_the_boundary_and_stops_when_cancelled(data, tmp_path):
    from advdemo.core.training import Progress
    from advdemo.serving.jobs import Cancelled
    from advdemo.serving.ray_engine import RayEngine
    from advdemo.serving.tasks import TrainTask

    store = ModelStore(tmp_path / "shared-store", writable=True)
    hp = dataclasses.replace(TINY, adv_epochs=100)  # long enough to be cancelled while it trains
    seen: list = []
    cancel = threading.Event()

    def report(progress) -> None:
        seen.append(progress)
        if isinstance(progress, Progress) and progress.model is ModelKind.REGULARIZED:
            cancel.set()  # its owner cancels once the regularized model trains

    try:
        engine, task = RayEngine([store], str(data)), TrainTask(hp)
        running = engine.submit(task)  # the task the run below follows
        with pytest.raises(Cancelled):
            engine.run(task, report, cancel)
        assert any(isinstance(p, Progress) and p.model is ModelKind.REGULARIZED for p in seen)
        with pytest.raises((ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError)):  # stopped there
            ray.get(running, timeout=120)
        assert store.entry(model_id(hp, ModelKind.REGULARIZED)) is None  # nothing half-written either
    finally:
        ray.shutdown()
