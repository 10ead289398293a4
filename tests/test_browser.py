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
    with streamlit_server(dict(os.environ), timeout_s=60) as (url, _):
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


def test_shared_link_then_slider_move_updates_grids_and_metrics(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{server}/?eps=0.1&batch=2")
    _settle(page)
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
    page.wait_for_function(
        "before => document.querySelectorAll(\"[data-testid='stMetric']\")[1]?.innerText !== before",
        arg=before["metrics"][1], timeout=60_000)
    _settle(page)
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
