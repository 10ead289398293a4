"""A class explores while the server stays quick: real server (hosted mode), real Chromium sessions.

Who the students are (``--students``): by default the slider session the floor times, the uploads,
the training and, once the slider's windows are over, one page per batch of links are Chromium
pages; every other session speaks Streamlit's own protocol without a browser
(``bench/protocol_client.py``), downloading the front end first as a new browser does. In a class
each browser runs on its student's own machine; here thirty Chromium tabs would take most of the
server's two cores (measured: 86% even at nice 19), and the benchmark would time the browsers. The
server does the same work for a protocol session as for a page. ``--students chromium`` runs every
session in Chromium on this machine, as the first measurements did. The browsers and this script run
at nice 19, below the server, except the timed student's browser, which stands for that student's
own machine: it runs at normal priority (``--timed-browser-niced`` puts it at nice 19 with the rest).

Phases, all on one server in one run, so every ratio compares like with like:

1. **idle**: one session moves sliders alone (the reference p95);
2. **4 links, then 8 links**: the slider session goes on while 4 (then 8 more) sessions open links
   whose numbers nobody has stored. For each: seconds until its grids and a placeholder show, and
   until its numbers fill in by themselves; the slider's p95 against idle;
3. **the first minute**: ``--sessions`` fresh sessions open the page at once (server CPU per page);
4. **mixed**: those sessions explore for ``--seconds``: most move sliders, some open links (shared
   and new), click through the lesson, switch the language or upload digits, and one trains.

Reports errors (an exception on a page, a control or number that never comes), slider p95 per phase
against idle (in the page; the server's answer to a browserless session's moves; the slider
fragment's own runs, from the server's log), the time each heavy request took to answer, how many
times each distinct measurement was computed (from the server's log), the server's peak memory and
CPU. Loopback only, bounded in sessions and time.

    python bench/classroom.py [--sessions 30] [--seconds 180] [--students protocol|chromium] [--proxy]
                              [--floor-only] [--timed-browser-niced]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from common import CHROMIUM, CHROMIUM_ARGS, OUT, SETTLED, Server, cpu_seconds, machine, median, percentile, report
from load_test import SESSION_JS, SLIDERS, SLIDERS_SHOWN, browser_cpu_seconds
from page_load_cpu import nginx
from protocol_client import ProtocolSession, record_front_end

MAX_SESSIONS = 40
STUDENTS = ("protocol", "chromium")
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
#: The words every number still being measured shows (its placeholder, or its place in the queue).
WAITING = "measured on the server"
PENDING_JS = """() => {
  const text = document.body.innerText;
  return !text.includes("%s") && !text.includes("Being measured")
         && document.querySelectorAll("[data-testid='stMetric']").length >= 4;
}""" % WAITING
PLACEHOLDER_JS = """() => document.body.innerText.includes("%s")
                        || document.querySelectorAll("[data-testid='stMetric']").length >= 4""" % WAITING
LESSON_TITLES = ["1 · The tutorial's result", "2 · Its own gradient", "3 · Under PGD", "4 · The masking sign",
                 "5 · The fix: PGD training"]
LANGUAGES, PAGE_TITLES = ["简体中文", "English"], ["对抗正则化", "Adversarial regularization"]
JOB_LINE = re.compile(r"job (\S+) \((\w+)\) took ([\d.]+) s")
#: A rerun of the results fragment on its own (a slider move); inside a whole page run the line goes on.
RUN_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) DEBUG advdemo: run results took ([\d.]+) s$")


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
        answers.append({"link": url.split("/", 3)[-1].lstrip("/"), "client": "chromium", "shown_s": round(shown, 2),
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
                      students: str, front_end: Sequence[str], stored: bool = False,
                      probe: ProtocolSession | None = None) -> dict:
    """The slider session moves while ``links`` open at once, then while their jobs run.

    With ``students="chromium"`` every link opens in a Chromium page of its own, and the browsers
    share this machine's two cores with the server: while the new pages load, every slider move
    competes with Chromium itself. So the moves are timed apart: during the pages' opening
    (``opening``; the ``stored`` reference phase opens pages whose numbers are all stored, the same
    load without a job) and after every page shows its grids and placeholders (``jobs``), while only
    the server's jobs remain. With ``students="protocol"`` the links open without a browser, as if
    on the students' own machines, each downloading the front end first (``front_end``) as a new
    browser does; once the slider's windows are over, a Chromium page opens the first link too, for a
    real page's time to draw its grids and placeholders on this machine.

    ``probe``: a session without a browser that moves its own sliders during the opening too: the
    server's answer to each move (:func:`protocol_sliders`), without any browser's drawing.
    """
    opening: list[float] = []
    answers_opening: list[float] = []
    jobs: list[float] = []
    answers: list[dict] = []
    await slider_session(slider_page, 0, 0, [], errors, fresh_from=url)
    shown = [asyncio.Event() for _ in links]

    def open_link(i: int, link: str, event: asyncio.Event):
        if students == "chromium":
            return open_unstored(browser, url + link, answers, errors, f"link {i}", 900, event)
        return protocol_unstored(url + link, answers, errors, f"link {i}", 900, event, front_end)

    pages = [asyncio.create_task(open_link(i, link, event)) for i, (link, event) in enumerate(zip(links, shown))]
    await asyncio.gather(slider_session(slider_page, OPENING_SECONDS, 0, opening, errors),
                         *([protocol_sliders(probe, OPENING_SECONDS, 1, answers_opening, errors, close=False)]
                           if probe else []))
    if not stored:
        for event in shown:  # every page has drawn its grids and placeholders: only the jobs remain
            await event.wait()
        await slider_session(slider_page, seconds, 0, jobs, errors, fresh_from=url)
        if students == "protocol":
            pages.append(asyncio.create_task(open_unstored(browser, url + links[0], answers, errors, "link page", 900)))
    await asyncio.gather(*pages)
    return {"opening": opening, "jobs": jobs, "answers": answers, "server_answers_opening": answers_opening}


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
    async def click(i: int) -> None:
        await page.get_by_role("button", name=LESSON_TITLES[(seed + i) % len(LESSON_TITLES)]).click()
        await page.wait_for_function(PENDING_JS, timeout=120_000)
        await settled(page)

    await repeat(f"lesson {seed}", until, errors, clicks, page.get_by_text("A five-step lesson").first.click,
                 click, 3 + seed % 4)


async def role_language(page, until: float, seed: int, switches: list[float], errors: list[str]) -> None:
    async def switch(i: int) -> None:
        await page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
        await page.get_by_role("option", name=LANGUAGES[i % 2]).click()
        await page.wait_for_function("t => document.documentElement.innerText.includes(t)", arg=PAGE_TITLES[i % 2],
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
        # A training may outlast the phase: that is no error. One that never started is (the server
        # needs the training set: run with ADVDEMO_MNIST_DIR set).
        if "Timeout" not in type(exc).__name__ or not outcome.get("started"):
            errors.append(f"train: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        await page.close()


# -- the same students, speaking Streamlit's protocol without a browser (``--students protocol``) --

def shown(session: ProtocolSession) -> bool:
    """The page's last whole run drew its grids and, for every number, the number or its placeholder."""
    run = session.last_full
    return run is not None and "advdemo-grid" in run.text and (WAITING in run.text or run.count("metric") >= 4)


