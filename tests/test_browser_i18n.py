"""The page in 简体中文, in a real browser: no English UI text left once the language is Chinese; and dark.

Numbers, units and names (FGSM, PGD, MNIST, NSL, L∞, …) may stay; every other
word the reader sees, including images' alt texts and the bars' hover titles,
comes from the Chinese catalogue.
"""

from __future__ import annotations

import os
import re

import pytest
from browser_support import SETTLED, streamlit_server

pytestmark = pytest.mark.browser

#: Latin-script words the Chinese page may show: names, units, formats, and the selector's "English".
ALLOWED = {"FGSM", "PGD", "MNIST", "NSL", "CNN", "L", "P", "PNG", "CSV", "JSON", "English", "TensorFlow", "Madry",
           "Wong", "JPEG", "GIF", "BMP", "WebP", "SHA", "CPU", "GPU",
           # Attack names, as the field writes them.
           "AutoAttack", "APGD", "CE", "T", "Square"}

#: Every visible text node of the app, the chart's SVG text included (Streamlit's icon ligatures such as
#: "expand_more" are glyphs, not text), then the alt and title texts of its images and bars.
VISIBLE_TEXT = """() => {
  // Icon ligatures, code (the share link, model ids), and Streamlit's own "Skip to main content" link.
  const SKIPPED = "[data-testid='stIconMaterial'], style, script, code, [data-testid='stCode'], " +
                  "[data-testid='stSkipToContent']";
  const app = document.querySelector("[data-testid='stApp']");
  const out = [];
  const walker = document.createTreeWalker(app, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || el.closest(SKIPPED)) continue;
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    out.push(walker.currentNode.textContent);
  }
  for (const el of app.querySelectorAll('img[alt], [title]')) {
    if (el.closest("[data-testid='stVegaLiteChart']")) continue;
    out.push(el.getAttribute('alt') || '', el.getAttribute('title') || '');
  }
  return out.join('\\n');
}"""


def english_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]+", text)) - ALLOWED


@pytest.fixture(scope="module")
def server():
    with streamlit_server(dict(os.environ)) as (url, _):
        yield url


def _open(browser, url: str, locale: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1800}, locale=locale)
    page.goto(url)
    page.wait_for_selector(".advdemo-grid", timeout=120_000)
    page.wait_for_selector(SETTLED, timeout=120_000)
    page.wait_for_selector("[data-testid='stVegaLiteChart']", timeout=60_000)
    return page


def _open_everything(page) -> None:
    """Open the explanation and the lesson, and show a lesson step's text."""
    for summary in page.locator("[data-testid='stExpander'] summary").all():
        summary.click()
    page.wait_for_selector(SETTLED, timeout=60_000)
    page.locator("[data-testid='stExpander'] button").first.click()  # the lesson's first step
    page.wait_for_selector("[data-testid='stAlertContentInfo']", timeout=60_000)
    page.wait_for_selector(SETTLED, timeout=60_000)


def test_a_chinese_browser_gets_the_page_in_chinese(browser, server):
    page = _open(browser, server, "zh-CN")
    assert page.locator("h1").first.inner_text() == "对抗正则化，实时演示"
    _open_everything(page)
    text = page.evaluate(VISIBLE_TEXT)
    assert "鲁棒性曲线" in text and "基础模型" in text and "对抗正则化模型" in text
    assert " ".join(sorted(english_words(text))) == ""
    page.close()


def test_the_selector_switches_an_english_page_to_chinese_and_the_link_keeps_it(browser, server):
    page = _open(browser, server, "en-US")
    assert page.locator("h1").first.inner_text() == "Adversarial regularization, live"
    assert "lang=" not in page.url
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name="简体中文").click()
    page.wait_for_function("() => document.querySelector('h1')?.innerText === '对抗正则化，实时演示'", timeout=60_000)
    page.wait_for_selector(SETTLED, timeout=60_000)
    page.wait_for_function("() => location.search.includes('lang=zh')", timeout=30_000)
    _open_everything(page)
    assert " ".join(sorted(english_words(page.evaluate(VISIBLE_TEXT)))) == ""
    # The link opens the page in Chinese for anyone, whatever their browser's language.
    again = _open(browser, page.url, "en-US")
    assert again.locator("h1").first.inner_text() == "对抗正则化，实时演示"
    again.close()
    page.close()


def test_the_page_follows_the_readers_dark_theme(browser, server):
    backgrounds = {}
    for scheme in ("light", "dark"):
        page = browser.new_page(color_scheme=scheme)
        page.goto(f"{server}/?lang=zh")
        page.wait_for_selector(".advdemo-grid", timeout=120_000)
        backgrounds[scheme] = page.evaluate(
            "() => getComputedStyle(document.querySelector(\"[data-testid='stApp']\")).backgroundColor")
        page.close()
    luminance = {k: sum(map(int, v[v.index("(") + 1:v.index(")")].split(",")[:3])) for k, v in backgrounds.items()}
    assert luminance["light"] > 600 and luminance["dark"] < 150, backgrounds
