"""Pure parser: a FHIR R4 QuestionnaireResponse (JSON dict) → our submission values.

``POST /fhir/QuestionnaireResponse`` lets an EHR or form filler submit a
questionnaire. This module only turns the resource into the same values the
JSON API accepts (instrument, answers in item order, difficulty, completed
time, patient, external identifier); scoring, the missing-item rule,
authorisation and storage stay with the shared core and the endpoint, so a
FHIR submission is scored exactly like a JSON one.

Any JSON input — however malformed — ends in either a :class:`ParsedResponse`
or :class:`FhirInvalid`, never another exception, so the endpoint can always
answer 4xx with an OperationOutcome (docs/fhir.md, "Errors") instead of a 500.

The Questionnaire may be any registered version of an instrument
(``<base>/Questionnaire/<code>|<version>``); the answers are then read and
scored against that version's items. Without ``|<version>`` it is the current one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from tracker import instruments
from tracker.instruments import Instrument, Item

from .mapping import (
    answer_coding,
    difficulty_link_id,
    item_link_id,
    questionnaire_url,
    stem_link_id,
    total_link_id,
)

__all__ = ["FhirInvalid", "Issue", "ParsedResponse", "parse_questionnaire_response"]

# (severity, code, diagnostics, expression) — code from the R4 IssueType value set.
Issue = tuple[str, str, str, str | None]

_ROOT = "QuestionnaireResponse"
_MAX_PATIENT_ID = 2_147_483_647  # our ids are 32-bit integers
_MAX_IDENTIFIER_LEN = 255  # database column size of the stored external identifier

# FHIR dateTime with a time part (R4 datatypes regex; docs/fhir.md, "Known pitfalls"): seconds and
# an offset are required; ASCII digits only (re's \d would accept other scripts).
_DATETIME = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]+))?"
    r"(?P<tz>Z|[+-](?P<tzh>[0-9]{2}):(?P<tzm>[0-9]{2}))"
)
_PATIENT_REF = re.compile(r"Patient/([1-9][0-9]{0,9})")


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """The submission values extracted from a QuestionnaireResponse (not yet scored)."""

    instrument: str
    instrument_version: str  # the Questionnaire version answered (the current one if not given)
    answers: tuple[int | None, ...]  # item order; None = item absent (skipped)
    difficulty: int | None
    authored: datetime  # aware
    patient_id: int
    identifier: tuple[str, str] | None  # (system, value)


class FhirInvalid(ValueError):
    """The resource cannot be accepted; ``issues`` are ready for an OperationOutcome.

    Every problem found is reported (not just the first) so a client can fix a
    resource in one round trip, as the JSON API does for answers.
    """

    def __init__(self, issues: list[Issue]) -> None:
        self.issues: list[Issue] = list(issues)
        super().__init__("; ".join(i[2] for i in self.issues) or "invalid resource")


def _error(code: str, diagnostics: str, expression: str | None) -> Issue:
    return ("error", code, diagnostics, expression)


def _describe(value: object) -> str:
    """A short JSON-ish rendering of a rejected value for diagnostics."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return '"' + text + '"'
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 30 else text[:27] + "..."
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a value of type {type(value).__name__}"


# --------------------------------------------------------------------------
# Header elements
# --------------------------------------------------------------------------


