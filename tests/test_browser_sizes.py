"""The page on a projector and a phone, in both languages: nothing clipped sideways, no captions on top of
each other, and on a phone the digits within one swipe."""

from __future__ import annotations

import os

import pytest
from browser_support import SETTLED, streamlit_server

pytestmark = pytest.mark.browser

#: width, height, touch: two projector resolutions teachers use, and a phone.
SIZES = {"projector-1024": (1024, 768, False), "projector-1280": (1280, 720, False), "phone": (390, 844, True)}

#: Element boxes that stick out past the viewport's right edge (a few pixels of rounding are fine), and
#: captions whose boxes overlap another's.
LAYOUT = """() => {
  const width = document.documentElement.clientWidth;
  const sel = "[data-testid='stMetric'], [data-testid='stCaptionContainer'], .advdemo-tile, " +
              "[data-testid='stVegaLiteChart'], [data-testid='stMarkdownContainer'] p, [data-testid='stImage']";
  // Inside a box that scrolls sideways (a wide table), sticking out is scrolling, not clipping.
  const scrolls = e => { for (let a = e.parentElement; a; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX; if (o === "auto" || o === "scroll") return true; } return false; };
  const boxes = [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length && !scrolls(e));
  const wide = boxes.filter(e => e.getBoundingClientRect().right > width + 2).map(e => e.innerText.slice(0, 40));
  const caps = [...document.querySelectorAll("[data-testid='stCaptionContainer']")].map(e => e.getBoundingClientRect())
    .filter(r => r.width && r.height);
  let overlaps = 0;
  for (let i = 0; i < caps.length; i++) for (let j = i + 1; j < caps.length; j++) {
    const a = caps[i], b = caps[j];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlaps++;
  }
  const tile = document.querySelector(".advdemo-tile");
  return {wide, overlaps, tileTop: tile ? tile.getBoundingClientRect().top + window.scrollY : null,
          height: window.innerHeight};
}"""


@pytest.fixture(scope="module")
def server():
    with streamlit_server(dict(os.environ)) as (url, _):
        yield url


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("size", list(SIZES))
def test_nothing_is_clipped_and_a_phone_shows_digits_within_one_swipe(browser, server, size, language):
    width, height, touch = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=touch, is_mobile=touch,
                                  locale="zh-CN" if language == "zh" else "en-US")
    page = context.new_page()
    page.goto(f"{server}/?lang={language}")
    page.wait_for_selector(".advdemo-tile", timeout=120_000)
    page.wait_for_selector(SETTLED, timeout=120_000)
    layout = page.evaluate(LAYOUT)
    context.close()
    assert layout["wide"] == [], layout["wide"]
    assert layout["overlaps"] == 0
    if touch:  # the first digit tile within 1.2 screen heights: one swipe shows digits
        assert layout["tileTop"] <= 1.2 * layout["height"], layout


def test_a_digit_drawn_with_a_finger_on_a_phone_is_seen_by_both_models(browser, server):
    """Touch events, not a mouse: a "1" drawn down the canvas, as a student's finger would (through the
    DevTools protocol, since Playwright's touchscreen only taps)."""
    width, height, _ = SIZES["phone"]
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector(SETTLED, timeout=120_000)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.scroll_into_view_if_needed(timeout=60_000)
    box = canvas.bounding_box()
    assert box, "the drawing canvas is not on the page"
    assert page.locator(".advdemo-prediction").count() == 0  # nothing drawn yet
    touch = context.new_cdp_session(page)
    x = box["x"] + 0.5 * box["width"]
    points = [box["y"] + (0.2 + 0.6 * i / 15) * box["height"] for i in range(16)]
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": points[0]}]})
    for y in points[1:]:
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_selector(".advdemo-prediction", timeout=60_000)
    prediction = page.locator(".advdemo-prediction").first
    answers = [prediction.get_attribute(a) for a in ("data-base-pred", "data-adv-pred")]
    context.close()
    assert all(a in list("0123456789") for a in answers), answers
