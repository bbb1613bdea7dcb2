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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from urllib.parse import unquote

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
# A conditional reference (R4 references.html): the patient named by one of its identifiers.
_PATIENT_BY_IDENTIFIER = re.compile(r"Patient\?identifier=(?P<token>[^&]+)")
# A dateTime without a zone (valid R4 when no time is given, and tolerated with one):
# read in the clinic's time zone (docs/fhir.md, "QuestionnaireResponse and Questionnaire").
_LOCAL_DATETIME = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]+))?"
)
_DATE = re.compile(r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})")
# A date-only authored is read as noon on that day in the clinic's zone: the middle of the
# day stays on the same calendar day for readers in any zone within 12 hours of it.
DATE_ONLY_TIME = time(12, 0)

# Canonicals EHRs use for our instruments besides ours: LOINC's form of each panel
# (http://loinc.org/q/<panel code>) and the one US Core publishes (PHQ-9 only; US Core has
# no GAD-7 or PCL-5 Questionnaire). Mapped to the instrument's LOINC panel code.
LOINC_QUESTIONNAIRE = "http://loinc.org/q/"
US_CORE_QUESTIONNAIRES = {"http://hl7.org/fhir/us/core/Questionnaire/phq-9-example": "44249-1"}
_MAX_GROUP_DEPTH = 3  # the panel group, and at most two levels of sections inside it


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """The submission values extracted from a QuestionnaireResponse (not yet scored)."""

    instrument: str
    instrument_version: str  # the Questionnaire version answered (the current one if not given)
    answers: tuple[int | None, ...]  # item order; None = item absent (skipped)
    difficulty: int | None
    authored: datetime  # aware
    patient_id: int | None  # None when the subject is given by identifier
    identifier: tuple[str, str] | None  # (system, value)
    # Subject as an identifier reference: (system or None for any, value), resolved by the route.
    patient_identifier: tuple[str | None, str] | None = None
    # Not part of the submission (so not compared): a total the client sent, which the
    # server's replaces, and the FHIR path of each answered item (index in item order, or
    # "difficulty"), for error texts.
    client_total: float | None = field(default=None, compare=False)
    paths: dict[int | str, str] = field(default_factory=dict, compare=False)


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
    external = _external_panel(url)
    if external is not None:
        # LOINC's and US Core's forms carry their own versions (LOINC's, the IG's), not
        # ours: answers are read against the current version of the instrument.
        for inst in instruments.all():
            if inst.codes.panel == external:
                return inst
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


def _external_panel(url: str) -> str | None:
    """The LOINC panel code an outside canonical names (LOINC or US Core), if any."""
    if url.startswith(LOINC_QUESTIONNAIRE):
        return url[len(LOINC_QUESTIONNAIRE) :] or None
    return US_CORE_QUESTIONNAIRES.get(url)


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


def _parse_subject(
    value: object, canonical_base: str, issues: list[Issue]
) -> int | tuple[str | None, str] | None:
    """Our patient id, or (system, value) of an identifier that must name one patient.

    Accepted: ``Patient/<id>`` (or our absolute URL), the conditional reference
    ``Patient?identifier=[system|]value``, and a logical reference
    ``{"identifier": {"system": …, "value": …}}``.
    """
    where = f"{_ROOT}.subject"
    if value is None:
        issues.append(_error("required", "subject (the patient) is required", where))
        return None
    if not isinstance(value, dict):
        issues.append(_error("structure", "subject must be a Reference object", where))
        return None
    ref = value.get("reference")
    if ref is None and "identifier" in value:
        return _parse_subject_identifier(value.get("identifier"), value.get("type"), issues)
    where = f"{_ROOT}.subject.reference"
    if ref is None:
        issues.append(
            _error(
                "required",
                'subject.reference ("Patient/<id>") or subject.identifier is required',
                where,
            )
        )
        return None
    if isinstance(ref, str):
        # Our own absolute URL is the same reference (R4 references may be absolute).
        prefix = canonical_base.rstrip("/") + "/"
        relative = ref[len(prefix) :] if ref.startswith(prefix) else ref
        match = _PATIENT_REF.fullmatch(relative)
        if match and int(match.group(1)) <= _MAX_PATIENT_ID:
            return int(match.group(1))
        conditional = _PATIENT_BY_IDENTIFIER.fullmatch(relative)
        if conditional:
            token = unquote(conditional["token"])  # "|" may come percent-encoded
            system, bar, code = token.partition("|")
            system, code = (system, code) if bar else (None, token)
            if code and len(code) <= _MAX_IDENTIFIER_LEN:
                return (system or None, code)
    issues.append(
        _error(
            "value",
            f"subject.reference {_describe(ref)} is not a reference of the form "
            '"Patient/<id>" or "Patient?identifier=<system>|<value>"',
            where,
        )
    )
    return None