def _parse_questionnaire(
    value: object, canonical_base: str, issues: list[Issue]
) -> Instrument | None:
    """Our instrument for a canonical "<base>/Questionnaire/<code>[|<version>]"."""
    where = f"{_ROOT}.questionnaire"
    if value is None:
        issues.append(_error("required", "questionnaire is required", where))
        return None
    if not isinstance(value, str):
        issues.append(_error("structure", "questionnaire must be a canonical URL string", where))
        return None
    url, _, version = value.partition("|")
    for inst in instruments.all():
        if url == questionnaire_url(canonical_base, inst.code):
            if "|" not in value:
                return inst
            known = instruments.versions(inst.code)
            for candidate in known:
                if candidate.version == version:
                    return candidate
            issues.append(
                _error(
                    "not-supported",
                    f"{inst.name} version {_describe(version)} is not supported; "
                    f"this server has version {', '.join(i.version for i in known)}",
                    where,
                )
            )
            return None
    known = ", ".join(questionnaire_url(canonical_base, c) for c in instruments.codes())
    issues.append(
        _error(
            "not-supported",
            f"questionnaire {_describe(value)} is not one of this server's: {known}",
            where,
        )
    )
    return None


def _parse_status(value: object, issues: list[Issue]) -> None:
    where = f"{_ROOT}.status"
    if value is None:
        issues.append(_error("required", "status is required", where))
    elif value != "completed":
        # Only a finished form can be scored; in-progress/amended/... are not submissions.
        issues.append(
            _error(
                "business-rule",
                f'status {_describe(value)} cannot be accepted; only "completed" can be scored',
                where,
            )
        )


def _parse_subject(value: object, canonical_base: str, issues: list[Issue]) -> int | None:
    where = f"{_ROOT}.subject"
    if value is None:
        issues.append(_error("required", "subject (the patient) is required", where))
        return None
    if not isinstance(value, dict):
        issues.append(_error("structure", "subject must be a Reference object", where))
        return None
    ref = value.get("reference")
    where = f"{_ROOT}.subject.reference"
    if ref is None:
        issues.append(_error("required", 'subject.reference ("Patient/<id>") is required', where))
        return None
    if isinstance(ref, str):
        # Our own absolute URL is the same reference (R4 references may be absolute).
        prefix = canonical_base.rstrip("/") + "/"
        relative = ref[len(prefix) :] if ref.startswith(prefix) else ref
        match = _PATIENT_REF.fullmatch(relative)
        if match and int(match.group(1)) <= _MAX_PATIENT_ID:
            return int(match.group(1))
    issues.append(
        _error(
            "value",
            f'subject.reference {_describe(ref)} is not a reference of the form "Patient/<id>"',
            where,
        )
    )
    return None


def _parse_datetime(value: str) -> datetime | None:
    """A FHIR dateTime with time and offset → aware datetime; None if not one."""
    m = _DATETIME.fullmatch(value)
    if m is None:
        return None
    if m["tz"] == "Z":
        tz = UTC
    else:
        hours, minutes = int(m["tzh"]), int(m["tzm"])
        # FHIR allows offsets up to ±14:00.
        if minutes > 59 or hours > 14 or (hours == 14 and minutes):
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if m["tz"].startswith("-") else offset)
    micro = int((m["f"] or "0")[:6].ljust(6, "0"))
    try:
        day = (int(m["y"]), int(m["mo"]), int(m["d"]))
        return datetime(*day, int(m["h"]), int(m["mi"]), int(m["s"]), micro, tzinfo=tz)
    except ValueError:  # e.g. February 30 or a leap second (60), which Python cannot hold
        return None


def _parse_authored(value: object, issues: list[Issue]) -> datetime | None:
    where = f"{_ROOT}.authored"
    if value is None:
        issues.append(
            _error("required", "authored (when the form was completed) is required", where)
        )
        return None
    parsed = _parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        # A date-only or zone-less time is ambiguous by hours; the JSON API rejects it too.
        issues.append(
            _error(
                "value",
                f"authored {_describe(value)} must be a dateTime with seconds and a time-zone "
                'offset, e.g. "2026-03-01T09:30:00+00:00"',
                where,
            )
        )
    return parsed


