"""Marshmallow fields shared by the API schemas."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

MAX_DB_INT = 2**31 - 1  # PostgreSQL integer; larger ids cannot exist


class Id(ma.fields.Field):
    """An id: a string in JSON (opaque to clients), an integer inside.

    Accepts "17" or 17 on input so hand-written clients are not punished;
    anything else, or an id no database row can have, is a validation error.
    """

    default_error_messages = {"invalid": "Not a valid id."}

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


class StrictSchema(ma.Schema):
    """Unknown fields are an error: a typo must not be silently dropped."""

    class Meta:
        unknown = ma.RAISE
