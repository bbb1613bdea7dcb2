"""Parsing FHIR R4 search parameters into plain values the query layer can use.

Pure: standard library only (no Flask, no SQLAlchemy, no clock), so the GET and
the POST ``_search`` routes, the Bulk ``_since`` handling and the tests all read
a search the same way, and every rule here can be checked without a server.

Everything follows the R4 search page, https://hl7.org/fhir/R4/search.html
(cited below by its anchors, e.g. ``search.html#date``), as summarised in
docs/fhir.md, "Search and paging". Two kinds of failure exist and
they are kept apart on purpose (search.html#errors):

* a value that is syntactically wrong (``date=2024-13-01``) raises
  :class:`SearchError`, which the route turns into 400 + OperationOutcome;
* a value that is well formed but cannot match anything (``patient=abc`` when
  our ids are integers) is NOT an error: the parser says "nothing can match"
  (``None`` or an empty tuple) and the route returns an empty searchset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Literal
from urllib.parse import quote, urlsplit

__all__ = [
    "MAX_DB_ID",
    "DateRange",
    "DayRange",
    "IssueCode",
    "ParsedSearch",
    "SearchError",
    "Token",
    "build_url",
    "db_id",
    "parse_count",
    "parse_date",
    "parse_day_range",
    "parse_reference",
    "parse_references",
    "parse_sort",
    "parse_tokens",
    "prefer_strict",
    "repair_offset_plus",
    "select_params",
]

IssueCode = Literal["invalid", "not-supported", "value"]
"""The OperationOutcome.issue.code values a search error can carry (docs/fhir.md, "Errors")."""

MAX_DB_ID = 2_147_483_647
"""Largest primary key our tables can hold (a signed 32-bit INTEGER column).

