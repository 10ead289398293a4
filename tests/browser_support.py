"""Driving the real page in Debian's Chromium: shared by the browser test and the page benchmarks.

Playwright's own browser download does not work on the project's machines, so
both use ``/usr/bin/chromium`` with flags that keep it off the network.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: The page has finished its script run.
SETTLED = "[data-testid='stApp'][data-test-script-state='notRunning']"


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
