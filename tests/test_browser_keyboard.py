"""Every control of the page is reached with Tab and moved with the keyboard, in a real browser.

The drawing canvas takes a mouse or a finger only; its keyboard alternative
is the upload box beside it (a button that opens the file dialog), which the
walk must reach.
"""

from __future__ import annotations

import os
import re

import pytest
from browser_support import SETTLED, streamlit_server

pytestmark = pytest.mark.browser

#: What has the focus: the label of the widget around it (or the button's own text), and its role.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const own = el.innerText || el.getAttribute('aria-label') || '';
  const widget = el.closest("[data-testid='stElementContainer']");
  const label = (el.tagName === 'BUTTON' && own) ? own
              : widget?.querySelector("[data-testid='stWidgetLabel']")?.innerText || own;
  return {label: label.replace(/\\s+/g, ' ').replace(/^[\\p{Extended_Pictographic}\\s]+/u, '').trim(),
          role: el.getAttribute('role') || el.tagName.toLowerCase()};
}"""

#: The controls a student uses, by the start of their label.
CONTROLS = [
    "Language", "Training attack", "Gradient norm", "Custom values", "Adversarial step size",
    "Adversarial loss multiplier", "Attack norm", "Method", "Attack strength", "Mode", "Batch of 32 test digits",
    "Only this true class", "Reset to the tutorial's settings", "Copy link", "Digit", "Grids (PNG)",
    "Numbers (CSV)", "Numbers (JSON)", "Your digit", "ε ball (L∞) of the comparison", "Download as PNG",
    "What am I looking at?", "A six-step lesson",
]


@pytest.fixture(scope="module")
def page(browser):
    with streamlit_server(dict(os.environ)) as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.wait_for_selector(".advdemo-grid", timeout=120_000)
        page.wait_for_selector(SETTLED, timeout=120_000)
        # The download buttons come last and prepare their files on demand; once seen (and enabled) the
        # walk cannot pass them while they are being drawn.
        page.wait_for_selector("[data-testid='stDownloadButton'] button:not([disabled])", timeout=60_000)
        yield page
        page.close()


def _start(page) -> None:
    """Focus nothing, so the next Tab goes to the page's first control."""
    page.evaluate("() => document.activeElement?.blur()")


def _tab_to(page, label: str, limit: int = 200) -> dict:
    """Press Tab until the control labelled ``label`` has the focus; returns what has it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused and focused["label"].startswith(label):
            return focused
    raise AssertionError(f"Tab never reached {label!r}")


def test_tab_reaches_every_control(page):
    _start(page)
    reached: list[str] = []
    for _ in range(400):  # once round the page
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if not focused:
            continue
        if reached and focused["label"] == reached[0]:
            break
        reached.append(focused["label"][:80])
    missing = [c for c in CONTROLS if not any(c in r for r in reached)]
    assert missing == [], " | ".join(reached)


def test_the_attack_strength_moves_with_the_arrow_keys(page):
    _start(page)
    _tab_to(page, "Attack strength")
    before = re.search(r"eps=([0-9.]+)", page.url)
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('eps=')", timeout=30_000)
    page.wait_for_selector(SETTLED, timeout=60_000)
    after = re.search(r"eps=([0-9.]+)", page.url)
    assert after and (before is None or after.group(1) != before.group(1))
    assert float(after.group(1)) > 0.2  # one step up from the tutorial's 0.2


def test_a_selectbox_opens_and_chooses_with_the_keyboard(page):
    _start(page)
    _tab_to(page, "Mode")
    page.keyboard.press("ArrowRight")  # the radio's next option: white-box
    page.wait_for_function("() => location.search.includes('mode=white-box')", timeout=30_000)
    page.wait_for_selector(SETTLED, timeout=60_000)
    _start(page)
    _tab_to(page, "Only this true class")
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.search.includes('digit=0')", timeout=30_000)
