"""What one class needs from a host: the server's memory and CPU with 1, 10 and 30 sessions, then at work.

One hosted server (``ADVDEMO_HOSTED=1``, a fresh cache, as a host would run the Docker image), real
Chromium sessions on loopback, joining in steps as a class does. At each step every open session
moves sliders for ``--seconds`` (a move every 0.5-2 s, as in bench/load_test.py), and the script
reads:

* the resident memory (RSS) of the server process, and of the server with its job processes (the
  process that measures what is not stored, and a training's own process), peak over the step;
* the server's CPU time over the step, as average cores busy, and per page load.

A last step, **at work**: one more session opens a link whose numbers nobody has stored (the measuring
job process starts), another trains a custom configuration (the bounded on-demand training, in its
own process), and the 30 move sliders for ``--work-seconds``: the peak a host must allow.

Slider moves are timed twice: in the page (the student's wait, the browser's drawing included) and on
the server (the results fragment's run, from its debug log), since the browsers share the cores here.

The browsers run at nice 19 (each student's browser runs on the student's own machine in a class;
here they share the server's cores). docs/deploy.md compares the numbers with the hosts' limits.

    python bench/deploy_needs.py [--steps 1,10,30] [--seconds 45]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from classroom import (
    UNSTORED,
    load_ready,
    new_page,
    nice_browsers,
    open_ready,
    open_unstored,
    server_runs,
    slider_session,
)
from common import CHROMIUM, CHROMIUM_ARGS, Server, machine, median, percentile, report

#: A custom configuration nobody trained (the on-demand training, bounded in hosted mode).
UNTRAINED = "?mult=0.35"

MAX_SESSIONS = 40


class Sampler:
    """Peak RSS of the server process and of the server with its children, from a given moment."""

    def __init__(self, server: Server):
        self.server = server
        self.reset()

    def reset(self) -> None:
        self.server.reset_peak()
        self.cpu, self.wall = self.server.cpu_seconds(), time.perf_counter()

    def read(self) -> dict:
        wall = time.perf_counter() - self.wall
        cpu = self.server.cpu_seconds() - self.cpu
        return {"peak_rss_mb_server": round(self.server.peak_main_rss_mb, 1),
                "peak_rss_mb_with_jobs": round(self.server.peak_rss_mb, 1),
                "server_cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
                "server_cores_busy": round(cpu / wall, 2) if wall else None}


async def move_sliders(pages: list, seconds: float, seed: int) -> tuple[list[float], list[str]]:
    """Every page moves sliders for ``seconds`` at once; the moves' times in the page, and the errors."""
    times: list[float] = []
    errors: list[str] = []
    results = await asyncio.gather(*(slider_session(page, seconds, seed + i, times, errors)
                                     for i, page in enumerate(pages)), return_exceptions=True)
    errors += [f"session {i}: {type(r).__name__}: {str(r).splitlines()[0][:160]}"
               for i, r in enumerate(results) if isinstance(r, BaseException)]
    return times, errors


def summary(times: list[float]) -> dict:
    return {"slider_moves": len(times), "slider_p50_s": round(median(times), 3) if times else None,
            "slider_p95_s": round(percentile(times, 0.95), 3) if times else None}


async def reset(pages: list, url: str, errors: list[str]) -> None:
    """Bring pages that already moved sliders back to the default view (their sliders anywhere else would
    make the next step's script press against a slider's end)."""
    async def one(page, i: int) -> None:
        try:
            await load_ready(page, url)
        except Exception as exc:  # what the report counts
            errors.append(f"page {i} (back to the default view): {type(exc).__name__}")

    await asyncio.gather(*(one(page, i) for i, page in enumerate(pages)))