def measured(session: ProtocolSession) -> bool:
    """The page's last whole run drew every number: none is still being measured."""
    run = session.last_full
    return run is not None and WAITING not in run.text and run.count("metric") >= 4


def failed(who: str, exc: Exception) -> str:
    return f"{who}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"


async def protocol_unstored(url: str, answers: list[dict], errors: list[str], who: str, timeout_s: float,
                            shown_event: asyncio.Event | None = None, front_end: Sequence[str] = ()) -> None:
    """:func:`open_unstored` without a browser: the seconds until the server has sent the front end,
    the grids and placeholders, and until it has sent the numbers."""
    start = time.perf_counter()
    session = ProtocolSession(url, front_end)
    try:
        await session.open()
        await session.wait_for(shown, 120)
        shown_s = time.perf_counter() - start
        if shown_event is not None:
            shown_event.set()
        await session.wait_for(measured, timeout_s)
        answers.append({"link": url.split("/", 3)[-1].lstrip("/"), "client": "protocol",
                        "shown_s": round(shown_s, 2), "numbers_s": round(time.perf_counter() - start, 1)})
    except Exception as exc:
        errors.append(failed(who, exc))
    finally:
        errors.extend(f"{who}: {e}" for e in session.errors)
        if shown_event is not None:
            shown_event.set()
        await session.close()


