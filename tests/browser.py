"""Headless Chromium for the tests that look at pages as a person does (Debian's `chromium` and
`chromium-driver`, installed by `make chromium`), driven by selenium."""

from __future__ import annotations

import shutil
from typing import Any


def chrome() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    missing = "the browser tests need Debian's chromium and chromium-driver (`make chromium`)"
    assert chromium, missing
    assert driver, missing
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))


def console_errors(browser: Any) -> list[str]:
    """What the page logged as errors (a script that failed, a resource that did not load)."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
