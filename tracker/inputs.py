"""Limits every shell applies to untrusted input (API, FHIR, pages), kept in one place.

No framework here beyond werkzeug's URL converter, so the API, the FHIR layer
and the pages can all use it without importing one another.
"""

from __future__ import annotations

from datetime import UTC, datetime

from werkzeug.routing import BaseConverter, ValidationError

from tracker import instruments

MAX_DB_INT = 2**31 - 1  # PostgreSQL integer; larger ids cannot exist
# Instants outside this span are typing mistakes, and near years 1 and 9999 the
# conversion to UTC overflows: refuse them naming the field.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def in_instant_range(value: datetime) -> bool:
    """True for an aware instant between EARLIEST (included) and LATEST (excluded)."""
    try:
        return EARLIEST <= value.astimezone(UTC) < LATEST
    except (OverflowError, ValueError):
        return False


def has_nul(value: object) -> bool:
    """PostgreSQL text cannot hold NUL characters; find them before the database does."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class DbIdConverter(BaseConverter):
    """Path ids: any run of digits matches, and one no row can have becomes 0.

    So `/patients/99999999999` is a 404 from the view, like any unknown id,
    rather than a 405 from another rule or an integer overflow in SQLite.
    """

    regex = r"\d{1,30}"

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_DB_INT else 0

    def to_url(self, value: object) -> str:
        return str(value)


class InstrumentConverter(BaseConverter):
    """Path instrument codes, checked against the registry when a request arrives.

    Unlike ``any(phq9, gad7, pcl5)`` fixed at import time, an instrument
    registered later (e.g. a test's throw-away one) is routed too; an unknown
    code matches no rule, so it is a 404.
    """

    regex = r"[a-z][a-z0-9_]{0,31}"

    def to_python(self, value: str) -> str:
        if value not in instruments.codes():
            raise ValidationError()
        return value


def instrument_parameter_schema(_converter: BaseConverter) -> dict:
    """OpenAPI schema of an instrument path parameter: the codes registered at start-up."""
    return {"type": "string", "enum": list(instruments.codes())}