async def open_protocol(url: str, errors: list[str], who: str, front_end: Sequence[str] = ()) -> ProtocolSession:
    """A new session without a browser (a new browser's downloads first: ``front_end``), once the
    server has sent its grids and placeholders."""
    session = ProtocolSession(url, front_end)
    try:
        await session.open()
        await session.wait_for(shown, 300)
    except Exception as exc:
        errors.append(failed(who, exc))
    return session


async def protocol_sliders(session: ProtocolSession, seconds: float, seed: int, times: list[float],
                           errors: list[str], close: bool = True) -> None:
    """:func:`slider_session` without a browser, on an open session: each move timed from sending it to
    the server's last message of its rerun (the student's wait less the browser's drawing)."""
    rng = random.Random(seed)
    position = {label: start for label, start, _ in SLIDERS}
    try:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            label, _, last = rng.choice(SLIDERS)
            at = position[label]
            at += 1 if at <= 0 else -1 if at >= last else rng.choice((-1, 1))
            position[label] = at
            widget = session.widget(label)
            runs = len(session.runs)
            start = time.perf_counter()
            await session.set_widget(label, widget.options[at] if widget.options else at)
            await session.wait_idle(runs)
            times.append(time.perf_counter() - start)
            await asyncio.sleep(0.5 + rng.random() * 1.5)
    except Exception as exc:
        errors.append(failed(f"protocol sliders {seed}", exc))
    finally:
        errors.extend(f"protocol sliders {seed}: {e}" for e in session.errors)
        if close:
            await session.close()


async def protocol_links(first: ProtocolSession, url: str, until: float, seed: int, answers: list[dict],
                         errors: list[str]) -> None:
    """:func:`role_links` without a browser: each link a new session, as a browser's new page load is
    (``first``: the session this student opened the page with, closed at once)."""
    await first.close()
    i = seed
    while time.perf_counter() < until:
        link = EXPLORED[i % len(EXPLORED)]
        i += 1
        start = time.perf_counter()
        session = ProtocolSession(url + link)
        try:
            await session.open()
            await session.wait_for(measured, max(1.0, until - time.perf_counter() + 60))
            answers.append({"link": link, "client": "protocol", "numbers_s": round(time.perf_counter() - start, 1)})
        except Exception as exc:
            if time.perf_counter() < until:
                errors.append(failed(f"protocol links {seed}", exc))
        finally:
            errors.extend(f"protocol links {seed}: {e}" for e in session.errors)
            await session.close()
        await asyncio.sleep(2 + seed % 3)


async def protocol_repeat(who: str, session: ProtocolSession, until: float, errors: list[str], times: list[float],
                          action, pause: float) -> None:
    """:func:`repeat` without a browser, on an open session: ``action(session, i)`` (timed) every ``pause`` s."""
    try:
        i = 0
        while time.perf_counter() < until:
            start = time.perf_counter()
            await action(session, i)
            times.append(time.perf_counter() - start)
            i += 1
            await asyncio.sleep(pause)
    except Exception as exc:
        if time.perf_counter() < until:
            errors.append(failed(who, exc))
    finally:
        errors.extend(f"{who}: {e}" for e in session.errors)
        await session.close()


async def protocol_lesson(session: ProtocolSession, until: float, seed: int, clicks: list[float],
                          errors: list[str]) -> None:
    async def click(session: ProtocolSession, i: int) -> None:
        runs = len(session.runs)
        await session.click(LESSON_TITLES[(seed + i) % len(LESSON_TITLES)])
        await session.wait_idle(runs)
        await session.wait_for(measured, 120)

    await protocol_repeat(f"protocol lesson {seed}", session, until, errors, clicks, click, 3 + seed % 4)


async def protocol_language(session: ProtocolSession, until: float, seed: int, switches: list[float],
                            errors: list[str]) -> None:
    async def switch(session: ProtocolSession, i: int) -> None:
        # Found by the option it offers: its own label changes language with the page.
        runs = len(session.runs)
        await session.set_widget(LANGUAGES[i % 2], LANGUAGES[i % 2])
        await session.wait_idle(runs)
        await session.wait_for(lambda s: s.last_full is not None and PAGE_TITLES[i % 2] in s.last_full.text, 120)

    await protocol_repeat(f"protocol language {seed}", session, until, errors, switches, switch, 4 + seed % 3)


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


#: A switch Chromium ignores, on the command line of the timed student's browser: it tells its processes apart.
TIMED_BROWSER = "--advdemo-timed-student"


