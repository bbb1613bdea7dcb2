"""Hypothesis: arbitrary JSON bodies for POST /api/v1/patients/{id}/responses.

Each example sends a body mixing valid-looking and junk fields (instrument, answers,
completed_at, series_id, difficulty, unknown fields) with or without an Idempotency-Key,
then maybe a second request with the same key: the same body, or another one. An
independent oracle (tracker.instruments.score plus the documented field rules) says which
fields are wrong. Properties, on SQLite and PostgreSQL:

- never a 5xx;
- 201 only for a body the oracle accepts: the stored row and the response body carry
  score(instrument, answers), and exactly one response, one create audit event and the
  alerts its flags call for were added;
- 200 only for a repeat of a key with the same submission: the first row, nothing added;
- 409 only for a key reused with a different submission; nothing added;
- otherwise 422 problem+json whose `errors` names only fields the oracle found wrong;
  nothing added.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask, got_request_exception
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.helpers import ApiClient, World, count, login
from tracker import instruments
from tracker.extensions import db
from tracker.inputs import has_nul
from tracker.instruments import InvalidAnswers
from tracker.models import Alert, AuditEvent, Response

EXAMPLES = {"sqlite": 150, "postgresql": 60}
PATIENT = 1  # on clinician A's care team, with the patient login
URL = f"/api/v1/patients/{PATIENT}/responses"
FIELDS = ("instrument", "answers", "completed_at", "series_id", "difficulty")
KEY = "Idempotency-Key"
KEY_RULE = re.compile(r"[\x21-\x7e]{1,200}")
FUTURE_LIMIT = timedelta(minutes=5)
MISSING = object()  # a field left out of the body
CODES = instruments.codes()
USERS = {"clinician": "clinician.a@example.test", "patient": "patient.one@example.test"}


# ---------------------------------------------------------------------------- strategies

JUNK = st.one_of(
    st.integers(-3, 6),
    st.integers(),
    st.floats(),  # NaN and ±Infinity included: the JSON parser accepts them
    st.sampled_from([0.0, 1.0, 2.5, -0.0, 1e308]),
    st.text(max_size=4),
    st.sampled_from(["1", "", "null", "0x1"]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(0, 3), max_size=1),
)


@dataclass(frozen=True)
class Relative:
    """completed_at this many seconds from the moment of sending, at a UTC offset (minutes)."""

    seconds: int
    offset: int

    def resolve(self) -> str:
        zone = timezone(timedelta(minutes=self.offset))
        return (datetime.now(UTC) + timedelta(seconds=self.seconds)).astimezone(zone).isoformat()


offsets = st.integers(-14 * 60, 14 * 60)
past = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2025, 12, 31))


@st.composite
def aware_past(draw: st.DrawFn) -> str:
    moment = draw(past).replace(tzinfo=timezone(timedelta(minutes=draw(offsets))))
    text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "auto"])))
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


GOOD_TIMES = st.one_of(
    aware_past(),
    # Up to 4 minutes ahead is allowed (5 is the limit; a minute of margin for slow runs).
    st.builds(Relative, st.integers(-86_400, 240), offsets),
)
BAD_TIMES = st.one_of(
    st.builds(Relative, st.integers(360, 10**8), offsets),  # too far in the future
    past.map(datetime.isoformat),  # naive
    st.sampled_from(
        [
            "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
            "2026-02-30T09:00:00Z",
            "2026-03-01T25:00:00Z",
            "2026-03-01T09:30:00+24:00",
            "2026-03-01",
            "yesterday",
            "",
        ]
    ),
    st.text(max_size=25),
    JUNK.filter(lambda v: not isinstance(v, str)),
    st.just(MISSING),
)

GOOD_SERIES = st.sampled_from([MISSING, None, "own", "own-as-string"])
BAD_SERIES = st.one_of(
    st.sampled_from(["other-patient", 999_999, 0, -1, 2**31, "abc", "", True, 1.5, [1]])
)

visible_ascii = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
GOOD_KEYS = st.one_of(st.none(), st.text(visible_ascii, min_size=1, max_size=40))
BAD_KEYS = st.sampled_from(["", " ", "a b", "é", "x" * 201, "tab\there"])

extra_names = st.text(min_size=1, max_size=8).filter(lambda name: name not in FIELDS)


@st.composite
def good_answers(draw: st.DrawFn, code: str) -> list:
    instrument = instruments.get(code)
    answers: list = [draw(st.sampled_from(item.values)) for item in instrument.items]
    for index in draw(st.sets(st.integers(0, len(answers) - 1), max_size=instrument.max_missing)):
        answers[index] = None
    return answers


@st.composite
def bad_answers(draw: st.DrawFn, code: str) -> Any:
    instrument = instruments.get(code)
    n = instrument.item_count
    near = draw(good_answers(code))
    spoiled = list(near)
    spoiled[draw(st.integers(0, n - 1))] = draw(JUNK.filter(lambda v: v is not None))
    return draw(
        st.one_of(
            st.just(spoiled),  # one junk item
            st.just([None] * (instrument.max_missing + 1) + near[instrument.max_missing + 1 :]),
            st.sampled_from([near[:-1], [*near, 0], []]),  # wrong length
            st.lists(JUNK, max_size=25),
            JUNK.filter(lambda v: not isinstance(v, list)),
            st.just(MISSING),
        )
    )


@st.composite
def good_difficulty(draw: st.DrawFn, code: str) -> Any:
    values = [MISSING, None] + ([0, 1, 2, 3] if code == "phq9" else [])
    return draw(st.sampled_from(values))


BAD_DIFFICULTY = st.one_of(st.sampled_from([4, -1, "2", 1.5, True, [1]]), JUNK)
BAD_INSTRUMENTS = st.one_of(
    st.sampled_from(["PHQ9", "phq-9", " gad7", "", "audit", "pcl5\x00"]),
    st.text(max_size=6),
    JUNK.filter(lambda v: not isinstance(v, str)),
    st.just(MISSING),
)


@dataclass
class Attempt:
    body: dict  # may hold MISSING, Relative and the series placeholders until sent
    key: str | None
    role: str


@st.composite
def attempts(draw: st.DrawFn) -> Attempt:
    """All fields valid, exactly one wrong, or every field from the whole mixture."""
    mode = draw(st.sampled_from(["valid", "one wrong", "junk"]))
    wrong = draw(st.sampled_from([*FIELDS, KEY, "extra"])) if mode == "one wrong" else None

    def pick(name: str, good: st.SearchStrategy, bad: st.SearchStrategy) -> Any:
        if mode == "junk":
            return draw(st.one_of(good, bad))
        return draw(bad if name == wrong else good)

    code = draw(st.sampled_from(CODES))
    instrument = pick("instrument", st.just(code), BAD_INSTRUMENTS)
    body = {
        "instrument": instrument,
        "answers": pick("answers", good_answers(code), bad_answers(code)),
        "completed_at": pick("completed_at", GOOD_TIMES, BAD_TIMES),
        "series_id": pick("series_id", GOOD_SERIES, BAD_SERIES),
        "difficulty": pick("difficulty", good_difficulty(code), BAD_DIFFICULTY),
    }
    extras = st.dictionaries(extra_names, JUNK, min_size=1, max_size=2)
    body |= pick("extra", st.just({}), extras)
    key = pick(KEY, GOOD_KEYS, BAD_KEYS)
    return Attempt(body, key, draw(st.sampled_from(sorted(USERS))))


# -------------------------------------------------------------------------------- oracle


def as_id(value: Any) -> int | None:
    """The documented id rule: 17 or "17", 1 to 2**31 - 1, booleans refused."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**31:
        return None
    return value


