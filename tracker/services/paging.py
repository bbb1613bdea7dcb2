"""Keyset pagination for every list (API lists, the alerts inbox, FHIR searches).

A page ends at the sort position of its last row, and the next page starts
strictly after it, so rows added or changed while a client pages neither
repeat nor go missing (OFFSET would do both). The cursor is that position,
base64url JSON, opaque to clients; a forged one is refused naming "cursor".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, DateTime, Integer, Select, and_, or_

from tracker.extensions import db
from tracker.inputs import in_instant_range
from tracker.services.errors import Invalid

Row = TypeVar("Row")


class InvalidCursor(Invalid):
    def __init__(self, field: str = "cursor") -> None:
        super().__init__({field: ["Not a valid cursor; use next_cursor from the previous page."]})


@dataclass(frozen=True)
class Page(Generic[Row]):
    items: list[Row]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        """The list body every API list answers: {"items": [...], "next_cursor": ...}."""
        return {"items": self.items, "next_cursor": self.next_cursor}


@dataclass(frozen=True)
class Order:
    """A sort: the columns (the last one unique, usually the id) and one direction."""

    columns: tuple[Any, ...]
    descending: bool = False

    def clauses(self) -> list[ColumnElement]:
        return [c.desc() if self.descending else c.asc() for c in self.columns]

    def after(self, position: Sequence[object]) -> ColumnElement[bool]:
        """Rows strictly after ``position`` in this order (a row-value comparison, spelled out)."""
        clause: ColumnElement[bool] | None = None
        for column, value in reversed(list(zip(self.columns, position, strict=True))):
            beyond = column < value if self.descending else column > value
            clause = beyond if clause is None else or_(beyond, and_(column == value, clause))
        assert clause is not None
        return clause


def encode_cursor(position: Sequence[object]) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in position]
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _kind(column: Any) -> type:
    column_type = getattr(column, "type", None)
    if isinstance(column_type, DateTime) or isinstance(
        getattr(column_type, "impl", None), DateTime
    ):
        return datetime
    if isinstance(column_type, Integer):
        return int
    return str


def decode_cursor(cursor: str, order: Order, field: str = "cursor") -> list[object]:
    """The position a cursor names, typed like the order's columns; InvalidCursor if not ours."""
    return decode_position(cursor, [_kind(column) for column in order.columns], field)


def decode_position(cursor: str, kinds: Sequence[type], field: str = "cursor") -> list[object]:
    """A cursor's values checked against ``kinds`` (datetime, int, str); also for computed lists."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor(field) from None
    if not isinstance(values, list) or len(values) != len(kinds):
        raise InvalidCursor(field)
    position: list[object] = []
    for value, kind in zip(values, kinds, strict=True):
        if kind is datetime:
            try:
                value = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                value = None
            # A forged instant must not reach the database as an overflowing date.
            if value is None or value.utcoffset() is None or not in_instant_range(value):
                raise InvalidCursor(field)
        elif not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidCursor(field)
        position.append(value)
    return position


def _position_of(order: Order) -> Callable[[Any], list[object]]:
    keys = [column.key for column in order.columns]
    return lambda row: [getattr(row, key) for key in keys]


def page(
    query: Select,
    order: Order,
    limit: int,
    cursor: str | None = None,
    *,
    rows: Callable[[Select], Any] | None = None,
) -> Page:
    """One page of ``query`` in ``order`` starting after ``cursor``; one statement.

    ``rows`` runs the statement (default: ORM entities through ``scalars``;
    pass ``db.session.execute`` for tuples whose attributes carry the sort keys).
    """
    if cursor:
        query = query.where(order.after(decode_cursor(cursor, order)))
    run = rows or db.session.scalars
    found = list(run(query.order_by(*order.clauses()).limit(limit + 1)))
    items = found[:limit]
    next_cursor = None
    if len(found) > limit:
        next_cursor = encode_cursor(_position_of(order)(items[-1]))
    return Page(items, next_cursor)
