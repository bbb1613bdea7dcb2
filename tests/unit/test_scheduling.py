"""Worked vignettes for tracker.scheduling: windows, repeats and completion.

Each expected instant is counted by hand from the rules in docs/api.md,
"Due questionnaires": opens = anchor + offset (+ repeat
× step) days, closes = opens + window days, both ends in the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.scheduling import (
    Completion,
    SeriesSpan,
    build,
    due_items,
    occurrences,
    plan_errors,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
DAY = timedelta(days=1)

KETAMINE = build(
    3,
    "Ketamine induction",
    ["phq9", "gad7"],
    [
        {"label": "Baseline", "anchor": "series_start", "offset_days": -7, "window_days": 7},
        {
            "label": "Weekly",
            "anchor": "series_start",
            "offset_days": 7,
            "window_days": 2,
            "repeat_every_days": 7,
        },
        {"label": "Post-series", "anchor": "series_end", "offset_days": 0, "window_days": 14},
        {
            "label": "Follow-up 4 weeks",
            "anchor": "series_end",
            "offset_days": 28,
            "window_days": 7,
            "instruments": ["phq9"],
        },
    ],
)


def series(ended_at: datetime | None = None) -> SeriesSpan:
    return SeriesSpan(id=17, patient_id=5, started_at=START, ended_at=ended_at)


def ids(items) -> list[str]:
    return [item.id for item in items]


def test_baseline_opens_a_week_before_the_start_and_closes_at_it() -> None:
    found = occurrences(KETAMINE, series(), now=START - 3 * DAY)
    baseline = found[0]
    assert baseline.key == "s17.e1.r0"
    assert baseline.opens_at == datetime(2026, 2, 23, 9, 0, tzinfo=UTC)
    assert baseline.closes_at == START


def test_repeats_of_an_ongoing_series_stop_at_the_first_opening_after_now() -> None:
    # now = start + 16 d: openings at +7 (r0), +14 (r1) are past, +21 (r2) is the next one.
    found = occurrences(KETAMINE, series(), now=START + 16 * DAY)
    weekly = [o for o in found if o.label == "Weekly"]
    assert [o.key for o in weekly] == ["s17.e2.r0", "s17.e2.r1", "s17.e2.r2"]
    assert weekly[2].opens_at == START + 21 * DAY


def test_repeats_of_an_ended_series_stop_before_its_end() -> None:
    # Ended at +21 d: openings +7 and +14 are before the end; +21 is not (strictly before).
    found = occurrences(KETAMINE, series(START + 21 * DAY), now=START + 100 * DAY)
    weekly = [o for o in found if o.label == "Weekly"]
    assert [o.opens_at for o in weekly] == [START + 7 * DAY, START + 14 * DAY]


def test_a_series_too_short_for_the_first_repeat_has_none() -> None:
    found = occurrences(KETAMINE, series(START + 5 * DAY), now=START + 6 * DAY)
    assert [o for o in found if o.label == "Weekly"] == []


def test_series_end_entries_appear_only_once_the_series_ends() -> None:
    ongoing = occurrences(KETAMINE, series(), now=START + 30 * DAY)
    assert {o.label for o in ongoing} == {"Baseline", "Weekly"}
    ended = occurrences(KETAMINE, series(START + 22 * DAY), now=START + 23 * DAY)
    post = [o for o in ended if o.label == "Post-series"][0]
    follow_up = [o for o in ended if o.label == "Follow-up 4 weeks"][0]
    assert (post.opens_at, post.closes_at) == (START + 22 * DAY, START + 36 * DAY)
    assert follow_up.opens_at == START + 50 * DAY
    assert follow_up.instruments == ("phq9",)


def test_one_item_per_occurrence_and_instrument_ordered_by_opening_then_instrument() -> None:
    items = due_items(KETAMINE, series(START + 8 * DAY), [], now=START + 60 * DAY)
    assert ids(items) == [
        "s17.e1.r0.gad7",
        "s17.e1.r0.phq9",
        "s17.e2.r0.gad7",
        "s17.e2.r0.phq9",
        "s17.e3.r0.gad7",
        "s17.e3.r0.phq9",
        "s17.e4.r0.phq9",
    ]


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (START - 7 * DAY - timedelta(seconds=1), "upcoming"),
        (START - 7 * DAY, "due"),  # the opening instant belongs to the window
        (START, "due"),  # so does the closing one
        (START + timedelta(seconds=1), "missed"),
    ],
)
def test_status_at_the_edges_of_the_window(now: datetime, status: str) -> None:
    items = due_items(KETAMINE, series(), [], now=now)
    assert items[0].id == "s17.e1.r0.gad7"
    assert items[0].status == status


@pytest.mark.parametrize(
    ("completed_at", "completes"),
    [
        (START - 7 * DAY, True),  # exactly on opens_at
        (START, True),  # exactly on closes_at
        (START - 7 * DAY - timedelta(seconds=1), False),
        (START + timedelta(seconds=1), False),
    ],
)
def test_a_response_on_either_end_of_the_window_completes_it(
    completed_at: datetime, completes: bool
) -> None:
    items = due_items(
        KETAMINE, series(), [Completion(901, "phq9", completed_at)], now=START + 2 * DAY
    )
    baseline_phq9 = [i for i in items if i.id == "s17.e1.r0.phq9"][0]
    assert baseline_phq9.status == ("completed" if completes else "missed")
    assert baseline_phq9.response_id == (901 if completes else None)


def test_the_earliest_response_in_the_window_is_the_one_named() -> None:
    completions = [
        Completion(903, "phq9", START - 1 * DAY),
        Completion(902, "phq9", START - 5 * DAY),
    ]
    items = due_items(KETAMINE, series(), completions, now=START)
    assert [i.response_id for i in items if i.id == "s17.e1.r0.phq9"] == [902]


def test_one_response_completes_two_overlapping_items() -> None:
    overlapping = build(
        4,
        "Overlap",
        ["phq9"],
        [
            {"label": "Baseline", "anchor": "series_start", "offset_days": -7, "window_days": 7},
            {"label": "Day one", "anchor": "series_start", "offset_days": 0, "window_days": 2},
        ],
    )
    items = due_items(overlapping, series(), [Completion(77, "phq9", START)], now=START)
    assert [(i.id, i.status, i.response_id) for i in items] == [
        ("s17.e1.r0.phq9", "completed", 77),
        ("s17.e2.r0.phq9", "completed", 77),
    ]


def test_a_response_of_another_instrument_completes_nothing() -> None:
    items = due_items(KETAMINE, series(), [Completion(5, "pcl5", START)], now=START)
    assert {i.status for i in items if i.label == "Baseline"} == {"due"}


def test_amended_and_entered_in_error_responses_count_only_through_what_the_caller_passes() -> None:
    # The services pass final responses only: an amendment (final) replaces the amended
    # row, an entered-in-error row is left out. Here: the amendment, at its own instant.
    amendment = Completion(12, "phq9", START - 2 * DAY)
    items = due_items(KETAMINE, series(), [amendment], now=START)
    assert [i.response_id for i in items if i.id == "s17.e1.r0.phq9"] == [12]
    items = due_items(KETAMINE, series(), [], now=START)  # entered in error: nothing left
    assert [i.status for i in items if i.id == "s17.e1.r0.phq9"] == ["due"]


def test_ids_are_stable_across_reads_at_different_times() -> None:
    early = due_items(KETAMINE, series(), [], now=START + 8 * DAY)
    late = due_items(KETAMINE, series(), [], now=START + 30 * DAY)
    assert ids(early) == ids(late)[: len(early)]


KNOWN = {"phq9", "gad7", "pcl5"}.__contains__


def errors_of(**changes: object) -> dict[str, list[str]]:
    entry = {"label": "Baseline", "anchor": "series_start", "offset_days": -7, "window_days": 7}
    entry.update(changes)
    return plan_errors("Plan", ["phq9"], [entry], KNOWN)


def test_a_valid_plan_has_no_errors() -> None:
    assert errors_of() == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"offset_days": -91}, "entries.0.offset_days"),
        ({"offset_days": 366}, "entries.0.offset_days"),
        ({"offset_days": 1.5}, "entries.0.offset_days"),
        ({"window_days": -1}, "entries.0.window_days"),
        ({"window_days": 91}, "entries.0.window_days"),
        ({"anchor": "series_middle"}, "entries.0.anchor"),
        ({"label": ""}, "entries.0.label"),
        ({"instruments": ["bdi"]}, "entries.0.instruments"),
        ({"repeat_every_days": 0}, "entries.0.repeat_every_days"),
        ({"anchor": "series_end", "repeat_every_days": 7}, "entries.0.repeat_every_days"),
        ({"surprise": 1}, "entries.0.surprise"),
    ],
)
def test_each_rule_names_its_field(changes: dict, field: str) -> None:
    assert list(errors_of(**changes)) == [field]


@pytest.mark.parametrize("bound", [-90, 365])
def test_offset_bounds_are_included(bound: int) -> None:
    assert errors_of(offset_days=bound) == {}


def test_plan_level_rules() -> None:
    errors = plan_errors("", ["phq9", "phq9"], [], KNOWN)
    assert set(errors) == {"name", "instruments", "entries"}
    assert plan_errors("P", [], [{}], KNOWN)["instruments"]