def _parse_subject_identifier(
    value: object, kind: object, issues: list[Issue]
) -> tuple[str | None, str] | None:
    where = f"{_ROOT}.subject.identifier"
    if kind not in (None, "Patient"):
        issues.append(_error("value", "subject.type must be Patient", f"{_ROOT}.subject.type"))
        return None
    if not isinstance(value, dict) or not isinstance(value.get("value"), str):
        issues.append(_error("structure", "subject.identifier needs a value (and a system)", where))
        return None
    system = value.get("system")
    if system is not None and not isinstance(system, str):
        issues.append(_error("structure", "subject.identifier.system must be a string", where))
        return None
    code = value["value"]
    if not code or len(code) > _MAX_IDENTIFIER_LEN or len(system or "") > _MAX_IDENTIFIER_LEN:
        issues.append(_error("value", "subject.identifier is empty or too long", where))
        return None
    return (system or None, code)


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


def _parse_authored(
    value: object, issues: list[Issue], clinic_tz: tzinfo, now: datetime | None
) -> datetime | None:
    """``authored`` as an aware instant.

    With an offset it is exact. Without one (a date, or a dateTime lacking its
    zone) it is read in the clinic's time zone: a date as noon that day, or the
    time of receipt when that is still ahead (a form dated today sent in the
    morning); a local time that does not exist or occurs twice at a DST change
    takes the offset before the change (docs/fhir.md, "QuestionnaireResponse and
    Questionnaire").
    """
    where = f"{_ROOT}.authored"
    if value is None:
        issues.append(
            _error("required", "authored (when the form was completed) is required", where)
        )
        return None
    parsed = None
    if isinstance(value, str):
        parsed = _parse_datetime(value) or _parse_local(value, clinic_tz, now)
    if parsed is None:
        issues.append(
            _error(
                "value",
                f"{where} {_describe(value)} must be a date (YYYY-MM-DD) or a dateTime with "
                'seconds, e.g. "2026-03-01T09:30:00+00:00"; without an offset it is read in '
                "the clinic's time zone",
                where,
            )
        )
    return parsed


def _parse_local(value: str, clinic_tz: tzinfo, now: datetime | None) -> datetime | None:
    """A zone-less dateTime or a date, read in ``clinic_tz``; None if neither."""
    m = _LOCAL_DATETIME.fullmatch(value)
    try:
        if m is not None:
            micro = int((m["f"] or "0")[:6].ljust(6, "0"))
            parts = (int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]))
            local = datetime(*parts, int(m["s"]), micro)
            return local.replace(tzinfo=clinic_tz).astimezone(UTC)
        d = _DATE.fullmatch(value)
        if d is None:
            return None
        day = date(int(d["y"]), int(d["mo"]), int(d["d"]))
        noon = datetime.combine(day, DATE_ONLY_TIME).replace(tzinfo=clinic_tz).astimezone(UTC)
    except (ValueError, OverflowError):  # no such day, hour 24, a leap second, year 0
        return None
    if now is not None and noon > now and now.astimezone(clinic_tz).date() == day:
        return now
    return noon


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
        issues.append(_error("structure", f"{where} must be an object", where))
        return None
    if "item" in answer:
        issues.append(
            _error("structure", f"{where}: items nested under an answer are not supported", where)
        )
        return None
    choices = [k for k in answer if isinstance(k, str) and k.startswith("value")]
    if len(choices) != 1:
        issues.append(_error("structure", f"{where} must have exactly one value[x]", where))
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
                f"{where}: item {item.number}: valueCoding is not one of this item's answer "
                "options (matched by system and code)",
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
                f"{where}: item {item.number}: valueInteger {_describe(value)} is not one of "
                f"{allowed}",
                where,
            )
        )
        return None
    issues.append(
        _error(
            "value",
            f"{where}: item {item.number}: {key} is not accepted; answer with valueCoding "
            f"(an answer option) or valueInteger ({allowed})",
            where,
        )
    )
    return None


