"""Property-based tests (Hypothesis) for tracker.instruments scoring."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracker.instruments as instruments
from tracker.instruments import PCL5, PHQ9, Instrument, InvalidAnswers, prorate, score

# No example database: keep test runs free of files in the working tree.
PROPERTY = settings(database=None, deadline=None, max_examples=200)

ALL = instruments.all()


def complete_answers(inst: Instrument) -> st.SearchStrategy[list[int]]:
    """A full valid answers array for ``inst``."""
    return st.tuples(*(st.sampled_from(item.values) for item in inst.items)).map(list)


instrument_and_answers = st.sampled_from(ALL).flatmap(
    lambda inst: st.tuples(st.just(inst), complete_answers(inst))
)


@st.composite
def pcl5_with_skips(draw: st.DrawFn) -> list[int | None]:
    """A PCL-5 answers array with 0–2 skipped items."""
    answers: list[int | None] = list(draw(complete_answers(PCL5)))
    skipped = draw(st.sets(st.integers(0, 19), max_size=PCL5.max_missing))
    for index in skipped:
        answers[index] = None
    return answers


def half_up(numerator: int, denominator: int) -> int:
    """Reference rounding with exact fractions: floor(x + 1/2)."""
    x = Fraction(numerator, denominator) + Fraction(1, 2)
    return x.numerator // x.denominator


@PROPERTY
@given(instrument_and_answers)
def test_complete_total_is_sum_and_consistent(case: tuple[Instrument, list[int]]) -> None:
    inst, answers = case
    result = score(inst, answers)
    assert result.total == sum(answers)
    assert result.prorated is False
    assert inst.min_score <= result.total <= inst.max_score
    assert result.severity == inst.band_for(result.total)
    assert result.screen_positive is (result.total >= inst.thresholds.cutoff)
    for sub in inst.subscales:
        assert result.subscales[sub.code] == sum(answers[i - 1] for i in sub.items)
    if inst is PHQ9:
        assert result.flags == (("suicidal_ideation",) if answers[8] >= 1 else ())
    else:
        assert result.flags == ()
    if inst.provisional_rule is None:
        assert result.provisional_diagnosis is None
    else:
        assert isinstance(result.provisional_diagnosis, bool)


@PROPERTY
@given(instrument_and_answers, st.data())
def test_raising_one_item_never_lowers_total(
    case: tuple[Instrument, list[int]], data: st.DataObject
) -> None:
    inst, answers = case
    index = data.draw(st.integers(0, inst.item_count - 1))
    higher = [v for v in inst.items[index].values if v > answers[index]]
    if not higher:
        return
    raised = list(answers)
    raised[index] = data.draw(st.sampled_from(higher))
    before, after = score(inst, answers), score(inst, raised)
    assert after.total > before.total
    # The published algorithms are monotone: endorsing more never removes a diagnosis.
    if before.provisional_diagnosis:
        assert after.provisional_diagnosis


@pytest.mark.parametrize("inst", ALL, ids=lambda i: i.code)
def test_bands_partition_score_range(inst: Instrument) -> None:
    # Exhaustive (ranges are small): every total lies in exactly one band.
    assert inst.bands[0].min == inst.min_score
    assert inst.bands[-1].max == inst.max_score
    for earlier, later in zip(inst.bands, inst.bands[1:], strict=False):
        assert later.min == earlier.max + 1
    for total in range(inst.min_score, inst.max_score + 1):
        containing = [b for b in inst.bands if b.min <= total <= b.max]
        assert len(containing) == 1
        assert inst.band_for(total) == containing[0]
    for outside in (inst.min_score - 1, inst.max_score + 1):
        with pytest.raises(ValueError):
            inst.band_for(outside)


@PROPERTY
@given(pcl5_with_skips())
def test_pcl5_prorated_total(answers: list[int | None]) -> None:
    result = score(PCL5, answers)
    given_values = [v for v in answers if v is not None]
    skipped = answers.count(None)
    assert result.prorated is (skipped > 0)
    assert 0 <= result.total <= PCL5.max_score
    assert result.total >= sum(given_values)  # 20 / answered >= 1
    assert result.total == half_up(sum(given_values) * 20, len(given_values))
    assert result.severity == PCL5.band_for(result.total)
    # Nulls never count: the diagnosis equals the one with nulls read as 0.
    zeroed = [0 if v is None else v for v in answers]
    assert result.provisional_diagnosis == score(PCL5, zeroed).provisional_diagnosis
    assert result.subscales == score(PCL5, zeroed).subscales


@PROPERTY
@given(
    st.integers(min_value=1, max_value=50).flatmap(
        lambda n: st.tuples(st.integers(1, n), st.just(n))
    ),
    st.integers(min_value=0, max_value=10_000),
)
def test_prorate_is_exact_half_up(answered_and_n: tuple[int, int], raw: int) -> None:
    answered, n = answered_and_n
    assert prorate(raw, answered, n) == half_up(raw * n, answered)


@PROPERTY
@given(st.sampled_from(ALL), st.data())
def test_any_invalid_entry_is_reported_at_its_index(inst: Instrument, data: st.DataObject) -> None:
    answers: list[object] = list(data.draw(complete_answers(inst)))
    index = data.draw(st.integers(0, inst.item_count - 1))
    bad = data.draw(
        st.one_of(
            st.integers().filter(lambda v: v not in inst.items[index].values),
            st.booleans(),
            st.floats(allow_nan=True),
            st.text(max_size=5),
            st.lists(st.integers(0, 3), max_size=2),
        )
    )
    answers[index] = bad
    with pytest.raises(InvalidAnswers) as exc:
        score(inst, answers)
    assert list(exc.value.errors) == [f"answers.{index}"]
    assert exc.value.errors[f"answers.{index}"][0].startswith(f"item {index + 1}: ")


@PROPERTY
@given(st.sampled_from(ALL), st.data())
def test_too_many_skips_rejected(inst: Instrument, data: st.DataObject) -> None:
    answers: list[int | None] = list(data.draw(complete_answers(inst)))
    skipped = data.draw(
        st.sets(
            st.integers(0, inst.item_count - 1),
            min_size=inst.max_missing + 1,
            max_size=inst.item_count,
        )
    )
    for index in skipped:
        answers[index] = None
    with pytest.raises(InvalidAnswers) as exc:
        score(inst, answers)
    assert list(exc.value.errors) == ["answers"]
