"""Shared by the benchmark scripts: timing, models to measure, machine facts, output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
    from advdemo.core.devices import describe_devices, versions

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "devices": [str(d) for d in describe_devices()], **versions()}


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a large float32 matrix product on this machine, in GFLOP/s."""
    from advdemo.core.compat import tf

    a = tf.random.normal([size, size])
    product = tf.function(lambda m: tf.reduce_sum(tf.matmul(m, m)))
    times, _ = timed(lambda: product(a).numpy(), repeats)
    return 2 * size**3 / min(times) / 1e9


def tutorial_models(mnist):
    """The tutorial configuration's base and regularized networks: from the stores
    if trained, else freshly initialized (timings do not depend on the weights)."""
    from advdemo.core.config import FAST_RECIPE, ModelKind
    from advdemo.core.model import build_base_model
    from advdemo.store.storage import default_stores, find_model, model_id

    stores = default_stores()
    found = [find_model(stores, model_id(FAST_RECIPE, kind)) for kind in ModelKind]
    if all(found):
        return found[0][0], found[1][0], "pretrained (tutorial configuration)"
    return build_base_model(FAST_RECIPE), build_base_model(FAST_RECIPE), "untrained (no pretrained models found)"


def shipped_base_in(store):
    """The shipped base model of the project's recipe (the transfer attack's source), copied into ``store``
    (a writable ModelStore) if it lacks it: ``(its id, the model)``."""
    from advdemo.core.config import FAST_RECIPE, ModelKind
    from advdemo.store.storage import ModelStore, model_id

    base_id = model_id(FAST_RECIPE, ModelKind.BASE)
    if store.entry(base_id) is None:
        base, entry = ModelStore(ROOT / "pretrained", writable=False).load(base_id)
        store.put(FAST_RECIPE, ModelKind.BASE, base.get_weights(), train_seconds=entry.train_seconds)
    return base_id, store.load(base_id)[0]


def cpu_seconds(procs, include: Callable[[object], bool] = lambda proc: True) -> float:
    """Total CPU time (user + system) of the psutil processes ``procs`` that ``include`` accepts;
    processes that have ended meanwhile count as 0."""
    import psutil

    total = 0.0
    for proc in procs:
        try:
            if include(proc):
                total += sum(proc.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def report(name: str, payload: dict) -> None:
    """Write ``bench/out/<name>.json`` and print it as the last line."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload))


# -- the real server and a real browser (app latency, memory, load test) -----------------------

sys.path.insert(0, str(ROOT / "tests"))
from browser_support import (  # noqa: E402, F401
    CHROMIUM,
    CHROMIUM_ARGS,
    FRESH_CLONE_UNSET,
    SETTLED,
    free_port,
    wait_healthy,
)


class Server:
    """``streamlit run app.py`` on loopback; ``peak_rss_mb`` samples it (and children) at 10 Hz."""

    def __init__(self, env: dict | None = None, unset: tuple[str, ...] = (), log: Path | None = None):
        """``log``: a file for the server's output (else it is discarded)."""
        import subprocess
        import threading

        import psutil

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port)],
            cwd=ROOT, env={**{k: v for k, v in os.environ.items() if k not in unset}, **(env or {})},
            stdout=open(log, "w") if log else subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._ps = psutil.Process(self.proc.pid)
        self.peak_rss_mb = 0.0  # the server and its children (the job process)
        self.peak_main_rss_mb = 0.0  # the server process alone
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def wait_healthy(self, timeout_s: float = 120.0) -> None:
        """Block until the server answers ``/_stcore/health`` (it needs seconds to import TensorFlow)."""
        wait_healthy(self.url, self.proc, timeout_s)

    def rss_mb(self) -> float:
        import psutil

        try:
            procs = [self._ps, *self._ps.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs) / 2**20
        except psutil.Error:
            return 0.0

    def pids(self) -> set[int]:
        """The server's process and its children."""
        import psutil

        try:
            return {self._ps.pid, *(p.pid for p in self._ps.children(recursive=True))}
        except psutil.Error:
            return {self._ps.pid}

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its children have used so far."""
        import psutil

        try:
            return cpu_seconds([self._ps, *self._ps.children(recursive=True)])
        except psutil.Error:
            return 0.0

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.1):
            self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())
            try:
                self.peak_main_rss_mb = max(self.peak_main_rss_mb, self._ps.memory_info().rss / 2**20)
            except psutil.Error:
                pass

    def reset_peak(self) -> None:
        """Start both peaks again from now."""
        self.peak_rss_mb, self.peak_main_rss_mb = self.rss_mb(), 0.0

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_settled(page, url: str, timeout_ms: int = 180_000) -> None:
    page.goto(url, timeout=timeout_ms)
    page.wait_for_selector(".advdemo-grid", timeout=timeout_ms)
    page.wait_for_selector(SETTLED, timeout=timeout_ms)


def grid_signature(page) -> str:
    return page.locator(".advdemo-grid img").evaluate_all("els => els.map(e => e.src.slice(-24)).join('')")


def strength_slider(page):
    return page.locator("[data-testid='stSlider']").filter(has_text="Attack strength").get_by_role("slider")


def move_slider_and_wait(page, key: str, timeout_ms: int = 60_000) -> float:
    """Press ``key`` on the attack-strength slider; seconds until the grids show the new view."""
    before = grid_signature(page)
    thumb = strength_slider(page)
    thumb.focus()
    start = time.perf_counter()
    thumb.press(key)
    page.wait_for_function(
        "before => { const imgs = [...document.querySelectorAll('.advdemo-grid img')];"
        " return imgs.length === 64 && imgs.map(e => e.src.slice(-24)).join('') !== before; }",
        arg=before, timeout=timeout_ms)
    page.wait_for_selector(SETTLED, timeout=timeout_ms)
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def peak_fractions(flops: float, peak_gflops: float, seconds: dict[str, float], digits: int = 2) -> dict:
    """Throughput against the machine's matmul peak: ``matmul_gflops``, ``advdemo_gflops`` and, for each
    ``name: seconds`` in ``seconds`` (``advdemo`` among them), ``{name}_fraction_of_matmul_peak``."""
    out = {"matmul_gflops": round(peak_gflops, 1), "advdemo_gflops": round(flops / seconds["advdemo"] / 1e9, 1)}
    for name, t in seconds.items():
        out[f"{name}_fraction_of_matmul_peak"] = round(flops / t / 1e9 / peak_gflops, digits)
    return out
