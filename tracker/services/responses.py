"""Submitting, amending and retracting questionnaire responses.

Every change is one transaction holding the response, its alert and its
audit event. Nothing here deletes: a correction supersedes, a mistake is
marked entered-in-error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ScalarSelect, bindparam, literal, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from tracker import instruments
from tracker.analysis.change import deterioration
from tracker.analysis.trends import DEFAULT_WINDOW, Anchor, Point, SeriesPeriod, find_baseline
from tracker.auth import audit
from tracker.database import begin_writing, commit_keeping_loaded
from tracker.extensions import db
from tracker.instruments import Instrument, InvalidAnswers
from tracker.models import Alert, Response, TreatmentSeries, User
from tracker.models.response import ResponseStatus
from tracker.models.types import utcnow
from tracker.services import notifications
from tracker.services.errors import Conflict, Invalid

# The refusals of this use case, under the names its callers know.
SubmissionInvalid = Invalid
SubmissionConflict = Conflict


@dataclass(frozen=True)
class Submission:
    patient_id: int
    instrument: str
    answers: list
    completed_at: datetime
    series_id: int | None = None
    difficulty: int | None = None
    instrument_version: str | None = None  # None: the current version

    def fingerprint(self) -> str:
        """Tells a retried request from a different one under the same Idempotency-Key."""
        fields = [
            self.patient_id,
            self.instrument,
            self.answers,
            self.completed_at.timestamp(),
            self.series_id,
            self.difficulty,
        ]
        if self.instrument_version is not None:
            fields.append(self.instrument_version)
        canonical = json.dumps(fields, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _instrument(code: str, version: str | None = None) -> Instrument:
    try:
        instruments.get(code)
    except KeyError:
        raise SubmissionInvalid(
            {"instrument": [f"Must be one of: {', '.join(instruments.codes())}."]}
        ) from None
    try:
        return instruments.get(code, version)
    except KeyError:
        known = ", ".join(i.version for i in instruments.versions(code))
        raise SubmissionInvalid(
            {"instrument_version": [f"{code} has versions {known}; not {version}."]}
        ) from None


def _check_completed_at(completed_at: datetime, field: str = "completed_at") -> None:
    limit = timedelta(seconds=current_app.config["COMPLETED_AT_MAX_FUTURE_SECONDS"])
    if completed_at - utcnow() > limit:
        raise SubmissionInvalid({field: ["Must not be more than 5 minutes in the future."]})


def _check_series(patient_id: int, series_id: int | None) -> None:
    if series_id is None:
        return
    series = db.session.get(TreatmentSeries, series_id)
    if series is None or series.patient_id != patient_id:
        raise SubmissionInvalid(
            {"series_id": ["No treatment series with this id for this patient."]}
        )


def _scored_row(submission: Submission, instrument: Instrument, enterer: Enterer) -> Response:
    """Validate and score, collecting every field error before refusing."""
    errors: dict[str, list[str]] = {}
    result = None
    try:
        result = instruments.score(instrument, submission.answers)
    except InvalidAnswers as invalid:
        errors.update(invalid.errors)
    try:
        difficulty = instruments.validate_difficulty(submission.difficulty, instrument)
    except InvalidAnswers as invalid:
        errors.update(invalid.errors)
    try:
        _check_completed_at(submission.completed_at)
        _check_series(submission.patient_id, submission.series_id)
    except SubmissionInvalid as invalid:
        errors.update(invalid.errors)
    if errors or result is None:
        raise SubmissionInvalid(errors)
    now = utcnow()
    return Response(
        patient_id=submission.patient_id,
        instrument=instrument.code,
        instrument_version=instrument.version,
        answers=list(submission.answers),
        difficulty=difficulty,
        total=result.total,
        prorated=result.prorated,
        severity=result.severity.code,
        subscales=dict(result.subscales),
        flags=list(result.flags),
        screen_positive=result.screen_positive,
        provisional_diagnosis=result.provisional_diagnosis,
        completed_at=submission.completed_at,
        recorded_at=now,
        updated_at=now,
        source=enterer.source,
        entered_by=enterer.user_id,
        entered_by_client=enterer.client_id,
        status=ResponseStatus.FINAL,
        series_id=submission.series_id,
    )


# The two statements every submission runs to look for a reliable worsening, built once:
# building them (the alias, the correlated sub-select) cost more than running them.
_PREVIOUS_TOTAL = (
    select(Response.total)
    .where(
        Response.patient_id == bindparam("patient_id"),
        Response.instrument == bindparam("instrument"),
        Response.instrument_version == bindparam("instrument_version"),
        Response.status == ResponseStatus.FINAL,
        Response.id != bindparam("response_id"),
        Response.completed_at <= bindparam("completed_at"),
    )
    .order_by(Response.completed_at.desc(), Response.id.desc())
    .limit(1)
)


def _latest_before_start() -> ScalarSelect:
    """Per series, the id of the patient's latest final score at or before its start."""
    earlier = aliased(Response)
    return (
        select(earlier.id)
        .where(
            earlier.patient_id == bindparam("patient_id"),
            earlier.instrument == bindparam("instrument"),
            earlier.status == ResponseStatus.FINAL,
            earlier.completed_at <= TreatmentSeries.started_at,
        )
        .order_by(earlier.completed_at.desc(), earlier.id.desc())
        .limit(1)
        .correlate(TreatmentSeries)
        .scalar_subquery()
    )


