"""``advdemo sweep --engine ray``: the grid on a Ray cluster, one task per configuration.

Each task runs :func:`advdemo.experiments.sweep.train_point`, the very function of the
local engine, on a worker: it loads MNIST from the data folder, trains one
regularized model, evaluates it and writes it into the store, atomically and
under the store's file lock, exactly as a local sweep does. The store must be
a folder every worker can write (one machine, or a shared volume on a
cluster). The base model of each seed is a task of its own, first.

Resumable like the local engine: configurations already stored and evaluated
are never submitted. A task whose worker dies (a node lost, a process killed)
leaves no partial model; Ray retries it ``retries`` times, and a rerun of the
sweep finishes whatever is left.

Ray is imported only here, and only when this engine is chosen
(``pip install -e ".[cluster]"``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from advdemo.core.config import HParams, from_dict, to_dict
from advdemo.experiments.sweep import check_shared_base, count_stored, is_done, point_label
from advdemo.logs import LogFn, log_info


@dataclass(frozen=True)
class RaySweepResult:
    """How a Ray sweep went: models stored afterwards, tasks run and failed, and the wall time."""

    stored: int
    tasks: int
    failed: tuple[str, ...]
    seconds: float


def _task(store_root: str, data_dir: str | None, recipe: dict, point: dict | None) -> str:
    """A Ray task: the base model of ``recipe`` (``point`` None) or one grid point, into the store."""
    from advdemo.core.data import load_mnist  # noqa: PLC0415 - on the worker
    from advdemo.experiments.sweep import base_model, train_point  # noqa: PLC0415
    from advdemo.store.storage import ModelStore  # noqa: PLC0415

    store = ModelStore(store_root, writable=True)
    mnist = load_mnist(data_dir)
    hp_recipe = from_dict(HParams, recipe)
    base = base_model(store, mnist, hp_recipe)
    if point is None:
        return "base"
    hp = from_dict(HParams, point)
    train_point(store, mnist, hp, base)
    return point_label(hp)


def run_sweep_ray(store_root: str, data_dir: str | None, recipe: HParams, points: Sequence[HParams], *,
                  address: str | None = None, num_cpus: int | None = None, cpus_per_task: float = 1.0,
                  retries: int = 3, log: LogFn = log_info) -> RaySweepResult:
    """Train what the store at ``store_root`` lacks of ``recipe``'s grid ``points`` as Ray tasks.

    ``address`` joins a running cluster (``"auto"``, or ``ray://host:10001``);
    without it a local Ray instance starts with ``num_cpus`` CPUs. Each task
    declares ``cpus_per_task`` CPUs, so Ray runs as many at once as the
    cluster has room for.
    """
    import ray  # noqa: PLC0415 - the optional extra

    check_shared_base(recipe, points)
    from advdemo.store.storage import ModelStore  # noqa: PLC0415

    store = ModelStore(store_root, writable=True)
    todo = [hp for hp in points if not is_done(store, hp)]
    log(f"{len(points) - len(todo)} of {len(points)} configurations already stored; {len(todo)} to train on Ray")
    start = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=cpus_per_task, max_retries=retries)(_task)
        failed: list[str] = []
        tasks = 0
        if todo:
            # The base model first: every point needs it, and two tasks must not train it twice.
            tasks += 1
            try:
                ray.get(task.remote(store_root, data_dir, to_dict(recipe), None))
            except ray.exceptions.RayError as exc:
                return RaySweepResult(count_stored(store, recipe, points), tasks, (f"base: {exc}",),
                                      time.perf_counter() - start)
            pending = {task.remote(store_root, data_dir, to_dict(recipe), to_dict(hp)): hp for hp in todo}
            tasks += len(pending)
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                hp = pending.pop(done[0])
                try:
                    log(f"{ray.get(done[0])}: done on Ray")
                except ray.exceptions.RayError as exc:
                    failed.append(f"{point_label(hp)}: {type(exc).__name__}")
                    log(f"{point_label(hp)}: failed on Ray ({type(exc).__name__}); a rerun trains it again")
        return RaySweepResult(count_stored(store, recipe, points), tasks, tuple(failed), time.perf_counter() - start)
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["RaySweepResult", "run_sweep_ray"]
