"""Unit tests for tracker.fhir.ingest: round trips, every rejection path, and fuzzing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracker.instruments as instruments
from tracker.fhir.ingest import FhirInvalid, ParsedResponse, parse_questionnaire_response
from tracker.fhir.mapping import (
    ResponseView,
    questionnaire_resource,
    questionnaire_response_resource,
)
from tracker.instruments import GAD7, PCL5, PHQ9, Instrument

BASE = "https://tracker.example.org/fhir"
COMPLETED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
API_EXAMPLE = (2, 1, 3, 0, 1, 2, 1, 0, 1)
PCL5_TWO_SKIPPED = (None,) + (3,) * 9 + (None,) + (2,) * 9

FUZZ = settings(
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)


def view(
    instrument: Instrument = PHQ9,
    answers: tuple[int | None, ...] = API_EXAMPLE,
    **overrides: Any,
) -> ResponseView:
    result = instruments.score(instrument, list(answers))
    fields: dict[str, Any] = {
        "logical_id": 7,
        "patient_id": 42,
        "instrument": instrument.code,
        "instrument_version": instrument.version,
        "answers": tuple(answers),
        "difficulty": None,
        "total": result.total,
        "prorated": result.prorated,
        "severity": result.severity.code,
        "status": "final",
        "amended": False,
        "version": 1,
        "completed_at": COMPLETED,
        "recorded_at": COMPLETED,
        "updated_at": COMPLETED,
        "source": "patient",
    }
    fields.update(overrides)
    return ResponseView(**fields)


def valid(**overrides: Any) -> dict[str, Any]:
    """A valid PHQ-9 QuestionnaireResponse (docs/api.md, "Responses" example; difficulty 2)."""
    qr = questionnaire_response_resource(view(difficulty=2), BASE)
    qr.update(overrides)
    return qr


def parse(resource: object) -> ParsedResponse:
    return parse_questionnaire_response(resource, BASE)


def issues_of(resource: object) -> list[tuple[str, str, str, str | None]]:
    with pytest.raises(FhirInvalid) as caught:
        parse(resource)
    issues = caught.value.issues
    assert issues, "FhirInvalid without issues"
    assert all(i[0] == "error" for i in issues)
    return issues


def only_issue(resource: object) -> tuple[str, str | None]:
    """(code, expression) of the single issue raised for ``resource``."""
    issues = issues_of(resource)
    assert len(issues) == 1, issues
    return issues[0][1], issues[0][3]


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "answers", "difficulty"),
    [
        (PHQ9, API_EXAMPLE, 1),
        (PHQ9, (3,) * 9, None),
        (GAD7, (0, 1, 2, 3, 0, 1, 2), None),
        (PCL5, PCL5_TWO_SKIPPED, None),
        (PCL5, tuple(v % 5 for v in range(20)), None),
    ],
)
def test_round_trip(
    instrument: Instrument, answers: tuple[int | None, ...], difficulty: int | None
) -> None:
    local = datetime(2026, 3, 1, 4, 30, 15, 250000, tzinfo=timezone(timedelta(hours=-5)))
    r = view(instrument, answers, difficulty=difficulty, completed_at=local, patient_id=99)
    parsed = parse(questionnaire_response_resource(r, BASE))
    assert parsed == ParsedResponse(
        instrument=instrument.code,
        instrument_version=instrument.version,
        answers=answers,
        difficulty=difficulty,
        authored=local,
        patient_id=99,
        identifier=None,
    )
    assert parsed.authored.utcoffset() == timedelta(hours=-5)


def test_round_trip_identifier() -> None:
    r = view(identifier=("urn:ehr:forms", "F-1"))
    parsed = parse(questionnaire_response_resource(r, BASE))
    assert parsed.identifier == ("urn:ehr:forms", "F-1")


def test_api_example_values() -> None:
    parsed = parse(valid())
    assert parsed.instrument == "phq9"
    assert parsed.answers == API_EXAMPLE
    assert parsed.difficulty == 2
    assert parsed.patient_id == 42
    assert parsed.authored == COMPLETED
    # The parsed answers score like the JSON API's worked example.
    result = instruments.score(PHQ9, list(parsed.answers))
    assert (result.total, result.severity.code) == (11, "moderate")


# --------------------------------------------------------------------------
# Accepted variants
# --------------------------------------------------------------------------


def _integer_answers(qr: dict[str, Any], values: dict[str, int]) -> None:
    for item in qr["item"]:
        if item["linkId"] in values:
            item["answer"] = [{"valueInteger": values[item["linkId"]]}]


def test_value_integer_answers() -> None:
    qr = valid()
    links = [f"/{i.loinc}" for i in PHQ9.items]
    _integer_answers(qr, dict(zip(links, API_EXAMPLE, strict=True)) | {"/69722-7": 3})
    parsed = parse(qr)
    assert parsed.answers == API_EXAMPLE
    assert parsed.difficulty == 3


def test_tolerated_variations() -> None:
    qr = valid(
        questionnaire=f"{BASE}/Questionnaire/phq9",  # no |version
        subject={"reference": f"{BASE}/Patient/42", "display": "Alex"},  # absolute, our base
        authored="2026-03-01T09:30:00.5Z",
        meta={"profile": ["urn:anything"]},
        text={"status": "generated", "div": "<div/>"},
    )
    qr["item"][0]["answer"][0]["valueCoding"]["display"] = "whatever the form showed"
    qr["item"][-1]["answer"] = [{"valueString": "not a number"}]  # the total is ignored
    qr["item"].insert(0, {"linkId": "phq9-stem", "text": "Over the last 2 weeks…"})
    qr["item"].reverse()  # order does not matter
    parsed = parse(qr)
    assert parsed.answers == API_EXAMPLE
    assert parsed.patient_id == 42
    assert parsed.authored == datetime(2026, 3, 1, 9, 30, 0, 500000, tzinfo=UTC)


def test_missing_items_become_none() -> None:
    qr = valid()
    qr["item"] = [i for i in qr["item"] if i["linkId"] not in ("/44250-9", "/69722-7")]
    parsed = parse(qr)
    assert parsed.answers == (None,) + API_EXAMPLE[1:]
    assert parsed.difficulty is None
    # The scoring core, not the parser, refuses it (PHQ-9 requires every item).
    with pytest.raises(instruments.InvalidAnswers):
        instruments.score(PHQ9, list(parsed.answers))
    del qr["item"]
    assert parse(qr).answers == (None,) * 9


def test_pcl5_answer_codes_use_our_code_system() -> None:
    qr = questionnaire_response_resource(view(PCL5, PCL5_TWO_SKIPPED), BASE)
    first = qr["item"][0]
    assert first["linkId"] == "pcl5-2"
    assert first["answer"][0]["valueCoding"]["system"] == f"{BASE}/CodeSystem/pcl5-answers"
    # Same code, LOINC system: not one of the options.
    first["answer"][0]["valueCoding"]["system"] = "http://loinc.org"
    assert only_issue(qr) == ("code-invalid", "QuestionnaireResponse.item[0].answer[0]")


def test_every_answer_option_of_our_questionnaires_is_accepted() -> None:
    for instrument in instruments.all():
        q = questionnaire_resource(instrument, BASE)
        for question in q["item"]:
            for option in question.get("answerOption", []):
                qr = questionnaire_response_resource(
                    view(instrument, tuple(i.values[0] for i in instrument.items)), BASE
                )
                qr["item"] = [{"linkId": question["linkId"], "answer": [option]}]
                # An answerOption carries extensions; an answer only needs the value.
                qr["item"][0]["answer"] = [{"valueCoding": option["valueCoding"]}]
                parsed = parse(qr)
                chosen = [a for a in parsed.answers if a is not None]
                assert chosen or parsed.difficulty is not None


# --------------------------------------------------------------------------
# Rejections: each path with its issue code and expression
# --------------------------------------------------------------------------

ROOT = "QuestionnaireResponse"


@pytest.mark.parametrize(
    "resource",
    [None, [], "QuestionnaireResponse", 3, 2.5, True, ["resourceType"]],
)
def test_not_an_object(resource: object) -> None:
    assert only_issue(resource) == ("structure", None)


@pytest.mark.parametrize(
    ("kind", "expression"),
    [("Observation", f"{ROOT}.resourceType"), (None, None), (["x"], f"{ROOT}.resourceType")],
)
def test_wrong_resource_type(kind: object, expression: str | None) -> None:
    qr = valid()
    if kind is None:
        del qr["resourceType"]
    else:
        qr["resourceType"] = kind
    assert only_issue(qr) == ("structure", expression)


@pytest.mark.parametrize("status", ["in-progress", "amended", "entered-in-error", "stopped", 1])
def test_status_other_than_completed(status: object) -> None:
    assert only_issue(valid(status=status)) == ("business-rule", f"{ROOT}.status")


def test_status_missing() -> None:
    qr = valid()
    del qr["status"]
    assert only_issue(qr) == ("required", f"{ROOT}.status")


@pytest.mark.parametrize(
    ("questionnaire", "code"),
    [
        (f"{BASE}/Questionnaire/phq9|2", "not-supported"),
        (f"{BASE}/Questionnaire/phq9|", "not-supported"),
        (f"{BASE}/Questionnaire/bdi", "not-supported"),
        # Outside canonicals are accepted only for their own instrument (issue 16).
        ("http://hl7.org/fhir/us/core/Questionnaire/gad-7", "not-supported"),
        ("http://loinc.org/q/", "not-supported"),
        ("https://other.example.org/fhir/Questionnaire/phq9", "not-supported"),
        ("Questionnaire/phq9", "not-supported"),
        (42, "structure"),
        ({"reference": "Questionnaire/phq9"}, "structure"),
    ],
)
def test_bad_questionnaire(questionnaire: object, code: str) -> None:
    assert only_issue(valid(questionnaire=questionnaire)) == (code, f"{ROOT}.questionnaire")


def test_questionnaire_missing() -> None:
    qr = valid()
    del qr["questionnaire"]
    assert only_issue(qr) == ("required", f"{ROOT}.questionnaire")


@pytest.mark.parametrize(
    ("subject", "code", "expression"),
    [
        (None, "required", f"{ROOT}.subject"),
        ("Patient/42", "structure", f"{ROOT}.subject"),
        ({}, "required", f"{ROOT}.subject.reference"),
        ({"reference": "Patient/abc"}, "value", f"{ROOT}.subject.reference"),
        ({"reference": "Patient/042"}, "value", f"{ROOT}.subject.reference"),
        ({"reference": "Patient/0"}, "value", f"{ROOT}.subject.reference"),
        ({"reference": "Patient/2147483648"}, "value", f"{ROOT}.subject.reference"),
        ({"reference": "Patient/99999999999"}, "value", f"{ROOT}.subject.reference"),
        ({"reference": "Group/42"}, "value", f"{ROOT}.subject.reference"),
        ({"reference": "Patient/42/_history/1"}, "value", f"{ROOT}.subject.reference"),
        ({"reference": "https://evil.example/Patient/42"}, "value", f"{ROOT}.subject.reference"),
        ({"reference": "Patient/٤٢"}, "value", f"{ROOT}.subject.reference"),  # Arabic digits
        ({"reference": 42}, "value", f"{ROOT}.subject.reference"),
    ],
)
def test_bad_subject(subject: object, code: str, expression: str) -> None:
    qr = valid()
    if subject is None:
        del qr["subject"]
    else:
        qr["subject"] = subject
    assert only_issue(qr) == (code, expression)


def test_largest_patient_id() -> None:
    assert parse(valid(subject={"reference": "Patient/2147483647"})).patient_id == 2147483647


@pytest.mark.parametrize(
    "authored",
    [
        # A date only, or no offset, is read in the clinic's zone (issue 16; tested in
        # tests/fhir/test_ehr_ingest.py).
        "2026-03",  # too imprecise to be a completion time
        "2026-03-01T09:30",  # no seconds, no offset
        "2026-03-01T09:30+00:00",  # no seconds
        "2026-03-01 09:30:00+00:00",  # space instead of T
        "2026-02-30T09:30:00+00:00",  # no such day
        "2026-03-01T24:00:00+00:00",
        "2026-03-01T09:30:60Z",  # leap second: FHIR allows it, Python cannot hold it
        "2026-03-01T09:30:00+15:00",  # beyond FHIR's ±14:00
        "2026-03-01T09:30:00+14:30",
        "2026-03-01T09:30:00+05:75",
        "20260301T093000Z",  # ISO basic format is not FHIR
        "2026-03-01T09:30:00+00:00\n",
        "２０２６-03-01T09:30:00Z",  # full-width digits
        "",
        20260301,
        ["2026-03-01T09:30:00Z"],
    ],
)
def test_bad_authored(authored: object) -> None:
    assert only_issue(valid(authored=authored)) == ("value", f"{ROOT}.authored")


def test_authored_missing() -> None:
    qr = valid()
    del qr["authored"]
    assert only_issue(qr) == ("required", f"{ROOT}.authored")


@pytest.mark.parametrize(
    ("authored", "expected"),
    [
        ("2026-03-01T09:30:00Z", COMPLETED),
        ("2026-03-01T14:00:00+14:00", datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
        ("2026-03-01T09:30:00.123456789-03:30", datetime(2026, 3, 1, 13, 0, 0, 123456, UTC)),
    ],
)
def test_good_authored(authored: str, expected: datetime) -> None:
    parsed = parse(valid(authored=authored))
    assert parsed.authored == expected
    assert parsed.authored.tzinfo is not None


@pytest.mark.parametrize(
    ("identifier", "code", "expression"),
    [
        ([{"system": "urn:x", "value": "1"}], "structure", f"{ROOT}.identifier"),
        ("urn:x|1", "structure", f"{ROOT}.identifier"),
        ({"value": "1"}, "required", f"{ROOT}.identifier.system"),
        ({"system": "urn:x"}, "required", f"{ROOT}.identifier.value"),
        ({"system": "urn:x", "value": ""}, "required", f"{ROOT}.identifier.value"),
        ({"system": "urn:x", "value": 1}, "structure", f"{ROOT}.identifier.value"),
        ({"system": "urn:x", "value": "v" * 256}, "too-long", f"{ROOT}.identifier.value"),
    ],
)
def test_bad_identifier(identifier: object, code: str, expression: str) -> None:
    assert only_issue(valid(identifier=identifier)) == (code, expression)


def test_identifier_at_the_length_limit() -> None:
    parsed = parse(valid(identifier={"system": "s" * 255, "value": "v" * 255}))
    assert parsed.identifier == ("s" * 255, "v" * 255)


def _with_item(index: int, **changes: Any) -> dict[str, Any]:
    qr = valid()
    qr["item"][index].update(changes)
    return qr


@pytest.mark.parametrize(
    ("resource", "code", "expression"),
    [
        (valid(item={"linkId": "/44250-9"}), "structure", f"{ROOT}.item"),
        (valid(item=["/44250-9"]), "structure", f"{ROOT}.item[0]"),
        (_with_item(3, linkId="/99999-9"), "value", f"{ROOT}.item[3].linkId"),
        (_with_item(3, linkId=["/44254-1"]), "value", f"{ROOT}.item[3].linkId"),
        (_with_item(3, linkId="gad7-1"), "value", f"{ROOT}.item[3].linkId"),
        (_with_item(3, linkId="/69725-0"), "value", f"{ROOT}.item[3].linkId"),  # a GAD-7 item
        (_with_item(3, linkId="/44250-9"), "duplicate", f"{ROOT}.item[3].linkId"),
        (_with_item(3, answer=[]), "required", f"{ROOT}.item[3].answer"),
        (_with_item(3, answer=None), "required", f"{ROOT}.item[3].answer"),
        (_with_item(3, answer={"valueInteger": 1}), "structure", f"{ROOT}.item[3].answer"),
        (
            _with_item(3, answer=[{"valueInteger": 1}, {"valueInteger": 2}]),
            "structure",
            f"{ROOT}.item[3].answer",
        ),
        (
            _with_item(3, item=[{"linkId": "x", "answer": [{"valueInteger": 1}]}]),
            "structure",
            f"{ROOT}.item[3].item",
        ),
    ],
)
def test_bad_items(resource: dict[str, Any], code: str, expression: str) -> None:
    assert only_issue(resource) == (code, expression)


def test_item_without_link_id() -> None:
    qr = valid()
    del qr["item"][3]["linkId"]
    assert only_issue(qr) == ("required", f"{ROOT}.item[3].linkId")


ANSWER = f"{ROOT}.item[3].answer[0]"
LOINC = "http://loinc.org"


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ({"valueString": "Several days"}, "value"),
        ({"valueDecimal": 1.0}, "value"),
        ({"valueDecimal": 1}, "value"),
        ({"valueBoolean": True}, "value"),
        ({"valueInteger": True}, "value"),
        ({"valueInteger": 1.0}, "value"),
        ({"valueInteger": 4}, "value"),  # out of range for PHQ-9
        ({"valueInteger": -1}, "value"),
        ({"valueInteger": "1"}, "value"),
        ({"valueInteger": None}, "value"),
        ({"valueInteger": 10**40}, "value"),
        ({"valueCoding": {"system": LOINC, "code": "LA6572-7"}}, "code-invalid"),  # difficulty
        ({"valueCoding": {"system": "http://snomed.info/sct", "code": "LA6569-3"}}, "code-invalid"),
        ({"valueCoding": {"code": "LA6569-3"}}, "code-invalid"),  # no system
        ({"valueCoding": {"system": LOINC}}, "code-invalid"),
        ({"valueCoding": {"system": LOINC, "code": ["LA6569-3"]}}, "code-invalid"),
        ({"valueCoding": "LA6569-3"}, "code-invalid"),
        (
            {"valueCoding": {"system": f"{BASE}/CodeSystem/phq9-answers", "code": "1"}},
            "code-invalid",
        ),
        ({"valueInteger": 1, "valueCoding": {"system": LOINC, "code": "LA6569-3"}}, "structure"),
        ({}, "structure"),
        ({"extension": []}, "structure"),
        ("LA6569-3", "structure"),
        ({"valueInteger": 1, "item": []}, "structure"),
    ],
)
def test_bad_answer_values(answer: object, code: str) -> None:
    qr = valid()
    qr["item"][3]["answer"] = [answer]
    assert only_issue(qr) == (code, ANSWER)


def test_bad_difficulty_answer() -> None:
    qr = valid()
    assert qr["item"][9]["linkId"] == "/69722-7"
    qr["item"][9]["answer"] = [{"valueCoding": {"system": LOINC, "code": "LA6570-1"}}]
    assert only_issue(qr) == ("code-invalid", f"{ROOT}.item[9].answer[0]")


def test_gad7_has_no_difficulty_item() -> None:
    qr = questionnaire_response_resource(view(GAD7, (1,) * 7), BASE)
    qr["item"].append({"linkId": "/69722-7", "answer": [{"valueInteger": 1}]})
    assert only_issue(qr) == ("value", f"{ROOT}.item[8].linkId")


def test_all_problems_are_reported_together() -> None:
    qr = valid(status="in-progress", authored="2026-03-01T09", subject={"reference": "x"})
    qr["item"][0]["answer"] = [{"valueInteger": 9}]
    qr["item"][5]["linkId"] = "nope"
    issues = issues_of(qr)
    assert [(i[1], i[3]) for i in issues] == [
        ("business-rule", f"{ROOT}.status"),
        ("value", f"{ROOT}.subject.reference"),
        ("value", f"{ROOT}.authored"),
        ("value", f"{ROOT}.item[0].answer[0]"),
        ("value", f"{ROOT}.item[5].linkId"),
    ]
    assert all(i[2] for i in issues)  # every issue has diagnostics


def test_fhir_invalid_is_a_value_error_with_a_message() -> None:
    with pytest.raises(ValueError, match='only "completed"'):
        parse(valid(status="stopped"))


def test_items_are_not_checked_against_an_unknown_questionnaire() -> None:
    qr = valid(questionnaire=f"{BASE}/Questionnaire/bdi")
    qr["item"].append({"linkId": "rubbish"})
    assert only_issue(qr) == ("not-supported", f"{ROOT}.questionnaire")


# --------------------------------------------------------------------------
# Properties: round trip, and nothing but FhirInvalid for any JSON
# --------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "QuestionnaireResponse",
            "completed",
            "Patient/1",
            "/44250-9",
            "LA6569-3",
            "http://loinc.org",
            f"{BASE}/Questionnaire/pcl5|1",
            "2026-03-01T09:30:00+00:00",
            "valueCoding",
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=12)
            | st.sampled_from(
                [
                    "resourceType",
                    "item",
                    "answer",
                    "linkId",
                    "valueCoding",
                    "valueInteger",
                    "system",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@FUZZ
@given(json_values)
def test_random_json_only_raises_fhir_invalid(resource: object) -> None:
    try:
        parse(resource)
    except FhirInvalid as exc:
        assert exc.issues


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys/indices) into a JSON structure, the root included."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_resources(draw: st.DrawFn) -> object:
    instrument = draw(st.sampled_from(instruments.all()))
    answers = tuple(draw(st.sampled_from(i.values)) for i in instrument.items)
    resource: object = questionnaire_response_resource(view(instrument, answers), BASE)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(resource)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        value = draw(json_values)
        if not path:
            resource = value
            continue
        parent: Any = resource
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if action == "replace":
            parent[last] = value
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, list):
            parent.insert(last, value)
        else:
            parent[draw(st.text(max_size=12))] = value
    return resource


@FUZZ
@given(mutated_resources())
def test_mutated_resources_only_raise_fhir_invalid(resource: object) -> None:
    before = copy.deepcopy(resource)
    try:
        result = parse(resource)
    except FhirInvalid as exc:
        assert exc.issues
    else:
        assert isinstance(result, ParsedResponse)
        assert result.authored.tzinfo is not None
        assert 1 <= result.patient_id <= 2**31 - 1
    # Never mutates its input (`is` first: deepcopy keeps a bare float, and NaN != NaN).
    assert resource is before or resource == before


@st.composite
def head_views(draw: st.DrawFn) -> ResponseView:
    instrument = draw(st.sampled_from(instruments.all()))
    answers: list[int | None] = [draw(st.sampled_from(i.values)) for i in instrument.items]
    skipped = draw(st.sets(st.integers(0, instrument.item_count - 1), max_size=2))
    for index in skipped if instrument.max_missing else ():
        answers[index] = None
    difficulty = None
    if instrument.difficulty is not None:
        difficulty = draw(st.none() | st.sampled_from(instrument.difficulty.values))
    minutes = draw(st.integers(-12 * 60, 14 * 60))
    completed = draw(
        st.datetimes(
            datetime(1900, 1, 1),
            datetime(2200, 1, 1),
            timezones=st.just(timezone(timedelta(minutes=minutes))),
        )
    )
    identifier = draw(
        st.none() | st.tuples(st.just("urn:ehr:forms"), st.text(min_size=1, max_size=255))
    )
    return view(
        instrument,
        tuple(answers),
        difficulty=difficulty,
        completed_at=completed,
        patient_id=draw(st.integers(1, 2**31 - 1)),
        identifier=identifier,
    )


@settings(database=None, deadline=None, max_examples=200)
@given(head_views())
def test_round_trip_property(r: ResponseView) -> None:
    parsed = parse(questionnaire_response_resource(r, BASE))
    assert parsed.instrument == r.instrument
    assert parsed.answers == r.answers
    assert parsed.difficulty == r.difficulty
    assert parsed.authored == r.completed_at
    assert parsed.authored.utcoffset() == r.completed_at.utcoffset()
    assert parsed.patient_id == r.patient_id
    assert parsed.identifier == r.identifier
