"""Unit tests for tracker.fhir.mapping: every emitted resource is valid R4 + US Core checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracker.instruments as instruments
from tests.fhir_checks import assert_valid
from tracker.fhir import mapping
from tracker.fhir.mapping import (
    LOINC,
    OPTION_PREFIX,
    ORDINAL_VALUE,
    UCUM,
    US_CORE_PATIENT,
    US_CORE_QUESTIONNAIRE_RESPONSE,
    US_CORE_SCREENING_ASSESSMENT,
    PatientView,
    ResponseView,
    fhir_status_observation,
    fhir_status_questionnaire_response,
    meta,
    observation_resource,
    operation_outcome,
    patient_resource,
    questionnaire_resource,
    questionnaire_response_resource,
    questionnaire_url,
)
from tracker.instruments import GAD7, PCL5, PHQ9, Instrument

BASE = "https://tracker.example.org/fhir"
EASTERN = timezone(timedelta(hours=-5))
COMPLETED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
RECORDED = datetime(2026, 3, 1, 9, 31, 5, tzinfo=UTC)
UPDATED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
API_EXAMPLE = (2, 1, 3, 0, 1, 2, 1, 0, 1)  # docs/api.md, "Responses": total 11, moderate

PROPERTY = settings(database=None, deadline=None, max_examples=40)


def view(
    instrument: Instrument = PHQ9,
    answers: tuple[int | None, ...] = API_EXAMPLE,
    **overrides: Any,
) -> ResponseView:
    """A head-row view scored by the real core, so total/band/prorated are consistent."""
    result = instruments.score(instrument, list(answers))
    fields: dict[str, Any] = {
        "logical_id": 901,
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
        "recorded_at": RECORDED,
        "updated_at": UPDATED,
        "source": "patient",
    }
    fields.update(overrides)
    return ResponseView(**fields)


PCL5_TWO_SKIPPED = (
    (None,) + (3,) * 9 + (None,) + (2,) * 9
)  # items 1 and 11 skipped: sum 45 over 18 → 50


# --------------------------------------------------------------------------
# Observation
# --------------------------------------------------------------------------


def test_api_example_observation() -> None:
    r = view(difficulty=1)
    obs = observation_resource(r)
    assert_valid(obs)
    assert obs["resourceType"] == "Observation"
    assert obs["id"] == "901"
    assert obs["meta"] == {
        "versionId": "1",
        "lastUpdated": "2026-03-02T08:00:00+00:00",
        "profile": [US_CORE_SCREENING_ASSESSMENT],
    }
    assert obs["status"] == "final"
    assert obs["category"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "survey",
                    "display": "Survey",
                }
            ]
        }
    ]
    display = "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"
    assert obs["code"] == {
        "coding": [{"system": LOINC, "code": "44261-6", "display": display}],
        "text": display,
    }
    assert obs["subject"] == {"reference": "Patient/42"}
    assert obs["effectiveDateTime"] == "2026-03-01T09:30:00+00:00"
    assert obs["issued"] == "2026-03-01T09:31:05+00:00"
    assert obs["valueQuantity"] == {
        "value": 11,
        "unit": "{score}",
        "system": UCUM,
        "code": "{score}",
    }
    # The severity band, then the PHQ-9 depressive syndrome the answers meet (4 symptoms
    # with a core one: "other").
    assert obs["interpretation"] == [
        {"text": "Moderate"},
        {"text": "Other depressive syndrome (PHQ-9 algorithm, provisional)"},
    ]
    assert obs["derivedFrom"] == [{"reference": "QuestionnaireResponse/901"}]
    # docs/fhir.md, "Observations": a derived total carries no performer; nothing to note
    # when not prorated.
    assert "performer" not in obs
    assert "note" not in obs
    assert "valueInteger" not in obs and "valueString" not in obs


def test_interpretation_coding_with_canonical_base() -> None:
    obs = observation_resource(view(), canonical_base=BASE + "/")
    assert_valid(obs)
    assert obs["interpretation"] == [
        {
            "text": "Moderate",
            "coding": [
                {
                    "system": f"{BASE}/CodeSystem/phq9-severity",
                    "code": "moderate",
                    "display": "Moderate",
                }
            ],
        },
        {
            "text": "Other depressive syndrome (PHQ-9 algorithm, provisional)",
            "coding": [
                {
                    "system": f"{BASE}/CodeSystem/phq9-syndrome",
                    "code": "other",
                    "display": "Other depressive syndrome (PHQ-9 algorithm, provisional)",
                }
            ],
        },
    ]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ((2, 0, 2, 2, 2, 2, 0, 0, 0), "major"),
        ((2, 2, 0, 0, 0, 0, 0, 0, 1), "other"),
        ((0, 0, 3, 3, 3, 3, 3, 3, 0), None),  # no core symptom: no second interpretation
    ],
)
def test_depressive_syndrome_is_a_second_interpretation(answers, expected) -> None:  # type: ignore[no-untyped-def]
    total = sum(answers)
    band = PHQ9.band_for(total).code
    obs = observation_resource(
        replace(view(), answers=answers, total=total, severity=band), canonical_base=BASE
    )
    assert_valid(obs)
    codes = [
        c["code"]
        for concept in obs["interpretation"][1:]
        for c in concept["coding"]
        if c["system"].endswith("/CodeSystem/phq9-syndrome")
    ]
    assert codes == ([expected] if expected else [])
    assert len(obs["interpretation"]) == (2 if expected else 1)


@pytest.mark.parametrize(
    ("instrument", "code", "display"),
    [
        (PHQ9, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
        (
            GAD7,
            "70274-6",
            "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
        ),
        (PCL5, "101698-9", "PTSD PCL-5 score [PCL-5]"),
    ],
)
def test_total_codes_per_instrument(instrument: Instrument, code: str, display: str) -> None:
    answers = tuple(item.values[1] for item in instrument.items)
    obs = observation_resource(view(instrument, answers))
    assert_valid(obs)
    assert obs["code"]["coding"] == [{"system": LOINC, "code": code, "display": display}]
    assert obs["code"]["text"] == display
    assert obs["valueQuantity"]["value"] == instrument.item_count


def test_prorated_total_has_a_note() -> None:
    r = view(PCL5, PCL5_TWO_SKIPPED)
    assert r.prorated and r.total == 50
    obs = observation_resource(r)
    assert_valid(obs)
    assert obs["valueQuantity"]["value"] == 50
    assert obs["interpretation"] == [{"text": "Probable PTSD (provisional)"}]
    (note,) = obs["note"]
    assert note["text"].startswith("Prorated total: 2 of 20 items were skipped")
    assert "18 answered" in note["text"]


def test_entered_in_error_keeps_its_value() -> None:
    obs = observation_resource(view(status="entered-in-error", amended=True, version=3))
    assert_valid(obs)
    assert obs["status"] == "entered-in-error"
    assert obs["valueQuantity"]["value"] == 11
    assert obs["meta"]["versionId"] == "3"


def test_offsets_are_kept() -> None:
    local = datetime(2026, 3, 1, 4, 30, tzinfo=EASTERN)
    obs = observation_resource(view(completed_at=local))
    assert_valid(obs)
    assert obs["effectiveDateTime"] == "2026-03-01T04:30:00-05:00"


@pytest.mark.parametrize("field", ["completed_at", "recorded_at", "updated_at"])
def test_naive_datetimes_are_refused(field: str) -> None:
    naive = datetime(2026, 3, 1, 9, 30)
    with pytest.raises(ValueError, match="naive"):
        observation_resource(view(**{field: naive}))
    if field != "recorded_at":  # the QuestionnaireResponse has no recorded time
        with pytest.raises(ValueError, match="naive"):
            questionnaire_response_resource(view(**{field: naive}), BASE)


def test_inconsistent_views_are_refused() -> None:
    good = view()
    with pytest.raises(ValueError, match="expected 9 answers"):
        observation_resource(replace(good, answers=(1, 2, 3)))
    with pytest.raises(ValueError, match="unknown severity"):
        observation_resource(replace(good, severity="catastrophic"))
    with pytest.raises(KeyError):
        observation_resource(replace(good, instrument="bdi"))
    with pytest.raises(ValueError, match="not an option value"):
        questionnaire_response_resource(replace(good, answers=(7,) + API_EXAMPLE[1:]), BASE)
    with pytest.raises(ValueError, match="no difficulty"):
        questionnaire_response_resource(view(GAD7, (0,) * 7, difficulty=1), BASE)


# --------------------------------------------------------------------------
# Status mapping table
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "amended", "observation", "questionnaire_response"),
    [
        ("final", False, "final", "completed"),
        ("final", True, "amended", "amended"),
        ("entered-in-error", False, "entered-in-error", "entered-in-error"),
        ("entered-in-error", True, "entered-in-error", "entered-in-error"),
    ],
)
def test_status_mapping(
    status: str, amended: bool, observation: str, questionnaire_response: str
) -> None:
    r = view(status=status, amended=amended, version=2 if amended else 1)
    assert fhir_status_observation(r) == observation
    assert fhir_status_questionnaire_response(r) == questionnaire_response
    obs = observation_resource(r)
    qr = questionnaire_response_resource(r, BASE)
    assert_valid(obs)
    assert_valid(qr)
    assert obs["status"] == observation
    assert qr["status"] == questionnaire_response


@pytest.mark.parametrize("status", ["amended", "preliminary", "", "FINAL"])
def test_unexpected_row_status_is_a_bug(status: str) -> None:
    with pytest.raises(ValueError, match="status"):
        fhir_status_observation(view(status=status))
    with pytest.raises(ValueError, match="status"):
        fhir_status_questionnaire_response(view(status=status))


# --------------------------------------------------------------------------
# Questionnaire
# --------------------------------------------------------------------------


def test_questionnaire_url() -> None:
    assert questionnaire_url(BASE, "phq9") == f"{BASE}/Questionnaire/phq9"
    assert questionnaire_url(BASE + "/", "gad7") == f"{BASE}/Questionnaire/gad7"


@pytest.mark.parametrize("instrument", instruments.all(), ids=lambda i: i.code)
def test_questionnaire_header(instrument: Instrument) -> None:
    q = questionnaire_resource(instrument, BASE)
    assert_valid(q)
    assert q["id"] == instrument.code
    assert q["url"] == questionnaire_url(BASE, instrument.code)
    assert q["version"] == instrument.version
    assert q["name"] == instrument.name.replace("-", "")
    assert q["title"] == instrument.title
    assert q["status"] == "active"
    assert q["subjectType"] == ["Patient"]
    assert q["copyright"] == instrument.licence
    assert [(c["system"], c["code"]) for c in q["code"]] == [(LOINC, instrument.codes.panel)]
    assert instrument.stem in q["item"][0]["text"]
    assert q["item"][0]["type"] == "display"


def test_questionnaire_description_states_the_skip_rule() -> None:
    pcl5 = questionnaire_resource(PCL5, BASE)["description"]
    assert "At most 2 of the 20 items may be skipped" in pcl5
    assert "prorated" in pcl5
    assert "Every scored item must be answered" in questionnaire_resource(PHQ9, BASE)["description"]


def _expected_coding(instrument: Instrument, value: int, loinc: str | None, label: str) -> dict:
    if loinc:
        return {"system": LOINC, "code": loinc, "display": label}
    return {
        "system": f"{BASE}/CodeSystem/{instrument.code}-answers",
        "code": str(value),
        "display": label,
    }


@pytest.mark.parametrize("instrument", instruments.all(), ids=lambda i: i.code)
def test_questionnaire_items_match_the_definition(instrument: Instrument) -> None:
    q = questionnaire_resource(instrument, BASE)
    items = q["item"][1:]  # after the stem display item
    has_difficulty = instrument.difficulty is not None
    assert len(items) == instrument.item_count + int(has_difficulty) + 1

    for item, question in zip(instrument.items, items, strict=False):
        if item.loinc:
            assert question["linkId"] == f"/{item.loinc}"
            assert question["code"] == [{"system": LOINC, "code": item.loinc}]
        else:
            assert question["linkId"] == f"{instrument.code}-{item.number}"
            assert "code" not in question
        assert question["text"] == item.text
        assert question["prefix"] == str(item.number)
        assert question["type"] == "choice"
        assert question["required"] is True
        assert len(question["answerOption"]) == len(item.options)
        for option, answer in zip(item.options, question["answerOption"], strict=True):
            assert answer["valueCoding"] == _expected_coding(
                instrument, option.value, option.loinc, option.label
            )
            assert answer["extension"] == [
                {"url": OPTION_PREFIX, "valueString": str(option.value)},
                {"url": ORDINAL_VALUE, "valueDecimal": option.value},
            ]

    link_ids = [i["linkId"] for i in q["item"]]
    assert len(set(link_ids)) == len(link_ids)

    total = items[-1]
    assert total["linkId"] == f"/{instrument.codes.total}"
    assert total["type"] == "decimal"
    assert total["readOnly"] is True
    assert total["code"][0]["code"] == instrument.codes.total


def test_phq9_difficulty_item_is_optional_and_unweighted() -> None:
    q = questionnaire_resource(PHQ9, BASE)
    difficulty = q["item"][-2]
    assert difficulty["linkId"] == "/69722-7"
    assert difficulty["code"] == [{"system": LOINC, "code": "69722-7"}]
    assert difficulty["required"] is False
    assert [a["valueCoding"]["code"] for a in difficulty["answerOption"]] == [
        "LA6572-7",
        "LA6573-5",
        "LA6575-0",
        "LA6574-3",
    ]
    # docs/fhir.md, "QuestionnaireResponse and Questionnaire": LL359-1 has no scores,
    # so no ordinalValue.
    assert all("extension" not in a for a in difficulty["answerOption"])


def test_phq9_answer_codes_are_ll358_3() -> None:
    q = questionnaire_resource(PHQ9, BASE)
    first = q["item"][1]
    assert first["linkId"] == "/44250-9"
    assert [
        (a["valueCoding"]["code"], a["extension"][1]["valueDecimal"]) for a in first["answerOption"]
    ] == [("LA6568-5", 0), ("LA6569-3", 1), ("LA6570-1", 2), ("LA6571-9", 3)]


def test_pcl5_uses_tracker_answer_codes() -> None:
    q = questionnaire_resource(PCL5, BASE)
    first = q["item"][1]
    assert first["linkId"] == "pcl5-1"
    assert {a["valueCoding"]["system"] for a in first["answerOption"]} == {
        f"{BASE}/CodeSystem/pcl5-answers"
    }
    assert [a["valueCoding"]["code"] for a in first["answerOption"]] == ["0", "1", "2", "3", "4"]


# --------------------------------------------------------------------------
# QuestionnaireResponse
# --------------------------------------------------------------------------


def test_api_example_questionnaire_response() -> None:
    qr = questionnaire_response_resource(view(difficulty=1), BASE)
    assert_valid(qr)
    assert qr["id"] == "901"
    assert qr["meta"]["profile"] == [US_CORE_QUESTIONNAIRE_RESPONSE]
    assert qr["meta"]["versionId"] == "1"
    assert qr["questionnaire"] == f"{BASE}/Questionnaire/phq9|1"
    assert qr["status"] == "completed"
    assert qr["subject"] == {"reference": "Patient/42"}
    assert qr["author"] == {"reference": "Patient/42"}
    assert qr["authored"] == "2026-03-01T09:30:00+00:00"
    assert "identifier" not in qr
    items = qr["item"]
    assert [i["linkId"] for i in items] == [f"/{i.loinc}" for i in PHQ9.items] + [
        "/69722-7",
        "/44261-6",
    ]
    codes = [i["answer"][0]["valueCoding"]["code"] for i in items[:9]]
    expected = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
    assert codes == [expected[v] for v in API_EXAMPLE]
    assert items[9]["answer"] == [
        {"valueCoding": {"system": LOINC, "code": "LA6573-5", "display": "Somewhat difficult"}}
    ]
    assert items[10]["answer"] == [{"valueDecimal": 11}]


def test_questionnaire_response_codings_equal_the_answer_options() -> None:
    for instrument in instruments.all():
        answers = tuple(item.max_value for item in instrument.items)
        qr = questionnaire_response_resource(view(instrument, answers), BASE)
        q = questionnaire_resource(instrument, BASE)
        options = {
            question["linkId"]: [a["valueCoding"] for a in question.get("answerOption", [])]
            for question in q["item"]
        }
        for item in qr["item"][:-1]:
            assert item["answer"][0]["valueCoding"] in options[item["linkId"]]


def test_skipped_items_are_omitted() -> None:
    qr = questionnaire_response_resource(view(PCL5, PCL5_TWO_SKIPPED), BASE)
    assert_valid(qr)
    links = [i["linkId"] for i in qr["item"]]
    assert "pcl5-1" not in links and "pcl5-11" not in links
    assert len(links) == 18 + 1
    assert qr["item"][-1] == {
        "linkId": "/101698-9",
        "text": "PCL-5 total score",
        "answer": [{"valueDecimal": 50}],
    }


@pytest.mark.parametrize(
    ("source", "entered_by", "author"),
    [
        # Issue 16: author is who entered the response, also when it is not the patient
        # (docs/fhir.md, "Provenance"): a logical reference, never a dangling literal one.
        (
            "clinician",
            {"entered_by_user": 5},
            {
                "type": "Practitioner",
                "identifier": {"system": f"{BASE}/sid/user", "value": "5"},
                "display": "Clinic staff member",
            },
        ),
        (
            "import",
            {"entered_by_client": ("ehr-1", "Synthetic EHR")},
            {
                "type": "Device",
                "identifier": {"system": f"{BASE}/sid/api-client", "value": "ehr-1"},
                "display": "Synthetic EHR",
            },
        ),
        ("import", {}, {"type": "Device", "display": "EHR integration (not recorded)"}),
    ],
)
def test_author_is_who_entered_it(source: str, entered_by: dict, author: dict) -> None:
    qr = questionnaire_response_resource(view(source=source, **entered_by), BASE)
    assert_valid(qr)
    assert qr["author"] == author


def test_identifier_is_a_single_object() -> None:
    qr = questionnaire_response_resource(view(identifier=("urn:ehr:forms", "F-1")), BASE)
    assert_valid(qr)
    assert qr["identifier"] == {"system": "urn:ehr:forms", "value": "F-1"}


# --------------------------------------------------------------------------
# Patient, meta, OperationOutcome
# --------------------------------------------------------------------------


def patient(**overrides: Any) -> PatientView:
    fields: dict[str, Any] = {
        "id": 42,
        "display_name": "Alex Example",
        "birth_date": date(1980, 5, 17),
        "identifiers": (("urn:oid:1.2.36.146.595.217.0.1", "MRN-12345"),),
        "version": 4,
        "updated_at": UPDATED,
    }
    fields.update(overrides)
    return PatientView(**fields)


def test_patient_with_identifiers_claims_us_core() -> None:
    p = patient_resource(patient())
    assert_valid(p)
    assert p["id"] == "42"
    assert p["meta"] == {
        "versionId": "4",
        "lastUpdated": "2026-03-02T08:00:00+00:00",
        "profile": [US_CORE_PATIENT],
    }
    assert p["identifier"] == [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-12345"}]
    assert p["name"][0]["text"] == "Alex Example"
    # us-core-6 (7.0.0 on Patient.name, 5.0.1 on Patient): the family name exists as
    # its absence reason; no reason on the name itself (docs/fhir.md, "Patient").
    assert p["name"][0]["_family"] == {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": "unsupported",
            }
        ]
    }
    assert "extension" not in p["name"][0]
    assert p["gender"] == "unknown"
    assert p["birthDate"] == "1980-05-17"


def test_patient_without_identifiers_or_birth_date() -> None:
    p = patient_resource(patient(identifiers=(), birth_date=None))
    assert_valid(p)
    assert "profile" not in p["meta"]
    assert "identifier" not in p
    assert "birthDate" not in p


def test_meta() -> None:
    assert meta(2, UPDATED) == {"versionId": "2", "lastUpdated": "2026-03-02T08:00:00+00:00"}
    assert meta(2, UPDATED, "urn:p")["profile"] == ["urn:p"]
    assert meta(2, UPDATED, ("urn:a", "urn:b"))["profile"] == ["urn:a", "urn:b"]
    with pytest.raises(ValueError, match="naive"):
        meta(1, datetime(2026, 1, 1))


def test_operation_outcome() -> None:
    oo = operation_outcome(
        [
            ("error", "invalid", "date=2024-13-01 is not a date"),
            ("error", "value", "bad answer", "QuestionnaireResponse.item[3].answer[0]"),
            ("warning", "not-supported", "ignored _foo", None),
        ]
    )
    assert_valid(oo)
    assert oo["issue"] == [
        {"severity": "error", "code": "invalid", "diagnostics": "date=2024-13-01 is not a date"},
        {
            "severity": "error",
            "code": "value",
            "diagnostics": "bad answer",
            "expression": ["QuestionnaireResponse.item[3].answer[0]"],
        },
        {"severity": "warning", "code": "not-supported", "diagnostics": "ignored _foo"},
    ]


@pytest.mark.parametrize(
    "issues",
    [[], [("bad", "invalid", "x")], [("error", "invalid-code", "x")]],
)
def test_operation_outcome_refuses_bad_issues(issues: list) -> None:
    with pytest.raises(ValueError):
        operation_outcome(issues)


# --------------------------------------------------------------------------
# The checker itself (so a passing assert_valid means something)
# --------------------------------------------------------------------------


def _bundle(*resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def test_assert_valid_accepts_a_bundle_and_recurses() -> None:
    obs = observation_resource(view())
    assert_valid(_bundle(obs, questionnaire_response_resource(view(), BASE)))
    broken = {**obs, "status": "done"}
    with pytest.raises(AssertionError, match=r"entry\[1\].*status 'done'"):
        assert_valid(_bundle(obs, broken))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.update(status="done"), "status 'done'"),
        (lambda o: o.pop("category"), "category:survey"),
        (lambda o: o.pop("subject"), "subject"),
        (lambda o: o["valueQuantity"].update(system="http://example.org"), "us-core-3"),
        (lambda o: o.pop("valueQuantity"), "us-core-2"),
        (lambda o: o.update(effectiveDateTime="2026-03-01T09:30:00"), "R4B Observation"),
        (lambda o: o.update(valueInteger=11), "R4B Observation"),
        (lambda o: o.update(triggeredBy=[]), "R4B Observation"),  # an R5-only element
    ],
)
def test_assert_valid_catches_broken_observations(mutate: Any, message: str) -> None:
    obs = observation_resource(view())
    mutate(obs)
    with pytest.raises(AssertionError, match=message):
        assert_valid(obs)


def test_assert_valid_checks_claimed_profiles() -> None:
    qr = questionnaire_response_resource(view(), BASE)
    del qr["authored"]
    with pytest.raises(AssertionError, match="authored"):
        assert_valid(qr)
    p = patient_resource(patient())
    p["name"] = [{"text": "Alex Example"}]
    with pytest.raises(AssertionError, match="us-core-6"):
        assert_valid(p)
    with pytest.raises(AssertionError, match="issue.code"):
        assert_valid(
            {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "oops"}]}
        )


# --------------------------------------------------------------------------
# Properties: any valid head row maps to valid resources
# --------------------------------------------------------------------------


@st.composite
def response_views(draw: st.DrawFn) -> ResponseView:
    instrument = draw(st.sampled_from(instruments.all()))
    answers: list[int | None] = [draw(st.sampled_from(i.values)) for i in instrument.items]
    for index in draw(st.sets(st.integers(0, instrument.item_count - 1), max_size=2)):
        if instrument.max_missing:
            answers[index] = None
    difficulty = None
    if instrument.difficulty is not None:
        difficulty = draw(st.none() | st.sampled_from(instrument.difficulty.values))
    offset = timezone(timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60))))
    completed = draw(
        st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(offset))
    )
    return view(
        instrument,
        tuple(answers),
        logical_id=draw(st.integers(1, 2**31 - 1)),
        patient_id=draw(st.integers(1, 2**31 - 1)),
        difficulty=difficulty,
        status=draw(st.sampled_from(["final", "entered-in-error"])),
        amended=draw(st.booleans()),
        version=draw(st.integers(1, 50)),
        completed_at=completed,
        source=draw(st.sampled_from(["patient", "clinician", "import"])),
    )


@PROPERTY
@given(response_views())
def test_every_view_maps_to_valid_resources(r: ResponseView) -> None:
    obs = observation_resource(r, canonical_base=BASE)
    qr = questionnaire_response_resource(r, BASE)
    assert_valid(obs)
    assert_valid(qr)
    assert obs["id"] == qr["id"] == str(r.logical_id)
    assert obs["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{r.logical_id}"}]
    assert obs["valueQuantity"]["value"] == r.total
    assert ("note" in obs) == r.prorated
    answered = sum(a is not None for a in r.answers) + (r.difficulty is not None)
    assert len(qr["item"]) == answered + 1


def test_module_exports_exist() -> None:
    for name in mapping.__all__:
        assert hasattr(mapping, name), name


def test_offsets_with_seconds_are_written_in_utc() -> None:
    # A historic zone offset such as LMT +00:01:15 has no FHIR spelling (±hh:mm only).
    odd = datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=75)))
    assert meta(1, odd)["lastUpdated"] == "2025-12-31T23:58:45+00:00"
