"""Clinic-level outcomes: response and remission rates over many patients' treatment series."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC

import marshmallow as ma
from flask_login import current_user, login_required
from sqlalchemy import select

from tracker import instruments
from tracker.api.blueprint import ApiBlueprint
from tracker.api.trends import INSTRUMENT, TrendArgs
from tracker.auth import access, audit
from tracker.models import Patient
from tracker.models.series import SERIES_KINDS
from tracker.outcomes import MEAN_PLACES, RATE_PLACES, clinic_outcomes, rate
from tracker.problems import READ_PROBLEMS, documented_problems
from tracker.services import due

blp = ApiBlueprint(
    "outcomes", __name__, url_prefix="/api/v1", description="Outcomes (clinic level)"
)

GROUPINGS = ("month",)


class OutcomeArgs(TrendArgs):
    """The trends windows (same defaults and limits), plus which series to include."""

    since = ma.fields.AwareDateTime(
        format="iso", metadata={"description": "series started_at ≥ (with an offset)"}
    )
    until = ma.fields.AwareDateTime(
        format="iso", metadata={"description": "series started_at ≤ (with an offset)"}
    )
    kind = ma.fields.String(
        validate=ma.validate.OneOf(SERIES_KINDS), metadata={"description": "series kind"}
    )
    by = ma.fields.String(
        validate=ma.validate.OneOf(GROUPINGS),
        metadata={"description": "month: also one row per UTC calendar month of series start"},
    )

    @ma.validates_schema
    def _range_in_utc_and_not_reversed(self, data: dict, **_kwargs: object) -> None:
        for name in ("since", "until"):
            if name in data:
                try:
                    # Stored and compared in UTC: 0001-01-01T00:30+01:00 has no UTC instant.
                    data[name].astimezone(UTC)
                except OverflowError:
                    raise ma.ValidationError({name: ["Out of range in UTC."]}) from None
        # An inverted range would select nothing and look like a clinic without series.
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            raise ma.ValidationError({"until": ["Must not be before since."]})


_MEAN = f"over the evaluable series, {MEAN_PLACES} decimal; null when none is evaluable"
_RATE = f"fraction 0–1 of the evaluable series, {RATE_PLACES} decimals; null when none"
_CASE_RATE = f"fraction 0–1 of the cases, {RATE_PLACES} decimals; null when there is none"


class FiguresSchema(ma.Schema):
    series = ma.fields.Integer(
        metadata={"description": "every selected series, ongoing ones included"}
    )
    ended = ma.fields.Integer(
        metadata={"description": "selected series with an end date in the past"}
    )
    evaluable = ma.fields.Integer(
        metadata={"description": "series with both a baseline and a post score"}
    )
    paired_rate = ma.fields.Float(
        allow_none=True,
        metadata={
            "description": f"evaluable ÷ ended, {RATE_PLACES} decimals: how often the clinic "
            "captured both ends; null when none ended"
        },
    )
    cases = ma.fields.Integer(
        metadata={"description": "evaluable series whose baseline was a case (≥ caseness)"}
    )
    mean_baseline = ma.fields.Float(allow_none=True, metadata={"description": _MEAN})
    mean_post = ma.fields.Float(allow_none=True, metadata={"description": _MEAN})
    mean_change = ma.fields.Float(
        allow_none=True, metadata={"description": f"post − baseline, {_MEAN}"}
    )
    response_rate = ma.fields.Float(allow_none=True, metadata={"description": _CASE_RATE})
    remission_rate = ma.fields.Float(allow_none=True, metadata={"description": _CASE_RATE})
    recovery_rate = ma.fields.Float(
        allow_none=True,
        metadata={"description": f"reliable recovery (clinically significant), {_CASE_RATE}"},
    )
    reliable_improvement_rate = ma.fields.Float(allow_none=True, metadata={"description": _RATE})
    reliable_deterioration_rate = ma.fields.Float(allow_none=True, metadata={"description": _RATE})


class ScheduleSchema(ma.Schema):
    completed = ma.fields.Integer(
        metadata={"description": "due items of this instrument completed in their window"}
    )
    missed = ma.fields.Integer(metadata={"description": "due items whose window closed unanswered"})
    completion_rate = ma.fields.Float(
        allow_none=True,
        metadata={"description": f"completed ÷ (completed + missed), {RATE_PLACES} decimals"},
    )


class _InstrumentSchema(ma.Schema):
    instrument = ma.fields.String(metadata={"example": "phq9"})


class _MonthSchema(ma.Schema):
    month = ma.fields.String(
        metadata={
            "description": "UTC calendar month of series start, YYYY-MM",
            "example": "2026-03",
        }
    )


# Bases listed figures-first: marshmallow emits the LAST base's fields first, so the JSON
# reads {"instrument": …, "series": …} and {"month": …, "series": …} as in docs/api.md, "Outcomes".
class MonthFiguresSchema(FiguresSchema, _MonthSchema):
    """The figures of the series started in one UTC calendar month."""


class OutcomesSchema(FiguresSchema, _InstrumentSchema):
    """The overall figures; with by=month also `months`."""

    schedule = ma.fields.Nested(
        ScheduleSchema,
        metadata={
            "description": "measurement plans: the selected series' due items of this "
            "instrument whose window has closed (overall only, not per month)"
        },
    )
    months = ma.fields.List(
        ma.fields.Nested(MonthFiguresSchema),
        metadata={
            "description": (
                "only with by=month: one entry per month with at least one selected series, "
                "oldest first; the top-level figures stay the overall ones"
            )
        },
    )


@blp.route(f"/outcomes/{INSTRUMENT}", methods=["GET"])
@login_required
@documented_problems(
    blp,
    *READ_PROBLEMS,
    notes={
        403: "Only clinicians and admins see outcomes",
        422: "Invalid query: a timestamp without an offset, an unknown kind, a window out of range",
    },
)
@blp.arguments(OutcomeArgs, location="query")
@blp.response(200, OutcomesSchema)
def get_outcomes(args: dict, instrument: str) -> dict:
    """Response, remission and reliable change over many patients' treatment series.

    A clinician gets their care-team patients' series, an admin every series.
    Each series' baseline and post score are found as in the patient trend (same
    windows and tie-breaks, final responses only), and judged by the instrument's
    thresholds; means and rates are over the series that have both.
    """
    access.require_role("clinician", "admin")
    visible = (
        None
        if current_user.role == "admin"
        else select(Patient.id).where(access.visible_patients_clause(current_user))
    )
    outcomes = clinic_outcomes(
        instruments.get(instrument),
        patient_ids=visible,
        since=args.get("since"),
        until=args.get("until"),
        kind=args.get("kind"),
        baseline_window_days=args["baseline_window_days"],
        post_window_days=args["post_window_days"],
        by_month=args.get("by") == "month",
    )
    completed, missed = due.schedule(
        instrument,
        patient_ids=visible,
        since=args.get("since"),
        until=args.get("until"),
        kind=args.get("kind"),
    )
    # Aggregate over many patients: one read event, tied to no patient.
    audit.record_now("read", "outcomes", instrument)
    body: dict = {"instrument": outcomes.instrument, **asdict(outcomes.overall)}
    body["schedule"] = {
        "completed": completed,
        "missed": missed,
        "completion_rate": rate(completed, completed + missed),
    }
    if outcomes.months is not None:
        body["months"] = [{"month": month, **asdict(f)} for month, f in outcomes.months]
    return body
