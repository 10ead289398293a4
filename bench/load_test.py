"""Load test: N real browser sessions (Playwright + Chromium) against a server on loopback.

Each session opens the page, then moves a slider (attack strength, or the
batch of digits) at random for a bounded time, waiting for each rerun to
finish. Reports errors (exceptions on a page, or a rerun that never finishes),
the p50/p95 time per rerun and the server's peak RSS. Loopback only; bounded
in sessions and time; it stops by itself.

    python bench/load_test.py [--sessions 20] [--seconds 60] [--hosted]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from common import CHROMIUM, CHROMIUM_ARGS, SETTLED, Server, machine, median, percentile, report

MAX_SESSIONS = 50
MAX_SECONDS = 600


async def session(browser, url: str, deadline: float, seed: int, times: list[float], errors: list[str]) -> None:
    rng = random.Random(seed)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        await page.goto(url, timeout=300_000)
        await page.wait_for_selector(".advdemo-grid", timeout=300_000)
        await page.wait_for_selector(SETTLED, timeout=300_000)
        while time.monotonic() < deadline:
            label = rng.choice(["Attack strength", "Attack strength", "Batch of 32 test digits"])
            if label == "Attack strength":
                thumb = page.locator("[data-testid='stSlider']").filter(has_text=label).get_by_role("slider")
                await thumb.focus()
                key = rng.choice(["ArrowRight", "ArrowLeft"])
            else:
                thumb = page.locator("[data-testid='stNumberInput']").get_by_role("spinbutton")
                await thumb.focus()
                key = rng.choice(["ArrowUp", "ArrowDown"])
            before = await page.evaluate("() => location.search")
            start = time.perf_counter()
            await thumb.press(key)
            try:
                await page.wait_for_function("b => location.search !== b", arg=before, timeout=5_000)
            except Exception:
                continue  # the slider was already at its end: no rerun happened
            await page.wait_for_selector(SETTLED, timeout=120_000)
            times.append(time.perf_counter() - start)
            if await page.locator("[data-testid='stException']").count():
                errors.append(f"session {seed}: exception shown on the page")
            await asyncio.sleep(rng.uniform(0.5, 2.0))  # a person looks before moving again
    except Exception as exc:  # timeouts and crashes count as errors
        errors.append(f"session {seed}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await page.close()


async def run(url: str, sessions: int, seconds: float) -> tuple[list[float], list[str]]:
    from playwright.async_api import async_playwright

    times: list[float] = []
    errors: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(session(browser, url, deadline, i, times, errors) for i in range(sessions)))
        await browser.close()
    return times, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--hosted", action="store_true", help="run the server with ADVDEMO_HOSTED=1")
    args = parser.parse_args()
    sessions = max(1, min(args.sessions, MAX_SESSIONS))
    seconds = max(1.0, min(args.seconds, MAX_SECONDS))
    server = Server({"ADVDEMO_HOSTED": "1"} if args.hosted else None)
    try:
        times, errors = asyncio.run(run(server.url, sessions, seconds))
    finally:
        server.stop()
    report(f"load_{sessions}", {
        "machine": machine(), "sessions": sessions, "seconds": seconds, "reruns": len(times),
        "errors": len(errors), "error_samples": errors[:5],
        "rerun_p50_s": round(median(times), 3) if times else None,
        "rerun_p95_s": round(percentile(times, 0.95), 3) if times else None,
        "peak_rss_mb": round(server.peak_rss_mb, 1),
    })


if __name__ == "__main__":
    main()
