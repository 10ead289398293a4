"""Driving the real page in Debian's Chromium: shared by the browser test and the page benchmarks.

Playwright's own browser download does not work on the project's machines, so
both use ``/usr/bin/chromium`` with flags that keep it off the network.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from advdemo.serving.engines import stop_process

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: What a fresh clone lacks: the variables that point advdemo at data, models or a cache.
FRESH_CLONE_UNSET = ("ADVDEMO_MNIST_DIR", "ADVDEMO_PRETRAINED_DIR", "ADVDEMO_CACHE_DIR", "TFDS_DATA_DIR")
#: The page has finished its script run and drawn all it was sent. Streamlit fetches an element kind's code
#: the first time a page shows one (a metric, a chart) and shows a skeleton there until then, so the run can
#: end before the page is drawn.
SETTLED = "[data-testid='stApp'][data-test-script-state='notRunning']:not(:has([data-testid='stSkeleton']))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc, timeout_s: float = 120.0) -> None:
    """Block until the server at ``url`` answers ``/_stcore/health`` (TensorFlow takes seconds to import).

    Raises RuntimeError if ``proc`` (its ``subprocess.Popen``) exits first, TimeoutError after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"no answer from {url} in {timeout_s:.0f} s")


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], timeout_s: float = 120.0) -> Iterator[tuple[str, float]]:
    """``streamlit run app.py`` on a free loopback port with exactly ``env``.

    Yields ``(url, started)``: ``started`` is ``time.perf_counter()`` just
    before the process started. Raises RuntimeError with the server's output
    if it does not come up.
    """
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**env, "BROWSER": "none"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(url, proc, timeout_s)
        except (RuntimeError, TimeoutError):
            proc.kill()
            raise RuntimeError("streamlit did not start:\n" + proc.communicate()[0]) from None
        yield url, started
    finally:
        stop_process(proc)
