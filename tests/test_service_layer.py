"""The service layer: one rule, one lock and one answer for every shell that calls it.

The JSON API and the pages end a series through the same service, so a page
that shows an outdated series cannot overwrite a change made through the API
(and the other way round); a clinician who registers an MRN held by another
care team learns only that it exists; the alerts inbox is high priority first,
then newest opened first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from markupsafe import escape
from sqlalchemy import select, update

from tests.helpers import PHQ9_EXAMPLE, count, submit
from tests.web.helpers import as_clinician_a, text_of
from tracker.extensions import db
from tracker.models import Alert, Patient, PatientIdentifier, TreatmentSeries

SERIES = {
    "label": "Ketamine induction",
    "kind": "induction",
    "started_at": "2026-01-10T08:00:00+00:00",
}


def _series(world) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    api = world.as_clinician_a()
    created = api.post(f"/api/v1/patients/{world.patient_1}/series", json=SERIES)
    assert created.status_code == 201
    read = api.get(f"/api/v1/series/{created.json['id']}")
    return int(created.json["id"]), read.headers["ETag"]


def _version_field(html: str) -> str:
    found = re.search(r'name="version" value="([^"]*)"', html)
    assert found, "the end form carries the version the page showed"
    return found.group(1).replace("&#34;", '"').replace("&quot;", '"')


def test_page_refuses_to_end_a_series_changed_through_the_api_since_it_was_shown(world):
    series_id, _etag = _series(world)
    page = as_clinician_a(world)
    shown = page.get(f"/clinic/series/{series_id}")
    version = _version_field(text_of(shown))

    # Meanwhile a colleague ends it through the API.
    api = world.as_clinician_a()
    ended = api.patch(f"/api/v1/series/{series_id}", json={"ended_at": "2026-01-24T08:00:00+00:00"})
    assert ended.status_code == 200

    stale = page.post(
        f"/clinic/series/{series_id}/end", {"ended_at": "2026-02-01T08:00", "version": version}
    )
    assert stale.status_code == 409
    assert "changed this series since you opened the page" in text_of(stale)
    with world.app.app_context():
        stored = db.session.get(TreatmentSeries, series_id)
        assert stored.ended_at == datetime(2026, 1, 24, 8, tzinfo=UTC)

    # With the version the refusal showed, the same end is stored.
    fresh = _version_field(text_of(stale))
    assert fresh != version
    saved = page.post(
        f"/clinic/series/{series_id}/end", {"ended_at": "2026-02-01T08:00", "version": fresh}
    )
    assert saved.status_code == 303
    with world.app.app_context():
        assert db.session.get(TreatmentSeries, series_id).ended_at == datetime(
            2026, 2, 1, 8, tzinfo=UTC
        )


def test_api_refuses_a_change_from_a_copy_older_than_the_pages_change(world):
    series_id, etag = _series(world)
    page = as_clinician_a(world)
    version = _version_field(text_of(page.get(f"/clinic/series/{series_id}")))
    assert version == etag  # one validator for both shells
    assert (
        page.post(
            f"/clinic/series/{series_id}/end", {"ended_at": "2026-01-24T08:00", "version": version}
        ).status_code
        == 303
    )
    api = world.as_clinician_a()
    late = api.patch(
        f"/api/v1/series/{series_id}",
        json={"ended_at": None},
        headers={"If-Match": etag},
    )
    assert late.status_code == 412
    assert late.content_type == "application/problem+json"
    with world.app.app_context():
        assert db.session.get(TreatmentSeries, series_id).ended_at is not None


def test_session_outside_its_series_is_refused_alike_by_api_and_page(world):
    series_id, _ = _series(world)
    api = world.as_clinician_a()
    api.patch(f"/api/v1/series/{series_id}", json={"ended_at": "2026-01-24T08:00:00+00:00"})
    by_api = api.post(
        f"/api/v1/series/{series_id}/sessions",
        json={"administered_at": "2026-02-01T08:00:00+00:00"},
    )
    by_page = as_clinician_a(world).post(
        f"/clinic/series/{series_id}/sessions", {"administered_at": "2026-02-01T08:00"}
    )
    assert by_api.status_code == 422 and by_page.status_code == 422
    message = by_api.json["errors"]["administered_at"][0]
    assert str(escape(message)) in text_of(by_page)


def test_mrn_on_another_care_team_is_a_409_that_says_whom_to_ask_and_nothing_else(world):
    identifier = {"system": "urn:example:mrn", "value": "MRN-SERVICE-1"}
    first = world.as_clinician_b().post(
        "/api/v1/patients",
        json={"display_name": "Synthetic Held Elsewhere", "identifiers": [identifier]},
    )
    assert first.status_code == 201
    patients_before = count(world.app, Patient)

    clash = world.as_clinician_a().post(
        "/api/v1/patients", json={"display_name": "Synthetic Again", "identifiers": [identifier]}
    )
    assert clash.status_code == 409
    assert clash.content_type == "application/problem+json"
    detail = clash.json["detail"]
    assert "ask an admin" in detail
    assert first.json["id"] not in detail and "Held Elsewhere" not in clash.get_data(as_text=True)
    assert count(world.app, Patient) == patients_before
    # The clinician still cannot see it.
    assert world.as_clinician_a().get(f"/api/v1/patients/{first.json['id']}").status_code == 404

    # An admin is told how to find it.
    by_admin = world.as_admin().post(
        "/api/v1/patients", json={"display_name": "Synthetic Admin", "identifiers": [identifier]}
    )
    assert by_admin.status_code == 409 and "identifier=system|value" in by_admin.json["detail"]

    # A PATCH that takes the identifier is refused the same way, and changes nothing.
    own = world.as_clinician_a().patch(
        f"/api/v1/patients/{world.patient_1}", json={"identifiers": [identifier]}
    )
    assert own.status_code == 409 and "ask an admin" in own.json["detail"]
    with world.app.app_context():
        held = db.session.scalars(
            select(PatientIdentifier.patient_id).where(PatientIdentifier.value == "MRN-SERVICE-1")
        ).all()
        assert held == [int(first.json["id"])]


def test_alert_inbox_is_high_priority_first_then_newest_opened_on_api_and_page(world):
    api = world.as_clinician_a()
    ids = []
    for day in (1, 2, 3, 4, 5):
        item_9 = 2 if day >= 4 else 1  # days 4 and 5: "more than half the days", high
        body = {
            "answers": PHQ9_EXAMPLE[:8] + [item_9],
            "completed_at": f"2026-03-0{day}T09:30:00+00:00",
        }
        ids.append(int(submit(api, world.patient_1, body).json["id"]))
    now = datetime.now(UTC)
    with world.app.app_context():
        alerts = {a.response_id: a.id for a in db.session.scalars(select(Alert))}
        # The first alert (lowest id) was opened last: order must follow opened_at, not
        # ids; the high ones were opened before every routine one and still come first.
        opened = {
            ids[0]: now,
            ids[1]: now - timedelta(hours=2),
            ids[2]: now - timedelta(hours=1),
            ids[3]: now - timedelta(hours=4),
            ids[4]: now - timedelta(hours=3),
        }
        for response_id, at in opened.items():
            db.session.execute(
                update(Alert).where(Alert.response_id == response_id).values(created_at=at)
            )
        db.session.commit()
    expected = [str(alerts[ids[i]]) for i in (4, 3, 0, 2, 1)]

    listed = api.get("/api/v1/alerts?status=open")
    assert [a["id"] for a in listed.json["items"]] == expected
    assert [a["priority"] for a in listed.json["items"]] == [
        "high",
        "high",
        "routine",
        "routine",
        "routine",
    ]
    assert all(a["opened_at"] == a["created_at"] for a in listed.json["items"])

    # Paged one and two at a time, across the high/routine boundary: the same
    # order and no repeats.
    for limit in (1, 2):
        seen, cursor = [], None
        while True:
            url = f"/api/v1/alerts?status=open&limit={limit}" + (
                f"&cursor={cursor}" if cursor else ""
            )
            page = api.get(url).json
            seen += [a["id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == expected

    inbox = text_of(as_clinician_a(world).get("/clinic/alerts"))
    positions = [inbox.index(f"/clinic/alerts/{alert_id}/acknowledge") for alert_id in expected]
    assert positions == sorted(positions)
    assert inbox.count(">High priority<") == 2

    patient_page = text_of(as_clinician_a(world).get(f"/clinic/patients/{world.patient_1}"))
    positions = [patient_page.index(f"/clinic/alerts/{a}/acknowledge") for a in expected]
    assert positions == sorted(positions)
    assert patient_page.count(">High priority<") == 2


def test_forged_cursor_is_a_422_on_every_list_and_a_400_outcome_on_fhir(world):
    from tracker.services.paging import encode_cursor

    api = world.as_admin()
    forged = encode_cursor(["0001-01-01T00:30:00+01:00", 1])
    # The inbox's position is (priority rank, opened_at, id): a rank that is not an integer.
    forged_rank = encode_cursor(["high", "2026-03-01T09:30:00+00:00", 1])
    answer = api.get(f"/api/v1/alerts?cursor={forged_rank}")
    assert answer.status_code == 422 and "cursor" in answer.json["errors"]
    for url in (
        f"/api/v1/patients?cursor={forged}",
        f"/api/v1/alerts?cursor={forged}",
        f"/api/v1/audit-events?cursor={forged}",
        f"/api/v1/patients/{world.patient_1}/responses?cursor={forged}",
    ):
        answer = api.get(url)
        assert answer.status_code == 422 and "cursor" in answer.json["errors"], url
    fhir = api.get(f"/fhir/Observation?patient={world.patient_1}&_cursor={forged}")
    assert fhir.status_code == 400
    assert fhir.json["resourceType"] == "OperationOutcome"
