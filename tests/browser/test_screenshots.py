"""Screenshots of the main pages on a phone (390 px) and a desktop (1280 px), on the demo clinic.

Written to TRACKER_SCREENSHOTS_DIR when set (``docs/screenshots`` for the user
guide), else to a temporary directory. Each page is also checked for what it
must show, and that nothing on it is wider than the viewport (no sideways
scrolling on a phone, except inside the scrollable table regions).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.helpers import answer, log_in
from tracker.demo import CLINICIANS, DEMO_PASSWORD, load_demo
from tracker.extensions import db

AVERY = "avery@demo.tracker.test"
GRAY = "gray@demo.tracker.test"  # an induction starts in 3 days: the baseline is due now
AVERY_ANSWERS = [2, 1, 2, 1, 1, 1, 0, 0, 1]  # item 9 = 1


# The outermost elements that stick out to the right, to say what to fix.
WIDE_ELEMENTS = """
[...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter(e => !e.closest(".table-wrap") || e.matches(".table-wrap"))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + "." + e.className + " " + e.textContent.slice(0, 40))
"""


@pytest.fixture
def demo_server(app, live_server):  # type: ignore[no-untyped-def]
    app.config["PATIENT_HISTORY_ENABLED"] = True
    with app.app_context():
        load_demo()
        db.session.remove()
    return live_server


def fits(page: Page) -> None:
    """The page itself never scrolls sideways; wide tables scroll inside their region.

    Measured once the page has loaded (a click's navigation may still be under way when
    the expectation before it is met), width and culprits in one evaluation.
    """
    page.wait_for_load_state("load")
    overflow, culprits = page.evaluate(
        "[document.documentElement.scrollWidth - window.innerWidth, " + WIDE_ELEMENTS + "]"
    )
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the viewport: {culprits}"


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_main_pages(demo_server, browser, console, screenshots, device):  # type: ignore[no-untyped-def]
    viewport = PHONE if device == "phone" else DESKTOP
    base = demo_server

    def shot(page: Page, name: str) -> None:
        fits(page)
        page.screenshot(path=str(screenshots / f"{name}-{device}.png"), full_page=True)

    patient = browser.new_context(viewport=viewport).new_page()
    console.watch(patient)
    patient.goto(base + "/login")
    shot(patient, "login")
    log_in(patient, base, AVERY, DEMO_PASSWORD)
    expect(patient.get_by_role("heading", level=1)).to_have_text("Your questionnaires")
    shot(patient, "patient-questionnaires")
    patient.get_by_role("link", name="Start the PHQ-9").click()
    shot(patient, "phq9-form")
    labels = ["Not at all", "Several days", "More than half the days", "Nearly every day"]
    for number, value in enumerate(AVERY_ANSWERS, 1):
        answer(patient, number, labels[value])
    patient.get_by_role("button", name="Send my answers").click()
    expect(patient.locator("section.crisis")).to_be_visible()
    shot(patient, "phq9-confirmation-crisis")
    patient.get_by_role("link", name="My history").click()
    expect(patient.locator(".instrument svg:visible")).to_have_count(2)  # PHQ-9 and GAD-7
    shot(patient, "patient-history")

    gray = browser.new_context(viewport=viewport).new_page()
    console.watch(gray)
    log_in(gray, base, GRAY, DEMO_PASSWORD)
    expect(gray.locator(".due-list h3")).to_have_text(["PHQ-9", "GAD-7"])
    shot(gray, "patient-due")

    clinic = browser.new_context(viewport=viewport).new_page()
    console.watch(clinic)
    log_in(clinic, base, CLINICIANS[0], DEMO_PASSWORD)
    expect(clinic.get_by_role("row", name=re.compile("Avery Synthetic"))).to_contain_text(
        "open alert"
    )
    expect(clinic.get_by_role("row", name=re.compile("Gray Synthetic"))).to_contain_text("2 due")
    shot(clinic, "clinic-patients")
    clinic.get_by_label("Sort by").select_option(label="Needs attention")
    clinic.get_by_role("button", name="Show").click()
    expect(clinic.get_by_label("Sort by")).to_have_value("attention")
    shot(clinic, "clinic-patients-attention")
    clinic.get_by_role("navigation", name="Main").get_by_role("link", name="Due").click()
    expect(clinic.locator("table.worklist tbody tr").first).to_be_visible()
    shot(clinic, "clinic-due")
    clinic.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(clinic.locator("li.alert-card").first).to_contain_text("Avery Synthetic")
    shot(clinic, "clinic-alerts")
    clinic.goto(base + "/clinic")
    clinic.get_by_role("link", name="Avery Synthetic").click()
    expect(clinic.locator("#instrument-phq9 table.outcomes tbody tr")).to_have_count(3)
    shot(clinic, "clinic-patient")
    schedule = clinic.locator("#schedule")
    expect(schedule.locator("table.schedule").first).to_be_visible()
    schedule.screenshot(path=str(screenshots / f"clinic-schedule-{device}.png"))
    clinic.locator("#instrument-phq9 table.outcomes").get_by_role("link").first.click()
    expect(clinic.get_by_role("heading", name="Sessions")).to_be_visible()
    shot(clinic, "clinic-series")
    clinic.go_back()
    clinic.locator("#instrument-phq9 table.responses tbody th a").first.click()
    expect(clinic.get_by_role("heading", name="Correct the answers")).to_be_visible()
    shot(clinic, "clinic-response")
