"""A class explores while the server stays quick: real server (hosted mode), real Chromium sessions.

Phases, all on one server in one run, so every ratio compares like with like:

1. **idle**: one session moves sliders alone (the reference p95);
2. **4 links, then 8 links**: the slider session goes on while 4 (then 8 more) sessions open links
   whose numbers nobody has stored. For each: seconds until its grids and a placeholder show, and
   until its numbers fill in by themselves; the slider's p95 against idle;
3. **the first minute**: ``--sessions`` fresh browsers open the page at once (server CPU per page);
4. **mixed**: those sessions explore for ``--seconds``: most move sliders, some open links (shared
   and new), click through the lesson, switch the language or upload digits, and one trains.

Reports errors (an exception on a page, a control or number that never comes), slider p95 per phase
against idle, the time each heavy request took to answer, how many times each distinct measurement
was computed (from the server's log), the server's peak memory and CPU. Loopback only, bounded in
sessions and time.

    python bench/classroom.py [--sessions 30] [--seconds 180]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import CHROMIUM, CHROMIUM_ARGS, OUT, SETTLED, Server, machine, median, percentile, report
from load_test import SESSION_JS, SLIDERS, SLIDERS_SHOWN, browser_cpu_seconds

MAX_SESSIONS = 40
#: Links whose numbers are not stored anywhere (hosted mode keeps strengths standard): PGD at other
#: step counts, and L2 attacks on models whose L2 worst case nobody measured.
UNSTORED = [
    "?attack=pgd&iters=7&mode=white-box",
    "?anorm=l2&eps=2&step=0.1&mult=0.5",
    "?attack=pgd&iters=5&eps=0.1",
    "?anorm=l2&eps=1.5&step=0.25&mult=1",
    "?attack=pgd&iters=12&mode=white-box&eps=0.3&tattack=pgd&teps=0.3",
    "?anorm=l2&eps=2.5&step=0.05&mult=0.2",
    "?attack=pgd&iters=3&eps=0.15",
    "?anorm=l2&eps=1&norm=l2&step=0.5&mult=1",
]
#: What the mixed phase's link sessions open: the links above again (stored by then), and new ones.
EXPLORED = [*UNSTORED[:4], "?attack=pgd&iters=4&mode=white-box", "?anorm=l2&eps=3&step=0.15&mult=0.2",
            "?attack=pgd&iters=9", "?eps=0.35&mode=white-box&step=0.3&mult=1"]
PENDING_JS = """() => {
  const text = document.body.innerText;
  return !text.includes("measured on the server") && !text.includes("Being measured")
         && document.querySelectorAll("[data-testid='stMetric']").length >= 4;
}"""
PLACEHOLDER_JS = """() => document.body.innerText.includes("measured on the server")
                        || document.querySelectorAll("[data-testid='stMetric']").length >= 4"""
JOB_LINE = re.compile(r"job (\S+) \((\w+)\) took ([\d.]+) s")
RUN_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) DEBUG advdemo: run results took ([\d.]+) s")


def server_runs(lines: list[str], start: float, end: float) -> list[float]:
    """The results fragment's runs on the server between two ``time.time()`` marks, in seconds."""
    import datetime as dt

    out = []
    for line in lines:
        m = RUN_LINE.match(line)
        if m and start <= dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() <= end:
            out.append(float(m.group(2)))
    return out


async def new_page(browser):
    return await browser.new_page(viewport={"width": 1280, "height": 900})


async def settled(page, timeout: float = 120_000) -> None:
    await page.wait_for_selector(SETTLED, timeout=timeout)


async def load_ready(page, url: str) -> None:
    """Open ``url`` and wait until its grids and sliders are shown; from a page that already moved sliders,
    this puts them back where a session's script expects them."""
    await page.goto(url, timeout=300_000)
    await page.wait_for_selector(".advdemo-grid", timeout=300_000)
    await settled(page, 300_000)
    await page.wait_for_function(SLIDERS_SHOWN, arg=[label for label, _, _ in SLIDERS], timeout=300_000)


async def slider_session(page, seconds: float, seed: int, times: list[float], errors: list[str],
                         fresh_from: str | None = None) -> None:
    """One student moving sliders (timed inside the page, as in bench/load_test.py).

    ``fresh_from``: load the page from this address first (:func:`load_ready`).
    """
    if fresh_from:
        await load_ready(page, fresh_from)
    result = await page.evaluate(SESSION_JS, {"seconds": seconds, "seed": seed + 1, "timeoutMs": 120_000,
                                              "sliders": [list(s) for s in SLIDERS]})
    times.extend(result["times"])
    errors.extend(f"slider session {seed}: {e}" for e in result["errors"])