_SERIES_BASELINES = (
    select(
        TreatmentSeries.id,
        TreatmentSeries.label,
        TreatmentSeries.kind,
        TreatmentSeries.started_at,
        TreatmentSeries.ended_at,
        Response.id.label("response_id"),
        Response.completed_at,
        Response.total,
        Response.severity,
    )
    .join(Response, Response.id == _latest_before_start())
    .where(
        TreatmentSeries.patient_id == bindparam("patient_id"),
        TreatmentSeries.started_at <= bindparam("completed_at"),
        or_(
            TreatmentSeries.ended_at.is_(None),
            TreatmentSeries.ended_at >= bindparam("ended_since"),
        ),
    )
)


# Both in one round trip: the previous total in every row, one row per series (the
# series columns null when there is none).
_SERIES = _SERIES_BASELINES.subquery("series")
_ONE_ROW = select(literal(1).label("one")).subquery("one_row")
_DETERIORATION_INPUTS = select(
    _PREVIOUS_TOTAL.scalar_subquery().label("previous_total"), _SERIES
).select_from(_ONE_ROW.outerjoin(_SERIES, true()))


def _previous_and_baselines(row: Response) -> tuple[int | None, list[Anchor]]:
    """The patient's last final score of this instrument (and version) before this
    response, and the baselines of the patient's series that are ongoing at
    ``row.completed_at`` or ended within the post window before it; one statement.

    Another version may be scored on another scale, so its totals are not compared.
    The baseline is the trend's (:func:`tracker.analysis.trends.find_baseline`):
    the latest final score at or before the start, within the baseline window.
    The statement fetches, per series, that latest score at or before the start;
    ``find_baseline`` decides whether it is recent enough.
    """
    window = DEFAULT_WINDOW
    found = db.session.execute(
        _DETERIORATION_INPUTS,
        {
            "patient_id": row.patient_id,
            "instrument": row.instrument,
            "instrument_version": row.instrument_version,
            "response_id": row.id,
            "completed_at": row.completed_at,
            "ended_since": row.completed_at - window,
        },
    ).all()
    baselines = []
    for s in found:
        if s.id is None:  # no series: the outer join's one row
            continue
        period = SeriesPeriod(s.id, s.label, s.kind, s.started_at, s.ended_at)
        point = Point(s.response_id, s.completed_at, s.total, s.severity)
        baseline = find_baseline([point], period, window)
        if baseline is not None and baseline.response_id != row.id:
            baselines.append(baseline)
    return found[0].previous_total, baselines


def _deteriorated(row: Response, instrument: Instrument) -> bool:
    """Reliably worse than the previous final score, or than the baseline of a series
    that is ongoing or ended within the post window (docs/clinical-rules.md, "Alerts")."""
    previous, baselines = _previous_and_baselines(row)
    if previous is not None and deterioration(instrument, previous, row.total):
        return True
    return any(deterioration(instrument, b.total, row.total) for b in baselines)


