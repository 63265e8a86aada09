"""Helpers the browser tests share (fixtures live in conftest.py)."""

import json
import os
import time
from pathlib import Path

from playwright.sync_api import Page

from leadloop.capture import services as capture
from leadloop.capture.models import Form

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
DOCS = EXAMPLES.parent
# Screenshots for the docs are written only on request, so a test run leaves the tree clean.
SCREENSHOTS = os.environ.get("LEADLOOP_SCREENSHOTS") == "1"


class PageProblems:
    """What the page did that a visitor would never want: uncaught errors and JS dialogs."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def import_quote_form(**settings) -> Form:
    """CleanPro's quote funnel, with some of its settings replaced."""
    data = json.loads((EXAMPLES / "cleanpro-quote.json").read_text())
    for key, value in settings.items():
        data["definition"]["settings"][key] = value
    return capture.import_form(data)


def eventually(check, timeout: float = 5.0):
    """Poll `check` until it returns something truthy; what a page sends in the background
    (the page-view beacon) lands a moment after the page shows it is done."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
