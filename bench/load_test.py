"""Load test: N real browser sessions (Playwright + Chromium) against a server on loopback.

Each session opens the page, then, for a bounded time once its page is ready,
moves a slider (attack strength, or the digit shown in detail) one step at a
time at random, waiting for each rerun to finish (timed inside the page).
Reports errors (exceptions on a page, or a rerun that never finishes), the
p50/p95 time per rerun, the server's peak RSS, and the CPU time used by the
server, the browsers and the load generator: all share this machine's cores.
The sessions start moving sliders together, once every page has loaded, so
the server's CPU per slider rerun is measured apart from its page loads.
Loopback only; bounded in sessions and time; it stops by itself.

    python bench/load_test.py [--sessions 20] [--seconds 60] [--hosted]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from common import CHROMIUM, CHROMIUM_ARGS, SETTLED, Server, cpu_seconds, machine, median, percentile, report

MAX_SESSIONS = 50
MAX_SECONDS = 600


SLIDERS = [("Attack strength", 4, 9), ("Digit", 0, 31)]  # label, start index, last index

# One student, run inside the page once it is ready: move a slider one step, wait until the rerun
# has finished, look for 0.5-2 s, repeat until the time is up. Timing in the page itself keeps the
# load generator light (it shares the server's cores) and leaves out its round trips, which a
# student's browser does not have. Keyboard events reach the slider's range input as a key press.
SESSION_JS = """
async ({seconds, seed, sliders, timeoutMs}) => {
  let s = seed >>> 0;
  const rand = () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const settled = () => document.querySelector("%s") !== null;
  const until = async (ready) => {
    const end = performance.now() + timeoutMs;
    while (!ready()) { if (performance.now() > end) return false; await sleep(20); }
    return true;
  };
  const times = [], errors = [], notes = [];
  const position = Object.fromEntries(sliders.map(([label, start]) => [label, start]));
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    const [label, , last] = sliders[Math.floor(rand() * sliders.length)];
    const at = position[label];
    const step = at <= 0 ? 1 : at >= last ? -1 : (rand() < 0.5 ? -1 : 1);
    const find = () => {
      const box = [...document.querySelectorAll("[data-testid='stSlider']")].find(e => e.innerText.includes(label));
      return box && box.querySelector("input[type='range']");
    };
    let thumb = find();
    if (!thumb) {
      // Under load the page can be mid-redraw (after a reconnect, say). A student would wait for
      // the control to come back; only a control that never does is an error.
      const shown = [...document.querySelectorAll("[data-testid='stSlider']")].map(e => e.innerText.split("\\n")[0]);
      const state = document.querySelector("[data-testid='stApp']")?.getAttribute("data-test-script-state");
      notes.push(`no slider called ${label} after ${times.length} moves (sliders: ${shown.join(", ") || "none"}; ` +
                 `script ${state})`);
      if (!await until(() => (thumb = find()))) { errors.push(`the ${label} slider did not come back`); break; }
    }
    thumb.focus();
    const before = location.search;
    const start = performance.now();
    thumb.dispatchEvent(new KeyboardEvent("keydown", {key: step > 0 ? "ArrowRight" : "ArrowLeft", bubbles: true}));
    position[label] = at + step;
    if (!await until(() => location.search !== before) || !await until(settled)) {
      errors.push("a rerun did not finish within " + timeoutMs / 1000 + " s"); break;
    }
    times.push((performance.now() - start) / 1000);
    if (document.querySelector("[data-testid='stException']")) errors.push("exception shown on the page");
    await sleep(500 + rand() * 1500);
  }
  return {times, errors, notes};
}
""" % SETTLED


SLIDERS_SHOWN = """labels => labels.every(label =>
  [...document.querySelectorAll("[data-testid='stSlider']")].some(e => e.innerText.includes(label)))"""


class Start:
    """The moment every session has loaded its page (or failed to): the slider phase starts together."""

    def __init__(self, sessions: int, on_start) -> None:
        self._waiting, self._on_start, self.event = sessions, on_start, asyncio.Event()

    def arrived(self) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self._on_start()
            self.event.set()


async def session(browser, url: str, seconds: float, seed: int, times: list[float], loads: list[float],
                  errors: list[str], waits: list[str], start_together: Start) -> None:
    """One student: open the page, then move sliders for ``seconds`` once every page is ready."""
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    arrived = False
    try:
        start = time.perf_counter()
        await page.goto(url, timeout=300_000)
        await page.wait_for_selector(".advdemo-grid", timeout=300_000)
        await page.wait_for_selector(SETTLED, timeout=300_000)
        # Ready means usable: under load the sidebar's sliders can land a moment after the grids.
        await page.wait_for_function(SLIDERS_SHOWN, arg=[label for label, _, _ in SLIDERS], timeout=300_000)
        loads.append(time.perf_counter() - start)
        start_together.arrived()
        arrived = True
        await start_together.event.wait()
        result = await page.evaluate(SESSION_JS, {"seconds": seconds, "seed": seed + 1, "timeoutMs": 120_000,
                                                  "sliders": [list(s) for s in SLIDERS]})
        times.extend(result["times"])
        errors.extend(f"session {seed}: {e}" for e in result["errors"])
        waits.extend(f"session {seed}: {n}" for n in result["notes"])
    except Exception as exc:  # timeouts and crashes count as errors
        errors.append(f"session {seed}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        if not arrived:
            start_together.arrived()
        await page.close()


def browser_cpu_seconds() -> float:
    """CPU time used so far by the Chromium processes this script started."""
    import psutil

    return cpu_seconds(psutil.Process().children(recursive=True), lambda proc: "chrom" in proc.name().lower())


def driver_cpu_seconds(server_pids: set[int]) -> float:
    """CPU time used so far by this script and Playwright's driver: the load generator itself."""
    import psutil

    return cpu_seconds([psutil.Process(), *psutil.Process().children(recursive=True)],
                       lambda proc: "chrom" not in proc.name().lower() and proc.pid not in server_pids)


