"""App latency and memory through the real server and a real browser (Playwright + Chromium).

* cold start: from ``streamlit run`` to the first complete page;
* slider moves: from a key press on the attack-strength slider until both
  grids show the new digits and the run has finished, over 20 moves;
* server CPU time per slider move and per newly opened session (the share a
  small server pays; the browsers run on the students' machines);
* memory: the server's peak RSS with 1 and with 10 concurrent sessions.

Needs the pretrained models. ``--offline`` starts the server as a fresh clone
would: no ``ADVDEMO_MNIST_DIR`` (the shipped test set), no tensorflow-datasets
copy, an empty model cache.

    python bench/bench_app.py [--moves 20] [--sessions 10] [--offline]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from common import (
    FRESH_CLONE_UNSET,
    Server,
    launch_browser,
    machine,
    median,
    move_slider_and_wait,
    open_settled,
    percentile,
    report,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--offline", action="store_true", help="start as a fresh clone: no data option, no cache")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    fresh = tempfile.mkdtemp(prefix="advdemo-fresh-")
    server = Server(env={"HOME": fresh, "XDG_CACHE_HOME": fresh}, unset=FRESH_CLONE_UNSET) if args.offline \
        else Server()
    result: dict = {"machine": machine(), "offline": args.offline}
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            server.wait_healthy()
            open_settled(page, server.url)
            result["cold_start_s"] = round(time.perf_counter() - server.started, 2)
            result["rss_1_session_mb"] = round(server.peak_rss_mb, 1)

            # Warm-up: visit every strength once, as a class would in its first minute, ending
            # where we started (0.2, the 5th of the 10 standard strengths). The slider does not
            # move past its ends, so every press below changes the view.
            for key in ["ArrowLeft"] * 4 + ["ArrowRight"] * 9 + ["ArrowLeft"] * 5:
                move_slider_and_wait(page, key)
            times, cpu_before = [], server.cpu_seconds()
            keys = (["ArrowRight"] * 5 + ["ArrowLeft"] * 5) * (args.moves // 10 + 1)
            for key in keys[: args.moves]:
                times.append(move_slider_and_wait(page, key))
            result.update(slider_moves=len(times), slider_median_s=round(median(times), 3),
                          slider_p95_s=round(percentile(times, 0.95), 3), slider_max_s=round(max(times), 3),
                          server_cpu_per_move_s=round((server.cpu_seconds() - cpu_before) / len(times), 3))

            server.reset_peak()
            pages = [browser.new_page(viewport={"width": 1400, "height": 1200}) for _ in range(args.sessions)]
            cpu_before = server.cpu_seconds()
            for extra in pages:
                open_settled(extra, server.url)
            result["server_cpu_per_new_session_s"] = round((server.cpu_seconds() - cpu_before) / len(pages), 3)
            for extra in pages:
                move_slider_and_wait(extra, "ArrowRight")
            result[f"rss_{args.sessions}_sessions_mb"] = round(server.peak_rss_mb, 1)
            browser.close()
    finally:
        server.stop()
    report("app", result)


if __name__ == "__main__":
    main()
