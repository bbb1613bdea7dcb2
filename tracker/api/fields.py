"""Marshmallow fields shared by the API schemas."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from werkzeug.routing import BaseConverter

from tracker.inputs import EARLIEST, LATEST, MAX_DB_INT, has_nul

ID_PATTERN = (
    "^0*([1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|"
    "2147[0-3][0-9]{5}|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|"
    "21474836[0-3][0-9]|214748364[0-7])$"
)


def id_parameter_schema(_converter: BaseConverter) -> dict:
    return {"type": "integer", "minimum": 1, "maximum": MAX_DB_INT}


class Id(ma.fields.Field):
    """An id: a string in JSON (opaque to clients), an integer inside.

    Accepts "17" or 17 on input so hand-written clients are not punished;
    anything else, or an id no database row can have, is a validation error.
    """

    default_error_messages = {"invalid": "Not a valid id."}

    def __init__(self, **kwargs: Any):
        metadata = {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_DB_INT},
                {"type": "string", "maxLength": 10, "pattern": ID_PATTERN},
            ],
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
            value = int(value)
        if not isinstance(value, int) or not 1 <= value <= MAX_DB_INT:
            raise self.make_error("invalid")
        return value


class Instant(ma.fields.AwareDateTime):
    """An input instant: ISO 8601 with an offset, between 1900 and 2200, returned in UTC."""

    default_error_messages = {
        "invalid": (
            "Not a valid date-time; use ISO 8601 with an offset, e.g. 2026-03-01T09:30:00+00:00."
        ),
        "invalid_awareness": (
            "Add a UTC offset such as +00:00 (e.g. 2026-03-01T09:30:00+00:00): "
            "a time without one could mean any time zone."
        ),
    }

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("format", "iso")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            instant = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ma.ValidationError("Out of range.") from None
        if not EARLIEST <= instant < LATEST:
            raise ma.ValidationError("Must be between the years 1900 and 2199.")
        return instant


class StrictSchema(ma.Schema):
    """Unknown fields are an error: a typo must not be silently dropped."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def _refuse_nul(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, Mapping):  # a JSON object, or webargs' view of a query string
            bad = sorted(str(k) for k, v in data.items() if has_nul(k) or has_nul(v))
            if bad:
                raise ma.ValidationError({k: ["Must not contain NUL characters."] for k in bad})
        return data