async def start_training(browser, url: str, errors: list[str]):
    """Open a custom configuration nobody trained and press Train; the page, once the training has begun."""
    page = await new_page(browser)
    try:
        await page.goto(url + "/" + UNTRAINED, timeout=300_000)
        await page.get_by_role("button", name="Train these models").click(timeout=300_000)
        await page.wait_for_selector("text=Training the", timeout=300_000)
    except Exception as exc:  # what the report counts
        errors.append(f"training: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    return page


async def run(server: Server, steps: list[int], seconds: float, work_seconds: float, train: bool = True) -> dict:
    from playwright.async_api import async_playwright

    stop = asyncio.Event()
    nicer = asyncio.create_task(nice_browsers(stop))
    sampler = Sampler(server)
    out: dict = {"steps": [], "errors": [], "marks": {}}
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages: list = []
            for n in steps:
                await reset(pages, server.url, out["errors"])
                sampler.reset()
                before = len(pages)
                pages += await asyncio.gather(*(open_ready(browser, server.url, out["errors"], f"page {i}")
                                                for i in range(before, n)))
                opened, new = sampler.read(), max(1, n - before)
                sampler.reset()
                mark = time.time()
                times, errors = await move_sliders(pages, seconds, seed=n)
                out["marks"][str(n)] = (mark, time.time())
                out["errors"] += errors
                out["steps"].append({"sessions": n, "new_pages": new,
                                     "server_cpu_s_per_page_load": round(opened["server_cpu_s"] / new, 3),
                                     "opening": opened, "exploring": sampler.read(), **summary(times)})
            # At work: one student opens a link whose numbers nobody stored (the measuring process starts)
            # and another trains (the training's own process), then the whole class moves sliders.
            await reset(pages, server.url, out["errors"])
            sampler.reset()
            answers: list[dict] = []
            shown = asyncio.Event()
            link = asyncio.create_task(open_unstored(browser, server.url + "/" + UNSTORED[0], answers, out["errors"],
                                                     "link", work_seconds + 600, shown))
            await shown.wait()
            trainer = await start_training(browser, server.url, out["errors"]) if train else None
            mark = time.time()
            times, errors = await move_sliders(pages, work_seconds, seed=99)
            out["marks"]["at_work"] = (mark, time.time())
            out["errors"] += errors
            training_on = trainer is not None and await trainer.locator("text=Training the").count() > 0
            out["at_work"] = {"sessions": len(pages) + 2, **sampler.read(), **summary(times),
                              "training_still_running_at_the_end": training_on}
            await link
            out["at_work"]["link"] = answers
            await browser.close()
    finally:
        stop.set()
        await nicer
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1,10,30", help="sessions open at each step (rising)")
    parser.add_argument("--seconds", type=float, default=45, help="seconds every session moves sliders per step")
    parser.add_argument("--work-seconds", type=float, default=150, help="seconds of the last step (at work)")
    parser.add_argument("--no-training", action="store_true",
                        help="run the server with ADVDEMO_TRAINING=off, as on a host too small for a training")
    args = parser.parse_args()
    steps = sorted({max(1, min(int(s), MAX_SESSIONS)) for s in args.steps.split(",")})
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        server = Server({"ADVDEMO_HOSTED": "1", "ADVDEMO_CACHE_DIR": str(Path(tmp) / "cache"),
                         "ADVDEMO_LOG_LEVEL": "debug", **({"ADVDEMO_TRAINING": "off"} if args.no_training else {})},
                        log=log)
        try:
            server.wait_healthy()
            time.sleep(2)
            started = {"rss_mb_server": round(server.rss_mb(), 1)}
            result = asyncio.run(run(server, steps, args.seconds, args.work_seconds, not args.no_training))
        finally:
            server.stop()
        lines = log.read_text(errors="replace").splitlines()
    # The server's own part of each slider move (the results fragment's run, from its log), apart from
    # the browsers' drawing, which here shares the server's two cores.
    for step in [*result["steps"], result["at_work"]]:
        runs = server_runs(lines, *result["marks"][str(step.get("sessions")) if "new_pages" in step else "at_work"])
        step["server_run_p95_s"] = round(percentile(runs, 0.95), 3) if runs else None
        step["server_runs"] = len(runs)
    name = "deploy_needs" + ("_no_training" if args.no_training else "")
    report(name, {"machine": machine(), "training": not args.no_training, "seconds_per_step": args.seconds,
                  "work_seconds": args.work_seconds, "started": started,
                  "errors": len(result["errors"]), "error_samples": result["errors"][:8],
                  "steps": result["steps"], "at_work": result["at_work"]})

if __name__ == "__main__":
    main()