def _timed(proc) -> bool:
    """Whether ``proc`` belongs to the timed student's browser (its renderers descend from the browser process)."""
    import psutil

    try:
        return any(TIMED_BROWSER in p.cmdline() for p in (proc, *proc.parents()))
    except psutil.Error:
        return False


async def nice_browsers(stop: asyncio.Event, timed_niced: bool) -> None:
    """Keep every Chromium process of this script at the lowest CPU priority, except, unless
    ``timed_niced``, the timed student's own browser, which runs at normal priority.

    In a class each student's browser runs on the student's own machine; here thirty of them share
    the server's two cores, and at normal priority they take over 90% of them (measured). Niced, they
    still use what the server leaves, and the server's cores go to the server first. The timed
    student's page is the one whose drawing the floor times: niced too, it waits for a core behind
    the server and shares what is left with every other student this script stands in for (their
    sessions, downloads and pages), none of which a real student's machine runs.
    """
    import psutil

    seen: set[int] = set()
    while not stop.is_set():
        for proc in psutil.Process().children(recursive=True):
            try:
                if proc.pid not in seen and "chrom" in proc.name().lower():
                    proc.nice(0 if not timed_niced and _timed(proc) else 19)
                    seen.add(proc.pid)
            except psutil.Error:
                pass
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


async def run(url: str, sessions: int, seconds: float, idle_seconds: float, server: Server,
              niced: bool = True, floor_only: bool = False, students: str = "protocol",
              timed_niced: bool = False) -> dict:
    stop = asyncio.Event()
    nicer = asyncio.create_task(nice_browsers(stop, timed_niced)) if niced else None
    try:
        return await _run(url, sessions, seconds, idle_seconds, server, floor_only, students)
    finally:
        stop.set()
        if nicer:
            await nicer


def in_chromium(plan: list[str], i: int, students: str) -> bool:
    """Whether session ``i`` of ``plan`` runs in Chromium: all of them with ``students="chromium"``;
    otherwise the first slider session (the one timed in the page, as the floor asks), the uploads
    (a file goes up by an HTTP request of the page's own) and the training."""
    role = plan[i]
    return students == "chromium" or role in ("upload", "train") or (role == "sliders" and plan.index("sliders") == i)


