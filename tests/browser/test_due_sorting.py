"""In a real browser: a clinician sorts the patient list by "needs attention", then the worklist.

Arranged through the services (tests/web/due_example.py): Alpha has a
questionnaire due, Bravo one missed, Charlie an open high-priority alert. By
name Alpha comes first; by need, Charlie, then Bravo, then Alpha.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.helpers import log_in
from tests.helpers import PASSWORD
from tests.web.due_example import arrange_attention

FIRST_ROW = "table.patients tbody tr"


def test_clinician_sorts_patients_by_needs_attention(app, world, live_server, browser, console):  # type: ignore[no-untyped-def]
    arrange_attention(world)
    for viewport in (DESKTOP, PHONE):
        clinic = browser.new_context(viewport=viewport).new_page()
        console.watch(clinic)
        log_in(clinic, live_server, "clinician.a@example.test", PASSWORD)
        expect(clinic).to_have_url(re.compile(r"/clinic$"))
        rows = clinic.locator(FIRST_ROW)
        expect(rows.first).to_contain_text("Alpha Due")  # by name

        clinic.get_by_label("Sort by").select_option(label="Needs attention")
        clinic.get_by_role("button", name="Show").click()
        expect(clinic).to_have_url(re.compile(r"sort=attention"))
        expect(rows.first).to_contain_text("Charlie Alert")
        expect(rows.first).to_contain_text("1 high priority")
        expect(rows.nth(1)).to_contain_text("Bravo Missed")
        expect(rows.nth(1)).to_contain_text("1 missed")
        expect(rows.nth(2)).to_contain_text("Alpha Due")
        expect(rows.nth(2)).to_contain_text("1 due")
        expect(clinic.get_by_label("Sort by")).to_have_value("attention")

        clinic.get_by_label("Search by name or MRN").fill("bra")
        clinic.get_by_role("button", name="Show").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Bravo Missed")

        clinic.get_by_role("navigation", name="Main").get_by_role("link", name="Due").click()
        expect(clinic.get_by_role("heading", level=1)).to_have_text("Due questionnaires")
        clinic.get_by_role("navigation", name="Due status").get_by_role(
            "link", name="Missed", exact=True
        ).click()
        worklist = clinic.locator("table.worklist tbody tr")
        expect(worklist).to_have_count(1)
        expect(worklist.first).to_contain_text("Bravo Missed")
        clinic.context.close()