def _raise_alerts(
    row: Response, instrument: Instrument, already: dict[str, str] | None = None
) -> None:
    """Flags with an alert rule (e.g. thoughts of self-harm), or a reliable worsening,
    must reach a clinician. Which flag opens which alert, and at which priority,
    is the instrument's ``alert_rules`` (docs/clinical-rules.md, "Alerts").

    ``already``: for an amendment, the most urgent priority each kind was
    alerted at anywhere in the response's chain. A kind opens again only at a
    more urgent priority (item 9 from 1 to 2), so a correction does not page
    the clinician twice for the same risk.
    """
    opened = list(instrument.alerts_for(row.answers, row.flags))
    if _deteriorated(row, instrument):
        opened.append(
            (instruments.RELIABLE_DETERIORATION, instruments.RELIABLE_DETERIORATION_PRIORITY)
        )
    for kind, priority in opened:
        if already is not None and kind in already and not _more_urgent(priority, already[kind]):
            continue
        alert = Alert(patient_id=row.patient_id, response_id=row.id, kind=kind, priority=priority)
        db.session.add(alert)
        db.session.flush()
        notifications.alert_opened(alert)  # the care team's emails commit with the alert


def _more_urgent(priority: str, than: str) -> bool:
    order = instruments.ALERT_PRIORITIES  # most urgent first
    return order.index(priority) < order.index(than)


def _chain_alerts(chain_id: int) -> dict[str, str]:
    """Alert kind -> the most urgent priority it was opened at for any version of a chain."""
    most: dict[str, str] = {}
    for kind, priority in db.session.execute(
        select(Alert.kind, Alert.priority)
        .join(Response, Response.id == Alert.response_id)
        .where(Response.chain_id == chain_id)
    ):
        if kind not in most or _more_urgent(priority, most[kind]):
            most[kind] = priority
    return most


@dataclass(frozen=True)
class Enterer:
    """Who stores a response: a logged-in user, an EHR integration or a questionnaire link."""

    source: str  # patient | clinician | import
    key: str  # scope of Idempotency-Key values
    user_id: int | None = None
    client_id: int | None = None
    # The audit trail's actor when it is not the request's login (a questionnaire link).
    audit_actor: tuple[str, str] | None = None


def enterer_of(actor: object) -> Enterer:
    if isinstance(actor, Enterer):
        return actor  # a caller with no login says who it is (tracker.services.links)
    if getattr(actor, "is_client", False):
        client = actor.client  # type: ignore[attr-defined]
        return Enterer("import", f"client:{client.client_id}", client_id=client.id)
    source = "patient" if actor.role == "patient" else "clinician"  # type: ignore[attr-defined]
    return Enterer(source, f"user:{actor.id}", user_id=actor.id)  # type: ignore[attr-defined]


def _earlier_submission(
    enterer: Enterer,
    key: str | None,
    identifier: tuple[str, str] | None,
    fingerprint: str,
) -> Response | None:
    """The row a retry refers to, if any; the same key with other answers is a conflict."""
    if key is not None:
        where = [Response.idempotency_actor == enterer.key, Response.idempotency_key == key]
    elif identifier is not None:
        where = [
            Response.source_identifier_system == identifier[0],
            Response.source_identifier_value == identifier[1],
        ]
    else:
        return None
    previous = db.session.scalar(select(Response).where(*where))
    if previous is not None and previous.request_fingerprint != fingerprint:
        raise SubmissionConflict(
            "This Idempotency-Key or identifier was used for a different submission.",
            existing=previous,
        )
    return previous


