"""Screenshots of the report pages for `docs/screenshots/`, taken in headless Chromium as a person
sees them: `make screenshots` after `make run` (the demo's pages under `var/dashboard`).

    python tests/screenshots.py var/dashboard docs/screenshots

Each page is shot at full height (the window grown to the page, up to MAX_HEIGHT) and fails loudly when the page
logged an error, so a broken page never lands in the docs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from browser import chrome, console_errors

PAGES = {
    "dashboard.png": "index.html",
    "health.png": "health.html",
    "data-docs.png": "docs/index.html",
    "data-docs-aov-daily.png": "docs/gold.aov_daily.html",
}
WIDTH = 1400
MAX_HEIGHT = 4200
"""A long page (the run history, the quarantine by file) is shot down to here: the docs show its top."""


def shoot(dashboard_dir: Path, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    browser = chrome()
    written = []
    try:
        for name, relative in PAGES.items():
            page = dashboard_dir / relative
            if not page.is_file():
                raise SystemExit(f"{page}: no such page; run `make run` first")
            browser.set_window_size(WIDTH, 1000)
            browser.get(page.resolve().as_uri())
            time.sleep(1)  # Plotly draws after load
            errors = console_errors(browser)
            if errors:
                raise SystemExit(f"{page}: the page logged errors: {errors}")
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(WIDTH, min(int(height) + 120, MAX_HEIGHT))
            time.sleep(0.5)
            path = out_dir / name
            browser.save_screenshot(str(path))
            written.append(path)
    finally:
        browser.quit()
    return written


if __name__ == "__main__":
    for shot in shoot(Path(sys.argv[1]), Path(sys.argv[2])):
        print(shot)
