"""Small Playwright steps shared by the browser tests."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def answer(page: Page, number: int, label: str) -> None:
    """Check the option ``label`` of question ``number`` (its fieldset's legend starts "n.")."""
    group = page.get_by_role("group", name=re.compile(rf"^{number}\. "))
    group.get_by_label(label, exact=True).check()