async def open_ready(browser, url: str, errors: list[str], who: str):
    page = await new_page(browser)
    try:
        await load_ready(page, url)
    except Exception as exc:
        errors.append(f"{who}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    return page


async def open_unstored(browser, url: str, answers: list[dict], errors: list[str], who: str,
                        timeout_s: float, shown_event: asyncio.Event | None = None) -> None:
    """Open a link whose numbers are not stored: time the grids and placeholder, then the numbers."""
    page = await new_page(browser)
    start = time.perf_counter()
    try:
        await page.goto(url, timeout=120_000)
        await page.wait_for_selector(".advdemo-grid", timeout=120_000)
        await page.wait_for_function(PLACEHOLDER_JS, timeout=120_000)
        await settled(page)
        shown = time.perf_counter() - start
        if shown_event is not None:
            shown_event.set()
        await page.wait_for_function(PENDING_JS, timeout=timeout_s * 1000)
        answers.append({"link": url.split("/", 3)[-1].lstrip("/"), "shown_s": round(shown, 2),
                        "numbers_s": round(time.perf_counter() - start, 1)})
        if await page.locator("[data-testid='stException']").count():
            errors.append(f"{who}: an exception on the page")
    except Exception as exc:
        errors.append(f"{who}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        if shown_event is not None:
            shown_event.set()
        await page.close()


async def floor_phase(browser, url: str, links: list[str], slider_page, seconds: float, errors: list[str],
                      stored: bool = False) -> dict:
    """The slider session moves while ``links`` open at once, then while their jobs run.

    The browsers share this machine's two cores with the server: while the new pages load, every
    slider move competes with Chromium itself. So the moves are timed apart: during the pages'
    opening (``opening``; the ``stored`` reference phase opens pages whose numbers are all stored, the
    same load without a job) and after every page shows its grids and placeholders (``jobs``), while
    only the server's jobs remain.
    """
    opening: list[float] = []
    jobs: list[float] = []
    answers: list[dict] = []
    await slider_session(slider_page, 0, 0, [], errors, fresh_from=url)
    shown = [asyncio.Event() for _ in links]
    pages = [asyncio.create_task(open_unstored(browser, url + link, answers, errors, f"link {i}", 900, event))
             for i, (link, event) in enumerate(zip(links, shown))]
    await slider_session(slider_page, OPENING_SECONDS, 0, opening, errors)
    if not stored:
        for event in shown:  # every page has drawn its grids and placeholders: only the jobs remain
            await event.wait()
        await slider_session(slider_page, seconds, 0, jobs, errors, fresh_from=url)
    await asyncio.gather(*pages)
    return {"opening": opening, "jobs": jobs, "answers": answers}


#: Seconds the slider is timed while the new pages open (they show their grids well within it).
OPENING_SECONDS = 15


# -- the mixed phase's roles ---------------------------------------------------------------------

async def role_links(page, url: str, until: float, seed: int, answers: list[dict], errors: list[str]) -> None:
    i = seed
    while time.perf_counter() < until:
        link = EXPLORED[i % len(EXPLORED)]
        i += 1
        start = time.perf_counter()
        try:
            await page.goto(url + link, timeout=120_000)
            await page.wait_for_selector(".advdemo-grid", timeout=120_000)
            await page.wait_for_function(PENDING_JS, timeout=max(1.0, until - time.perf_counter() + 60) * 1000)
            answers.append({"link": link, "numbers_s": round(time.perf_counter() - start, 1)})
        except Exception as exc:
            if time.perf_counter() < until:
                errors.append(f"links {seed}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        await asyncio.sleep(2 + seed % 3)


async def repeat(who: str, until: float, errors: list[str], times: list[float], setup, action, pause: float) -> None:
    """One student's role: ``setup()`` once, then ``action(i)`` (timed) every ``pause`` seconds until ``until``.

    A failure after the phase has ended is the phase's end, not an error.
    """
    try:
        await setup()
        i = 0
        while time.perf_counter() < until:
            start = time.perf_counter()
            await action(i)
            times.append(time.perf_counter() - start)
            i += 1
            await asyncio.sleep(pause)
    except Exception as exc:
        if time.perf_counter() < until:
            errors.append(f"{who}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")


async def role_lesson(page, until: float, seed: int, clicks: list[float], errors: list[str]) -> None:
    titles = ["1 · The tutorial's result", "2 · Its own gradient", "3 · Under PGD", "4 · The masking sign",
              "5 · The fix: PGD training"]

    async def click(i: int) -> None:
        await page.get_by_role("button", name=titles[(seed + i) % len(titles)]).click()
        await page.wait_for_function(PENDING_JS, timeout=120_000)
        await settled(page)

    await repeat(f"lesson {seed}", until, errors, clicks, page.get_by_text("A five-step lesson").first.click,
                 click, 3 + seed % 4)


async def role_language(page, until: float, seed: int, switches: list[float], errors: list[str]) -> None:
    names, titles = ["简体中文", "English"], ["对抗正则化", "Adversarial regularization"]

    async def switch(i: int) -> None:
        await page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
        await page.get_by_role("option", name=names[i % 2]).click()
        await page.wait_for_function("t => document.documentElement.innerText.includes(t)", arg=titles[i % 2],
                                     timeout=120_000)
        await settled(page)

    async def nothing() -> None:
        pass

    await repeat(f"language {seed}", until, errors, switches, nothing, switch, 4 + seed % 3)


async def role_upload(page, until: float, seed: int, digits: list[Path], uploads: list[float],
                      errors: list[str]) -> None:
    async def upload(i: int) -> None:
        await page.locator("input[type='file']").first.set_input_files(str(digits[(seed + i) % len(digits)]))
        await page.wait_for_function("() => document.querySelectorAll('.advdemo-detail').length >= 2",
                                     timeout=120_000)
        await settled(page)

    await repeat(f"upload {seed}", until, errors, uploads, page.get_by_text("Upload", exact=True).first.click,
                 upload, 6 + seed % 4)


async def role_train(browser, url: str, until: float, outcome: dict, errors: list[str]) -> None:
    page = await new_page(browser)
    try:
        await page.goto(url + "/?mult=0.75&step=0.15", timeout=120_000)
        await page.get_by_role("button", name="Train these models").click(timeout=120_000)
        start = time.perf_counter()
        outcome["started"] = True
        await page.wait_for_selector(".advdemo-grid", timeout=max(1.0, until - time.perf_counter()) * 1000)
        outcome["trained_s"] = round(time.perf_counter() - start, 1)
    except Exception as exc:
        if "Timeout" not in type(exc).__name__:  # a training may outlast the phase: that is no error
            errors.append(f"train: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        await page.close()


def digit_files(folder: Path, n: int = 6) -> list[Path]:
    """A few MNIST test digits as PNG files, as a student's uploads."""
    from PIL import Image

    from advdemo.core.data import load_mnist

    mnist = load_mnist(training=False)
    files = []
    for i in range(n):
        path = folder / f"digit{i}.png"
        buffer = io.BytesIO()
        Image.fromarray((255 - mnist.test_images[100 + i, ..., 0] * 255).astype("uint8")).resize((112, 112)).save(
            buffer, "PNG")
        path.write_bytes(buffer.getvalue())
        files.append(path)
    return files


def roles(n: int) -> list[str]:
    """How ``n`` sessions split up: about a third do something other than move sliders, one trains."""
    plan = ["train", "links", "lesson", "language", "upload", "links", "lesson", "links", "upload", "lesson",
            "language", "links"]
    extra = plan[:max(1, n // 3)]
    return extra + ["sliders"] * (n - len(extra))


async def nice_browsers(stop: asyncio.Event) -> None:
    """Keep every Chromium process of this script at the lowest CPU priority.

    In a class each student's browser runs on the student's own machine; here thirty of them share
    the server's two cores, and at normal priority they take over 90% of them (measured). Niced, they
    still use what the server leaves, and the server's cores go to the server first.
    """
    import psutil

    seen: set[int] = set()
    while not stop.is_set():
        for proc in psutil.Process().children(recursive=True):
            try:
                if proc.pid not in seen and "chrom" in proc.name().lower():
                    proc.nice(19)
                    seen.add(proc.pid)
            except psutil.Error:
                pass
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


async def run(url: str, sessions: int, seconds: float, idle_seconds: float, server: Server,
              niced: bool = True, floor_only: bool = False) -> dict:
    stop = asyncio.Event()
    nicer = asyncio.create_task(nice_browsers(stop)) if niced else None
    try:
        return await _run(url, sessions, seconds, idle_seconds, server, floor_only)
    finally:
        stop.set()
        if nicer:
            await nicer


async def _run(url: str, sessions: int, seconds: float, idle_seconds: float, server: Server,
               floor_only: bool) -> dict:
    from playwright.async_api import async_playwright

    errors: list[str] = []
    out: dict = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        slider_page = await open_ready(browser, url, errors, "slider session")
        idle: list[float] = []
        out["marks"] = {"idle": time.time()}
        await slider_session(slider_page, idle_seconds, 0, idle, errors)
        out["marks"]["idle_end"] = time.time()
        out["idle"] = idle
        # The same opening of eight pages, their numbers all stored: what the browsers alone cost.
        out["stored"] = await floor_phase(browser, url, [f"/?batch={i + 1}" for i in range(8)], slider_page, 0,
                                          errors, stored=True)
        # Eight sessions: four new links, each opened by two sessions at once (one job each).
        for name, links in (("four", UNSTORED[:4]), ("eight", UNSTORED[4:] * 2)):
            out[name] = await floor_phase(browser, url, ["/" + link for link in links], slider_page, 60, errors)
        await slider_page.close()
        if floor_only:
            await browser.close()
            out["errors"] = errors
            return out

        # The first minute of a class: every session opens the page at once, in a browser of its own.
        cpu_before, start = server.cpu_seconds(), time.perf_counter()
        plan = roles(sessions)
        pages = await asyncio.gather(*(open_ready(browser, url, errors, f"session {i}")
                                       for i, role in enumerate(plan) if role != "train"))
        out["first_minute"] = {"pages": len(pages), "wall_s": round(time.perf_counter() - start, 1),
                               "server_cpu_per_page_s": round((server.cpu_seconds() - cpu_before) / len(pages), 3)}

        with tempfile.TemporaryDirectory() as tmp:
            digits = digit_files(Path(tmp))
            until = time.perf_counter() + seconds
            cpu_before, browsers_before = server.cpu_seconds(), browser_cpu_seconds()
            out["marks"]["mixed"] = time.time()
            sliders: list[float] = []
            answers: list[dict] = []
            clicks: list[float] = []
            switches: list[float] = []
            uploads: list[float] = []
            trained: dict = {}
            tasks = []
            pages_iter = iter(pages)
            for i, role in enumerate(plan):
                if role == "train":
                    tasks.append(role_train(browser, url, until, trained, errors))
                    continue
                page = next(pages_iter)
                if role == "sliders":
                    tasks.append(slider_session(page, seconds, i, sliders, errors))
                elif role == "links":
                    tasks.append(role_links(page, url + "/", until, i, answers, errors))
                elif role == "lesson":
                    tasks.append(role_lesson(page, until, i, clicks, errors))
                elif role == "language":
                    tasks.append(role_language(page, until, i, switches, errors))
                else:
                    tasks.append(role_upload(page, until, i, digits, uploads, errors))
            await asyncio.gather(*tasks)
            out["marks"]["mixed_end"] = time.time()
            for page in pages:
                if await page.locator("[data-testid='stException']").count():
                    errors.append("an exception is shown on a page at the end")
            out["mixed"] = {"sliders": sliders, "answers": answers, "lesson_clicks": clicks,
                            "language_switches": switches, "uploads": uploads, "trained": trained,
                            "server_cpu_s": round(server.cpu_seconds() - cpu_before, 1), "roles": Counter(plan),
                            "browser_cpu_s": round(browser_cpu_seconds() - browsers_before, 1)}
        await browser.close()
    out["errors"] = errors
    return out


def p95(values: list[float]) -> float | None:
    return round(percentile(values, 0.95), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--idle-seconds", type=float, default=45)
    parser.add_argument("--floor-only", action="store_true", help="only the idle and unstored-link phases")
    parser.add_argument("--browsers-at-normal-priority", action="store_true",
                        help="leave the Chromium processes at normal priority (by default they run at nice 19)")
    args = parser.parse_args()
    sessions = max(4, min(args.sessions, MAX_SESSIONS))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        # A fresh cache: nothing measured before this run but what ships with the pretrained models.
        server = Server({"ADVDEMO_HOSTED": "1", "ADVDEMO_CACHE_DIR": str(Path(tmp) / "cache"),
                         "ADVDEMO_LOG_LEVEL": "debug"}, log=log)
        try:
            server.wait_healthy()
            cpu_before, start = server.cpu_seconds(), time.perf_counter()
            result = asyncio.run(run(server.url, sessions, args.seconds, args.idle_seconds, server,
                                     niced=not args.browsers_at_normal_priority, floor_only=args.floor_only))
            wall, server_cpu = time.perf_counter() - start, server.cpu_seconds() - cpu_before
        finally:
            server.stop()
        OUT.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, OUT / f"classroom_{sessions}_server.log")
        lines = log.read_text(errors="replace").splitlines()
        jobs = [JOB_LINE.search(line) for line in lines]
        marks = result["marks"]
        server_idle = server_runs(lines, marks["idle"], marks["idle_end"])
        server_mixed = server_runs(lines, marks["mixed"], marks["mixed_end"]) if "mixed" in marks else []
        computed = Counter(m.group(1) for m in jobs if m)
        kinds = Counter(m.group(2) for m in jobs if m)
        job_seconds = [float(m.group(3)) for m in jobs if m]
    idle = p95(result["idle"])

    def ratio(times: list[float]) -> float | None:
        return round(p95(times) / idle, 2) if times and idle else None

    summary = {
        "machine": machine(), "sessions": sessions, "mixed_seconds": args.seconds,
        "browsers_niced": not args.browsers_at_normal_priority,
        "errors": len(result["errors"]), "error_samples": result["errors"][:8],
        "idle_slider_p50_s": round(median(result["idle"]), 3) if result["idle"] else None, "idle_slider_p95_s": idle,
        "stored_pages_opening_slider_p95_s": p95(result["stored"]["opening"]),
        "stored_pages_opening_slider_p95_ratio": ratio(result["stored"]["opening"]),
        "stored_pages_shown_s": [a["shown_s"] for a in result["stored"]["answers"]],
        **{f"{name}_links_{part}_slider_p95_s": p95(result[name][part])
           for name in ("four", "eight") for part in ("opening", "jobs")},
        **{f"{name}_links_{part}_slider_p95_ratio": ratio(result[name][part])
           for name in ("four", "eight") for part in ("opening", "jobs")},
        **{f"{name}_links_answers": result[name]["answers"] for name in ("four", "eight")},
    }
    mixed = result.get("mixed")
    if mixed:
        summary.update({
            "first_minute": result["first_minute"],
            "mixed_slider_moves": len(mixed["sliders"]), "mixed_slider_p50_s": round(median(mixed["sliders"]), 3)
            if mixed["sliders"] else None, "mixed_slider_p95_s": p95(mixed["sliders"]),
            "mixed_slider_p95_ratio": ratio(mixed["sliders"]),
            # The same reruns on the server's side (the results fragment's run, without the browser's drawing).
            "server_results_run_p95_s_idle": p95(server_idle), "server_results_run_p95_s_mixed": p95(server_mixed),
            "server_results_run_p95_ratio": round(p95(server_mixed) / p95(server_idle), 2)
            if server_idle and server_mixed else None,
            "server_results_runs_idle_mixed": [len(server_idle), len(server_mixed)],
            "mixed_link_answers_p50_s": round(median([a["numbers_s"] for a in mixed["answers"]]), 1)
            if mixed["answers"] else None,
            "mixed_link_answers_max_s": max((a["numbers_s"] for a in mixed["answers"]), default=None),
            "mixed_link_visits": len(mixed["answers"]),
            "mixed_lesson_clicks": len(mixed["lesson_clicks"]), "mixed_lesson_click_p95_s": p95(mixed["lesson_clicks"]),
            "mixed_language_switches": len(mixed["language_switches"]),
            "mixed_language_switch_p95_s": p95(mixed["language_switches"]),
            "mixed_uploads": len(mixed["uploads"]), "mixed_upload_p95_s": p95(mixed["uploads"]),
            "mixed_training": mixed["trained"], "mixed_roles": dict(mixed["roles"]),
            "mixed_server_cpu_s": mixed["server_cpu_s"], "mixed_browser_cpu_s": mixed["browser_cpu_s"],
        })
    report(f"classroom_{sessions}" + ("_floor" if args.floor_only else ""), {**summary,
        "measurements_computed": sum(computed.values()), "distinct_measurements": len(computed),
        "most_times_one_was_computed": max(computed.values(), default=0), "jobs_by_kind": dict(kinds),
        "job_seconds_total": round(sum(job_seconds), 1),
        "peak_rss_mb_with_job_process": round(server.peak_rss_mb, 1),
        "peak_rss_mb_server_process": round(server.peak_main_rss_mb, 1),
        "wall_s": round(wall, 1), "server_cpu_s": round(server_cpu, 1),
    })


if __name__ == "__main__":
    main()
