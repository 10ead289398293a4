"""Screenshots of the page for the docs: English and 简体中文, light and dark theme.

    python bench/screenshots.py [--out docs/screenshots]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for theme in THEMES:
            with streamlit_server({**os.environ, "STREAMLIT_THEME_BASE": theme}) as (url, _):
                for lang in LANGUAGES:
                    page = browser.new_page(viewport={"width": args.width, "height": args.height},
                                            color_scheme=theme)
                    page.goto(f"{url}/?lang={lang}")
                    page.wait_for_selector(".advdemo-grid", timeout=120_000)
                    page.wait_for_selector("[data-testid='stVegaLiteChart']", timeout=120_000)
                    page.wait_for_selector(SETTLED, timeout=120_000)
                    page.wait_for_timeout(1000)  # fonts and the chart's first paint
                    path = args.out / f"page-{lang}-{theme}.png"
                    page.screenshot(path=str(path))
                    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")
                    page.close()
        browser.close()


if __name__ == "__main__":
    main()
