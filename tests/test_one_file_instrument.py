"""An instrument is one file: a throw-away definition made here works everywhere.

The two-item toy below is defined in this test and added to the registry with
``instruments.registered`` (removed again afterwards); no other module knows
it. It is then listed and described by the API, scored and stored by the
JSON API, the patient form and FHIR ingest, charted (JSON and SVG), exported
as FHIR (Observation, QuestionnaireResponse, Questionnaire; validated like the
FHIR API tests), opens its own alert through its own flag and alert rules,
shows crisis resources to the patient through its own crisis flag, and is
shown on the clinician's pages with its own flag and alert labels. Nothing in
the schema blocks an unknown code: the migrations put no CHECK constraint or
enum on ``response.instrument`` or ``alert.kind``, and rows are stored on both
databases.

The second half registers two versions of one code: ``get(code)`` is the newer
one, a row stored in the older version keeps it, and every later use of that
row (API, amendment, rescoring by ``tracker check``, FHIR mapping, the
clinician's page) reads it with the older definition; FHIR ingest accepts any
registered version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import select

from tests.fhir.conftest import Fhir, make_ehr, token_for
from tests.fhir_checks import assert_valid
from tests.helpers import World, count
from tests.web.helpers import as_clinician_a, page_login
from tracker import instruments
from tracker.check import run_check
from tracker.extensions import db
from tracker.instruments import (
    AlertRule,
    Band,
    Codes,
    FlagRule,
    Instrument,
    Item,
    Option,
    Thresholds,
)
from tracker.models import Alert, Response

CANONICAL = "https://tracker.example.org/fhir"  # FHIR_CANONICAL_BASE of the test config
TOY_SYSTEM = "urn:example:toy-codes"
OPTIONS = (
    Option(0, "Never"),
    Option(1, "Sometimes"),
    Option(2, "Often"),
    Option(3, "Always"),
)
CRISIS_TEXT = "You told us you feel grumpy nearly all the time."


def toy(version: str = "1", items: int = 2) -> Instrument:
    """A toy questionnaire: ``items`` items of 0–3; item 2 at >= 2 raises a crisis flag."""
    top = 3 * items
    return Instrument(
        code="toy",
        name="TOY-2",
        title="Throw-away toy questionnaire",
        version=version,
        stem="In the last week, how often did you feel:",
        items=tuple(
            Item(n, text, OPTIONS)
            for n, text in zip(range(1, items + 1), ("Sleepy", "Grumpy", "Hungry"), strict=False)
        ),
        bands=(Band("calm", "Calm", 0, 2), Band("cross", "Cross", 3, top)),
        subscales=(),
        thresholds=Thresholds(
            cutoff=3, mcid=2, reliable_change=2, remission_below=2, caseness=3, recovery_below=3
        ),
        codes=Codes(
            panel="toy-panel",
            total="toy-total",
            system=TOY_SYSTEM,
            panel_display="Toy panel",
            total_display="Toy total score",
        ),
        max_missing=0,
        licence="Invented for a test.",
        flag_rules=(
            FlagRule(
                "grumpy",
                item=2,
                at_least=2,
                label="Item 2 (grumpy) endorsed",
                crisis=True,
                patient_text=CRISIS_TEXT,
            ),
        ),
        alert_rules=(
            AlertRule(
                "grumpy",
                kind="toy_grumpy",
                label="Grumpy most of the time (toy item 2)",
                priorities=((3, "high"),),
            ),
        ),
    )


@pytest.fixture
def registered_toy() -> Iterator[Instrument]:
    with instruments.registered(toy()) as (definition,):
        yield definition
    assert "toy" not in instruments.codes()


def _submit(world: World, answers: list[int], at: str, patient_id: int | None = None):  # type: ignore[no-untyped-def]
    return world.as_clinician_a().post(
        f"/api/v1/patients/{patient_id or world.patient_1}/responses",
        json={"instrument": "toy", "answers": answers, "completed_at": at},
    )


def _fhir(app: Flask, rsa_key: object, ec_key: object) -> Fhir:
    return Fhir(app, token_for(app, make_ehr(app, rsa_key, ec_key)))


def _toy_resource(patient_id: int, answers: list[int], questionnaire: str) -> dict:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": "2026-03-05T09:30:00+00:00",
        "item": [
            {"linkId": f"toy-{n}", "answer": [{"valueInteger": value}]}
            for n, value in enumerate(answers, 1)
        ],
    }


# --------------------------------------------------------------------------
# The registry API
# --------------------------------------------------------------------------


def test_register_and_remove_a_definition() -> None:
    before = instruments.codes()
    with instruments.registered(toy()) as (definition,):
        assert instruments.codes() == (*before, "toy")
        assert instruments.get("toy") is definition
        assert instruments.all()[-1] is definition
        assert instruments.alert_labels()["toy_grumpy"] == "Grumpy most of the time (toy item 2)"
        with pytest.raises(ValueError, match="already registered"):
            instruments.register(toy())
    assert instruments.codes() == before
    assert "toy_grumpy" not in instruments.alert_labels()
    with pytest.raises(KeyError):
        instruments.get("toy")


def test_the_rules_live_on_the_definition() -> None:
    definition = toy()
    # 2 + 1 = 3 → band "cross"; item 2 = 1 is below the flag's 2.
    result = instruments.score(definition, [2, 1])
    assert (result.total, result.severity.code, result.flags) == (3, "cross", ())
    # Item 2 = 2: flag, crisis, a routine alert; item 2 = 3: a high-priority one.
    assert instruments.score(definition, [0, 2]).flags == ("grumpy",)
    assert definition.alerts_for([0, 2], ["grumpy"]) == (("toy_grumpy", "routine"),)
    assert definition.alerts_for([0, 3], ["grumpy"]) == (("toy_grumpy", "high"),)
    assert definition.crisis(["grumpy"]).patient_text == CRISIS_TEXT
    assert definition.flag_label("grumpy") == "Item 2 (grumpy) endorsed"
    assert definition.item_flagged(2, 2) and not definition.item_flagged(1, 3)
    # PHQ-9 carries the same kind of rule: item 9 opens suicidal_ideation, high from 2.
    assert instruments.PHQ9.alerts_for([0] * 8 + [1], ["suicidal_ideation"]) == (
        ("suicidal_ideation", "routine"),
    )
    assert instruments.PHQ9.alerts_for([0] * 8 + [2], ["suicidal_ideation"]) == (
        ("suicidal_ideation", "high"),
    )
    assert instruments.PHQ9.crisis(["suicidal_ideation"]).item == 9


def test_a_definition_with_inconsistent_rules_is_refused() -> None:
    # dataclasses.replace builds a new definition through __init__, so its checks run.
    with pytest.raises(ValueError, match="unknown flag 'sleepy'"):
        replace(toy(), alert_rules=(AlertRule("sleepy", kind="toy_sleepy", label="Sleepy"),))
    with pytest.raises(ValueError, match="crisis flag 'grumpy' needs a patient_text"):
        replace(
            toy(),
            flag_rules=(FlagRule("grumpy", item=2, at_least=2, crisis=True),),
            alert_rules=(),
        )


# --------------------------------------------------------------------------
# One file: listed, scored, stored, charted, exported and shown
# --------------------------------------------------------------------------


def test_a_toy_instrument_works_everywhere_without_touching_another_module(
    world: World, registered_toy: Instrument, rsa_key: object, ec_key: object
) -> None:
    app = world.app
    api = world.as_clinician_a()

    # Listed and described.
    listed = api.get("/api/v1/instruments")
    assert listed.status_code == 200
    assert [i["code"] for i in listed.json["items"]][-1] == "toy"
    definition = api.get("/api/v1/instruments/toy")
    assert definition.status_code == 200, definition.json
    assert definition.json["name"] == "TOY-2"
    assert [i["text"] for i in definition.json["items"]] == ["Sleepy", "Grumpy"]
    assert (definition.json["min_score"], definition.json["max_score"]) == (0, 6)
    assert definition.json["codes"]["total"] == "toy-total"

    # Scored and stored: 0 + 0 = 0 (calm), then 1 + 2 = 3 (cross, flagged, and 3 points
    # worse is at least its reliable change of 2: a second alert).
    first = _submit(world, [0, 0], "2026-03-01T09:30:00+00:00")
    assert first.status_code == 201, first.json
    assert (first.json["total"], first.json["severity"]["code"], first.json["flags"]) == (
        0,
        "calm",
        [],
    )
    second = _submit(world, [1, 2], "2026-03-03T09:30:00+00:00")
    assert second.status_code == 201, second.json
    body = second.json
    assert (body["total"], body["severity"], body["flags"]) == (
        3,
        {"code": "cross", "label": "Cross"},
        ["grumpy"],
    )
    assert (body["screen_positive"], body["provisional_diagnosis"]) == (True, None)
    assert (body["instrument"], body["instrument_version"]) == ("toy", "1")
    listed_rows = api.get(f"/api/v1/patients/{world.patient_1}/responses?instrument=toy")
    assert listed_rows.status_code == 200, listed_rows.json
    assert [r["total"] for r in listed_rows.json["items"]] == [3, 0]

    # Item errors name the item as people count it, next to the zero-based path.
    refused = _submit(world, [1, 7], "2026-03-03T10:00:00+00:00")
    assert refused.status_code == 422
    assert refused.json["errors"] == {
        "answers.1": ["item 2: 7 is not one of the allowed values 0, 1, 2, 3"]
    }

    # Its own flag opened its own alert; the deterioration rule applies too.
    alerts = api.get("/api/v1/alerts").json["items"]
    assert sorted(a["kind"] for a in alerts) == ["reliable_deterioration", "toy_grumpy"]
    assert {a["response_id"] for a in alerts} == {body["id"]}
    with app.app_context():
        assert db.session.scalars(select(Alert.kind).order_by(Alert.kind)).all() == [
            "reliable_deterioration",
            "toy_grumpy",
        ]

    # Charted.
    trend = api.get(f"/api/v1/patients/{world.patient_1}/trends/toy")
    assert trend.status_code == 200, trend.json
    assert [p["total"] for p in trend.json["points"]] == [0, 3]
    chart = api.get(f"/api/v1/patients/{world.patient_1}/trends/toy.svg")
    assert chart.status_code == 200
    assert chart.mimetype == "image/svg+xml"
    assert "<svg" in chart.get_data(as_text=True)
    assert api.get(f"/api/v1/patients/{world.patient_1}/trends/nope").status_code == 404

    # Exported as FHIR, in its own code system with its own display names.
    fhir = _fhir(app, rsa_key, ec_key)
    bundle = fhir.get(f"/fhir/Observation?patient={world.patient_1}")
    assert bundle.status_code == 200, bundle.json
    assert_valid(bundle.json)
    observations = [e["resource"] for e in bundle.json["entry"]]
    assert sorted(o["valueQuantity"]["value"] for o in observations) == [0, 3]
    assert observations[0]["code"]["coding"] == [
        {"system": TOY_SYSTEM, "code": "toy-total", "display": "Toy total score"}
    ]
    by_code = fhir.get(f"/fhir/Observation?patient={world.patient_1}&code={TOY_SYSTEM}|toy-total")
    assert len(by_code.json["entry"]) == 2
    questionnaire = fhir.get("/fhir/Questionnaire/toy")
    assert questionnaire.status_code == 200
    assert_valid(questionnaire.json)
    assert questionnaire.json["url"] == f"{CANONICAL}/Questionnaire/toy"
    assert questionnaire.json["code"] == [
        {"system": TOY_SYSTEM, "code": "toy-panel", "display": "Toy panel"}
    ]
    assert [i["linkId"] for i in questionnaire.json["item"]] == [
        "toy-stem",
        "toy-1",
        "toy-2",
        "/toy-total",
    ]
    qr = fhir.get(f"/fhir/QuestionnaireResponse/{body['id']}")
    assert qr.status_code == 200
    assert_valid(qr.json)
    assert qr.json["questionnaire"] == f"{CANONICAL}/Questionnaire/toy|1"

    # FHIR ingest reads it like any other Questionnaire.
    ingested = fhir.post(
        "/fhir/QuestionnaireResponse",
        _toy_resource(world.patient_1, [3, 0], f"{CANONICAL}/Questionnaire/toy"),
    )
    assert ingested.status_code == 201, ingested.json
    assert_valid(ingested.json)
    assert fhir.get(f"/fhir/Observation/{ingested.json['id']}").json["valueQuantity"] == {
        "value": 3,
        "unit": "{score}",
        "system": "http://unitsofmeasure.org",
        "code": "{score}",
    }

    # The patient's pages: listed, a form with its questions, crisis resources after its
    # crisis flag, and an alert for the clinic.
    patient = page_login(app, "patient.one@example.test")
    home = patient.get("/me").get_data(as_text=True)
    assert "/me/questionnaires/toy" in home
    form = patient.get("/me/questionnaires/toy")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert "Sleepy" in html and "Grumpy" in html and "In the last week" in html
    assert html.count('name="item-2"') == len(OPTIONS)
    sent = patient.post("/me/questionnaires/toy", {"item-1": "0", "item-2": "3"})
    assert sent.status_code == 303, sent.get_data(as_text=True)
    done = patient.get(sent.headers["Location"]).get_data(as_text=True)
    assert CRISIS_TEXT in done and "Your clinic has been alerted." in done
    calm = patient.post("/me/questionnaires/toy", {"item-1": "1", "item-2": "0"})
    assert CRISIS_TEXT not in patient.get(calm.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        stored = db.session.scalars(
            select(Response).where(Response.source == "patient").order_by(Response.id)
        ).all()
        assert [(r.instrument, r.answers, r.total) for r in stored] == [
            ("toy", [0, 3], 3),
            ("toy", [1, 0], 1),
        ]
    assert count(app, Alert, Alert.kind == "toy_grumpy") == 2

    # The clinician's pages: the patient page charts and lists it, the response page shows
    # its flag label, the inbox its alert label.
    clinician = as_clinician_a(world)
    page = clinician.get(f"/clinic/patients/{world.patient_1}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-instrument="toy"' in html and "TOY-2" in html
    assert 'class="item flagged"' in html  # item 2 of the flagged responses
    response_page = clinician.get(f"/clinic/responses/{body['id']}")
    assert response_page.status_code == 200
    html = response_page.get_data(as_text=True)
    assert "Item 2 (grumpy) endorsed" in html and "Grumpy" in html
    inbox = clinician.get("/clinic/alerts").get_data(as_text=True)
    assert "Grumpy most of the time (toy item 2)" in inbox


# --------------------------------------------------------------------------
# Two versions of one code
# --------------------------------------------------------------------------


def test_two_versions_of_one_code(world: World, rsa_key: object, ec_key: object) -> None:
    app = world.app
    api = world.as_clinician_a()
    old, new = toy("1", items=2), toy("2", items=3)
    with instruments.registered(old):
        # Stored while version 1 was the only one: 2 + 2 = 4.
        stored = _submit(world, [2, 2], "2026-03-01T09:30:00+00:00")
        assert stored.status_code == 201, stored.json
        old_id = stored.json["id"]
        with instruments.registered(new):
            assert instruments.get("toy") is new
            assert instruments.get("toy", "1") is old
            assert instruments.versions("toy") == (old, new)
            assert instruments.all()[-1] is new
            with pytest.raises(KeyError):
                instruments.get("toy", "3")

            # New submissions use the current version (three items).
            current = _submit(world, [1, 1, 1], "2026-03-02T09:30:00+00:00")
            assert current.status_code == 201, current.json
            assert current.json["instrument_version"] == "2"
            assert _submit(world, [1, 1], "2026-03-02T10:00:00+00:00").status_code == 422

            # The old row keeps its version and reads with its own definition.
            row = api.get(f"/api/v1/responses/{old_id}").json
            assert (row["instrument_version"], row["total"], row["answers"]) == ("1", 4, [2, 2])
            with app.app_context():
                report = run_check()
            assert report.responses_checked == 2 and report.mismatches == []

            # FHIR maps it with version 1: two items, the versioned canonical.
            fhir = _fhir(app, rsa_key, ec_key)
            qr = fhir.get(f"/fhir/QuestionnaireResponse/{old_id}").json
            assert_valid(qr)
            assert qr["questionnaire"] == f"{CANONICAL}/Questionnaire/toy|1"
            assert [i["linkId"] for i in qr["item"]] == ["toy-1", "toy-2", "/toy-total"]
            observation = fhir.get(f"/fhir/Observation/{old_id}").json
            assert_valid(observation)
            assert observation["valueQuantity"]["value"] == 4
            assert fhir.get("/fhir/Questionnaire/toy").json["version"] == "2"
            searched = fhir.get(
                f"/fhir/QuestionnaireResponse?patient={world.patient_1}"
                f"&questionnaire={CANONICAL}/Questionnaire/toy|1"
            ).json
            assert [e["resource"]["id"] for e in searched["entry"]] == [str(old_id)]

            # An amendment of the old row is scored by version 1 and stays version 1.
            amended = api.post(
                f"/api/v1/responses/{old_id}/amend", json={"answers": [0, 1], "reason": "typo"}
            )
            assert amended.status_code == 201, amended.json
            assert (amended.json["instrument_version"], amended.json["total"]) == ("1", 1)

            # The clinician's page of the old row shows version 1's two questions.
            html = as_clinician_a(world).get(f"/clinic/responses/{old_id}").get_data(as_text=True)
            assert "Sleepy" in html and "Grumpy" in html and "Hungry" not in html

            # FHIR ingest: any registered version; none means the current one.
            for questionnaire, answers, version in (
                (f"{CANONICAL}/Questionnaire/toy|1", [1, 0], "1"),
                (f"{CANONICAL}/Questionnaire/toy|2", [1, 0, 1], "2"),
                (f"{CANONICAL}/Questionnaire/toy", [0, 0, 1], "2"),
            ):
                created = fhir.post(
                    "/fhir/QuestionnaireResponse",
                    _toy_resource(world.patient_1, answers, questionnaire),
                )
                assert created.status_code == 201, created.json
                row = api.get(f"/api/v1/responses/{created.json['id']}").json
                assert (row["instrument_version"], row["answers"]) == (version, answers)
            unknown = fhir.post(
                "/fhir/QuestionnaireResponse",
                _toy_resource(world.patient_1, [1, 0], f"{CANONICAL}/Questionnaire/toy|9"),
            )
            assert unknown.status_code == 422
            assert_valid(unknown.json)
            assert "this server has version 1, 2" in unknown.json["issue"][0]["diagnostics"]
    assert "toy" not in instruments.codes()
