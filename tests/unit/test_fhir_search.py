"""Hand-worked tests for tracker.fhir.search (FHIR R4 search-parameter parsing).

Every expected bound is worked out by hand in the table or comment next to it
from R4 search.html#date: a value is the range [lo, hi) its precision implies,
and for a resource instant t the prefixes mean eq lo <= t < hi, ne its
negation, gt t >= hi, ge t >= lo, lt t < lo, le t < hi. Zones: an explicit
offset wins, otherwise default_tz. The property tests recompute the range a
second, independent way (truncating an aware datetime) and probe its edges.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracker.fhir.search as search
from tracker.fhir.search import (
    MAX_DB_ID,
    DateRange,
    ParsedSearch,
    SearchError,
    Token,
    build_url,
    db_id,
    parse_count,
    parse_date,
    parse_reference,
    parse_references,
    parse_sort,
    parse_tokens,
    prefer_strict,
    repair_offset_plus,
    select_params,
)

# No example database: keep test runs free of files in the working tree.
PROPERTY = settings(database=None, deadline=None, max_examples=300)

PLUS_0530 = timezone(timedelta(hours=5, minutes=30))
MINUS_0400 = timezone(timedelta(hours=-4))
MINUS_0500 = timezone(timedelta(hours=-5))
NEW_YORK = ZoneInfo("America/New_York")


def utc(*fields: int) -> datetime:
    """An aware UTC datetime: utc(2024, 5, 1, 10) is 2024-05-01T10:00:00Z."""
    return datetime(*fields, tzinfo=UTC)


def range_for(prefix: str, lo: datetime, hi: datetime) -> DateRange:
    """The DateRange the brief prescribes for an instant and a search range [lo, hi)."""
    return {
        "eq": DateRange(lo, hi),
        "ne": DateRange(lo, hi, negate=True),
        "gt": DateRange(hi, None),
        "ge": DateRange(lo, None),
        "lt": DateRange(None, lo),
        "le": DateRange(None, hi),
    }[prefix]


def check_error(excinfo: pytest.ExceptionInfo[SearchError], code: str, param: str) -> None:
    """The error carries the issue code and parameter, and its message names the parameter."""
    assert excinfo.value.code == code
    assert excinfo.value.param == param
    assert param in str(excinfo.value)


# --------------------------------------------------------------------------
# Dates: every prefix at every precision
# --------------------------------------------------------------------------

# (value, lo, hi) worked by hand; zone-less values are in the default zone, UTC.
PRECISIONS = [
    # year: the whole of 2024
    ("2024", utc(2024, 1, 1), utc(2025, 1, 1)),
    # month: February of a leap year, then December rolling into the next year
    ("2024-02", utc(2024, 2, 1), utc(2024, 3, 1)),
    ("2024-12", utc(2024, 12, 1), utc(2025, 1, 1)),
    # day: the leap day; and 31 December rolling into the next year
    ("2024-02-29", utc(2024, 2, 29), utc(2024, 3, 1)),
    ("2024-12-31", utc(2024, 12, 31), utc(2025, 1, 1)),
    # minute: 10:30:00.000000 up to, not including, 10:31
    ("2024-05-01T10:30Z", utc(2024, 5, 1, 10, 30), utc(2024, 5, 1, 10, 31)),
    ("2024-05-01T23:59Z", utc(2024, 5, 1, 23, 59), utc(2024, 5, 2)),
    # second
    ("2024-05-01T10:30:15Z", utc(2024, 5, 1, 10, 30, 15), utc(2024, 5, 1, 10, 30, 16)),
    # fraction: .25 is [0.25 s, 0.26 s) = [250000 µs, 260000 µs)
    (
        "2024-05-01T10:30:15.25Z",
        utc(2024, 5, 1, 10, 30, 15, 250000),
        utc(2024, 5, 1, 10, 30, 15, 260000),
    ),
    # six digits: one microsecond wide
    (
        "2024-05-01T10:30:15.123456Z",
        utc(2024, 5, 1, 10, 30, 15, 123456),
        utc(2024, 5, 1, 10, 30, 15, 123457),
    ),
    # .999 ends exactly at the next second
    ("2024-05-01T10:30:15.999Z", utc(2024, 5, 1, 10, 30, 15, 999000), utc(2024, 5, 1, 10, 30, 16)),
]

PREFIXES = ["eq", "ne", "gt", "ge", "lt", "le"]


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("value", "lo", "hi"), PRECISIONS, ids=[p[0] for p in PRECISIONS])
def test_every_prefix_at_every_precision(
    prefix: str, value: str, lo: datetime, hi: datetime
) -> None:
    assert parse_date(prefix + value, "date") == range_for(prefix, lo, hi)


@pytest.mark.parametrize(("value", "lo", "hi"), PRECISIONS, ids=[p[0] for p in PRECISIONS])
def test_no_prefix_means_eq(value: str, lo: datetime, hi: datetime) -> None:
    # search.html#prefix: "If no prefix is present, the prefix eq is assumed."
    assert parse_date(value, "date") == DateRange(lo, hi)


def test_literal_ranges_for_a_day() -> None:
    # Spelled out once without the helper, for 2024-05-01 (day precision, UTC).
    may1, may2 = utc(2024, 5, 1), utc(2024, 5, 2)
    assert parse_date("eq2024-05-01", "date") == DateRange(may1, may2, False)
    assert parse_date("ne2024-05-01", "date") == DateRange(may1, may2, True)
    assert parse_date("gt2024-05-01", "date") == DateRange(may2, None, False)
    assert parse_date("ge2024-05-01", "date") == DateRange(may1, None, False)
    assert parse_date("lt2024-05-01", "date") == DateRange(None, may1, False)
    assert parse_date("le2024-05-01", "date") == DateRange(None, may2, False)


def test_fraction_beyond_microseconds_rounds_both_ends_up() -> None:
    # .1234561 is [0.1234561, 0.1234562) s; the only whole microsecond instants
    # t with t >= 0.1234561 start at 0.123457, and t < 0.1234562 ends below
    # 0.123457: no stored instant is inside, so lo == hi == 123457 µs.
    r = parse_date("2024-05-01T10:30:15.1234561Z", "date")
    assert r == DateRange(utc(2024, 5, 1, 10, 30, 15, 123457), utc(2024, 5, 1, 10, 30, 15, 123457))
    assert not r.matches(utc(2024, 5, 1, 10, 30, 15, 123456))
    assert not r.matches(utc(2024, 5, 1, 10, 30, 15, 123457))
    # .1234560 is [0.123456, 0.1234561): exactly the instant 123456 µs.
    r = parse_date("2024-05-01T10:30:15.1234560Z", "date")
    assert r == DateRange(utc(2024, 5, 1, 10, 30, 15, 123456), utc(2024, 5, 1, 10, 30, 15, 123457))
    # A thousand digits cost nothing and hit no int-conversion limit.
    r = parse_date("2024-05-01T10:30:15." + "9" * 5000 + "Z", "date")
    assert r == DateRange(utc(2024, 5, 1, 10, 30, 16), utc(2024, 5, 1, 10, 30, 16))


def test_spec_example_lt_with_minutes() -> None:
    # search.html#date: lt2013-01-14T10:00 includes "the part of 14-Jan 2013
    # before 10am". For instants: 09:00 matches, 10:00 does not, 09:59:59.999999 does.
    r = parse_date("lt2013-01-14T10:00", "date")
    assert r == DateRange(None, utc(2013, 1, 14, 10))
    assert r.matches(utc(2013, 1, 14, 9))
    assert r.matches(utc(2013, 1, 14, 9, 59, 59, 999999))
    assert not r.matches(utc(2013, 1, 14, 10))
    assert not r.matches(utc(2013, 1, 14, 11))
    # The same with an explicit zone, and an instant written in another zone.
    r = parse_date("lt2013-01-14T10:00Z", "date")
    assert r.matches(datetime(2013, 1, 14, 14, 0, tzinfo=PLUS_0530))  # 08:30Z
    assert not r.matches(datetime(2013, 1, 14, 6, 0, tzinfo=MINUS_0400))  # 10:00Z


# --------------------------------------------------------------------------
# Dates: zones
# --------------------------------------------------------------------------


def test_zones() -> None:
    # Z: as written.
    assert parse_date("2024-05-01T10:00:00Z", "date").lower == utc(2024, 5, 1, 10)
    # +05:30: 10:00 local is 04:30Z.
    assert parse_date("2024-05-01T10:00:00+05:30", "date") == DateRange(
        utc(2024, 5, 1, 4, 30), utc(2024, 5, 1, 4, 30, 1)
    )
    # -04:00: 10:00 local is 14:00Z.
    assert parse_date("2024-05-01T10:00-04:00", "date") == DateRange(
        utc(2024, 5, 1, 14), utc(2024, 5, 1, 14, 1)
    )
    # -00:00 and +00:00 are UTC.
    assert parse_date("2024-05-01T10:00-00:00", "date").lower == utc(2024, 5, 1, 10)
    # The extremes FHIR allows: +14:00 and -14:00 (not beyond).
    assert parse_date("2024-05-01T10:00+14:00", "date").lower == utc(2024, 4, 30, 20)
    assert parse_date("2024-05-01T10:00-14:00", "date").lower == utc(2024, 5, 2, 0)


def test_zone_less_time_uses_default_tz() -> None:
    # Default UTC: 10:00 is 10:00Z.
    assert parse_date("2024-05-01T10:00", "date").lower == utc(2024, 5, 1, 10)
    # Default +05:30: 10:00 is 04:30Z.
    assert parse_date("2024-05-01T10:00", "date", PLUS_0530).lower == utc(2024, 5, 1, 4, 30)
    # An explicit zone beats the default.
    assert parse_date("2024-05-01T10:00Z", "date", PLUS_0530).lower == utc(2024, 5, 1, 10)


def test_date_only_values_are_whole_local_days_months_years() -> None:
    # Default -05:00: 2024-05-01 local is [05:00Z, 05:00Z next day).
    assert parse_date("2024-05-01", "date", MINUS_0500) == DateRange(
        utc(2024, 5, 1, 5), utc(2024, 5, 2, 5)
    )
    # A month at +05:30: [2024-04-30T18:30Z, 2024-05-31T18:30Z).
    assert parse_date("2024-05", "date", PLUS_0530) == DateRange(
        utc(2024, 4, 30, 18, 30), utc(2024, 5, 31, 18, 30)
    )
    # A year at -04:00: [2024-01-01T04:00Z, 2025-01-01T04:00Z).
    assert parse_date("gt2024", "date", MINUS_0400) == DateRange(utc(2025, 1, 1, 4), None)


def test_date_only_values_follow_daylight_saving_in_a_named_zone() -> None:
    # New York sprang forward on 2024-03-10: midnight was EST (-05:00), the
    # next midnight EDT (-04:00), so that day is 23 hours long.
    assert parse_date("2024-03-10", "date", NEW_YORK) == DateRange(
        utc(2024, 3, 10, 5), utc(2024, 3, 11, 4)
    )
    # And 2024-11-03 is 25 hours: EDT midnight to EST midnight.
    assert parse_date("2024-11-03", "date", NEW_YORK) == DateRange(
        utc(2024, 11, 3, 4), utc(2024, 11, 4, 5)
    )
    # A summer time without a zone is EDT: 10:00 is 14:00Z.
    assert parse_date("2024-07-01T10:00", "date", NEW_YORK).lower == utc(2024, 7, 1, 14)


@pytest.mark.parametrize(
    "value", ["2024", "2024-05-01", "ge2024-05-01T10:00+05:30", "le2024-05-01T10:00:00.5-04:00"]
)
def test_returned_datetimes_are_aware_utc(value: str) -> None:
    r = parse_date(value, "date", NEW_YORK)
    for bound in (r.lower, r.upper):
        if bound is not None:
            assert bound.tzinfo is UTC


def test_space_for_plus_is_repaired() -> None:
    # "+" decoded as a space by form/query decoding (docs/fhir.md, "Known pitfalls", item 1).
    plus = parse_date("ge2024-05-01T10:00:00+05:30", "date")
    assert plus == DateRange(utc(2024, 5, 1, 4, 30), None)
    assert parse_date("ge2024-05-01T10:00:00 05:30", "date") == plus
    assert parse_date("2024-05-01T10:00 05:30", "date") == parse_date(
        "2024-05-01T10:00+05:30", "date"
    )
    assert parse_date("2024-05-01T10:00:00.5 05:30", "date") == parse_date(
        "2024-05-01T10:00:00.5+05:30", "date"
    )
    assert repair_offset_plus("ge2024-05-01T10:00:00 05:30") == "ge2024-05-01T10:00:00+05:30"
    # Nothing else is touched.
    assert repair_offset_plus("2024-05-01T10:00:00-05:30") == "2024-05-01T10:00:00-05:30"
    assert repair_offset_plus("2024-05-01 05:30") == "2024-05-01 05:30"
    assert repair_offset_plus("abc") == "abc"


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01 05:30",  # no time: the space is not an offset
        "2024-05-01T10:00:00  05:30",  # two spaces
        "2024-05-01T10:00:00 0530",  # not hh:mm
        "2024-05-01T10:00:00 05:30 ",  # trailing space
    ],
)
def test_only_the_exact_space_for_plus_shape_is_repaired(value: str) -> None:
    with pytest.raises(SearchError) as excinfo:
        parse_date(value, "date")
    check_error(excinfo, "invalid", "date")


def test_values_beyond_the_calendar_stay_correct() -> None:
    # gt9999: nothing is after 9999 → matches nothing.
    nothing = parse_date("gt9999", "date")
    assert nothing == DateRange(None, None, negate=True)
    assert not nothing.matches(utc(9999, 12, 31, 23, 59, 59, 999999))
    # le9999: everything.
    assert parse_date("le9999", "date") == DateRange(None, None)
    # eq9999-12-31: the last day, open above.
    assert parse_date("9999-12-31", "date") == DateRange(utc(9999, 12, 31), None)
    # 9999-12-31T23:00-05:00 is 10000-01-01T04:00Z: no instant is in it, so eq
    # matches nothing and ne everything.
    assert parse_date("9999-12-31T23:00-05:00", "date") == DateRange(None, None, negate=True)
    assert parse_date("ne9999-12-31T23:00-05:00", "date") == DateRange(None, None)
    # 0001-01-01T00:00+05:00 is before year 1 in UTC: lt matches nothing, ge everything.
    assert parse_date("lt0001-01-01T00:00+05:00", "date") == DateRange(None, None, negate=True)
    assert parse_date("ge0001-01-01T00:00+05:00", "date") == DateRange(None, None)
    assert parse_date("ge0001", "date") == DateRange(utc(1, 1, 1), None)


@pytest.mark.parametrize(
    "value",
    [
        "2024-13-01",  # month 13
        "2024-00",  # month 00
        "2024-02-30",  # 30 February
        "2023-02-29",  # not a leap year
        "2024-04-31",  # April has 30 days
        "2024-05-00",  # day 00
        "2024-05-01T24:00",  # hour 24
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:60",  # minute 60
        "2024-05-01T10:00:61Z",  # second 61
        "2024-05-01T10",  # hour without minutes
        "2024-05-01T10:00:00.Z",  # empty fraction
        "2024-05-01T10:00+15:00",  # offset beyond +14:00
        "2024-05-01T10:00+14:30",
        "2024-05-01T10:00+05:60",
        "2024-05-01T10:00+0530",  # offset without colon
        "2024-05-01Z",  # a zone needs a time
        "2024-05-01t10:00",  # lower-case T
        "2024-05-01T10:00z",  # lower-case Z
        "2024-5-1",  # one-digit month and day
        "24-05-01",  # two-digit year
        "0000",  # no year zero
        "2024-05-01x",  # trailing junk
        "2024-05-01T10:00:00Zjunk",
        "2024 ",
        " 2024",
        "abc",
        "GE2024",  # prefixes are lower case
        "xx2024",  # unknown prefix
        "ge",  # prefix without value
        "",  # empty
        "２０２４",  # full-width digits
        "٢٠٢٤",  # Arabic-Indic digits
        "2024/05/01",
    ],
)
def test_malformed_dates_are_invalid(value: str) -> None:
    with pytest.raises(SearchError) as excinfo:
        parse_date(value, "_lastUpdated")
    check_error(excinfo, "invalid", "_lastUpdated")
    if value:
        assert repr(value) in str(excinfo.value)


@pytest.mark.parametrize("value", ["sa2024-05-01", "eb2024", "ap2024-05-01T10:00Z", "sa2024-13-01"])
def test_sa_eb_ap_are_not_supported(value: str) -> None:
    with pytest.raises(SearchError) as excinfo:
        parse_date(value, "date")
    check_error(excinfo, "not-supported", "date")
    assert value[:2] in str(excinfo.value)


def test_leap_second_is_not_supported() -> None:
    # FHIR's dateTime allows :60; an instant here cannot hold it.
    with pytest.raises(SearchError) as excinfo:
        parse_date("2016-12-31T23:59:60Z", "date")
    check_error(excinfo, "not-supported", "date")


def test_search_error_is_a_value_error_with_a_short_message() -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_date("x" * 10_000, "date")
    assert len(str(excinfo.value)) < 400


# --------------------------------------------------------------------------
# DateRange
# --------------------------------------------------------------------------


def test_date_range_matches_and_validation() -> None:
    r = DateRange(utc(2024, 5, 1), utc(2024, 5, 2))
    assert r.matches(utc(2024, 5, 1))
    assert not r.matches(utc(2024, 5, 2))
    assert r.matches(datetime(2024, 5, 1, 23, 0, tzinfo=MINUS_0400)) is False  # 03:00Z next day
    assert DateRange(utc(2024, 5, 1), utc(2024, 5, 2), negate=True).matches(utc(2024, 5, 2))
    assert DateRange(None, None).matches(utc(1, 1, 1))
    with pytest.raises(ValueError):
        r.matches(datetime(2024, 5, 1))  # naive
    with pytest.raises(ValueError):
        DateRange(datetime(2024, 5, 1), None)  # naive bound
    with pytest.raises(ValueError):
        DateRange(None, datetime(2024, 5, 1, tzinfo=PLUS_0530))  # not UTC


def test_value_classes_are_frozen_and_slotted() -> None:
    for value in (
        DateRange(None, None),
        Token("s", "c", True),
        ParsedSearch(params={}, ignored=()),
    ):
        first = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, first, None)
        assert not hasattr(value, "__dict__")


# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------


def test_token_forms() -> None:
    loinc = "http://loinc.org"
    assert parse_tokens(f"{loinc}|44261-6", "code") == (Token(loinc, "44261-6", True),)
    assert parse_tokens("|44261-6", "code") == (Token(None, "44261-6", True),)
    assert parse_tokens("44261-6", "code") == (Token(None, "44261-6", False),)
    assert parse_tokens(f"{loinc}|", "code") == (Token(loinc, None, True),)


def test_token_comma_is_or_in_order() -> None:
    loinc = "http://loinc.org"
    assert parse_tokens(f"{loinc}|70274-6,{loinc}|101698-9,survey", "code") == (
        Token(loinc, "70274-6", True),
        Token(loinc, "101698-9", True),
        Token(None, "survey", False),
    )


def test_token_escapes() -> None:
    # search.html#escaping: \, \| \$ \\ are literal characters.
    assert parse_tokens(r"a\,b", "code") == (Token(None, "a,b", False),)
    assert parse_tokens(r"s\|x|c", "code") == (Token("s|x", "c", True),)
    assert parse_tokens(r"c\$d,e\\", "code") == (
        Token(None, "c$d", False),
        Token(None, "e\\", False),
    )


@pytest.mark.parametrize(
    "value",
    [
        "",  # empty
        ",",  # two empty pieces
        "a,,b",  # empty piece
        "a,",  # trailing empty piece
        "|",  # neither system nor code
        "a|b|c",  # two pipes
        "a\\",  # lone escape
        r"a\xb",  # not an escape
    ],
)
def test_malformed_tokens_are_invalid(value: str) -> None:
    with pytest.raises(SearchError) as excinfo:
        parse_tokens(value, "category")
    check_error(excinfo, "invalid", "category")


# --------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "12",
        "Patient/12",
        "https://ehr.example.org/fhir/Patient/12",
        "http://localhost:8080/Patient/12",
        "https://ehr.example.org/fhir/Patient/12/",  # trailing slash is harmless
    ],
)
def test_reference_forms(value: str) -> None:
    assert parse_reference(value, "patient") == 12


def test_reference_to_another_type_is_invalid() -> None:
    for value in ("Group/3", "https://ehr.example.org/fhir/Group/3", "patient/3", "/3"):
        with pytest.raises(SearchError) as excinfo:
            parse_reference(value, "subject")
        check_error(excinfo, "invalid", "subject")
    # The expected type is a parameter.
    assert parse_reference("Group/3", "member", "Group") == 3


@pytest.mark.parametrize(
    "value",
    [
        "0",  # ids start at 1
        "abc",  # a valid FHIR id, but not one of ours
        "Patient/abc",
        "012",  # leading zero: a different FHIR id from "12"
        "99999999999",  # more than 10 digits
        str(MAX_DB_ID + 1),  # beyond a 32-bit INTEGER
        "12.5",  # a valid FHIR id ('.' is allowed), not ours
        "-12",
    ],
)
def test_references_that_cannot_exist_are_none(value: str) -> None:
    assert parse_reference(value, "patient") is None


def test_reference_edges() -> None:
    assert parse_reference(str(MAX_DB_ID), "patient") == MAX_DB_ID
    assert parse_reference("1", "patient") == 1


@pytest.mark.parametrize(
    ("fhir_id", "expected"),
    [
        ("1", 1),
        ("12", 12),
        (str(MAX_DB_ID), MAX_DB_ID),
        (str(MAX_DB_ID + 1), None),
        ("0", None),
        ("012", None),
        ("-1", None),
        ("", None),
        ("²", None),
        ("١٢", None),
        ("1 ", None),
        ("9" * 5000, None),
        ("abc", None),
    ],
)
def test_db_id(fhir_id: str, expected: int | None) -> None:
    # "²".isdigit() and "١٢".isdigit() are both True; neither is one of our ids.
    assert db_id(fhir_id) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Patient/",
        "Patient/12/x",
        "a b",
        "x" * 65,  # FHIR ids are at most 64 characters
        "١٢",  # Arabic-Indic digits are not a FHIR id
        "ftp://example.org/Patient/12",
        "https:///Patient/12",  # no host
        "https://example.org/fhir/Patient/12?x=1",
        "https://example.org/12",  # no type segment
    ],
)
def test_malformed_references_are_invalid(value: str) -> None:
    with pytest.raises(SearchError) as excinfo:
        parse_reference(value, "patient")
    check_error(excinfo, "invalid", "patient")


def test_versioned_reference_is_not_supported() -> None:
    for value in ("Patient/12/_history/3", "https://ehr.example.org/fhir/Patient/12/_history/3"):
        with pytest.raises(SearchError) as excinfo:
            parse_reference(value, "patient")
        check_error(excinfo, "not-supported", "patient")


def test_absolute_reference_checked_against_our_base() -> None:
    base = "https://EHR.example.org/fhir/"
    assert parse_reference("https://ehr.example.org/fhir/Patient/12", "patient", base=base) == 12
    assert (
        parse_reference("https://other.example.org/fhir/Patient/12", "patient", base=base) is None
    )
    assert parse_reference("https://ehr.example.org/other/Patient/12", "patient", base=base) is None
    assert parse_reference("http://ehr.example.org/fhir/Patient/12", "patient", base=base) is None
    # Relative forms do not depend on the base.
    assert parse_reference("Patient/12", "patient", base=base) == 12


def test_reference_lists() -> None:
    assert parse_references("12,Patient/13", "patient") == (12, 13)
    # Ids that cannot exist are dropped; duplicates collapse.
    assert parse_references("12,abc,0,12,14", "patient") == (12, 14)
    # Nothing that can exist: the empty tuple, meaning an empty searchset.
    assert parse_references("abc,0", "patient") == ()
    for value in ("12,,13", "12,", "", "12,Group/3"):
        with pytest.raises(SearchError) as excinfo:
            parse_references(value, "patient")
        check_error(excinfo, "invalid", "patient")


# --------------------------------------------------------------------------
# _count and _sort
# --------------------------------------------------------------------------


def test_count() -> None:
    assert parse_count(None) == 50
    assert parse_count("") == 50  # an empty parameter is ignored
    assert parse_count("0") == 0  # total only
    assert parse_count("1") == 1
    assert parse_count("007") == 7
    assert parse_count("500") == 500
    assert parse_count("501") == 500  # clamped, not refused
    assert parse_count("9" * 5000) == 500  # huge, no big-integer parsing
    assert parse_count(None, default=10, maximum=20) == 10
    assert parse_count("21", default=10, maximum=20) == 20


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("-1", "value"),
        ("-" + "9" * 40, "value"),
        ("abc", "invalid"),
        ("1.5", "invalid"),
        ("+5", "invalid"),
        (" 5", "invalid"),
        ("1e3", "invalid"),
        ("５", "invalid"),
    ],
)
def test_count_errors(value: str, code: str) -> None:
    with pytest.raises(SearchError) as excinfo:
        parse_count(value)
    check_error(excinfo, code, "_count")


def test_count_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError):
        parse_count(None, default=600, maximum=500)


def test_sort() -> None:
    allowed = ("date", "_lastUpdated", "_id")
    assert parse_sort(None, allowed) == ()
    assert parse_sort("", allowed) == ()
    assert parse_sort("date", allowed) == ("date",)
    assert parse_sort("-date,_id", allowed) == ("-date", "_id")
    assert parse_sort("_lastUpdated,-_id", allowed) == ("_lastUpdated", "-_id")
    # A repeated key has no further effect and is dropped.
    assert parse_sort("-date,date,_id", allowed) == ("-date", "_id")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("code", "not-supported"),
        ("date,status", "not-supported"),
        ("Date", "not-supported"),
        (" date", "not-supported"),
        ("date,,_id", "invalid"),
        ("-", "invalid"),
        (",", "invalid"),
    ],
)
def test_sort_errors(value: str, code: str) -> None:
    with pytest.raises(SearchError) as excinfo:
        parse_sort(value, ("date", "_lastUpdated", "_id"))
    check_error(excinfo, code, "_sort")


# --------------------------------------------------------------------------
# select_params
# --------------------------------------------------------------------------

SUPPORTED = ("patient", "code", "category", "date", "_lastUpdated", "_id")


def test_select_params_keeps_supported_and_repeated_values_in_order() -> None:
    args = [
        ("patient", "Patient/1"),
        ("date", "ge2024-02-01"),
        ("_count", "10"),
        ("date", "lt2024-05-01"),
        ("code", "a,b"),
    ]
    parsed = select_params(args, SUPPORTED, strict=False)
    assert parsed.params == {
        "patient": ("Patient/1",),
        "date": ("ge2024-02-01", "lt2024-05-01"),  # AND
        "_count": ("10",),
        "code": ("a,b",),
    }
    assert list(parsed.params) == ["patient", "date", "_count", "code"]
    assert parsed.ignored == ()
    assert parsed.empty == ()
    assert parsed.pairs() == (
        ("patient", "Patient/1"),
        ("date", "ge2024-02-01"),
        ("date", "lt2024-05-01"),
        ("_count", "10"),
        ("code", "a,b"),
    )


def test_select_params_lenient_ignores_unknown_and_modifiers() -> None:
    args = [
        ("patient", "1"),
        ("foo", "x"),
        ("code:text", "depression"),
        ("date:missing", "true"),
        ("foo", "y"),
        ("_include", "Observation:patient"),
    ]
    parsed = select_params(args, SUPPORTED, strict=False)
    assert parsed.params == {"patient": ("1",)}
    assert parsed.ignored == ("foo", "code:text", "date:missing", "_include")


def test_select_params_strict_names_the_first_unknown() -> None:
    args = [("patient", "1"), ("code:text", "x"), ("foo", "y")]
    with pytest.raises(SearchError) as excinfo:
        select_params(args, SUPPORTED, strict=True)
    check_error(excinfo, "not-supported", "code:text")
    with pytest.raises(SearchError) as excinfo:
        select_params([("foo", "y")], SUPPORTED, strict=True)
    check_error(excinfo, "not-supported", "foo")


def test_select_params_modifier_listed_exactly_is_supported() -> None:
    parsed = select_params([("code:text", "x")], ("code:text",), strict=True)
    assert parsed.params == {"code:text": ("x",)}


def test_select_params_strict_modifiers_refuse_even_when_lenient() -> None:
    with pytest.raises(SearchError) as excinfo:
        select_params([("code:not", "x")], SUPPORTED, strict=False, strict_modifiers=True)
    check_error(excinfo, "not-supported", "code:not")
    # An unknown base name is still just ignored.
    parsed = select_params([("foo:bar", "x")], SUPPORTED, strict=False, strict_modifiers=True)
    assert parsed.ignored == ("foo:bar",)


def test_select_params_empty_values_are_ignored_never_an_error() -> None:
    args = [("date", ""), ("patient", "1"), ("code", ""), ("code", "x"), ("foo", "")]
    for strict in (False, True):
        parsed = select_params(args, SUPPORTED, strict=strict)
        # date= is dropped; code= is dropped but code=x is used.
        assert parsed.params == {"patient": ("1",), "code": ("x",)}
        assert parsed.empty == ("date",)
        assert parsed.ignored == ("foo",)


def test_select_params_always_allowed() -> None:
    args = [("_format", "json"), ("_total", "accurate"), ("_summary", "count"), ("_sort", "date")]
    assert select_params(args, (), strict=True).params == {k: (v,) for k, v in args}
    # Replaceable: with none always allowed, _format is unknown.
    with pytest.raises(SearchError):
        select_params([("_format", "json")], (), strict=True, always_allowed=())


# --------------------------------------------------------------------------
# Prefer
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "strict"),
    [
        (None, False),
        ("", False),
        ("handling=strict", True),
        ("handling=lenient", False),
        ("return=minimal, handling=strict", True),
        ("respond-async; handling=strict", True),
        ("handling = lenient", False),
        ("handling = strict", True),
        ('handling="strict"', True),
        ("Handling=STRICT", True),
        ("handling=strict, handling=lenient", True),  # RFC 7240: the first counts
        ("handling=lenient, handling=strict", False),
        ("handling=bogus, handling=strict", False),
        ("handling", False),
        ("strict", False),
        ("xhandling=strict", False),
        ("garbage;;,,==", False),
    ],
)
def test_prefer_strict(header: str | None, strict: bool) -> None:
    assert prefer_strict(header) is strict


# --------------------------------------------------------------------------
# build_url
# --------------------------------------------------------------------------


def test_build_url_encodes_plus_pipe_and_colon() -> None:
    url = build_url(
        "https://ehr.example.org/fhir",
        "Observation",
        [("date", "ge2024-05-01T10:00:00+05:30"), ("code", "http://loinc.org|44261-6")],
    )
    assert url == (
        "https://ehr.example.org/fhir/Observation"
        "?date=ge2024-05-01T10%3A00%3A00%2B05%3A30"
        "&code=http%3A%2F%2Floinc.org%7C44261-6"
    )
    query = urlsplit(url).query
    assert parse_qsl(query, keep_blank_values=True) == [
        ("date", "ge2024-05-01T10:00:00+05:30"),
        ("code", "http://loinc.org|44261-6"),
    ]


def test_build_url_paths_and_repeats() -> None:
    assert build_url("https://x.org/fhir/", "/Observation/", []) == "https://x.org/fhir/Observation"
    assert build_url("https://x.org/fhir", "", []) == "https://x.org/fhir"
    assert build_url("http://x.org:8080/fhir", "Patient/$export", [("_type", "Observation")]) == (
        "http://x.org:8080/fhir/Patient/$export?_type=Observation"
    )
    assert build_url("https://x.org", "Observation", [("date", "ge1"), ("date", "lt2")]) == (
        "https://x.org/Observation?date=ge1&date=lt2"
    )
    # Names are encoded too, and spaces are %20 (never "+", which would read back as a space
    # only by luck of the decoder).
    assert build_url("https://x.org", "O", [("code:text", "a b")]) == (
        "https://x.org/O?code%3Atext=a%20b"
    )


@pytest.mark.parametrize(
    "base", ["/fhir", "x.org/fhir", "ftp://x.org/fhir", "https://x.org/fhir?a=1", "https://"]
)
def test_build_url_needs_an_absolute_base(base: str) -> None:
    with pytest.raises(ValueError):
        build_url(base, "Observation", [])


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

PRECISION_NAMES = ("year", "month", "day", "minute", "second", "fraction")


@st.composite
def dated_values(draw: st.DrawFn) -> tuple[str, datetime, datetime, timezone]:
    """A search value at a random precision and zone, with its [lo, hi) worked out independently.

    The range is computed by truncating an aware datetime in its own zone and
    adding one unit of the precision: a different route from the parser's.
    """
    offset = timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60)))
    tz = timezone(offset)
    d = draw(
        st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31, 23, 59, 59))
    ).replace(tzinfo=tz)
    precision = draw(st.sampled_from(PRECISION_NAMES))
    if precision != "fraction":
        d = d.replace(microsecond=0)  # the value does not show them
    digits = draw(st.integers(1, 6))
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    # Written with its offset, or without it and read in default_tz = the same zone.
    zone = draw(st.sampled_from([f"{sign}{minutes // 60:02d}:{minutes % 60:02d}", ""]))
    date_part = f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    if precision == "year":
        value, lo = f"{d.year:04d}", d.replace(month=1, day=1, hour=0, minute=0, second=0)
        hi = lo.replace(year=lo.year + 1)
    elif precision == "month":
        value, lo = f"{d.year:04d}-{d.month:02d}", d.replace(day=1, hour=0, minute=0, second=0)
        hi = (
            lo.replace(year=lo.year + 1, month=1)
            if lo.month == 12
            else lo.replace(month=lo.month + 1)
        )
    elif precision == "day":
        value, lo = date_part, d.replace(hour=0, minute=0, second=0)
        hi = lo + timedelta(days=1)
    elif precision == "minute":
        value, lo = f"{date_part}T{d.hour:02d}:{d.minute:02d}{zone}", d.replace(second=0)
        hi = lo + timedelta(minutes=1)
    elif precision == "second":
        value = f"{date_part}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}{zone}"
        lo, hi = d, d + timedelta(seconds=1)
    else:
        unit = 10 ** (6 - digits)
        micro = d.microsecond - d.microsecond % unit
        text = f"{micro:06d}"[:digits]
        value = f"{date_part}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}.{text}{zone}"
        lo = d.replace(microsecond=micro)
        hi = lo + timedelta(microseconds=unit)
    return value, lo.astimezone(UTC), hi.astimezone(UTC), tz


def expected_match(prefix: str, lo: datetime, hi: datetime, t: datetime) -> bool:
    """The brief's rule for an instant t, written as plain comparisons."""
    return {
        "eq": lo <= t < hi,
        "ne": not (lo <= t < hi),
        "gt": t >= hi,
        "ge": t >= lo,
        "lt": t < lo,
        "le": t < hi,
    }[prefix]


