"""Reading HTML form fields into checked values, with one message per field.

Server-side validation for every page: each parser records a message under
the field's name (the template shows it next to the field) and returns None,
so a view can collect every problem before refusing and storing nothing.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from werkzeug.datastructures import MultiDict

from tracker.instruments import Instrument, Item
from tracker.web.render import clinic_zone

# Keys the web forms put in a hidden field, so a double-submitted form stores one response.
FORM_KEY = re.compile(r"^web-[A-Za-z0-9_-]{16,64}$")


def small_int(raw: str | None) -> int | None:
    """A plain ASCII number of at most 6 digits, else None ("²".isdigit() is true, int() fails)."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        return None
    return int(raw)


class FormErrors(dict[str, str]):
    """field name → message, in the order found (the error summary lists them so)."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, message)


def text(
    form: MultiDict, field: str, errors: FormErrors, *, required: bool, max_length: int
) -> str | None:
    value = (form.get(field) or "").strip()
    if not value:
        if required:
            errors.add(field, "Enter this.")
        return None
    if len(value) > max_length:
        errors.add(field, f"Use at most {max_length} characters.")
        return None
    return value


def choice(form: MultiDict, field: str, allowed: tuple[str, ...], errors: FormErrors) -> str | None:
    value = form.get(field, "")
    if value not in allowed:
        errors.add(field, "Choose one of the listed options.")
        return None
    return value


def optional_id(form: MultiDict, field: str, errors: FormErrors) -> int | None:
    """A <select> of records by id with an empty "none" option: None for the empty choice."""
    raw = (form.get(field) or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        errors.add(field, "Choose one of the listed options.")
        return None
    return int(raw)


def local_datetime(
    form: MultiDict, field: str, errors: FormErrors, *, required: bool
) -> datetime | None:
    """An <input type=datetime-local> value, read as the clinic's local time."""
    raw = (form.get(field) or "").strip()
    if not raw:
        if required:
            errors.add(field, "Enter a date and time.")
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors.add(field, "Enter a date and time like 2026-03-01 09:30.")
        return None
    if value.tzinfo is not None:
        errors.add(field, "Enter a local date and time without a time zone.")
        return None
    return value.replace(tzinfo=clinic_zone())


def positive_number(
    form: MultiDict, field: str, errors: FormErrors, *, maximum: float
) -> float | None:
    raw = (form.get(field) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        errors.add(field, "Enter a number, like 35 or 0.5.")
        return None
    if not math.isfinite(value) or not 0 < value <= maximum:
        errors.add(field, f"Enter a number above 0 and at most {maximum:g}.")
        return None
    return value


def item_answer(form: MultiDict, field: str, item: Item, errors: FormErrors) -> int | None:
    """One radio group: None when unanswered, an error when the value is not an option."""
    raw = form.get(field)
    if raw is None or raw == "":
        return None
    value = small_int(raw)
    if value is None or value not in item.values:
        errors.add(field, "Choose one of the listed answers.")
        return None
    return value


def item_field(item: Item) -> str:
    return f"item-{item.number}"


def answers(
    form: MultiDict, instrument: Instrument, errors: FormErrors
) -> tuple[list[int | None], int | None]:
    """Every item's answer and the optional difficulty answer.

    Unanswered items are marked when more are blank than the instrument
    allows (none for PHQ-9 and GAD-7, two for PCL-5), so the patient sees
    exactly which questions still need an answer.
    """
    values = [item_answer(form, item_field(i), i, errors) for i in instrument.items]
    blank = [
        i
        for i, v in zip(instrument.items, values, strict=True)
        if v is None and not _bad(i, errors)
    ]
    if len(blank) > instrument.max_missing:
        message = (
            "Choose an answer."
            if instrument.max_missing == 0
            else f"Choose an answer (at most {instrument.max_missing} questions may be left blank)."
        )
        for item in blank:
            errors.add(item_field(item), message)
    difficulty = None
    if instrument.difficulty is not None:
        difficulty = item_answer(form, "difficulty", instrument.difficulty, errors)
    return values, difficulty


def _bad(item: Item, errors: FormErrors) -> bool:
    return item_field(item) in errors


def service_errors(found: dict[str, list[str]], errors: FormErrors) -> None:
    """Place the core's field paths ("answers.3", "difficulty") on the form's fields."""
    for path, messages in found.items():
        message = " ".join(messages)
        index = small_int(path.split(".", 1)[1]) if path.startswith("answers.") else None
        if index is not None:
            errors.add(f"item-{index + 1}", message)
        elif path in ("difficulty", "answers"):
            errors.add("difficulty" if path == "difficulty" else "form", message)
        else:
            errors.add("form", message)
