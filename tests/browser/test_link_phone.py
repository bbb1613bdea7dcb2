"""A questionnaire link on a phone: open /q/<token>, answer the PHQ-9 and the GAD-7, done.

The screenshot of the link page goes where the other screenshots go
(TRACKER_SCREENSHOTS_DIR, e.g. docs/screenshots).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.helpers import answer
from tests.browser.test_screenshots import fits
from tests.links.helpers import GAD7, PHQ9_NO_ITEM_9, open_link

LABELS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def test_a_patient_answers_a_link_on_a_phone(
    app, world, live_server, browser, console, screenshots
):  # type: ignore[no-untyped-def]
    link = open_link(app, world)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    console.watch(page)
    page.goto(live_server + link.page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("PHQ-9")
    expect(page.get_by_role("list", name="Your questionnaires")).to_contain_text("GAD-7")
    expect(page.get_by_role("link")).to_have_count(1)  # "Skip to content" only
    fits(page)
    page.screenshot(path=str(screenshots / "link-questionnaire-phone.png"), full_page=True)
    for number, value in enumerate(PHQ9_NO_ITEM_9, 1):
        answer(page, number, LABELS[value])
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("GAD-7")
    expect(page).to_have_url(re.compile(re.escape(link.page) + "$"))
    for number, value in enumerate(GAD7, 1):
        answer(page, number, LABELS[value])
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you — your answers were sent to your clinic"
    )
    fits(page)
    assert context.cookies() == []  # the link set no cookie
    # The link is used up: the same address is now the "not available" page.
    console.allow("404")
    page.goto(live_server + link.page)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is not available")
    context.close()