def parse_instant(value: Any) -> datetime | None:
    """An aware ISO 8601 instant representable in UTC, or None."""
    try:
        moment = ma.fields.AwareDateTime(format="iso").deserialize(value)
        return moment.astimezone(UTC)
    except (ma.ValidationError, OverflowError, TypeError):
        return None


@dataclass
class Verdict:
    """What the API must answer for one body."""

    early: set[str]  # wrong before the submission is looked at (body shape, header)
    late: set[str]  # wrong in the submission itself (scoring, clock, stored rows)
    fingerprint: str | None  # tells submissions apart under one key (None: never reached)


def judge(body: dict, key: str | None, own_series: int) -> Verdict:
    # NUL characters are refused before anything else is looked at (PostgreSQL text).
    with_nul = {name for name, value in body.items() if has_nul(name) or has_nul(value)}
    if with_nul:
        bad_key = key is not None and not KEY_RULE.fullmatch(key)
        return Verdict(with_nul | ({KEY} if bad_key else set()), set(), None)
    early: set[str] = {name for name in body if name not in FIELDS}
    late: set[str] = set()
    if key is not None and not KEY_RULE.fullmatch(key):
        early.add(KEY)
    instrument, answers = body.get("instrument", MISSING), body.get("answers", MISSING)
    if not isinstance(instrument, str):
        early.add("instrument")
    if answers is MISSING or answers is None:
        early.add("answers")
    completed_at = parse_instant(body.get("completed_at", MISSING))
    if completed_at is None:
        early.add("completed_at")
    series = body.get("series_id")
    series_id = None if series is None else as_id(series)
    if series is not None and series_id is None:
        early.add("series_id")
    if early:
        return Verdict(early, late, None)
    if instrument not in CODES:
        return Verdict(early, {"instrument"}, None)
    try:
        instruments.score(instruments.get(instrument), answers)
    except InvalidAnswers:
        late.add("answers")
    try:
        instruments.validate_difficulty(body.get("difficulty"), instrument)
    except InvalidAnswers:
        late.add("difficulty")
    assert completed_at is not None
    if completed_at - datetime.now(UTC) > FUTURE_LIMIT:
        late.add("completed_at")
    if series_id is not None and series_id != own_series:
        late.add("series_id")
    stamp = completed_at.timestamp()
    parts = [instrument, answers, stamp, series_id, body.get("difficulty")]
    return Verdict(early, late, json.dumps(parts))


