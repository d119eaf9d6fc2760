"""A headless Chromium on the Dagster UI, as an operator sees it: Debian's `chromium` driven by Playwright.

The browser is the system's (scripts/ensure_chromium.sh installs it when missing); Playwright only
drives it through `executable_path` and never downloads one. Every page the test looks at is saved
as a screenshot under `test-artifacts/ui/` (gitignored), so a failure can be seen, not guessed.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.paths import REPO

ARTIFACTS = REPO / "test-artifacts" / "ui"
ENSURE_CHROMIUM = REPO / "scripts" / "ensure_chromium.sh"
TIMEOUT_MS = 90_000  # the UI answers slowly on a loaded 2-core machine
# the colour of a partition's dot in the UI's partition lists
_DOT = (
    "e => { const tip = e.closest('[data-tooltip]');"
    " const dot = tip && tip.parentElement.querySelector('div[style*=border-radius]');"
    " return dot ? (dot.style.backgroundColor || dot.style.background) : null }"
)


def chromium_path() -> str:
    found = subprocess.run([str(ENSURE_CHROMIUM)], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        pytest.skip(f"no chromium can be installed here: {found.stderr.strip()}")
    return found.stdout.strip().splitlines()[-1]


class DagsterUI:
    """One browser page on a dagster-webserver, with the few moves the UI test makes."""

    def __init__(self, page, base_url: str, artifacts: Path):
        self.page, self.base_url, self.artifacts = page, base_url.rstrip("/"), artifacts
        self._shots = 0

    def open(self, path: str, ready_text: str) -> None:
        """Go to `path` and wait until `ready_text` is on the page."""
        self.page.goto(self.base_url + path)
        self.page.get_by_text(ready_text, exact=False).first.wait_for(timeout=TIMEOUT_MS)

    def shot(self, name: str) -> Path:
        self._shots += 1
        path = self.artifacts / f"{self._shots:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def partition_dots(self, key: str) -> list[str]:
        """The colours of the dots shown next to partition `key` in the page's partition lists."""
        dots = [el.evaluate(_DOT) for el in self.page.locator(f'div[title="{key}"]').all()]
        return [dot for dot in dots if dot]

    def select_partition(self, key: str) -> None:
        """Click partition `key` in the page's partition list (the caller waits for what it opens)."""
        self.page.locator(f'div[title="{key}"]').filter(visible=True).last.click()

    def metadata(self) -> dict[str, str]:
        """The partition page's metadata table, label -> shown value."""
        table = self.page.locator("table", has=self.page.get_by_text("source_url", exact=True)).first
        table.wait_for(timeout=TIMEOUT_MS)
        rows = {}
        for row in table.locator("tr").all():
            cells = [c.inner_text().strip() for c in row.locator("td").all()]
            if len(cells) >= 2:
                rows[cells[0]] = re.sub(r"\s+", " ", cells[1])
        return rows


def _dismiss_newsletter_prompt(base_url: str) -> None:
    """The UI on a loopback address asks once for an e-mail address, over whatever page is open; say
    it was seen, as its "Skip" button does (the `setNuxSeen` mutation)."""
    body = json.dumps({"query": "mutation { setNuxSeen }"}).encode()
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert "errors" not in json.loads(response.read())


@contextmanager
def dagster_ui(base_url: str, artifacts: Path = ARTIFACTS) -> Iterator[DagsterUI]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    _dismiss_newsletter_prompt(base_url)
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield DagsterUI(page, base_url, artifacts)
        finally:
            browser.close()