async def _run(url: str, sessions: int, seconds: float, idle_seconds: float, server: Server,
               floor_only: bool, students: str) -> dict:
    from playwright.async_api import async_playwright

    errors: list[str] = []
    out: dict = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # The timed student (the slider session the floor times, idle and in the mixed class) in a browser of its own.
        timed = await p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, TIMED_BROWSER])
        front_end = await record_front_end(browser, url) if students == "protocol" else []
        out["front_end_files"] = len(front_end)
        slider_page = await open_ready(timed, url, errors, "slider session")
        idle: list[float] = []
        out["marks"] = {"idle": time.time()}
        await slider_session(slider_page, idle_seconds, 0, idle, errors)
        out["marks"]["idle_end"] = time.time()
        out["idle"] = idle
        # The same moves without a browser: the server's answer alone (kept for the floor's windows).
        probe = await open_protocol(url, errors, "protocol sliders") if students == "protocol" else None
        if probe:
            out["idle_protocol"] = []
            await protocol_sliders(probe, idle_seconds, 0, out["idle_protocol"], errors, close=False)
        # The same opening of eight pages, their numbers all stored: what the browsers alone cost.
        out["stored"] = await floor_phase(browser, url, [f"/?batch={i + 1}" for i in range(8)], slider_page, 0,
                                          errors, students, front_end, stored=True, probe=probe)
        # Eight sessions: four new links, each opened by two sessions at once (one job each).
        for name, links in (("four", UNSTORED[:4]), ("eight", UNSTORED[4:] * 2)):
            out[name] = await floor_phase(browser, url, ["/" + link for link in links], slider_page, 60, errors,
                                          students, front_end, probe=probe)
        await slider_page.close()
        if probe:
            await probe.close()
        if floor_only:
            await browser.close()
            await timed.close()
            out["errors"] = errors
            return out

        # The first minute of a class: every session opens the page at once.
        cpu_before, start = server.cpu_seconds(), time.perf_counter()
        plan = roles(sessions)
        opened = await asyncio.gather(*(
            open_ready(timed if i == plan.index("sliders") else browser, url, errors, f"session {i}")
            if in_chromium(plan, i, students)
            else open_protocol(url, errors, f"session {i}", front_end)
            for i, role in enumerate(plan) if role != "train"))
        out["first_minute"] = {"pages": len(opened), "wall_s": round(time.perf_counter() - start, 1),
                               "server_cpu_per_page_s": round((server.cpu_seconds() - cpu_before) / len(opened), 3)}

        with tempfile.TemporaryDirectory() as tmp:
            digits = digit_files(Path(tmp))
            until = time.perf_counter() + seconds
            cpu_before, browsers_before = server.cpu_seconds(), browser_cpu_seconds()
            out["marks"]["mixed"] = time.time()
            sliders: list[float] = []
            protocol_slider_times: list[float] = []
            answers: list[dict] = []
            clicks: list[float] = []
            switches: list[float] = []
            uploads: list[float] = []
            trained: dict = {}
            tasks = []
            opened_iter = iter(opened)
            for i, role in enumerate(plan):
                if role == "train":
                    tasks.append(role_train(browser, url, until, trained, errors))
                    continue
                page = next(opened_iter)
                if isinstance(page, ProtocolSession):
                    tasks.append(
                        protocol_sliders(page, seconds, i, protocol_slider_times, errors) if role == "sliders" else
                        protocol_links(page, url + "/", until, i, answers, errors) if role == "links" else
                        protocol_lesson(page, until, i, clicks, errors) if role == "lesson" else
                        protocol_language(page, until, i, switches, errors))
                elif role == "sliders":
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
            for page in opened:
                if not isinstance(page, ProtocolSession) and await page.locator("[data-testid='stException']").count():
                    errors.append("an exception is shown on a page at the end")
            out["mixed"] = {"sliders": sliders, "protocol_sliders": protocol_slider_times, "answers": answers,
                            "lesson_clicks": clicks, "language_switches": switches, "uploads": uploads,
                            "trained": trained, "server_cpu_s": round(server.cpu_seconds() - cpu_before, 1),
                            "roles": Counter(plan), "browsers": sum(in_chromium(plan, i, students)
                                                                    for i in range(len(plan))),
                            "browser_cpu_s": round(browser_cpu_seconds() - browsers_before, 1)}
        await browser.close()
        await timed.close()
    out["errors"] = errors
    return out


def proxy_cpu_seconds(proc) -> float:
    """CPU time nginx (its master and workers) has used so far."""
    import psutil

    root = psutil.Process(proc.pid)
    return round(cpu_seconds([root, *root.children(recursive=True)]), 1)