def _parse_identifier(value: object, issues: list[Issue]) -> tuple[str, str] | None:
    where = f"{_ROOT}.identifier"
    if value is None:
        return None
    if not isinstance(value, dict):
        # R4 QuestionnaireResponse.identifier is 0..1: one object, not an array.
        issues.append(_error("structure", "identifier must be a single Identifier object", where))
        return None
    parts: list[str] = []
    for key in ("system", "value"):
        part = value.get(key)
        if part is None or part == "":
            issues.append(
                _error(
                    "required", f"identifier.{key} is required with an identifier", f"{where}.{key}"
                )
            )
        elif not isinstance(part, str):
            issues.append(
                _error("structure", f"identifier.{key} must be a string", f"{where}.{key}")
            )
        elif len(part) > _MAX_IDENTIFIER_LEN:
            issues.append(
                _error(
                    "too-long",
                    f"identifier.{key} is longer than {_MAX_IDENTIFIER_LEN} characters",
                    f"{where}.{key}",
                )
            )
        else:
            parts.append(part)
    return (parts[0], parts[1]) if len(parts) == 2 else None


# --------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------


def _answer_value(
    instrument: Instrument,
    item: Item,
    answer: object,
    where: str,
    canonical_base: str,
    issues: list[Issue],
) -> int | None:
    """The option value chosen by one answer, or None (with an issue) if invalid."""
    if not isinstance(answer, dict):
        issues.append(_error("structure", "an answer must be an object", where))
        return None
    if "item" in answer:
        issues.append(_error("structure", "nested items under an answer are not supported", where))
        return None
    choices = [k for k in answer if isinstance(k, str) and k.startswith("value")]
    if len(choices) != 1:
        issues.append(
            _error("structure", "an answer must have exactly one value[x] element", where)
        )
        return None
    key = choices[0]
    value = answer[key]
    allowed = ", ".join(str(v) for v in item.values)
    if key == "valueCoding":
        if isinstance(value, dict):
            system, code = value.get("system"), value.get("code")
            # Match by system+code only; display is for humans and may differ.
            for option in item.options:
                coding = answer_coding(instrument, option, canonical_base)
                if system == coding["system"] and code == coding["code"]:
                    return option.value
        issues.append(
            _error(
                "code-invalid",
                f"item {item.number}: valueCoding is not one of this item's answer options "
                "(matched by system and code)",
                where,
            )
        )
        return None
    if key == "valueInteger":
        # bool is an int in Python, but JSON true is not a score.
        if isinstance(value, int) and not isinstance(value, bool) and value in item.values:
            return value
        issues.append(
            _error(
                "value",
                f"item {item.number}: valueInteger {_describe(value)} is not one of {allowed}",
                where,
            )
        )
        return None
    issues.append(
        _error(
            "value",
            f"item {item.number}: {key} is not accepted; answer with valueCoding (an answer "
            f"option) or valueInteger ({allowed})",
            where,
        )
    )
    return None