@PROPERTY
@given(
    dated_values(),
    st.sampled_from(PREFIXES),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
)
def test_date_range_boundaries_property(
    dated: tuple[str, datetime, datetime, timezone], prefix: str, anywhere: datetime
) -> None:
    value, lo, hi, tz = dated
    r = parse_date(prefix + value, "date", tz)
    assert r == range_for(prefix, lo, hi)
    for bound in (r.lower, r.upper):
        assert bound is None or bound.tzinfo is UTC
    tick = timedelta(microseconds=1)
    for t in (lo - tick, lo, hi - tick, hi, anywhere):
        assert r.matches(t) is expected_match(prefix, lo, hi, t), (value, prefix, t)
    # The "+" decoded as a space reads the same.
    if "+" in value:
        assert parse_date(prefix + value.replace("+", " "), "date", tz) == r


@PROPERTY
@given(
    dated_values(),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
)
def test_prefixes_are_complements_and_unions(
    dated: tuple[str, datetime, datetime, timezone], t: datetime
) -> None:
    value, _, _, tz = dated
    m = {p: parse_date(p + value, "date", tz).matches(t) for p in PREFIXES}
    assert m["ne"] is not m["eq"]
    assert m["lt"] is not m["ge"]
    assert m["gt"] is not m["le"]
    assert m["ge"] is (m["gt"] or m["eq"])
    assert m["le"] is (m["lt"] or m["eq"])


names = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
values = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@PROPERTY
@given(st.lists(st.tuples(names, values), max_size=6))
def test_build_url_round_trips_through_parse_qsl(params: list[tuple[str, str]]) -> None:
    url = build_url("https://ehr.example.org/fhir", "Observation", params)
    assert url.isascii()
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "ehr.example.org",
        "/fhir/Observation",
    )
    assert parse_qsl(parts.query, keep_blank_values=True) == params


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(["date", "code", "foo", "x:y"]), values), max_size=8))
def test_select_params_partitions_the_names(args: list[tuple[str, str]]) -> None:
    parsed = select_params(args, ("date", "code"), strict=False)
    used = set(parsed.params)
    assert used.isdisjoint(parsed.ignored)
    assert used.isdisjoint(parsed.empty)
    # Every non-empty supported value is kept: names in order of their first
    # used value, each name's values in request order.
    used_args = [(n, v) for n, v in args if n in ("date", "code") and v]
    first_use = [n for n, _ in used_args]
    assert parsed.pairs() == tuple(sorted(used_args, key=lambda nv: first_use.index(nv[0])))
    assert set(parsed.ignored) == {n for n, _ in args if n in ("foo", "x:y")}


# --------------------------------------------------------------------------
# Purity
# --------------------------------------------------------------------------


def test_search_module_is_pure() -> None:
    """Standard library only; no clock."""
    path = Path(search.__file__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", name
            assert name != "time", "the clock is never read here"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
            pytest.fail(f"search.py reads the clock ({node.attr})")
