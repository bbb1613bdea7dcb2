"""PHQ-9 depressive syndromes: "major", "other" or none, by the published PHQ algorithm.

docs/clinical-rules.md, "PHQ-9": a symptom counts when items 1–8 are answered
"more than half the days" (2) or more, or item 9 at all (1+); item 1 or item 2
must count; 5 or more symptoms is the major depressive syndrome, 2–4 the other
depressive syndrome. Checked on worked examples, on every boundary of the
counts, and against an independent formulation on generated answers.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker import instruments
from tracker.instruments import PHQ9
from tracker.instruments.phq9 import depressive_syndrome


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([2, 2, 0, 0, 0, 0, 0, 0, 1], "other"),  # 3 symptoms: items 1, 2 and 9
        ([2, 0, 2, 2, 2, 2, 0, 0, 0], "major"),  # 5: items 1, 3, 4, 5, 6
        ([0, 0, 3, 3, 3, 3, 3, 3, 0], None),  # 6 symptoms, but neither item 1 nor 2
        ([2, 1, 3, 0, 1, 2, 1, 0, 1], "other"),  # the API's worked example: 1, 3, 6, 9
        # Boundaries of the counts, with item 2 as the core symptom:
        ([0, 2, 0, 0, 0, 0, 0, 0, 0], None),  # 1 symptom
        ([0, 2, 2, 0, 0, 0, 0, 0, 0], "other"),  # 2
        ([0, 2, 2, 2, 2, 0, 0, 0, 0], "other"),  # 4
        ([0, 2, 2, 2, 2, 2, 0, 0, 0], "major"),  # 5
        ([0, 3, 3, 3, 3, 3, 3, 3, 3], "major"),  # 9
        # "Several days" (1) does not count for items 1–8, does for item 9:
        ([2, 1, 1, 1, 1, 1, 1, 1, 0], None),
        ([2, 1, 1, 1, 1, 1, 1, 1, 1], "other"),
        ([1, 1, 3, 3, 3, 3, 3, 3, 3], None),  # no core symptom at 2+
        # Skipped items never count.
        ([2, None, 2, None, 0, 0, 0, 0, None], "other"),
        ([None, None, 3, 3, 3, 3, 3, 3, 3], None),
    ],
)
def test_worked_examples_and_boundaries(answers: list[int | None], expected: str | None) -> None:
    assert depressive_syndrome(answers) == expected


def test_scoring_carries_it_and_provisional_diagnosis_is_major() -> None:
    result = instruments.score(PHQ9, [2, 0, 2, 2, 2, 2, 0, 0, 0])
    assert (result.syndrome, result.provisional_diagnosis) == ("major", True)
    result = instruments.score(PHQ9, [2, 2, 0, 0, 0, 0, 0, 0, 1])
    assert (result.syndrome, result.provisional_diagnosis) == ("other", False)
    assert instruments.score(instruments.get("gad7"), [3] * 7).syndrome is None


def reference(answers: list[int | None]) -> str | None:
    """The same rule written another way: a set of counting item numbers."""
    counting = {
        number
        for number, value in enumerate(answers, start=1)
        if value is not None and value >= (1 if number == 9 else 2)
    }
    if not counting & {1, 2}:
        return None
    if len(counting) >= 5:
        return "major"
    if 2 <= len(counting) <= 4:
        return "other"
    return None


answer_lists = st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=9, max_size=9)


@settings(max_examples=2000, deadline=None)
@given(answer_lists)
def test_agrees_with_an_independent_formulation(answers: list[int | None]) -> None:
    assert depressive_syndrome(answers) == reference(answers)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=9, max_size=9))
def test_provisional_diagnosis_is_exactly_major(answers: list[int]) -> None:
    result = instruments.score(PHQ9, answers)
    assert result.provisional_diagnosis is (result.syndrome == "major")
