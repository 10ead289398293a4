"""Server CPU per page load: a new student's first visit, a returning one, and behind a caching proxy.

A new browser downloads Streamlit's front end (about 5 MB in 145 files) from the server, which
serves it from Python; a returning browser has it cached. A caching reverse proxy in front of the
server (nginx here, from Debian's packages; `docs/deploy-nginx.conf`) serves those immutable files
itself, so every visit costs the server only the page's own work. Each row opens ``--pages`` pages
one after another (hosted mode, the default view) and divides the server's CPU time by them.

    python bench/page_load_cpu.py [--pages 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import ROOT, Server, free_port, launch_browser, machine, open_settled, report

CONF = ROOT / "docs" / "deploy-nginx.conf"


def nginx(upstream: int, folder: Path) -> tuple[subprocess.Popen, int]:
    """nginx on a free loopback port in front of ``upstream``, with the project's example configuration."""
    port = free_port()
    text = CONF.read_text().replace("127.0.0.1:8501", f"127.0.0.1:{upstream}").replace(
        "listen 80;", f"listen 127.0.0.1:{port};").replace("/var/cache/nginx/advdemo", str(folder / "cache"))
    conf = folder / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the private temporary folder
    conf.write_text(f"daemon off;\n{user}error_log {folder}/error.log;\npid {folder}/nginx.pid;\n"
                    f"events {{}}\nhttp {{\naccess_log off;\n{text}\n}}\n")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(folder)])
    time.sleep(1.0)
    return proc, port


def measure(server: Server, url: str, pages: int, *, fresh: bool) -> float:
    """Server CPU seconds per page load: each in a new browser (``fresh``) or in one with a warm cache."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        for _ in range(2):  # warm: the server's first runs, the proxy's cache, the returning browser's cache
            page = context.new_page() if not fresh else browser.new_page(viewport={"width": 1280, "height": 900})
            open_settled(page, url)
            page.close()
        time.sleep(2)
        spent = []
        for _ in range(pages):
            before = server.cpu_seconds()
            page = browser.new_page(viewport={"width": 1280, "height": 900}) if fresh else context.new_page()
            open_settled(page, url)
            time.sleep(1.5)  # the page's last messages
            spent.append(server.cpu_seconds() - before)
            page.close()
            time.sleep(0.5)
        browser.close()
    return sorted(spent)[len(spent) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=8)
    args = parser.parse_args()
    server = Server({"ADVDEMO_HOSTED": "1"})
    rows = {}
    try:
        server.wait_healthy()
        rows["new browser, straight to the server"] = measure(server, server.url, args.pages, fresh=True)
        rows["returning browser (front end cached), straight to the server"] = measure(
            server, server.url, args.pages, fresh=False)
        if shutil.which("nginx"):
            with tempfile.TemporaryDirectory() as tmp:
                proc, port = nginx(server.port, Path(tmp))
                try:
                    rows["new browser, through the caching proxy"] = measure(
                        server, f"http://127.0.0.1:{port}", args.pages, fresh=True)
                finally:
                    proc.terminate()
                    proc.wait()
    finally:
        server.stop()
    report("page_load_cpu", {"machine": machine(), "pages": args.pages,
                             "server_cpu_per_page_load_s": {k: round(v, 3) for k, v in rows.items()}})


if __name__ == "__main__":
    main()