@dataclass
class _Items:
    """What the items say: answers in item order, difficulty, a client total, paths."""

    answers: list[int | None]
    difficulty: int | None = None
    client_total: float | None = None
    paths: dict[int | str, str] = field(default_factory=dict)


def _link_targets(instrument: Instrument) -> dict[str, int | str | None]:
    """linkId → an item index, "difficulty", "total", or None for a display item.

    Our linkIds are "/<LOINC>" as LHC-Forms and US Core write them; LOINC's own
    forms use the bare code, so both spellings name the same item.
    """
    targets: dict[str, int | str | None] = {
        item_link_id(instrument, item): index for index, item in enumerate(instrument.items)
    }
    diff_link = difficulty_link_id(instrument)
    if diff_link is not None:
        targets[diff_link] = "difficulty"
    # The server scores, so a client's total is read only to say it was replaced.
    targets[total_link_id(instrument)] = "total"
    targets[stem_link_id(instrument)] = None
    for link, target in list(targets.items()):
        if link.startswith("/"):
            targets[link[1:]] = target
    return targets


def _flatten(
    value: list,
    where: str,
    targets: dict[str, int | str | None],
    issues: list[Issue],
    depth: int = 0,
) -> list[tuple[dict, str]]:
    """The question items with their FHIR paths, groups (such as the panel) opened.

    A group is an item with child items, no answer, and a linkId that is not one of
    the instrument's questions (e.g. "/44249-1", the PHQ-9 panel in LOINC's form).
    """
    found: list[tuple[dict, str]] = []
    for position, entry in enumerate(value):
        path = f"{where}[{position}]"
        if not isinstance(entry, dict):
            issues.append(_error("structure", f"{path} must be an object", path))
            continue
        link = entry.get("linkId")
        is_group = "item" in entry and "answer" not in entry
        if is_group and not (isinstance(link, str) and link in targets):
            children = entry["item"]
            if not isinstance(children, list):
                issues.append(_error("structure", f"{path}.item must be an array", f"{path}.item"))
            elif depth >= _MAX_GROUP_DEPTH:
                issues.append(
                    _error("structure", f"{path}: groups are nested too deeply", f"{path}.item")
                )
            else:
                found += _flatten(children, f"{path}.item", targets, issues, depth + 1)
            continue
        found.append((entry, path))
    return found