def p95(values: list[float]) -> float | None:
    return round(percentile(values, 0.95), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--idle-seconds", type=float, default=45)
    parser.add_argument("--floor-only", action="store_true", help="only the idle and unstored-link phases")
    parser.add_argument("--browsers-at-normal-priority", action="store_true",
                        help="leave the Chromium processes and this script at normal priority "
                             "(by default they run at nice 19)")
    parser.add_argument("--timed-browser-niced", action="store_true",
                        help="run the timed student's browser at nice 19 too (by default it runs at normal priority, "
                             "as on the student's own machine)")
    parser.add_argument("--proxy", action="store_true",
                        help="every session through nginx with docs/deploy-nginx.conf (it serves the front end "
                             "from its cache), as a deployment would")
    parser.add_argument("--students", choices=STUDENTS, default="protocol",
                        help="protocol (default): the timed slider session, one page per batch of links, the uploads "
                             "and the training in Chromium, every other session in Streamlit's own protocol without "
                             "a browser (bench/protocol_client.py), as if each ran on a student's own machine; "
                             "chromium: every session in a Chromium page on this machine")
    args = parser.parse_args()
    sessions = max(4, min(args.sessions, MAX_SESSIONS))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        # A fresh cache: nothing measured before this run but what ships with the pretrained models.
        server = Server({"ADVDEMO_HOSTED": "1", "ADVDEMO_CACHE_DIR": str(Path(tmp) / "cache"),
                         "ADVDEMO_LOG_LEVEL": "debug"}, log=log)
        proxy = None
        try:
            server.wait_healthy()
            url = server.url
            if args.proxy:
                (Path(tmp) / "nginx").mkdir()
                proxy, port = nginx(server.port, Path(tmp) / "nginx")
                url = f"http://127.0.0.1:{port}"
            if not args.browsers_at_normal_priority:
                # This script stands in for the students' machines too (its protocol sessions, their
                # downloads, Playwright): below the server, like the browsers. Started before it, the server is not.
                os.nice(19)
            cpu_before, start = server.cpu_seconds(), time.perf_counter()
            result = asyncio.run(run(url, sessions, args.seconds, args.idle_seconds, server,
                                     niced=not args.browsers_at_normal_priority, floor_only=args.floor_only,
                                     students=args.students, timed_niced=args.timed_browser_niced))
            wall, server_cpu = time.perf_counter() - start, server.cpu_seconds() - cpu_before
            proxy_cpu = proxy_cpu_seconds(proxy) if proxy else None
        finally:
            if proxy:
                proxy.terminate()
                proxy.wait()
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
        "browsers_niced": not args.browsers_at_normal_priority, "students": args.students,
        "timed_browser_niced": args.timed_browser_niced and not args.browsers_at_normal_priority,
        "front_end_files_per_new_session": result.get("front_end_files"),
        "errors": len(result["errors"]), "error_samples": result["errors"][:8],
        "idle_slider_p50_s": round(median(result["idle"]), 3) if result["idle"] else None, "idle_slider_p95_s": idle,
        "idle_protocol_slider_p95_s": p95(result.get("idle_protocol", [])),
        "stored_pages_opening_slider_p95_s": p95(result["stored"]["opening"]),
        "stored_pages_opening_slider_p95_ratio": ratio(result["stored"]["opening"]),
        "stored_pages_shown_s": [a["shown_s"] for a in result["stored"]["answers"]],
        **{f"{name}_links_{part}_slider_p95_s": p95(result[name][part])
           for name in ("four", "eight") for part in ("opening", "jobs")},
        **{f"{name}_links_{part}_slider_p95_ratio": ratio(result[name][part])
           for name in ("four", "eight") for part in ("opening", "jobs")},
        **{f"{name}_links_answers": result[name]["answers"] for name in ("four", "eight")},
        "server_results_run_p95_s_idle": p95(server_idle),
        # The server's answer to a move (no browser) while the pages open, against its idle p95.
        **{f"{name}_opening_server_answer_p95_s": p95(result[name]["server_answers_opening"])
           for name in ("stored", "four", "eight")},
        **{f"{name}_opening_server_answer_p95_ratio": round(p95(result[name]["server_answers_opening"]) /
                                                           p95(result["idle_protocol"]), 2)
           for name in ("stored", "four", "eight") if result[name]["server_answers_opening"] and
           result.get("idle_protocol")},
        **{f"{name}_opening_server_answer_max_s": max(result[name]["server_answers_opening"], default=None)
           for name in ("stored", "four", "eight")},
    }
    mixed = result.get("mixed")
    if mixed:
        summary.update({
            "first_minute": result["first_minute"],
            "mixed_slider_moves": len(mixed["sliders"]), "mixed_slider_p50_s": round(median(mixed["sliders"]), 3)
            if mixed["sliders"] else None, "mixed_slider_p95_s": p95(mixed["sliders"]),
            "mixed_slider_p95_ratio": ratio(mixed["sliders"]),
            "mixed_browsers": mixed["browsers"],
            "mixed_protocol_slider_moves": len(mixed["protocol_sliders"]),
            "mixed_protocol_slider_p95_s": p95(mixed["protocol_sliders"]),
            "mixed_protocol_slider_p95_ratio": round(p95(mixed["protocol_sliders"]) / p95(result["idle_protocol"]), 2)
            if mixed["protocol_sliders"] and result.get("idle_protocol") else None,
            # The same reruns on the server's side (the results fragment's run, without the browser's drawing).
            "server_results_run_p95_s_mixed": p95(server_mixed),
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
    report(f"classroom_{sessions}_{args.students}" + ("_proxy" if args.proxy else "") +
           ("_floor" if args.floor_only else ""), {**summary, "proxy_cpu_s": proxy_cpu,
        "measurements_computed": sum(computed.values()), "distinct_measurements": len(computed),
        "most_times_one_was_computed": max(computed.values(), default=0), "jobs_by_kind": dict(kinds),
        "job_seconds_total": round(sum(job_seconds), 1),
        "peak_rss_mb_with_job_process": round(server.peak_rss_mb, 1),
        "peak_rss_mb_server_process": round(server.peak_main_rss_mb, 1),
        "wall_s": round(wall, 1), "server_cpu_s": round(server_cpu, 1),
    })


if __name__ == "__main__":
    main()
