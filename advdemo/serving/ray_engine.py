"""The job system's engine on a Ray cluster, for several replicas of the page (``ADVDEMO_RAY_ADDRESS``).

Each replica keeps its own queue (the per-session limits and the page's
placeholders stay local), but the heavy work runs as Ray tasks, not beside the
pages. One named, detached actor in the cluster, :class:`JobRegistry`, starts
each task key once: two replicas asking for the same measurement follow the
same task, and see the same progress; a replica that reaches the same request
just after the task ended gets its result, not a second task. A task stores
what it measured in the writable store itself, so a replica that restarts
mid-job, or another replica, finds the number in the shared store. Needs the
``cluster`` extra.

A cancel stops following a task; a training's task (its owner's alone) is
stopped in the cluster too, a measurement's runs on for whoever else asked.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from dataclasses import asdict
from typing import Any

import ray

from advdemo.serving.engines import JobFailed, StoreSpec
from advdemo.serving.jobs import Cancelled
from advdemo.serving.tasks import Task
from advdemo.store.storage import ModelStore

#: The cluster-wide name of the registry actor and the namespace it lives in.
REGISTRY = "advdemo-jobs"
NAMESPACE = "advdemo"
_POLL_SECONDS = 0.5
#: Finished tasks whose results the registry keeps handing out: a replica that reaches the same request in
#: its own queue just after another replica's task ended gets that task's result, not a second task.
FINISHED_KEPT = 256


@ray.remote
class JobRegistry:
    """Starts each task key once in the cluster, and keeps the latest progress of each running task."""

    def __init__(self) -> None:
        self._running: dict[str, Any] = {}
        self._finished: OrderedDict[str, Any] = OrderedDict()
        self._progress: dict[str, dict[str, Any]] = {}
        self._started: Counter[str] = Counter()

    def submit(self, key: str, task: dict[str, Any], setup: dict[str, Any]) -> list:
        """The task for ``key``: the running one, a recently finished one, or one started now (a list, so the
        caller gets the reference)."""
        ref = self._running.get(key) or self._finished.get(key)
        if ref is None:
            ref = self._running[key] = _run.remote(key, task, setup)
            self._started[key] += 1
        return [ref]

    def report(self, key: str, progress: dict[str, Any]) -> None:
        self._progress[key] = progress

    def progress(self, key: str) -> dict[str, Any] | None:
        return self._progress.get(key)

    def finished(self, key: str, failed: bool = False) -> None:
        """``key``'s task has ended; a failed one is forgotten, so that asking again starts it again."""
        ref = self._running.pop(key, None)
        self._progress.pop(key, None)
        if ref is not None and not failed:
            self._finished[key] = ref
            while len(self._finished) > FINISHED_KEPT:
                self._finished.popitem(last=False)

    def cancel(self, key: str) -> None:
        ref = self._running.pop(key, None)
        if ref is not None:
            ray.cancel(ref, force=True)

    def started(self) -> dict[str, int]:
        """How many times each task key was started in the cluster (tests and the scaling benchmark count)."""
        return dict(self._started)


@ray.remote(max_retries=0)
def _run(key: str, task_json: dict[str, Any], setup: dict[str, Any]) -> dict[str, Any]:
    """Run one task on a Ray worker; store a measurement's result in the writable store before returning it."""
    from advdemo.serving.tasks import run_to_json, store_result, task_from_json  # noqa: PLC0415 - TensorFlow
    from advdemo.serving.worker import LocalContext, progress_json  # noqa: PLC0415

    stores = [ModelStore(s["root"], writable=s["writable"]) for s in setup["stores"]]
    registry = ray.get_actor(REGISTRY, namespace=NAMESPACE)
    task = task_from_json(task_json)
    start = time.perf_counter()
    result = run_to_json(task, LocalContext(stores, setup["data_dir"]),
                         lambda *p: registry.report.remote(key, progress_json(p if len(p) > 1 else p[0])),
                         lambda: False)
    store_result(stores, task, result, time.perf_counter() - start)
    return result


def _start_local() -> None:
    """Start a local Ray instance from a thread that lives as long as this process.

    Ray's own processes (its control store, its scheduler) die with the thread that started them: on
    Linux they get the parent-death signal, which is sent when that *thread* ends. A page's run is a
    short-lived thread, so a local instance started there would be gone once the first page was drawn.
    """
    ready, failure = threading.Event(), []

    def keeper() -> None:
        try:
            ray.init(namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
        finally:
            ready.set()
        threading.Event().wait()  # never returns: the thread lives until the process ends

    threading.Thread(target=keeper, name="advdemo-ray-local", daemon=True).start()
    ready.wait()
    if failure:
        raise failure[0]


def registry() -> Any:
    """The cluster's job registry (started by the first replica that asks)."""
    actor: Any = JobRegistry  # an actor class: Ray's decorator adds options() and remote()
    return actor.options(name=REGISTRY, namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote()


class RayEngine:
    """Runs tasks on the Ray cluster at ``address`` (None: a local Ray instance), on ``stores`` every node can
    reach (a shared volume) and the MNIST folder ``data_dir``."""

    #: Each task stores its measurement itself (:func:`_run`): it outlives the replica that asked.
    stores_results = True

    def __init__(self, stores: list[ModelStore], data_dir: str | None, address: str | None = None):
        if not ray.is_initialized():
            if address is None:
                _start_local()
            else:
                ray.init(address=address, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
        self._setup = {"stores": [asdict(StoreSpec.of(s)) for s in stores], "data_dir": data_dir}
        self._registry = registry()

    def submit(self, task: Task) -> Any:
        """The cluster's running task for ``task`` (started now if none runs): a Ray object reference."""
        [ref] = ray.get(self._registry.submit.remote(task.key(), task.to_json(), self._setup))
        return ref

    def run(self, task: Task, report: Any, cancel: threading.Event) -> dict[str, Any]:
        from advdemo.serving.worker import progress_from_json  # noqa: PLC0415

        key, ref = task.key(), self.submit(task)
        while True:
            ready, _ = ray.wait([ref], timeout=_POLL_SECONDS)
            if ready:
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    self._registry.finished.remote(key, failed=True)
                    raise JobFailed(f"the task failed on the Ray cluster: {type(exc).__name__}") from exc
                self._registry.finished.remote(key)
                return result
            if cancel.is_set():
                if task.dedicated:
                    self._registry.cancel.remote(key)
                raise Cancelled()
            progress = ray.get(self._registry.progress.remote(key))
            if progress is not None:
                report(progress_from_json(progress))

    def release(self) -> None:
        pass


__all__ = ["FINISHED_KEPT", "NAMESPACE", "REGISTRY", "JobRegistry", "RayEngine", "registry"]
