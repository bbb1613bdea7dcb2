"""Rows → views: the ORM row and the export's plain result row give the same view.

The export reads :data:`VIEW_COLUMNS` as tuples and unpacks them by position; every
field here has its own value, so a column out of place shows up as a wrong field.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tracker.fhir.mapping import instant
from tracker.fhir.views import HEAD_VIEW_ROWS, VIEW_COLUMNS, response_view
from tracker.models import Response
from tracker.models.types import json_column_loads

VALUES = {
    "id": 41,
    "chain_id": 40,
    "patient_id": 7,
    "instrument": "phq9",
    "instrument_version": "1",
    "answers": [1, 2, 0, 1, 2, 0, 1, 0, 0],
    "difficulty": 2,
    "total": 7,
    "prorated": False,
    "severity": "mild",
    "status": "entered-in-error",
    "supersedes_id": 40,
    "version": 3,
    "completed_at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    "recorded_at": datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
    "updated_at": datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
    "source": "clinician",
    "source_identifier_system": "urn:ietf:rfc:3986",
    "source_identifier_value": "urn:uuid:synthetic-1",
    "entered_by": 12,
    "entered_by_client": None,
}


def check(view) -> None:
    assert view.logical_id == 40 and view.patient_id == 7
    assert view.instrument == "phq9" and view.instrument_version == "1"
    assert view.answers == (1, 2, 0, 1, 2, 0, 1, 0, 0) and view.difficulty == 2
    assert (view.total, view.prorated, view.severity) == (7, False, "mild")
    assert (view.status, view.amended, view.version) == ("entered-in-error", True, 3)
    assert view.completed_at == VALUES["completed_at"]
    assert view.recorded_at == VALUES["recorded_at"]
    assert view.updated_at == VALUES["updated_at"]
    assert view.source == "clinician"
    assert view.identifier == ("urn:ietf:rfc:3986", "urn:uuid:synthetic-1")
    assert (view.entered_by_user, view.entered_by_client) == (12, None)


def test_every_view_column_is_a_distinct_response_column() -> None:
    assert sorted(column.key for column in VIEW_COLUMNS) == sorted(VALUES)
    assert "superseded_by_id" not in str(HEAD_VIEW_ROWS)  # no sub-select per row


def test_an_orm_row_and_a_result_row_give_the_same_view(app) -> None:
    check(response_view(Response(**VALUES)))
    with app.app_context():
        from tracker.extensions import db

        literal = select(*(db.literal(VALUES[c.key], c.type).label(c.key) for c in VIEW_COLUMNS))
        row = db.session.execute(literal).one()
        check(response_view(row))


def test_json_columns_read_back_what_the_standard_library_reads() -> None:
    assert json_column_loads("[1,null,3]") == [1, None, 3]
    assert json_column_loads('{"a": [0.1, "é"]}') == {"a": [0.1, "é"]}
    # What orjson refuses falls back to json.loads instead of failing the read.
    assert math.isnan(json_column_loads("[NaN]")[0])
    assert json_column_loads('["\\ud800"]') == json.loads('["\\ud800"]')
    with pytest.raises(ValueError):
        json_column_loads("[1,")


def test_instant_for_utc_and_other_offsets() -> None:
    assert instant(datetime(2026, 3, 1, 9, 30, 5, 120, tzinfo=UTC)) == (
        "2026-03-01T09:30:05.000120+00:00"
    )
    assert instant(datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))) == (
        "2026-03-01T09:30:00-05:00"
    )
    # Offset zero but not the UTC object: the checked path, the same text.
    london = datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/London"))
    assert instant(london) == "2026-03-01T09:30:00+00:00"
    with pytest.raises(ValueError):
        instant(datetime(2026, 3, 1, 9, 30))
    with pytest.raises(TypeError):
        instant("2026-03-01T09:30:00+00:00")  # type: ignore[arg-type]
