"""The whole loop on a phone: a real worker emails a reminder through a real SMTP server, and
the patient opens the link from that email in Chromium, answers, and is done.

Only the email's link is used: nothing is minted or looked up by the test.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.helpers import answer
from tests.links.helpers import GAD7, PHQ9_NO_ITEM_9
from tests.worker.conftest import (  # noqa: F401  (fixtures)
    LINK,
    assert_private,
    planned_series,
    smtp_server,
    start_worker,
)

LABELS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def test_a_patient_opens_the_emailed_link_on_a_phone_and_answers(
    app,
    world,
    database_url,
    live_server,
    browser,
    console,
    smtp_server,  # noqa: F811
    start_worker,  # noqa: F811
    planned_series,  # noqa: F811
):  # type: ignore[no-untyped-def]
    planned_series(world.patient_1, instruments=("phq9", "gad7"))
    worker = start_worker(database_url, smtp_server.url, PUBLIC_BASE_URL=live_server)
    (message,) = smtp_server.wait_for(1)
    assert message.rcpt_tos == ["patient.one@example.test"]
    link = LINK.search(message.body)
    assert link is not None and link.group(0).startswith(live_server + "/q/")
    assert_private(message.body, str(message.message["Subject"]))

    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    console.watch(page)
    page.goto(link.group(0))
    expect(page.get_by_role("heading", level=1)).to_contain_text("PHQ-9")
    for number, value in enumerate(PHQ9_NO_ITEM_9, 1):
        answer(page, number, LABELS[value])
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("GAD-7")
    for number, value in enumerate(GAD7, 1):
        answer(page, number, LABELS[value])
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you — your answers were sent to your clinic"
    )
    # Both items are completed, so the link is used up and nothing more is sent.
    console.allow("404")
    page.goto(link.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is not available")
    context.close()
    assert worker.terminate() == 0
    assert len(smtp_server.messages) == 1