def submit(
    submission: Submission,
    actor: object,
    idempotency_key: str | None = None,
    source_identifier: tuple[str, str] | None = None,
) -> tuple[Response, bool]:
    """Score and store a submission; returns (row, created).

    A repeat of an Idempotency-Key (per caller) or of an external identifier
    (e.g. a FHIR QuestionnaireResponse.identifier) returns the first row with
    created=False. The database's unique constraints decide races, not a prior read.
    """
    instrument = _instrument(submission.instrument, submission.instrument_version)
    enterer = enterer_of(actor)
    fingerprint = submission.fingerprint()
    begin_writing(db.session())  # from here on one write-locked transaction (SQLite)
    previous = _earlier_submission(enterer, idempotency_key, source_identifier, fingerprint)
    if previous is not None:
        audit.record(
            "read", "response", previous.id, previous.patient_id, actor=enterer.audit_actor
        )
        commit_keeping_loaded(db.session())  # loaded in this transaction: answer from it
        return previous, False
    row = _scored_row(submission, instrument, enterer)
    row.idempotency_actor = enterer.key if idempotency_key else None
    row.idempotency_key = idempotency_key
    row.request_fingerprint = fingerprint
    if source_identifier is not None:
        row.source_identifier_system, row.source_identifier_value = source_identifier
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        previous = _earlier_submission(enterer, idempotency_key, source_identifier, fingerprint)
        if previous is None:
            raise
        audit.record(
            "read", "response", previous.id, previous.patient_id, actor=enterer.audit_actor
        )
        db.session.commit()
        return previous, False
    row.chain_id = row.id  # the first version of its own chain
    _raise_alerts(row, instrument)
    audit.record("create", "response", row.id, row.patient_id, actor=enterer.audit_actor)
    db.session.flush()  # a flush of the row expires its sub-select column; none comes after
    # Nothing supersedes a row that is not yet committed: known without the sub-select.
    set_committed_value(row, "superseded_by_id", None)
    # Every attribute was written here: the caller answers from the row without reading
    # it back (on SQLite that read would take the write lock a second time).
    commit_keeping_loaded(db.session())
    return row, True


def amend(
    original: Response,
    answers: list,
    reason: str,
    actor: User,
    completed_at: datetime | None = None,
    difficulty: int | None = None,
) -> Response:
    """Store corrected answers as a new response that supersedes the original.

    Only a final response can be amended; of two concurrent amendments one
    wins and the other gets SubmissionConflict.
    """
    if original.status != ResponseStatus.FINAL:
        raise SubmissionConflict(
            f"Only a final response can be amended (this one is {original.status})."
        )
    submission = Submission(
        patient_id=original.patient_id,
        instrument=original.instrument,
        answers=answers,
        completed_at=completed_at or original.completed_at,
        series_id=None,
        difficulty=difficulty,
    )
    instrument = _instrument(original.instrument, original.instrument_version)
    row = _scored_row(submission, instrument, enterer_of(actor))
    row.series_id = original.series_id
    row.supersedes_id = original.id
    row.chain_id = original.chain_id
    row.version = original.version + 1
    claimed = db.session.execute(
        update(Response)
        .where(Response.id == original.id, Response.status == ResponseStatus.FINAL)
        .values(status=ResponseStatus.AMENDED, status_reason=reason, updated_at=utcnow())
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise SubmissionConflict("This response was amended or retracted by someone else.")
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise SubmissionConflict("This response was already amended.") from None
    _raise_alerts(row, instrument, _chain_alerts(original.chain_id))
    audit.record("update", "response", original.id, original.patient_id)
    audit.record("create", "response", row.id, row.patient_id)
    db.session.commit()
    return row


def mark_entered_in_error(row: Response, reason: str) -> Response:
    """Retract a mistaken entry: it stays readable but leaves every trend."""
    if row.status == ResponseStatus.ENTERED_IN_ERROR:
        return row
    if row.status != ResponseStatus.FINAL:
        raise SubmissionConflict("An amended response is superseded; retract its newest version.")
    changed = db.session.execute(
        update(Response)
        .where(Response.id == row.id, Response.status == ResponseStatus.FINAL)
        .values(
            status=ResponseStatus.ENTERED_IN_ERROR,
            status_reason=reason,
            version=Response.version + 1,
            updated_at=utcnow(),
        )
    ).rowcount
    if changed != 1:
        db.session.rollback()
        raise SubmissionConflict("This response was changed by someone else; reload it.")
    audit.record("update", "response", row.id, row.patient_id)
    db.session.commit()
    db.session.refresh(row)
    return row