async def run(url: str, sessions: int, seconds: float, server_pids: set[int], server_cpu) -> dict:
    from playwright.async_api import async_playwright

    times: list[float] = []
    loads: list[float] = []
    errors: list[str] = []
    waits: list[str] = []  # a slider briefly missing, then back
    marks: dict[str, float] = {}
    start_together = Start(sessions, lambda: marks.update(server_cpu_s=server_cpu(), at=time.perf_counter()))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await asyncio.gather(*(session(browser, url, seconds, i, times, loads, errors, waits, start_together)
                               for i in range(sessions)))
        marks.update(end_server_cpu_s=server_cpu(), end=time.perf_counter())
        browser_cpu, driver_cpu = browser_cpu_seconds(), driver_cpu_seconds(server_pids)  # before the processes go
        await browser.close()
    return {"times": times, "loads": loads, "errors": errors, "waits": waits, "browser_cpu_s": browser_cpu,
            "driver_cpu_s": driver_cpu, "marks": marks}


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
        server.wait_healthy()
        server_cpu_before, start = server.cpu_seconds(), time.perf_counter()
        result = asyncio.run(run(server.url, sessions, seconds, server.pids(), server.cpu_seconds))
        wall, server_cpu = time.perf_counter() - start, server.cpu_seconds() - server_cpu_before
    finally:
        server.stop()
    times, loads, errors, marks = result["times"], result["loads"], result["errors"], result["marks"]
    sliding_cpu = marks["end_server_cpu_s"] - marks["server_cpu_s"]
    report(f"load_{sessions}" + ("_hosted" if args.hosted else ""), {
        "machine": machine(), "hosted": args.hosted, "sessions": sessions, "seconds": seconds, "reruns": len(times),
        "errors": len(errors), "error_samples": errors[:5],
        "control_waits": len(result["waits"]), "control_wait_samples": result["waits"][:5],
        "page_load_p50_s": round(median(loads), 2) if loads else None,
        "page_load_max_s": round(max(loads), 2) if loads else None,
        "rerun_p50_s": round(median(times), 3) if times else None,
        "rerun_p95_s": round(percentile(times, 0.95), 3) if times else None,
        "peak_rss_mb": round(server.peak_rss_mb, 1),
        "wall_s": round(wall, 1), "server_cpu_s": round(server_cpu, 1),
        # The slider phase alone (all pages loaded, every session moving sliders): the goal's measure.
        "server_cpu_page_loads_s": round(marks["server_cpu_s"] - server_cpu_before, 1),
        "server_cpu_sliders_s": round(sliding_cpu, 1), "sliders_wall_s": round(marks["end"] - marks["at"], 1),
        "server_cpu_per_rerun_ms": round(1000 * sliding_cpu / len(times), 1) if times else None,
        "browser_cpu_s": round(result["browser_cpu_s"], 1), "driver_cpu_s": round(result["driver_cpu_s"], 1),
    })


if __name__ == "__main__":
    main()