# --------------------------------------------------------------------------------- test


@dataclass
class Clinic:
    app: Flask
    users: dict[str, ApiClient]
    user_ids: dict[str, str]
    series: dict[str, int]  # own / other-patient series ids


def materialize(clinic: Clinic, attempt: Attempt) -> dict:
    """The JSON body to send: fields left out, times and series ids filled in."""
    body = {}
    for name, value in attempt.body.items():
        if value is MISSING:
            continue
        if isinstance(value, Relative):
            value = value.resolve()
        elif name == "series_id" and value in ("own", "own-as-string", "other-patient"):
            value = clinic.series["other" if value == "other-patient" else "own"]
            value = str(value) if attempt.body[name] == "own-as-string" else value
        body[name] = value
    return body


def counts(app: Flask) -> tuple[int, int, int]:
    creates = AuditEvent.action == "create"
    return count(app, Response), count(app, Alert), count(app, AuditEvent, creates)


def check_problem(response: Any, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status and isinstance(problem["detail"], str), problem
    return problem


def blamed(name: str, candidates: set[str]) -> bool:
    return any(name == c or name.startswith(c + ".") for c in candidates)


def check_created(clinic: Clinic, role: str, body: dict, got: dict, before: tuple) -> None:
    """Body and stored row carry score(); one response, its alerts, one create event added."""
    instrument = instruments.get(body["instrument"])
    result = instruments.score(instrument, body["answers"])
    assert got["total"] == result.total
    assert got["instrument"] == instrument.code and got["answers"] == body["answers"]
    assert got["prorated"] is result.prorated and got["flags"] == list(result.flags)
    assert got["severity"]["code"] == result.severity.code
    assert got["subscales"] == result.subscales
    assert got["screen_positive"] is result.screen_positive
    assert got["provisional_diagnosis"] == result.provisional_diagnosis
    assert parse_instant(got["completed_at"]) == parse_instant(body["completed_at"])
    assert got["difficulty"] == body.get("difficulty")
    series = body.get("series_id")
    assert got["series_id"] == (None if series is None else str(as_id(series)))
    assert got["patient_id"] == str(PATIENT) and got["status"] == "final"
    assert got["entered_by"] == clinic.user_ids[role] and got["source"] == role
    responses, alerts, creates = before
    own_alerts = count(clinic.app, Alert, Alert.response_id == int(got["id"]))
    assert counts(clinic.app) == (responses + 1, alerts + own_alerts, creates + 1)
    with clinic.app.app_context():
        row = db.session.get(Response, int(got["id"]))
        assert row is not None
        assert (row.total, row.answers) == (result.total, body["answers"])
        assert (row.instrument, row.severity) == (instrument.code, result.severity.code)
        assert row.flags == list(result.flags)
        kinds = set(db.session.scalars(select(Alert.kind).where(Alert.response_id == row.id)))
        assert kinds <= {"suicidal_ideation", "reliable_deterioration"}
        assert ("suicidal_ideation" in kinds) is ("suicidal_ideation" in result.flags)
        newest = select(AuditEvent).where(AuditEvent.action == "create")
        event = db.session.scalars(newest.order_by(AuditEvent.id.desc())).first()
        assert event is not None and event.resource_id == str(row.id)


@pytest.fixture
def clinic(app: Flask, world: World) -> Clinic:
    a, b = world.as_clinician_a(), world.as_clinician_b()
    series = {}
    for name, api, patient in (("own", a, world.patient_1), ("other", b, world.patient_2)):
        made = api.post(
            f"/api/v1/patients/{patient}/series",
            json={"label": "TMS", "kind": "induction", "started_at": "2020-01-01T00:00:00Z"},
        )
        assert made.status_code == 201, made.json
        series[name] = int(made.json["id"])
    assert world.patient_1 == PATIENT
    users = {role: login(app, email) for role, email in USERS.items()}
    ids = {role: api.get("/api/v1/auth/me").json["id"] for role, api in users.items()}
    return Clinic(app, users, ids, series)


@pytest.fixture
def server_errors(app: Flask) -> Iterator[list[str]]:
    """Tracebacks of the exceptions the app turned into a 500, for the failure message."""
    errors: list[str] = []

    def remember(sender: Flask, exception: BaseException, **_: object) -> None:
        errors.append("".join(traceback.format_exception(exception)))

    got_request_exception.connect(remember, app)
    yield errors
    got_request_exception.disconnect(remember, app)


VALID = {"instrument": "phq9", "answers": [1] * 9, "completed_at": "2025-01-01T08:00:00+01:00"}
SECOND = ("repeat", "other body", "other user")


def test_submissions(
    clinic: Clinic, server_errors: list[str], backend: str, request: pytest.FixtureRequest
) -> None:
    statuses: Counter = Counter()
    # (role, Idempotency-Key) → (fingerprint, id) of every keyed submission stored so far.
    keyed: dict[tuple[str, str], tuple[str, str]] = {}
    runs = itertools.count()
    started = time.monotonic()

    def post(role: str, body: dict, key: str | None) -> None:
        before = counts(clinic.app)
        server_errors.clear()
        headers = {} if key is None else {KEY: key}
        response = clinic.users[role].post(URL, json=body, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, f"{response.status_code} for {body!r} {headers!r}\n" + (
            "".join(server_errors) or response.get_data(as_text=True)
        )
        verdict = judge(body, key, clinic.series["own"])
        earlier = keyed.get((role, key)) if key is not None else None
        if verdict.fingerprint is not None and earlier is not None:
            # A repeat returns the first row; another submission under the key is a conflict.
            if earlier[0] == verdict.fingerprint:
                assert response.status_code == 200, response.get_json()
                assert response.get_json()["id"] == earlier[1]
            else:
                check_problem(response, 409)
            assert counts(clinic.app) == before
            return
        wrong = verdict.early or verdict.late
        if not wrong:
            assert response.status_code == 201, (body, response.get_json())
            if key is not None:
                keyed[role, key] = (verdict.fingerprint or "", response.get_json()["id"])
            check_created(clinic, role, body, response.get_json(), before)
            return
        problem = check_problem(response, 422)
        errors = problem.get("errors")
        assert isinstance(errors, dict) and errors, problem
        for name, messages in errors.items():
            assert blamed(name, wrong), (name, wrong, body, problem)
            assert messages and all(isinstance(m, str) for m in messages), problem
        assert counts(clinic.app) == before, (body, problem)

    @settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(first=attempts(), second=st.sampled_from([None, *SECOND]), other=attempts())
    # Always: a retried submission (200), a conflicting one (409), a bad one (422).
    @example(first=Attempt(VALID, "retry-1", "patient"), second="repeat", other=None)
    @example(
        first=Attempt(VALID, "retry-2", "clinician"),
        second="other body",
        other=Attempt(VALID | {"answers": [0] * 9}, None, "patient"),
    )
    @example(first=Attempt(VALID | {"answers": [4] * 9}, None, "patient"), second=None, other=None)
    def submit(first: Attempt, second: str | None, other: Attempt | None) -> None:
        # A valid key gets a suffix unique to this run of the example, so that a replay
        # during shrinking meets the same state (no earlier row under that key).
        run = next(runs)
        key = first.key
        if key is not None and KEY_RULE.fullmatch(key) and len(key) <= 190:
            key = f"{key}~{run}"
        body = materialize(clinic, first)
        post(first.role, body, key)
        if second == "repeat":
            post(first.role, body, key)
        elif second == "other body" and other is not None:
            post(first.role, materialize(clinic, other), key)
        elif second == "other user" and other is not None:
            post(other.role, body, key)

    submit()
    line = (
        f"submission properties on {backend}: {EXAMPLES[backend]} examples, "
        f"{sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}; "
        f"{time.monotonic() - started:.1f}s"
    )
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
    # The mixture must reach every outcome, or the properties above prove little.
    assert {200, 201, 409, 422} <= set(statuses), line


@pytest.mark.parametrize(
    "completed_at", ["0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00.5+00:01"]
)
def test_instant_before_year_one_in_utc(
    clinic: Clinic, server_errors: list[str], completed_at: str
) -> None:
    """Valid ISO 8601, aware, but not representable in UTC: a field error, not a 500."""
    before = counts(clinic.app)
    response = clinic.users["clinician"].post(URL, json=VALID | {"completed_at": completed_at})
    assert response.status_code < 500, "".join(server_errors)
    assert check_problem(response, 422)["errors"].keys() == {"completed_at"}
    assert counts(clinic.app) == before
