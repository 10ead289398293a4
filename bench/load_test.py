"""Load test: N real browser sessions (Playwright + Chromium) against a server on loopback.

Each session opens the page, then, for a bounded time once its page is ready,
moves a slider (attack strength, or the digit shown in detail) one step at a
time at random, waiting for each rerun to finish. Reports errors (exceptions on a page, or a rerun that never finishes),
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


SLIDERS = {"Attack strength": (4, 9), "Digit": (0, 31)}  # label: (start index, last index)


async def session(browser, url: str, seconds: float, seed: int, times: list[float], loads: list[float],
                  errors: list[str]) -> None:
    """One student: open the page, then move sliders for ``seconds`` once it is ready."""
    rng = random.Random(seed)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    position = {label: start for label, (start, _) in SLIDERS.items()}
    try:
        start = time.perf_counter()
        await page.goto(url, timeout=300_000)
        await page.wait_for_selector(".advdemo-grid", timeout=300_000)
        await page.wait_for_selector(SETTLED, timeout=300_000)
        loads.append(time.perf_counter() - start)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            label = rng.choice(list(SLIDERS))
            last = SLIDERS[label][1]
            step = rng.choice([-1, 1]) if 0 < position[label] < last else (1 if position[label] == 0 else -1)
            thumb = page.locator("[data-testid='stSlider']").filter(has_text=label).get_by_role("slider")
            await thumb.focus()
            before = await page.evaluate("() => location.search")
            start = time.perf_counter()
            await thumb.press("ArrowRight" if step > 0 else "ArrowLeft")
            position[label] += step
            await page.wait_for_function("b => location.search !== b", arg=before, timeout=120_000)
            await page.wait_for_selector(SETTLED, timeout=120_000)
            times.append(time.perf_counter() - start)
            if await page.locator("[data-testid='stException']").count():
                errors.append(f"session {seed}: exception shown on the page")
            await asyncio.sleep(rng.uniform(0.5, 2.0))  # a person looks before moving again
    except Exception as exc:  # timeouts and crashes count as errors
        errors.append(f"session {seed}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await page.close()


async def run(url: str, sessions: int, seconds: float) -> tuple[list[float], list[float], list[str]]:
    from playwright.async_api import async_playwright

    times: list[float] = []
    loads: list[float] = []
    errors: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await asyncio.gather(*(session(browser, url, seconds, i, times, loads, errors) for i in range(sessions)))
        await browser.close()
    return times, loads, errors


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
        times, loads, errors = asyncio.run(run(server.url, sessions, seconds))
    finally:
        server.stop()
    report(f"load_{sessions}", {
        "machine": machine(), "sessions": sessions, "seconds": seconds, "reruns": len(times),
        "errors": len(errors), "error_samples": errors[:5],
        "page_load_p50_s": round(median(loads), 2) if loads else None,
        "page_load_max_s": round(max(loads), 2) if loads else None,
        "rerun_p50_s": round(median(times), 3) if times else None,
        "rerun_p95_s": round(percentile(times, 0.95), 3) if times else None,
        "peak_rss_mb": round(server.peak_rss_mb, 1),
    })


if __name__ == "__main__":
    main()
