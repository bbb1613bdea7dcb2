"""Cursor pagination: stable under concurrent inserts, opaque to clients."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

import marshmallow as ma

from tracker.api.fields import Instant, StrictSchema

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageArgs(StrictSchema):
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=ma.validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Page size, 1–{MAX_LIMIT} (default {DEFAULT_LIMIT})"},
    )
    cursor = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=512),
        metadata={"description": "next_cursor from the previous page"},
    )


def encode_cursor(position: list[Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> list[Any]:
    """Decode a cursor, raising a field error on "cursor" when it was not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if (
        not isinstance(position, list)
        or len(position) != len(shape)
        or not all(
            isinstance(v, t) and not isinstance(v, bool)
            for v, t in zip(position, shape, strict=True)
        )
    ):
        raise ma.ValidationError({"cursor": ["Not a valid cursor."]})
    return position


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A {"items": [...], "next_cursor": ...} schema for the OpenAPI document."""
    return type(
        name,
        (ma.Schema,),
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema)),
            "next_cursor": ma.fields.String(allow_none=True),
        },
    )


def decode_instant_cursor(cursor: str) -> tuple[datetime, int]:
    """A cursor of [instant, id] for lists ordered by time; a field error on "cursor" if not ours.

    The instant goes through the same checks as any input instant, so a forged
    cursor cannot reach the database with a date that overflows.
    """
    try:
        at, last_id = decode_cursor(cursor, (str, int))
        return Instant().deserialize(at), last_id
    except ma.ValidationError:
        raise ma.ValidationError({"cursor": ["Not a valid cursor."]}) from None


def encode_instant_cursor(at: datetime, last_id: int) -> str:
    return encode_cursor([at.isoformat(), last_id])
