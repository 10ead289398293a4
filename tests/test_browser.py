"""End to end in a real browser: `streamlit run app.py` on loopback, driven by
Playwright in Debian's Chromium (Playwright's own browser download does not work here)."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from browser_support import SETTLED, streamlit_server

pytestmark = pytest.mark.browser

@pytest.fixture
def server(app_env):
    # The real job engine: measurements in a low-priority child process, as on a server.
    env = {k: v for k, v in os.environ.items() if k != "ADVDEMO_JOB_ENGINE"}
    with streamlit_server(env, timeout_s=60) as (url, _):
        yield url


def _view(page) -> dict:
    counts = page.locator(".advdemo-grid").evaluate_all(
        "els => els.map(e => e.dataset.correct + '/' + e.dataset.total)")
    pixels = page.locator(".advdemo-grid img").evaluate_all("els => els.map(e => e.src.length + e.src.slice(-40))")
    metrics = page.locator("[data-testid='stMetric']").all_inner_texts()
    return {"counts": counts, "pixels": pixels, "metrics": metrics, "url": page.url}


def _settle(page, timeout=90_000) -> None:
    page.wait_for_selector(SETTLED, timeout=timeout)
    page.wait_for_selector(".advdemo-grid", timeout=timeout)


def _measured(page, metrics: int = 8, text: str = "", timeout=180_000) -> None:
    """Wait until the page shows ``metrics`` figures, the second holding ``text``: the background jobs
    have ended and the page has filled their numbers in by itself."""
    page.wait_for_function(
        """([n, text]) => {
             const m = document.querySelectorAll("[data-testid='stMetric']");
             return m.length === n && m[1].innerText.includes(text);
           }""", arg=[metrics, text], timeout=timeout)
    _settle(page)


def test_shared_link_then_slider_move_updates_grids_and_metrics(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{server}/?eps=0.1&batch=2")
    _settle(page)
    _measured(page, text="0.1")  # these test models store no curves: measured in the background, then shown
    before = _view(page)
    assert len(before["counts"]) == 2 and all(c.endswith("/32") for c in before["counts"])
    assert len(before["metrics"]) == 8  # the tutorial's four figures, then the worst case and PGD of both
    assert "eps=0.1" in before["url"] and "batch=2" in before["url"]
    assert page.locator("[data-testid='stSlider']").filter(has_text="Attack strength").count() == 1

    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Attack strength").get_by_role("slider")
    thumb.focus()
    for _ in range(5):
        thumb.press("ArrowRight")  # 0.1 -> 0.35 through the standard strengths
    page.wait_for_url(re.compile(r"eps=0\.35"), timeout=30_000)
    _measured(page, text="0.35")
    after = _view(page)
    assert "0.35" in after["metrics"][1] and after["metrics"][1] != before["metrics"][1]
    assert after["metrics"][0] == before["metrics"][0]  # clean accuracy does not depend on the attack
    assert after["pixels"] != before["pixels"]  # the grids show the new perturbation
    assert len(after["pixels"]) == 64
    shot = tmp_path / "app.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("ADVDEMO_SCREENSHOT"):
        shutil.copy(shot, os.environ["ADVDEMO_SCREENSHOT"])


def test_a_page_shows_what_is_stored_at_once_and_fills_in_the_rest_by_itself(server, browser):
    """Nothing measures in a page's run: the grids and a placeholder with the job's place come within
    seconds, the numbers when the job ends, and another page's slider never waits for it."""
    import time

    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    other = browser.new_page(viewport={"width": 1400, "height": 1600})
    other.goto(f"{server}/?attack=pgd&iters=2")
    _settle(other)
    start = time.monotonic()
    page.goto(f"{server}/?eps=0.25&anorm=l2&mode=white-box")  # nothing stored for these models
    page.wait_for_selector(".advdemo-grid", timeout=30_000)
    page.get_by_text("measured on the server", exact=False).first.wait_for(timeout=30_000)
    shown_after = time.monotonic() - start
    # The other page's digit slider answers while the jobs run.
    moved = time.monotonic()
    thumb = other.locator("[data-testid='stSlider']").filter(has_text="Digit").get_by_role("slider")
    thumb.focus()
    thumb.press("ArrowRight")
    other.wait_for_url(re.compile(r"pick=1"), timeout=30_000)
    slider_seconds = time.monotonic() - moved
    _measured(page, text="0.25")
    assert page.get_by_text("measured on the server", exact=False).count() == 0
    assert shown_after < 30 and slider_seconds < 15, (shown_after, slider_seconds)


def test_a_crafted_link_cannot_put_a_link_in_the_pages_own_warning(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{server}/?mode=%5Bclick%20here%5D(https://evil.example/)&**bold**%20www.evil.example=x")
    _settle(page)
    alerts = page.locator("[data-testid='stAlert']")
    texts = alerts.all_inner_texts()
    assert any("[click here](https://evil.example/)" in t for t in texts), texts
    assert any("**bold** www.evil.example" in t for t in texts), texts
    assert alerts.locator("a").count() == 0 and alerts.locator("strong").count() == 0
    assert alerts.locator("code").count() == 2  # each value shown as it is
