"""A classroom on one small server: does one student's training slow another's slider?

Through the real server and Chromium: session A moves the attack-strength
slider on an idle server, then again while session B trains a custom model
(hosted mode, so the training is the bounded one a class would run). Each
setting of the training child runs on a fresh server; the report gives the
slider's p50 and p95 in both phases, their ratio (goal: p95 during training
<= 1.2 x idle), and how long the training took.

    python bench/bench_isolation.py [--moves 48] [--only TEXT]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from common import Server, launch_browser, machine, median, move_slider_and_wait, open_settled, percentile, report

#: The training child's settings compared: the same priority as the server, the lowest, and the lowest
#: with TensorFlow capped at one thread.
_NO_PAUSE = {"ADVDEMO_TRAINING_PAUSE": "0"}
VARIANTS = {
    "child process, nice 0": {**_NO_PAUSE, "ADVDEMO_TRAINING_NICE": "0", "ADVDEMO_TRAINING_IDLE_CLASS": "0"},
    "child process, nice 19": {**_NO_PAUSE, "ADVDEMO_TRAINING_IDLE_CLASS": "0"},
    "child process, nice 19, 1 thread": {**_NO_PAUSE, "ADVDEMO_TRAINING_IDLE_CLASS": "0",
                                         "ADVDEMO_TRAINING_THREADS": "1"},
    "child process, nice 19, idle class": _NO_PAUSE,
    "child process, nice 19, idle class, paused while pages rerun (default)": {},
}
#: An off-grid configuration, so session B has something to train.
UNTRAINED = "?mult=0.35"


def slider_times(page, moves: int) -> list[float]:
    """Seconds per slider move, over ``moves`` rounded up to whole cycles of 3 right, 3 left: each phase
    ends where it began, and the slider never runs into its end (a press there changes nothing)."""
    keys = (["ArrowRight"] * 3 + ["ArrowLeft"] * 3) * -(-moves // 6)
    return [move_slider_and_wait(page, key) for key in keys]


def run_variant(browser, env: dict[str, str], moves: int) -> dict:
    cache = tempfile.mkdtemp(prefix="advdemo-isolation-")
    server = Server(env={"ADVDEMO_HOSTED": "1", "ADVDEMO_CACHE_DIR": cache, **env})
    try:
        server.wait_healthy()
        a = browser.new_page(viewport={"width": 1400, "height": 1200})
        open_settled(a, server.url)
        for key in ["ArrowLeft"] * 4 + ["ArrowRight"] * 9 + ["ArrowLeft"] * 5:  # warm every strength
            move_slider_and_wait(a, key)
        idle = slider_times(a, moves)

        b = browser.new_page(viewport={"width": 1400, "height": 1200})
        b.goto(server.url + UNTRAINED)
        b.get_by_role("button", name="Train these models").click(timeout=120_000)
        started = time.perf_counter()
        b.wait_for_selector("text=Training the", timeout=120_000)  # the child has begun its epochs
        a.bring_to_front()  # Chromium throttles background tabs; session A is a student looking at their page
        during = slider_times(a, moves)
        still_training = b.locator("text=Training the").count() > 0
        b.wait_for_selector(".advdemo-grid", timeout=600_000)  # trained, stored, shown
        return {
            "idle_p50_s": round(median(idle), 3), "idle_p95_s": round(percentile(idle, 0.95), 3),
            "training_p50_s": round(median(during), 3), "training_p95_s": round(percentile(during, 0.95), 3),
            "p95_ratio": round(percentile(during, 0.95) / percentile(idle, 0.95), 2),
            "training_wall_s": round(time.perf_counter() - started, 1),
            "still_training_after_the_moves": still_training,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=48)
    parser.add_argument("--only", help="run only the variants whose name contains this")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as p:
        browser = launch_browser(p)
        for name, env in VARIANTS.items():
            if args.only and args.only not in name:
                continue
            results[name] = run_variant(browser, env, args.moves)
            print(name, results[name], flush=True)
        browser.close()
    report("isolation", {"machine": machine(), "moves": args.moves, "variants": results})


if __name__ == "__main__":
    main()
