"""Screenshots of the page for the docs: English and 简体中文, light and dark theme, and the sizes a class
sees it at (a projector's 1024×768 and 1280×720, a phone's 390×844).

    python bench/screenshots.py [--out docs/screenshots] [--only themes|sizes]

Starts the real server once per theme (Streamlit's ``theme.base``) and opens
the default view in Debian's Chromium in each language. Chinese text needs a
CJK font on the machine that takes the pictures (Debian: ``fonts-noto-cjk``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser_support import CHROMIUM, CHROMIUM_ARGS, SETTLED, streamlit_server  # noqa: E402

THEMES = ("light", "dark")
LANGUAGES = ("en", "zh")
#: name: (width, height, a touch phone). The projectors' sizes, then a phone's (tests/test_browser_sizes.py).
SIZES = {"1024x768": (1024, 768, False), "1280x720": (1280, 720, False), "phone-390x844": (390, 844, True)}


def _shoot(browser, url: str, path: Path, theme: str, **context) -> None:
    page = browser.new_page(color_scheme=theme, **context)
    page.goto(url)
    page.wait_for_selector(".advdemo-grid", timeout=120_000)
    page.wait_for_selector("[data-testid='stVegaLiteChart']", timeout=120_000)
    page.wait_for_selector(SETTLED, timeout=120_000)
    page.wait_for_timeout(1000)  # fonts and the chart's first paint
    page.screenshot(path=str(path))
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--only", choices=("themes", "sizes"), help="take only these pictures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for theme in THEMES if args.only != "sizes" else ("light",):
            with streamlit_server({**os.environ, "STREAMLIT_THEME_BASE": theme}) as (url, _):
                for lang in LANGUAGES:
                    if args.only != "sizes":
                        _shoot(browser, f"{url}/?lang={lang}", args.out / f"page-{lang}-{theme}.png", theme,
                               viewport={"width": args.width, "height": args.height})
                    if theme == "light" and args.only != "themes":
                        for name, (width, height, phone) in SIZES.items():
                            _shoot(browser, f"{url}/?lang={lang}", args.out / f"page-{lang}-{name}.png", theme,
                                   viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
        browser.close()


if __name__ == "__main__":
    main()