A larger id cannot name a row, so it is "no match" rather than an error, and
never reaches the database, where it would overflow the bound parameter.
"""

# The most of a client value we quote back in an error message: enough to
# recognise it, too little to let a hostile value bloat the OperationOutcome.
_SHOW_MAX = 80


def _show(value: str) -> str:
    """Quote a client value for an error message, shortened if it is long."""
    if len(value) > _SHOW_MAX:
        value = value[:_SHOW_MAX] + "…"
    return repr(value)


class SearchError(ValueError):
    """A search the server refuses: the route answers 400 with an OperationOutcome.

    ``code`` is the OperationOutcome issue code: ``invalid`` for a value that is
    syntactically wrong ("Where the content of the parameter is syntactically
    incorrect, servers SHOULD return an error", search.html#errors),
    ``not-supported`` for something well formed that this server does not
    implement (``sa``/``eb``/``ap``, an unknown parameter under
    ``Prefer: handling=strict``), ``value`` for a well-formed number outside its
    allowed range. ``param`` names the offending parameter so the route can set
    ``issue.expression``/``location``; ``str(error)`` is the human-readable text
    and always names the parameter and the value.
    """

    code: IssueCode
    param: str

    def __init__(self, message: str, code: IssueCode, param: str) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DateRange:
    """The instants a date search value selects: ``lower <= t < upper``, or its negation.

    Our resources carry instants (``effective`` and ``meta.lastUpdated`` are
    points in time), so every R4 prefix reduces to one half-open interval on
    ``t``, which maps directly onto two SQL comparisons. ``None`` is an open
    end (-inf below, +inf above). A resource instant ``t`` matches when::

        (lower is None or t >= lower) and (upper is None or t < upper)

    and the result is inverted when ``negate`` is true (the ``ne`` prefix).
    ``DateRange(None, None, negate=True)`` therefore matches nothing; it is what
    a value that lies wholly beyond the representable calendar turns into
    (``gt9999``). Both bounds are always aware and in UTC, so they compare
    correctly with the UTC timestamps we store.
    """

    lower: datetime | None
    upper: datetime | None
    negate: bool = False

    def __post_init__(self) -> None:
        for bound in (self.lower, self.upper):
            # A naive or non-UTC bound would compare wrongly (or not at all)
            # with stored instants; refuse it where it is made.
            if bound is not None and bound.utcoffset() != timedelta(0):
                raise ValueError(f"DateRange bounds must be aware UTC datetimes, not {bound!r}")

    def matches(self, instant: datetime) -> bool:
        """Whether a resource dated ``instant`` (aware) is selected: the reference semantics."""
        if instant.utcoffset() is None:
            raise ValueError(f"a resource instant must be aware, not {instant!r}")
        inside = (self.lower is None or instant >= self.lower) and (
            self.upper is None or instant < self.upper
        )
        return inside != self.negate


# R4 search.html#prefix. "If no prefix is present, the prefix eq is assumed."
_SUPPORTED_PREFIXES = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
# sa/eb ("starts after"/"ends before") and ap ("approximately", which needs the
# clock) are defined by R4 but deliberately not implemented (docs/fhir.md, "Search and paging"):
# they are rejected explicitly rather than silently read as eq.
_UNSUPPORTED_PREFIXES = frozenset({"sa", "eb", "ap"})

# R4 search.html#date: "yyyy-mm-ddThh:mm:ss[Z|(+|-)hh:mm]", any precision
# populated from the left. Minute precision (``T10:00``) is allowed for search
# even though a dateTime element needs seconds: the spec's own example is
# ``lt2013-01-14T10:00``. A zone is only meaningful with a time. ASCII digits
# only: ``\d`` would also accept e.g. Arabic-Indic digits.
_DATE_RE = re.compile(
    r"(?P<year>[0-9]{4})"
    r"(?:-(?P<month>[0-9]{2})"
    r"(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?"
    r")?)?)?"
)

# An unencoded "+" in a query string is decoded as a space, so
# "T10:00:00+05:30" arrives as "T10:00:00 05:30"
# (docs/fhir.md, "Known pitfalls", item 1; HAPI, Helios and crucible all
# tripped on it). Only this exact shape is repaired: a single space between
# a time and an hh:mm offset at the very end.
_SPACE_FOR_PLUS_RE = re.compile(
    r"(?P<head>.*T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?) (?P<offset>[0-9]{2}:[0-9]{2})",
    re.DOTALL,
)

_DATE_FORMATS = "yyyy, yyyy-mm, yyyy-mm-dd or yyyy-mm-ddThh:mm[:ss[.fff]][Z|+hh:mm|-hh:mm]"

# Sentinels for a bound beyond the representable calendar (years 1-9999).
_NEG_INF: Literal["-inf"] = "-inf"
_POS_INF: Literal["+inf"] = "+inf"
_Bound = datetime | Literal["-inf", "+inf"]


def repair_offset_plus(value: str) -> str:
    """Put back the "+" of a time-zone offset that URL decoding turned into a space.

    ``"ge2024-05-01T10:00:00 05:30"`` → ``"ge2024-05-01T10:00:00+05:30"``. Public
    so the route can echo the repaired value in the self link; anything else is
    returned unchanged (docs/fhir.md, "Known pitfalls", item 1: repair it, never answer an
    empty 200).
    """
    match = _SPACE_FOR_PLUS_RE.fullmatch(value)
    if match is None:
        return value
    return f"{match['head']}+{match['offset']}"


def parse_date(raw: str, param: str, default_tz: tzinfo = UTC) -> DateRange:
    """Turn one date search value (``ge2024-05-01``, ``lt2013-01-14T10:00`` …) into a DateRange.

    R4 search.html#date: every value is a range implied by its precision
    (``2024-05`` is the whole of May), the prefix then relates that range S to
    the resource. Our resources are instants t, so with S = [lo, hi):
    eq → lo <= t < hi; ne → not eq; gt → t >= hi ("the range above the search
    value overlaps"); ge → t >= lo (above overlaps, or S contains t);
    lt → t < lo; le → t < hi.

    A value with a time but no zone, and every date-only value, is read in
    ``default_tz`` ("Where both search parameters and resource element date
    times do not have time zones, the servers local time zone should be
    assumed", search.html#date); the route passes the zone it documents and
    advertises in the ``Date`` header (docs/fhir.md, "Search and paging"). Day, month and year ends
    are computed on the local calendar, so a daylight-saving day is 23 or 25
    hours long, as it is for the people who chose the date. A local time that
    does not exist or occurs twice (DST) takes the offset in force before the
    change (``fold=0``).

    Fractions of a second may have any number of digits; since stored instants
    have microsecond resolution, both bounds are rounded UP to the microsecond,
    which selects exactly the same instants as the unrounded range.

    Raises SearchError: ``invalid`` for anything that is not one of the formats
    (month 13, 30 February, hour 24, trailing text, an unknown prefix, empty);
    ``not-supported`` for the ``sa``/``eb``/``ap`` prefixes and a leap second
    (``:60``), which R4 allows but an instant cannot hold here.
    """
    prefix, value = _split_prefix(raw, param)
    value = repair_offset_plus(value)
    match = _DATE_RE.fullmatch(value)
    if match is None:
        raise SearchError(
            f"{param}: {_show(raw)} is not a valid FHIR date; expected {_DATE_FORMATS}, "
            "optionally prefixed by eq, ne, gt, ge, lt or le",
            "invalid",
            param,
        )
    start, end, zone = _local_range(match, raw, param)
    tz = default_tz if zone is None else zone
    lo = _POS_INF if start is None else _to_utc(start, tz)
    hi = _POS_INF if end is None else _to_utc(end, tz)
    return _prefix_range(prefix, lo, hi)


@dataclass(frozen=True, slots=True)
class DayRange:
    """The whole days a date search selects for an element that is itself a day.

    ``first <= day < before`` (``None`` = open end), inverted when ``negate``;
    ``nothing`` when no day can match. Used for ``Patient.birthDate``: a date
    has no time, so R4's rules compare the search range S with the day's range
    T = [day, day + 1) (search.html#prefix): eq, S contains T; gt, T reaches
    beyond S's end; ge, T ends after S starts; lt, T starts before S; le, T
    starts before S ends; ne, not eq.
    """

    first: date | None
    before: date | None
    negate: bool = False
    nothing: bool = False


def parse_day_range(raw: str, param: str) -> DayRange:
    """A date search value (any precision, R4 prefixes) as a range of whole days in UTC.

    Days are read in UTC like every zone-less search value here
    (docs/fhir.md, "Search and paging"). Errors as :func:`parse_date`.
    """
    prefix, value = _split_prefix(raw, param)
    searched = parse_date(value, param)  # S = [lower, upper) of the value itself
    if searched.negate:  # a value beyond the calendar: S is empty
        return DayRange(None, None, negate=prefix == "ne", nothing=prefix != "ne")
    lo, hi = searched.lower, searched.upper

    def ceil_day(instant: datetime) -> date:
        whole = instant.time() == time(0) and instant.tzinfo is not None
        return instant.date() if whole else instant.date() + timedelta(days=1)

    def after_day(instant: datetime) -> date:  # the first day d with d + 1 day > instant
        return (instant - timedelta(days=1)).date() + timedelta(days=1)

    if prefix in ("eq", "ne"):
        first = None if lo is None else ceil_day(lo)
        last_end = None if hi is None else (hi - timedelta(days=1)).date() + timedelta(days=1)
        if first is not None and last_end is not None and first >= last_end:
            return DayRange(None, None, negate=prefix == "ne", nothing=prefix == "eq")
        return DayRange(first, last_end if hi is not None else None, negate=prefix == "ne")
    if prefix == "gt":
        return DayRange(None, None, nothing=True) if hi is None else DayRange(after_day(hi), None)
    if prefix == "ge":
        return DayRange(None if lo is None else after_day(lo), None)
    if prefix == "lt":
        return DayRange(None, None, nothing=True) if lo is None else DayRange(None, ceil_day(lo))
    assert prefix == "le"
    return DayRange(None, None if hi is None else ceil_day(hi))


def _split_prefix(raw: str, param: str) -> tuple[str, str]:
    """Separate the two-letter comparison prefix (search.html#prefix) from the value."""
    if raw == "":
        raise SearchError(f"{param}: a date value is required", "invalid", param)
    head = raw[:2]
    # Dates start with a digit, so two leading ASCII letters can only be a prefix.
    if not (head.isascii() and head.isalpha()):
        return "eq", raw
    if head in _UNSUPPORTED_PREFIXES:
        raise SearchError(
            f"{param}: the prefix {head!r} in {_show(raw)} is not supported by this server; "
            "use eq, ne, gt, ge, lt or le",
            "not-supported",
            param,
        )
    if head not in _SUPPORTED_PREFIXES:
        raise SearchError(
            f"{param}: {_show(raw)} starts with the unknown prefix {head!r}; "
            "use eq, ne, gt, ge, lt or le",
            "invalid",
            param,
        )
    return head, raw[2:]


def _local_range(
    match: re.Match[str], raw: str, param: str
) -> tuple[datetime | None, datetime | None, tzinfo | None]:
    """The naive local [start, end) implied by the value's precision, and its explicit zone.

    A bound is None when it falls after 9999-12-31: it is then +inf for our
    purposes, since no storable instant reaches it. (Only ``end`` can, except
    for a fraction that rounds up past 9999-12-31T23:59:59.999999.)
    """

    def invalid(what: str) -> SearchError:
        return SearchError(f"{param}: {_show(raw)} is not a valid date: {what}", "invalid", param)

    year = int(match["year"])
    if year == 0:
        # FHIR's date regex starts at year 0001, as does Python's calendar.
        raise invalid("year 0000 does not exist")
    month = 1 if match["month"] is None else int(match["month"])
    if not 1 <= month <= 12:
        raise invalid(f"month {month:02d} does not exist")
    day = 1 if match["day"] is None else int(match["day"])
    if match["day"] is not None:
        try:
            datetime(year, month, day)
        except ValueError:
            raise invalid(f"day {day:02d} does not exist in {year:04d}-{month:02d}") from None

    if match["hour"] is None:
        start = datetime(year, month, day)
        if match["day"] is not None:
            end = _shift(start, timedelta(days=1))
        elif match["month"] is not None:
            end = _next_month(year, month)
        else:
            end = datetime(year + 1, 1, 1) if year < 9999 else None
        return start, end, None

    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23:
        # 24:00 is not a FHIR time ("hh" is 00-23); the next day's 00:00 is.
        raise invalid(f"hour {hour:02d} does not exist (00-23)")
    if minute > 59:
        raise invalid(f"minute {minute:02d} does not exist (00-59)")
    zone = _parse_zone(match["zone"], invalid)

    if match["second"] is None:
        start = datetime(year, month, day, hour, minute)
        return start, _shift(start, timedelta(minutes=1)), zone
    second = int(match["second"])
    if second == 60:
        raise SearchError(
            f"{param}: {_show(raw)} names a leap second (:60), which this server cannot "
            "represent; use :59 or the next minute",
            "not-supported",
            param,
        )
    if second > 59:
        raise invalid(f"second {second:02d} does not exist (00-59)")
    start = datetime(year, month, day, hour, minute, second)
    fraction = match["fraction"]
    if fraction is None:
        return start, _shift(start, timedelta(seconds=1)), zone
    lo_us, hi_us = _fraction_bounds(fraction)
    return (
        _shift(start, timedelta(microseconds=lo_us)),
        _shift(start, timedelta(microseconds=hi_us)),
        zone,
    )


def _parse_zone(zone: str | None, invalid: Callable[[str], SearchError]) -> tzinfo | None:
    """The fixed offset of ``Z``/``±hh:mm``; FHIR allows -14:00 … +14:00 (datatypes dateTime)."""
    if zone is None:
        return None
    if zone == "Z":
        return UTC
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes > 0):
        raise invalid(f"time-zone offset {zone} is outside -14:00 … +14:00")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if zone[0] == "-" else offset)


def _fraction_bounds(digits: str) -> tuple[int, int]:
    """Microsecond offsets [lo, hi) selecting exactly the instants in [0.digits, 0.digits + 1 ulp).

    Stored instants are whole microseconds, so ``t >= x`` ⇔ ``t >= ceil_us(x)``
    and ``t < y`` ⇔ ``t < ceil_us(y)``: rounding both ends up loses nothing.
    Done on the digit string, so a thousand-digit fraction costs no big-integer
    arithmetic (and cannot hit Python's int-conversion limit).
    """
    n = len(digits)
    if n <= 6:
        lo = int(digits) * 10 ** (6 - n)
        return lo, lo + 10 ** (6 - n)
    whole = int(digits[:6])
    # Beyond the microsecond, x = whole + r with 0 <= r < 1 µs and y = x + 10^-n,
    # where 0 < y - whole <= 1 µs: so ceil(y) is always whole + 1 µs, and ceil(x)
    # is whole unless the extra digits are non-zero. (Then lo == hi: nothing matches.)
    lo = whole + (1 if digits[6:].strip("0") else 0)
    return lo, whole + 1


def _shift(start: datetime, delta: timedelta) -> datetime | None:
    """``start + delta``, or None (= +inf) past the end of year 9999."""
    try:
        return start + delta
    except OverflowError:
        return None


def _next_month(year: int, month: int) -> datetime | None:
    """The first instant of the following month on the local calendar (None after 9999-12)."""
    if month < 12:
        return datetime(year, month + 1, 1)
    return datetime(year + 1, 1, 1) if year < 9999 else None


def _to_utc(local: datetime, tz: tzinfo) -> _Bound:
    """A naive local time in ``tz`` as an aware UTC datetime, or ±inf when UTC leaves years 1-9999.

    Near the ends of the calendar the UTC value of a valid local time can fall
    outside what ``datetime`` holds (0001-01-01T00:00+05:00). Which end it left
    by follows from the year it started in.
    """
    try:
        return local.replace(tzinfo=tz).astimezone(UTC)
    except OverflowError:
        return _NEG_INF if local.year == 1 else _POS_INF


def _prefix_range(prefix: str, lo: _Bound, hi: _Bound) -> DateRange:
    """Apply an R4 prefix to the search range S = [lo, hi) for an instant t (search.html#prefix)."""
    if prefix == "eq":  # "the range of the search value fully contains the range of the target"
        return _interval(lo, hi)
    if prefix == "ne":  # "... does not fully contain ..."
        return _interval(lo, hi, negate=True)
    if prefix == "gt":  # "the range above the search value intersects" t
        return _interval(hi, _POS_INF)
    if prefix == "ge":  # above S intersects t, or S contains t
        return _interval(lo, _POS_INF)
    if prefix == "lt":  # "the range below the search value intersects" t
        return _interval(_NEG_INF, lo)
    assert prefix == "le"  # below S intersects t, or S contains t
    return _interval(_NEG_INF, hi)


def _interval(lower: _Bound, upper: _Bound, *, negate: bool = False) -> DateRange:
    """Build a DateRange from bounds that may be ±inf, keeping empty intervals empty."""
    if lower == _POS_INF or upper == _NEG_INF:
        # Nothing can be >= +inf or < -inf: the interval is empty. Expressed as
        # "not everything"; its negation (ne) is then everything.
        return DateRange(None, None, negate=not negate)
    return DateRange(
        lower if isinstance(lower, datetime) else None,
        upper if isinstance(upper, datetime) else None,
        negate,
    )


# --------------------------------------------------------------------------
# Tokens and references
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    """One ``[system]|[code]`` alternative of a token search (search.html#token).

    ``code`` → any system (system_given False, system None); ``system|code`` →
    that code in that system; ``|code`` → the code with NO system
    (system_given True, system None); ``system|`` → any code in the system
    (code None). The distinction between "any system" and "no system" is why
    ``system_given`` exists: both have ``system`` None.
    """

    system: str | None
    code: str | None
    system_given: bool


# R4 search.html#escaping: in a value, "\" escapes ",", "|", "$" and itself.
_ESCAPABLE = frozenset("\\,|$")


def _split_unescaped(raw: str, sep: str, param: str) -> list[str]:
    """Split on ``sep`` where it is not escaped; the pieces keep their escapes."""
    pieces: list[str] = []
    current: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise SearchError(
                    f"{param}: {_show(raw)} ends with a lone '\\' escape", "invalid", param
                )
            current.append(char + escaped)
        elif char == sep:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _unescape(piece: str, raw: str, param: str) -> str:
    """Resolve ``\\,`` ``\\|`` ``\\$`` ``\\\\``; any other escape is a syntax error."""
    out: list[str] = []
    chars = iter(piece)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPABLE:
                raise SearchError(
                    f"{param}: {_show(raw)} contains '\\{escaped}'; only \\, \\| \\$ and \\\\ "
                    "are escapes in a search value",
                    "invalid",
                    param,
                )
            out.append(escaped)
        else:
            out.append(char)
    return "".join(out)


def parse_tokens(raw: str, param: str) -> tuple[Token, ...]:
    """Parse a token search value; the comma-separated alternatives are ORed (search.html#token).

    An empty alternative (``a,,b``, a bare ``|``, an empty value) is a syntax
    error, not "match anything": the route drops whole empty parameters before
    calling this (search.html#errors), so an empty piece here is a client mistake.
    Matching is exact (codes are case-sensitive unless the code system says
    otherwise, docs/fhir.md, "Search and paging"); that is the query layer's business.
    """
    tokens: list[Token] = []
    for piece in _split_unescaped(raw, ",", param):
        parts = _split_unescaped(piece, "|", param)
        if len(parts) > 2:
            raise SearchError(
                f"{param}: {_show(piece)} has more than one '|'; expected [system]|[code]",
                "invalid",
                param,
            )
        if len(parts) == 1:
            code = _unescape(parts[0], raw, param)
            if code == "":
                raise SearchError(
                    f"{param}: {_show(raw)} has an empty alternative", "invalid", param
                )
            tokens.append(Token(system=None, code=code, system_given=False))
            continue
        system = _unescape(parts[0], raw, param) or None
        code_or_none = _unescape(parts[1], raw, param) or None
        if system is None and code_or_none is None:
            raise SearchError(
                f"{param}: {_show(raw)} has an alternative with neither system nor code",
                "invalid",
                param,
            )
        tokens.append(Token(system=system, code=code_or_none, system_given=True))
    return tuple(tokens)


# FHIR ids: [A-Za-z0-9\-\.]{1,64} (R4 datatypes.html#id); resource type names
# start with a capital letter. Our own ids are positive integers written
# without leading zeros (that is how we emit them).
_FHIR_ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TYPE_RE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_DB_ID_RE = re.compile(r"[1-9][0-9]{0,9}")


def db_id(fhir_id: str) -> int | None:
    """The primary key a FHIR id string names, or None if it cannot name one of our rows.

    Our ids are emitted as positive integers without leading zeros, so only
    ASCII ``[1-9][0-9]*`` up to :data:`MAX_DB_ID` can match. Use this rather
    than ``str.isdigit()``, which accepts "²" (``int()`` then fails) and
    Arabic-Indic digits (``int()`` turns "١٢" into 12, an id we never issued).
    """
    if not _DB_ID_RE.fullmatch(fhir_id):
        return None
    value = int(fhir_id)
    return value if value <= MAX_DB_ID else None


def parse_reference(
    raw: str, param: str, resource_type: str = "Patient", *, base: str | None = None
) -> int | None:
    """The database id a reference search value names, or None when no resource can match.

    Accepts ``12``, ``Patient/12`` (both SHALL work, US Core, docs/fhir.md, "Search and paging") and
    an absolute ``http(s)://…/Patient/12``. When ``base`` (our public FHIR
    base URL) is given, an absolute URL on another server is None: it cannot
    be one of our resources.

    None (→ empty searchset, not an error; search.html#errors "the server
    SHOULD process the search … returning an empty search set") for a well-formed
    id that cannot be ours: non-numeric (``abc``), zero, leading zeros (``012``
    is a different FHIR id from the ``12`` we emit; ids are strings), or beyond
    :data:`MAX_DB_ID`.

    SearchError ``invalid`` for a reference to another resource type
    (``Group/3``) or anything that is not a reference at all; ``not-supported``
    for a version-specific reference (``Patient/12/_history/3``), which this
    server does not search on.
    """
    if raw == "":
        raise SearchError(f"{param}: a reference value is required", "invalid", param)

    def invalid(what: str) -> SearchError:
        return SearchError(
            f"{param}: {_show(raw)} is not a valid reference: {what}", "invalid", param
        )

    if "://" in raw:
        parts = urlsplit(raw)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise invalid("an absolute reference must be an http(s) URL")
        if parts.query or parts.fragment:
            raise invalid("an absolute reference cannot have a query or fragment")
        if base is not None and not _under_base(raw, base):
            return None
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 2:
            raise invalid(f"expected …/{resource_type}/[id]")
    else:
        segments = raw.split("/")
        if len(segments) not in (1, 2, 4):
            raise invalid(f"expected [id], {resource_type}/[id] or an absolute URL")
        if len(segments) == 4 and segments[2] != "_history":
            raise invalid(f"expected [id], {resource_type}/[id] or an absolute URL")

    if len(segments) >= 4 and segments[-2] == "_history":
        raise SearchError(
            f"{param}: {_show(raw)} is a version-specific reference, which this server does "
            f"not search on; use {resource_type}/[id]",
            "not-supported",
            param,
        )
    rid = segments[-1]
    if len(segments) >= 2:
        rtype = segments[-2]
        if not _TYPE_RE.fullmatch(rtype):
            raise invalid(f"{rtype!r} is not a resource type")
        if rtype != resource_type:
            raise invalid(f"it refers to a {rtype}, but {param} takes a {resource_type}")
    if not _FHIR_ID_RE.fullmatch(rid):
        raise invalid("a FHIR id is 1-64 of A-Z, a-z, 0-9, '-' and '.'")
    return db_id(rid)


def _under_base(url: str, base: str) -> bool:
    """Whether ``url`` lies under ``base``: scheme and host compared case-insensitively."""
    u, b = urlsplit(url), urlsplit(base)
    if (u.scheme.lower(), u.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()):
        return False
    prefix = b.path.rstrip("/") + "/"
    return u.path.startswith(prefix)


def parse_references(
    raw: str, param: str, resource_type: str = "Patient", *, base: str | None = None
) -> tuple[int, ...]:
    """All ids of a comma-separated (ORed) reference value, those that cannot exist dropped.

    An empty result means "nothing can match" (→ empty searchset). Duplicates
    are removed, first occurrence first, since ``12,12`` is the same OR.
    Any malformed alternative fails the whole value (see :func:`parse_reference`).
    """
    ids: list[int] = []
    for piece in _split_unescaped(raw, ",", param):
        if piece == "":
            raise SearchError(f"{param}: {_show(raw)} has an empty alternative", "invalid", param)
        rid = parse_reference(_unescape(piece, raw, param), param, resource_type, base=base)
        if rid is not None and rid not in ids:
            ids.append(rid)
    return tuple(ids)


# --------------------------------------------------------------------------
# Result parameters
# --------------------------------------------------------------------------

# Longer than this, a non-negative _count is certainly above any maximum; not
# converting it keeps a hostile value away from big-integer parsing.
_COUNT_DIGITS_MAX = 18


def parse_count(raw: str | None, default: int = 50, maximum: int = 500) -> int:
    """The page size for ``_count`` (search.html#count).

    Absent or empty → ``default``. ``0`` is allowed and means "total only" (the
    route then returns no entries and no paging links, docs/fhir.md, "Search and paging"). More than
    ``maximum`` is clamped, not refused: "Servers SHALL NOT return more
    resources than requested … but may return less". A value that is not a
    whole number → SearchError ``invalid``; a negative one → ``value``.
    """
    if not 0 <= default <= maximum:
        raise ValueError(f"need 0 <= default <= maximum, got {default=} {maximum=}")
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?[0-9]+", raw):
        raise SearchError(
            f"_count: {_show(raw)} is not a whole number of entries", "invalid", "_count"
        )
    digits = raw.lstrip("-").lstrip("0")
    if raw.startswith("-") and digits:
        raise SearchError(f"_count: {_show(raw)} is negative", "value", "_count")
    if len(digits) > _COUNT_DIGITS_MAX:
        return maximum
    return min(int(digits or "0"), maximum)


def parse_sort(raw: str | None, allowed: Sequence[str]) -> tuple[str, ...]:
    """The sort keys of ``_sort`` in order, ``-`` kept for descending (search.html#sort).

    Absent or empty → ``()`` (the route's default order). A key not in
    ``allowed`` → SearchError ``not-supported``; an empty key (``date,,_id``,
    a bare ``-``) → ``invalid``. A key named again (``date,-date``) is dropped:
    the first occurrence already decides the order, so the later one has no
    effect, and the self link echoes only what was applied.
    """
    if raw is None or raw == "":
        return ()
    keys: list[str] = []
    seen: set[str] = set()
    for item in raw.split(","):
        name = item[1:] if item.startswith("-") else item
        if name == "":
            raise SearchError(f"_sort: {_show(raw)} has an empty sort key", "invalid", "_sort")
        if name not in allowed:
            raise SearchError(
                f"_sort: sorting by {name!r} is not supported; use one of "
                + ", ".join(sorted(allowed)),
                "not-supported",
                "_sort",
            )
        if name in seen:
            continue
        seen.add(name)
        keys.append(item)
    return tuple(keys)


# --------------------------------------------------------------------------
# Choosing the parameters, Prefer, links
# --------------------------------------------------------------------------

_ALWAYS_ALLOWED = ("_count", "_sort", "_format", "_total", "_summary", "_elements")


@dataclass(frozen=True, slots=True)
class ParsedSearch:
    """The request's parameters split into those the search uses and those it drops.

    ``params`` is what the search will actually process, each name with all its
    values in request order (a repeated parameter is AND, search.html#multivalue),
    names in the order of their first used value: exactly what the self link must carry
    ("servers SHALL return the parameters that were actually used",
    search.html#selflink). ``ignored`` lists unknown or unsupported names that
    were dropped (lenient handling), once each, for an ``outcome`` warning
    entry; ``empty`` lists supported names dropped because every value they had
    was empty.
    """

    params: dict[str, tuple[str, ...]]
    ignored: tuple[str, ...]
    empty: tuple[str, ...] = ()

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """The used parameters as (name, value) pairs, ready for :func:`build_url`."""
        return tuple((name, value) for name, values in self.params.items() for value in values)


def select_params(
    args: Sequence[tuple[str, str]],
    supported: Collection[str],
    strict: bool,
    always_allowed: Collection[str] = _ALWAYS_ALLOWED,
    *,
    strict_modifiers: bool = False,
) -> ParsedSearch:
    """Keep the parameters this search supports; drop or refuse the rest (search.html#errors).

    ``args`` are the decoded (name, value) pairs in request order (query string
    or form body). A name is supported when it is in ``supported`` or
    ``always_allowed`` exactly; a name with a modifier (``code:text``,
    ``date:missing``) is a different name and therefore unsupported unless
    listed as such. Unsupported names raise SearchError ``not-supported`` for
    the first of them when ``strict`` (the client sent ``Prefer:
    handling=strict``), and are otherwise listed in ``ignored`` ("servers SHOULD
    ignore unknown or unsupported parameters"). ``strict_modifiers=True``
    refuses an unsupported modifier on a supported parameter even when lenient,
    which the current (R5) search page requires ("a server SHALL reject any search request that
    contains a search parameter with an unsupported modifier"), because
    ignoring ``code:not=X`` returns the opposite of what was asked.

    A parameter with an empty value is dropped and never an error, even when
    strict: "Empty parameters are not an error - they are just ignored by the
    server" (search.html#errors). A supported one is listed in ``empty``, an
    unknown one in ``ignored``.
    """
    allowed = set(supported) | set(always_allowed)
    kept: dict[str, list[str]] = {}
    ignored: list[str] = []
    empty: list[str] = []
    for name, value in args:
        if name in allowed:
            if value != "":
                kept.setdefault(name, []).append(value)
            elif name not in empty:
                empty.append(name)
            continue
        base_name, has_modifier, modifier = name.partition(":")
        bad_modifier = bool(has_modifier) and base_name in allowed
        if value != "" and (strict or (strict_modifiers and bad_modifier)):
            why = f" (the modifier {modifier!r} on {base_name!r})" if bad_modifier else ""
            raise SearchError(
                f"the parameter {name!r}{why} is not supported by this search",
                "not-supported",
                name,
            )
        if name not in ignored:
            ignored.append(name)
    return ParsedSearch(
        params={name: tuple(values) for name, values in kept.items()},
        ignored=tuple(ignored),
        # A name that also had a non-empty value was used, not dropped.
        empty=tuple(name for name in empty if name not in kept),
    )


def prefer_strict(prefer_header: str | None) -> bool:
    """Whether ``Prefer`` asks for ``handling=strict`` (search.html#errors); default lenient.

    Preferences may be separated by commas or semicolons and written with
    spaces around ``=`` or with the value quoted. Names and values are
    compared case-insensitively. Only the first ``handling`` preference counts
    (RFC 7240: "If any preference is specified more than once, only the first
    instance is to be considered"); an unrecognised value is lenient, the
    spec's default. Pass all Prefer header lines joined with ",".
    """
    if not prefer_header:
        return False
    for item in re.split(r"[,;]", prefer_header):
        name, _, value = item.partition("=")
        if name.strip().lower() != "handling":
            continue
        return value.strip().strip('"').strip().lower() == "strict"
    return False


# Characters left as they are in a link's path: unreserved plus the sub-delims
# and ":@" a path segment may hold (RFC 3986 pchar), so "$export" stays readable.
_PATH_SAFE = "/:@!$&'()*,;="


def build_url(base: str, path: str, params: Sequence[tuple[str, str]]) -> str:
    """An absolute link (self, next, …) under the configured public ``base``.

    Absolute because fhirclient follows ``next`` only if it is absolute http(s)
    and built from configuration, never from ``Host``
    (docs/fhir.md, "Known pitfalls", item 2). Every name and value is
    percent-encoded with nothing "safe" (``+`` → ``%2B``, ``|`` → ``%7C``,
    ``:`` → ``%3A``, space → ``%20``), so an offset such as ``+05:30``
    survives the client's decoding
    (docs/fhir.md, "Known pitfalls", item 1; LinuxForHealth #3245); repeated
    names stay, in order (AND). Values are echoed as sent, partial dates
    included (docs/fhir.md, "Known pitfalls", item 3). ``path`` is trusted
    server text.
    """
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the FHIR base URL must be absolute http(s), not {base!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the FHIR base URL cannot carry a query or fragment: {base!r}")
    url = base.rstrip("/")
    tail = path.strip("/")
    if tail:
        url = f"{url}/{quote(tail, safe=_PATH_SAFE)}"
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params)
    return f"{url}?{query}" if query else url
