"""The same small grid on the local engine and on a local Ray instance, in one run.

The grid is the 'spread' grid (4 configurations) on a short recipe (1 epoch on the first 5,000
training digits), so the comparison takes minutes: the local engine trains one model at a time
with both cores; Ray runs tasks of 1 CPU each, two at a time, and of 2 CPUs each, one at a time.
Also measured: starting Ray, a round trip of an empty task, and a worker's first task (TensorFlow
and MNIST loading), Ray's fixed costs per worker and per task.

    python bench/bench_ray.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

from common import machine, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    import ray

    from advdemo.core.config import FAST_RECIPE
    from advdemo.core.data import load_mnist, resolve_data_dir
    from advdemo.experiments.grids import spread_grid_hparams
    from advdemo.experiments.ray_sweep import run_sweep_ray
    from advdemo.experiments.sweep import run_sweep
    from advdemo.store.storage import ModelStore

    recipe = dataclasses.replace(FAST_RECIPE, epochs=1, train_examples=5000)
    points = list(spread_grid_hparams(recipe))
    folder = str(resolve_data_dir(args.data_dir).resolve())
    mnist = load_mnist(folder)
    result: dict = {"machine": machine(), "points": len(points), "recipe": "FAST_RECIPE, 1 epoch, 5,000 digits"}

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_sweep(ModelStore(f"{tmp}/local", writable=True), mnist, recipe, points=points)
        result["local_s"] = round(time.perf_counter() - start, 1)
        for cpus in (1, 2):
            run = run_sweep_ray(f"{tmp}/ray{cpus}", folder, recipe, points, num_cpus=2, cpus_per_task=cpus)
            assert not run.failed, run.failed
            result[f"ray_{cpus}cpu_tasks_s"] = round(run.seconds, 1)

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    result["ray_init_s"] = round(time.perf_counter() - start, 2)

    @ray.remote(num_cpus=1)
    def empty():
        return None

    ray.get(empty.remote())
    start = time.perf_counter()
    ray.get([empty.remote() for _ in range(100)])
    result["empty_task_round_trip_ms"] = round((time.perf_counter() - start) * 10, 2)

    @ray.remote(num_cpus=1)
    def first(data_dir):
        import time as t

        begin = t.perf_counter()
        from advdemo.core.data import load_mnist  # noqa: F401 - TensorFlow comes with the sweep's imports
        from advdemo.experiments.sweep import train_point  # noqa: F401

        load_mnist(data_dir)
        return t.perf_counter() - begin

    result["worker_first_task_setup_s"] = round(ray.get(first.remote(folder)), 1)
    ray.shutdown()
    report("ray", result)


if __name__ == "__main__":
    main()
