"""Shared by the benchmark scripts: timing, models to measure, machine facts, output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[list[float], object]:
    """Wall times of ``repeats`` calls after ``warmup`` untimed ones, and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict:
    from advdemo.devices import describe_devices, versions

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "devices": describe_devices(), **versions()}


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a large float32 matrix product on this machine, in GFLOP/s."""
    from advdemo.compat import tf

    a = tf.random.normal([size, size])
    product = tf.function(lambda m: tf.reduce_sum(tf.matmul(m, m)))
    times, _ = timed(lambda: product(a).numpy(), repeats)
    return 2 * size**3 / min(times) / 1e9


def tutorial_models(mnist):
    """The tutorial configuration's base and regularized networks: from the stores
    if trained, else freshly initialized (timings do not depend on the weights)."""
    from advdemo.config import FAST_RECIPE
    from advdemo.experiment import find_model
    from advdemo.model import build_base_model
    from advdemo.storage import default_stores, model_id

    stores = default_stores()
    found = [find_model(stores, model_id(FAST_RECIPE, kind)) for kind in ("base", "adv")]
    if all(found):
        return found[0][0], found[1][0], "pretrained (tutorial configuration)"
    return build_base_model(FAST_RECIPE), build_base_model(FAST_RECIPE), "untrained (no pretrained models found)"


def report(name: str, payload: dict) -> None:
    """Write ``bench/out/<name>.json`` and print it as the last line."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload))