def _parse_items(
    instrument: Instrument, value: object, canonical_base: str, issues: list[Issue]
) -> tuple[list[int | None], int | None]:
    """Answers in item order and the difficulty answer; absent items stay None."""
    answers: list[int | None] = [None] * instrument.item_count
    difficulty: int | None = None
    if value is None:
        return answers, difficulty  # nothing answered; the scoring rule decides
    if not isinstance(value, list):
        issues.append(_error("structure", "item must be an array", f"{_ROOT}.item"))
        return answers, difficulty

    # linkId → target: an item index, "difficulty", or None for read-only/display items.
    targets: dict[str, int | str | None] = {
        item_link_id(instrument, item): index for index, item in enumerate(instrument.items)
    }
    diff_link = difficulty_link_id(instrument)
    if diff_link is not None:
        targets[diff_link] = "difficulty"
    # The server scores, so a client's total (and the stem display item) is ignored.
    targets[total_link_id(instrument)] = None
    targets[stem_link_id(instrument)] = None

    seen: set[str] = set()
    for position, entry in enumerate(value):
        where = f"{_ROOT}.item[{position}]"
        if not isinstance(entry, dict):
            issues.append(_error("structure", "each item must be an object", where))
            continue
        link = entry.get("linkId")
        if link is None:
            issues.append(_error("required", "item.linkId is required", f"{where}.linkId"))
            continue
        if not isinstance(link, str) or link not in targets:
            issues.append(
                _error(
                    "value",
                    f"linkId {_describe(link)} is not an item of {instrument.name}",
                    f"{where}.linkId",
                )
            )
            continue
        if link in seen:
            issues.append(
                _error(
                    "duplicate",
                    f"linkId {_describe(link)} appears more than once",
                    f"{where}.linkId",
                )
            )
            continue
        seen.add(link)
        target = targets[link]
        if target is None:
            continue
        if "item" in entry:
            issues.append(
                _error(
                    "structure", "nested items are not supported; send items flat", f"{where}.item"
                )
            )
            continue
        item = instrument.difficulty if target == "difficulty" else instrument.items[int(target)]
        if item is None:  # unreachable: a "difficulty" target exists only with the item
            continue
        answer_list = entry.get("answer")
        if answer_list is None or answer_list == []:
            issues.append(
                _error(
                    "required",
                    f"item {item.number} has no answer; leave a skipped item out instead",
                    f"{where}.answer",
                )
            )
            continue
        if not isinstance(answer_list, list):
            issues.append(_error("structure", "answer must be an array", f"{where}.answer"))
            continue
        if len(answer_list) != 1:
            issues.append(
                _error(
                    "structure",
                    f"item {item.number} has {len(answer_list)} answers; exactly one is allowed",
                    f"{where}.answer",
                )
            )
            continue
        chosen = _answer_value(
            instrument, item, answer_list[0], f"{where}.answer[0]", canonical_base, issues
        )
        if target == "difficulty":
            difficulty = chosen
        else:
            answers[target] = chosen
    return answers, difficulty


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def parse_questionnaire_response(resource: object, canonical_base: str) -> ParsedResponse:
    """Validate a QuestionnaireResponse against our Questionnaires and extract its values.

    Accepts only ``status: completed`` responses to one of our canonical
    Questionnaires (optionally ``|<version>``, any version we have), for
    ``Patient/<id>``, with an ``authored`` time carrying an offset. Items are
    matched by linkId; each must have exactly one answer, a valueCoding of one
    of its answerOptions (system+code) or a valueInteger equal to an option
    value. Missing items become None: whether that many may be skipped is the
    scoring core's rule, not the parser's. Raises :class:`FhirInvalid` with
    every problem found.
    """
    if not isinstance(resource, dict):
        raise FhirInvalid([_error("structure", "the body must be a JSON object", None)])
    kind = resource.get("resourceType")
    if kind != _ROOT:
        raise FhirInvalid(
            [
                _error(
                    "structure",
                    f'resourceType must be "{_ROOT}", not {_describe(kind)}',
                    f"{_ROOT}.resourceType" if kind is not None else None,
                )
            ]
        )

    issues: list[Issue] = []
    _parse_status(resource.get("status"), issues)
    instrument = _parse_questionnaire(resource.get("questionnaire"), canonical_base, issues)
    patient_id = _parse_subject(resource.get("subject"), canonical_base, issues)
    authored = _parse_authored(resource.get("authored"), issues)
    identifier = _parse_identifier(resource.get("identifier"), issues)
    answers: list[int | None] = []
    difficulty: int | None = None
    if instrument is not None:
        # Items can only be checked against a known Questionnaire.
        answers, difficulty = _parse_items(instrument, resource.get("item"), canonical_base, issues)

    if issues or instrument is None or patient_id is None or authored is None:
        raise FhirInvalid(issues)
    return ParsedResponse(
        instrument=instrument.code,
        instrument_version=instrument.version,
        answers=tuple(answers),
        difficulty=difficulty,
        authored=authored,
        patient_id=patient_id,
        identifier=identifier,
    )