def _parse_items(
    instrument: Instrument, value: object, canonical_base: str, issues: list[Issue]
) -> _Items:
    """Answers in item order and the difficulty answer; absent items stay None."""
    result = _Items([None] * instrument.item_count)
    if value is None:
        return result  # nothing answered; the scoring rule decides
    if not isinstance(value, list):
        issues.append(_error("structure", "item must be an array", f"{_ROOT}.item"))
        return result

    targets = _link_targets(instrument)
    seen: set[int | str] = set()
    for entry, where in _flatten(value, f"{_ROOT}.item", targets, issues):
        link = entry.get("linkId")
        if link is None:
            issues.append(_error("required", f"{where}.linkId is required", f"{where}.linkId"))
            continue
        if not isinstance(link, str) or link not in targets:
            issues.append(
                _error(
                    "value",
                    f"{where}.linkId {_describe(link)} is not an item of {instrument.name}",
                    f"{where}.linkId",
                )
            )
            continue
        target = targets[link]
        if target is None:
            continue
        if target in seen:
            issues.append(
                _error(
                    "duplicate",
                    f"{where}.linkId {_describe(link)} appears more than once",
                    f"{where}.linkId",
                )
            )
            continue
        seen.add(target)
        if target == "total":
            result.client_total = _client_total(entry.get("answer"))
            continue
        if "item" in entry:
            issues.append(
                _error(
                    "structure",
                    f"{where}.item: items nested under a question are not supported",
                    f"{where}.item",
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
                    f"{where}.answer: item {item.number} has no answer; leave a skipped item "
                    "out instead",
                    f"{where}.answer",
                )
            )
            continue
        if not isinstance(answer_list, list):
            issues.append(
                _error("structure", f"{where}.answer must be an array", f"{where}.answer")
            )
            continue
        if len(answer_list) != 1:
            issues.append(
                _error(
                    "structure",
                    f"{where}.answer: item {item.number} has {len(answer_list)} answers; "
                    "exactly one is allowed",
                    f"{where}.answer",
                )
            )
            continue
        chosen = _answer_value(
            instrument, item, answer_list[0], f"{where}.answer[0]", canonical_base, issues
        )
        result.paths[target] = f"{where}.answer[0]"
        if target == "difficulty":
            result.difficulty = chosen
        else:
            result.answers[int(target)] = chosen
    return result


def _client_total(answers: object) -> float | None:
    """The number a client put in the total item, if it is one (it is never used to score)."""
    if not isinstance(answers, list) or len(answers) != 1 or not isinstance(answers[0], dict):
        return None
    answer = answers[0]
    for key in ("valueDecimal", "valueInteger"):
        number = answer.get(key)
        if isinstance(number, int | float) and not isinstance(number, bool):
            return float(number)
    quantity = answer.get("valueQuantity")
    if isinstance(quantity, dict):
        number = quantity.get("value")
        if isinstance(number, int | float) and not isinstance(number, bool):
            return float(number)
    return None


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def parse_questionnaire_response(
    resource: object,
    canonical_base: str,
    clinic_tz: tzinfo = UTC,
    now: datetime | None = None,
) -> ParsedResponse:
    """Validate a QuestionnaireResponse against our Questionnaires and extract its values.

    Accepts only ``status: completed`` responses to one of our Questionnaires: our
    canonical (optionally ``|<version>``, any version we have), LOINC's
    ``http://loinc.org/q/<panel>`` or US Core's PHQ-9 example. The subject is
    ``Patient/<id>`` or an identifier (resolved by the caller). ``authored`` with an
    offset is exact; a date or a zone-less dateTime is read in ``clinic_tz``
    (``now``, when given, keeps a date of today from landing in the future). Items
    are matched by linkId, with or without the leading slash, also inside groups such
    as the panel; each must have exactly one answer, a valueCoding of one of its
    answerOptions (system+code) or a valueInteger equal to an option value. Missing
    items become None: whether that many may be skipped is the scoring core's rule,
    not the parser's. Raises :class:`FhirInvalid` with every problem found, each
    naming its FHIR path.
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
    subject = _parse_subject(resource.get("subject"), canonical_base, issues)
    authored = _parse_authored(resource.get("authored"), issues, clinic_tz, now)
    identifier = _parse_identifier(resource.get("identifier"), issues)
    items = _Items([])
    if instrument is not None:
        # Items can only be checked against a known Questionnaire.
        items = _parse_items(instrument, resource.get("item"), canonical_base, issues)

    if issues or instrument is None or subject is None or authored is None:
        raise FhirInvalid(issues)
    return ParsedResponse(
        instrument=instrument.code,
        instrument_version=instrument.version,
        answers=tuple(items.answers),
        difficulty=items.difficulty,
        authored=authored,
        patient_id=subject if isinstance(subject, int) else None,
        identifier=identifier,
        patient_identifier=None if isinstance(subject, int) else subject,
        client_total=items.client_total,
        paths=items.paths,
    )
