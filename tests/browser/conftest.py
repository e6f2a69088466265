"""Browser fixtures: Debian's Chromium, headless, driven by Playwright's Python package.

Playwright's own browser download is never used (``executable_path`` names
the system Chromium; ``.ci/run`` installs it with apt when it is missing).
Without Chromium the browser tests are skipped on a developer machine and
fail in CI, where the browser is part of the contract.

The simulators and ``pushgate serve`` come from the end-to-end fixtures.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.conftest import ca_file, gateway_for, start_server, start_simulators

__all__ = ["browser", "ca_file", "gateway_for", "start_server", "start_simulators"]

CHROMIUM = Path(os.environ.get("PUSHGATE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium_missing() -> bool:
    return not CHROMIUM.exists() and not shutil.which("chromium")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if _chromium_missing():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
