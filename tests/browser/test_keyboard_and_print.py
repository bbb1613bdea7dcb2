"""Keyboard-only answering, and the printed patient page, in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.helpers import log_in
from tests.helpers import PASSWORD, login, submit
from tracker.extensions import db
from tracker.models import Response

GAD7_ANSWERS = [0, 1, 2, 3, 1, 0, 2]  # total 9


def focused_name(page: Page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.name")


def test_a_questionnaire_can_be_answered_with_the_keyboard_alone(
    app, world, live_server, browser, console
):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport=PHONE).new_page()
    console.watch(page)
    log_in(page, live_server, "patient.one@example.test", PASSWORD)
    page.goto(live_server + "/me/questionnaires/gad7")
    for _ in range(30):  # skip link, header, breadcrumbs … up to the first question
        page.keyboard.press("Tab")
        if focused_name(page) == "item-1":
            break
    assert focused_name(page) == "item-1"
    first_option = page.locator("label[for='item-1-0']")
    assert (
        first_option.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    )  # visible focus
    for number, value in enumerate(GAD7_ANSWERS, 1):
        assert focused_name(page) == f"item-{number}"
        page.keyboard.press("Space")  # checks the first option (0)
        for _ in range(value):
            page.keyboard.press("ArrowDown")  # moves to the next option and checks it
        page.keyboard.press("Tab")  # on to the next question
    assert page.evaluate("document.activeElement.textContent") == "Send my answers"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, your answers were sent")
    with app.app_context():
        row = db.session.scalars(select(Response)).one()
        assert (row.instrument, row.answers, row.total) == ("gad7", GAD7_ANSWERS, 9)


def test_missing_answers_are_shown_in_the_browser(app, world, live_server, browser, console):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport=PHONE).new_page()
    console.watch(page)
    console.allow("status of 422")  # the re-rendered form answers 422 on purpose
    log_in(page, live_server, "patient.one@example.test", PASSWORD)
    page.goto(live_server + "/me/questionnaires/phq9")
    page.get_by_role("group", name="1. Little interest").get_by_label("Several days").check()
    page.get_by_role("button", name="Send my answers").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There are problems with your answers")
    expect(summary.get_by_role("link")).to_have_count(8)
    expect(summary.get_by_role("link").first).to_have_text("Question 2: choose an answer.")
    group = page.get_by_role("group", name="2. Feeling down")
    expect(group).to_have_attribute("aria-describedby", "stem item-2-error")
    expect(group.locator(".field-error")).to_have_text("Error: Choose an answer.")
    expect(
        page.get_by_role("group", name="1. Little interest").get_by_label("Several days")
    ).to_be_checked()
    with app.app_context():
        assert db.session.scalars(select(Response)).all() == []


def test_the_printed_patient_page_is_a_clean_record(app, world, live_server, browser, console):  # type: ignore[no-untyped-def]
    submit(login(app, "admin@example.test"), world.patient_1)
    for viewport in (PHONE, DESKTOP):
        page = browser.new_context(viewport=viewport).new_page()
        console.watch(page)
        log_in(page, live_server, "clinician.a@example.test", PASSWORD)
        page.goto(f"{live_server}/clinic/patients/{world.patient_1}")
        page.emulate_media(media="print")
        expect(page.locator("header.site-header")).to_be_hidden()
        expect(page.locator("form").first).to_be_hidden()
        expect(page.locator("#instrument-phq9 .chart-wide svg")).to_be_visible()
        expect(page.locator("#instrument-phq9 .chart-narrow svg")).to_be_hidden()
        expect(page.locator("#instrument-phq9 table.responses")).to_be_visible()
        assert len(page.pdf(format="A4")) > 10_000  # it prints
