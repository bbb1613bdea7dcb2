"""/q/<token>: the link's questionnaires one after the other, a confirmation, then 404."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from tests.helpers import audit_events, count
from tests.links.helpers import (
    GAD7,
    PHQ9_ITEM_9,
    PHQ9_NO_ITEM_9,
    cookies_set,
    form,
    open_link,
    stranger,
)
from tests.web.helpers import as_clinician_a, text_of
from tracker import instruments
from tracker.extensions import db
from tracker.models import Alert, AuditEvent, Response
from tracker.models.types import utcnow

FORM_KEY = re.compile(r'name="form_key" value="(web-[^"]+)"')
DONE = "Thank you — your answers were sent to your clinic"


def _key(html: str) -> str:
    return FORM_KEY.search(html).group(1)


def test_the_page_asks_for_each_questionnaire_in_turn_then_confirms_then_is_gone(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    first = client.get(link.page)
    assert first.status_code == 200
    html = text_of(first)
    phq9 = instruments.get("phq9")
    assert f"<h1>{phq9.name} " in html and phq9.stem in html
    assert html.count("<fieldset") == len(phq9.items) + 1  # and the difficulty question
    assert 'name="instrument" value="phq9"' in html
    assert re.search(r'<li aria-current="step">\s*PHQ-9', html) and "GAD-7" in html
    sent = client.post(link.page, data=form(PHQ9_NO_ITEM_9, form_key=_key(html)))
    assert sent.status_code == 303 and sent.headers["Location"] == link.page
    second = text_of(client.get(link.page))
    assert 'name="instrument" value="gad7"' in second and "(sent)" in second
    done = client.post(link.page, data=form(GAD7, "gad7", form_key=_key(second)))
    assert done.status_code == 200
    assert DONE in text_of(done) and "crisis" not in text_of(done)
    gone = client.get(link.page)
    assert gone.status_code == 404
    assert "This link is not available" in text_of(gone)
    with world.app.app_context():
        rows = db.session.scalars(select(Response).order_by(Response.id)).all()
        assert [(r.instrument, r.source, r.patient_id) for r in rows] == [
            ("phq9", "patient", link.patient_id),
            ("gad7", "patient", link.patient_id),
        ]
    creates = audit_events(world.app, AuditEvent.action == "create")
    assert {(e.actor_type, e.actor_id) for e in creates if e.resource_type == "response"} == {
        ("link", str(link.link_id))
    }


def test_the_pages_set_no_cookie_keep_no_copy_send_no_referrer_and_link_nowhere(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    page = client.get(link.page)
    sent = client.post(link.page, data=form(PHQ9_NO_ITEM_9, form_key=_key(text_of(page))))
    for response in (page, sent, client.get(link.page), client.get("/q/" + "C" * 43)):
        assert cookies_set(response) == []
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        if response.status_code == 303:
            assert response.headers["Location"] == link.page
            continue
        html = text_of(response)
        assert '<meta name="referrer" content="no-referrer">' in html
        # No navigation: the only links go to this page's own content or this same link.
        hrefs = set(re.findall(r'<a [^>]*href="([^"]+)"', html))
        assert hrefs <= {"#main", link.page}, hrefs
        assert "Log out" not in html and "csrf_token" not in html
    assert client.get_cookie("session") is None


def test_unanswered_questions_are_named_and_nothing_is_stored(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    before = len(audit_events(world.app))
    refused = client.post(link.page, data=form(PHQ9_NO_ITEM_9[:7]))
    assert refused.status_code == 422
    html = text_of(refused)
    assert "There are problems with your answers" in html
    assert '<a href="#item-8-0">Question 8: choose an answer.</a>' in html
    assert 'id="item-2-1" name="item-2" value="1" checked' in html  # what was chosen is kept
    assert count(world.app, Response) == 0
    assert len(audit_events(world.app)) == before


def test_item_9_shows_the_crisis_text_first_and_then_the_next_questionnaire(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    key = _key(text_of(client.get(link.page)))
    crisis = client.post(link.page, data=form(PHQ9_ITEM_9, form_key=key))
    assert crisis.status_code == 200
    html = text_of(crisis)
    # The same section as the patient's own confirmation after item 9.
    assert '<section class="crisis"' in html
    assert "call or text 988 (Suicide &amp; Crisis Lifeline, US)" in html
    assert "Your clinic has been alerted." in html
    assert f'href="{link.page}"' in html and "Continue with the GAD-7" in html
    assert DONE not in html
    with world.app.app_context():
        alert = db.session.scalars(select(Alert)).one()
        assert (alert.kind, alert.patient_id) == ("suicidal_ideation", link.patient_id)
    # Sending the same form again (a refresh) stores nothing new and shows the same page.
    again = client.post(link.page, data=form(PHQ9_ITEM_9, form_key=key))
    assert again.status_code == 200 and '<section class="crisis"' in text_of(again)
    assert count(world.app, Response) == 1 and count(world.app, Alert) == 1
    assert 'value="gad7"' in text_of(client.get(link.page))


def test_the_last_answer_with_item_9_confirms_with_the_crisis_text(world):
    link = open_link(world.app, world, instruments=("phq9",))
    client = stranger(world.app)
    key = _key(text_of(client.get(link.page)))
    done = client.post(link.page, data=form(PHQ9_ITEM_9, form_key=key))
    html = text_of(done)
    assert DONE in html and '<section class="crisis"' in html
    # A refresh of that last form is answered again, not with a 404.
    assert DONE in text_of(client.post(link.page, data=form(PHQ9_ITEM_9, form_key=key)))
    assert count(world.app, Response) == 1
    assert client.get(link.page).status_code == 404


def test_a_form_for_a_questionnaire_already_answered_goes_back_to_what_is_left(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    html = text_of(client.get(link.page))
    first = client.post(link.page, data=form(PHQ9_NO_ITEM_9, form_key=_key(html)))
    assert first.status_code == 303
    # The same questionnaire from a second tab (its own form key): not stored twice.
    other_tab = client.post(link.page, data=form(PHQ9_NO_ITEM_9, form_key="web-" + "z" * 32))
    assert other_tab.status_code == 303 and other_tab.headers["Location"] == link.page
    unknown = client.post(link.page, data=form(PHQ9_NO_ITEM_9, "nonsense"))
    assert unknown.status_code == 303
    assert count(world.app, Response) == 1


def test_a_logged_in_browser_needs_no_csrf_field_and_stays_itself(world):
    link = open_link(world.app, world)
    clinician = as_clinician_a(world)
    html = text_of(clinician.get(link.page))
    sent = clinician.post(link.page, data=form(PHQ9_NO_ITEM_9, form_key=_key(html)), csrf=False)
    assert sent.status_code == 303
    with world.app.app_context():
        row = db.session.scalars(select(Response)).one()
        assert (row.source, row.entered_by) == ("patient", None)
    # The clinician is still logged in, as the clinician.
    assert clinician.get("/clinic").status_code == 200


def test_expired_and_unknown_links_get_the_same_404_page(world):
    expired = open_link(world.app, world, expires_at=utcnow() - timedelta(seconds=1))
    client = stranger(world.app)
    pages = [client.get(expired.page), client.get("/q/" + "D" * 43), client.get("/q/x")]
    posts = [
        client.post(expired.page, data=form(PHQ9_NO_ITEM_9)),
        client.post("/q/" + "D" * 43, data=form(PHQ9_NO_ITEM_9)),
    ]
    for response in pages + posts:
        assert response.status_code == 404
        assert response.data == pages[0].data
    assert count(world.app, Response) == 0
