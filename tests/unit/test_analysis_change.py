"""Hand-worked tests for tracker.analysis.change (baseline → post verdicts).

Every expected value is worked out by hand in a comment from the rules of
docs/clinical-rules.md, "Change statistics" (thresholds: PHQ-9 cut-off 10,
MCID 5, RC 6, remission < 5; GAD-7 cut-off 10, MCID 4, RC 6, remission < 5;
PCL-5 cut-off 33, MCID 10, RC 15, remission < 33; response = post ≤ 50 % of
baseline), so a wrong rule in the code makes a test fail.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracker.analysis as analysis
import tracker.instruments as instruments
from tracker.analysis import ChangeVerdict, classify, compare, deterioration
from tracker.instruments import GAD7, PCL5, PHQ9, Instrument, Thresholds

PROPERTY = settings(database=None, deadline=None, max_examples=300)


def verdict(
    change: int,
    percent: float | None,
    case: bool,
    response: bool | None,
    remission: bool | None,
    reliable: str,
    meaningful: str,
    significant: bool,
) -> ChangeVerdict:
    return ChangeVerdict(
        change=change,
        percent_change=percent,
        baseline_case=case,
        response=response,
        remission=remission,
        reliable_change=reliable,  # type: ignore[arg-type]
        meaningful_change=meaningful,  # type: ignore[arg-type]
        clinically_significant=significant,
    )


# --------------------------------------------------------------------------
# The thresholds these tests were worked out against
# --------------------------------------------------------------------------


def test_thresholds_are_the_documented_ones() -> None:
    # If a definition changes, the hand-worked answers below must be redone.
    # docs/clinical-rules.md, "Change statistics" (revision 2: caseness and recovery,
    # GAD-7 reliable change 4, PCL-5 recovery <= 28).
    assert PHQ9.thresholds == Thresholds(
        cutoff=10, mcid=5, reliable_change=6, remission_below=5, caseness=10, recovery_below=10
    )
    assert GAD7.thresholds == Thresholds(
        cutoff=10, mcid=4, reliable_change=4, remission_below=5, caseness=8, recovery_below=8
    )
    assert PCL5.thresholds == Thresholds(
        cutoff=33, mcid=10, reliable_change=15, remission_below=33, caseness=33, recovery_below=29
    )
    assert {i.thresholds.response_fall_fraction for i in (PHQ9, GAD7, PCL5)} == {0.5}


# --------------------------------------------------------------------------
# classify
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "threshold", "expected"),
    [
        (-7, 6, "improved"),
        (-6, 6, "improved"),  # exactly −RC counts
        (-5, 6, "unchanged"),
        (0, 6, "unchanged"),
        (5, 6, "unchanged"),
        (6, 6, "deteriorated"),  # exactly +RC counts
        (7, 6, "deteriorated"),
        (-1, 1, "improved"),
        (1, 1, "deteriorated"),
        (0, 1, "unchanged"),
    ],
)
def test_classify(change: int, threshold: int, expected: str) -> None:
    assert classify(change, threshold) == expected


@pytest.mark.parametrize("threshold", [0, -1])
def test_classify_refuses_non_positive_threshold(threshold: int) -> None:
    # With 0, a change of 0 would be both "improved" and "deteriorated".
    with pytest.raises(ValueError):
        classify(0, threshold)


# --------------------------------------------------------------------------
# Clinical vignettes
# --------------------------------------------------------------------------


def test_phq9_19_to_7_the_api_example() -> None:
    # change 7 − 19 = −12; −12/19 = −0.63157… → −63.2 %
    # response: 7 ≤ 9.5 → True; remission: 7 < 5? no → False
    # reliable: −12 ≤ −6 → improved; meaningful: −12 ≤ −5 → improved
    # case: 19 ≥ 10; clinically significant: improved, a case, 7 < 10 (recovery) → True
    assert compare(PHQ9, 19, 7) == verdict(
        -12, -63.2, True, True, False, "improved", "improved", True
    )


def test_pcl5_52_to_30() -> None:
    # change −22; −22/52 = −0.42307… → −42.3 %
    # response: 30 ≤ 26? no → False; remission: 30 < 33 → True
    # reliable: −22 ≤ −15 → improved; meaningful: −22 ≤ −10 → improved
    # case: 52 ≥ 33; clinically significant: improved, a case, but 30 is not ≤ 28 → False
    assert compare(PCL5, 52, 30) == verdict(
        -22, -42.3, True, False, True, "improved", "improved", False
    )


def test_gad7_12_to_8() -> None:
    # change −4; −4/12 = −0.3333… → −33.3 %; case: 12 ≥ 8
    # response: 8 ≤ 6? no → False; remission: 8 < 5? no → False
    # reliable: −4 ≤ −4 (RC 4) → improved; meaningful: −4 ≤ −4 (MCID) → improved
    # clinically significant: improved, a case, but 8 is not < 8 (recovery) → False
    assert compare(GAD7, 12, 8) == verdict(
        -4, -33.3, True, False, False, "improved", "improved", False
    )


def test_gad7_9_to_5_recovers() -> None:
    # change −4 → −44.4 %; case: 9 ≥ 8; response 5 ≤ 4.5? no; remission 5 < 5? no
    # reliable −4 ≤ −4 improved; meaningful improved; recovered: 5 < 8 → True
    assert compare(GAD7, 9, 5) == verdict(
        -4, -44.4, True, False, False, "improved", "improved", True
    )


def test_pcl5_45_to_28_recovers_and_45_to_30_does_not() -> None:
    # 45 → 28: −17 (≤ −15 improved), case 45 ≥ 33, 28 ≤ 28 → recovered
    assert compare(PCL5, 45, 28).clinically_significant is True
    # 45 → 30: −15 improved, a case, 30 > 28 → not recovered; 30 < 33 remission
    v = compare(PCL5, 45, 30)
    assert (v.reliable_change, v.clinically_significant, v.remission) == ("improved", False, True)


def test_phq9_non_case_3_to_1_neither_responds_nor_remits() -> None:
    # 3 → 1: −2, −66.7 %; 3 < 10 → not a case: response and remission are not judged (None);
    # reliable −2 > −6 unchanged; meaningful −2 > −5 unchanged; clinically significant False
    assert compare(PHQ9, 3, 1) == verdict(
        -2, -66.7, False, None, None, "unchanged", "unchanged", False
    )


def test_phq9_12_to_5_a_case_that_responds_and_recovers_without_remission() -> None:
    # −7 (−58.3 %); case 12 ≥ 10; response 5 ≤ 6 → True; remission 5 < 5? no
    # reliable −7 ≤ −6 improved; meaningful improved; recovered 5 < 10 → True
    assert compare(PHQ9, 12, 5) == verdict(
        -7, -58.3, True, True, False, "improved", "improved", True
    )


def test_caseness_boundaries() -> None:
    assert (compare(PHQ9, 10, 4).baseline_case, compare(PHQ9, 9, 3).baseline_case) == (True, False)
    assert (compare(GAD7, 8, 2).baseline_case, compare(GAD7, 7, 2).baseline_case) == (True, False)
    assert (compare(PCL5, 33, 0).baseline_case, compare(PCL5, 32, 0).baseline_case) == (
        True,
        False,
    )
    # A non-case is never "clinically significant", however reliable the fall.
    assert compare(PHQ9, 9, 0).clinically_significant is False
    assert compare(PHQ9, 9, 0).response is None


def test_phq9_deterioration_8_to_15() -> None:
    # change +7; 7/8 = 0.875 → +87.5 %
    # response: 15 ≤ 4? no → False; remission: 15 < 5? no → False
    # reliable: +7 ≥ +6 → deteriorated; meaningful: +7 ≥ +5 → deteriorated
    # 8 < 10: not a case → response and remission None; clinically significant False
    v = compare(PHQ9, 8, 15)
    assert v == verdict(7, 87.5, False, None, None, "deteriorated", "deteriorated", False)
    assert deterioration(PHQ9, 8, 15) is True


def test_baseline_zero_leaves_percent_and_response_undefined() -> None:
    # PHQ-9 0 → 7: change +7; percent needs a baseline > 0 → None; 0 is not a case, so
    # response and remission are None; reliable +7 ≥ 6 → deteriorated; meaningful +7 ≥ 5
    assert compare(PHQ9, 0, 7) == verdict(
        7, None, False, None, None, "deteriorated", "deteriorated", False
    )
    # 0 → 0: nothing changed
    assert compare(PHQ9, 0, 0) == verdict(
        0, None, False, None, None, "unchanged", "unchanged", False
    )
    # PCL-5 0 → 3: change +3 (< 10 and < 15) → unchanged
    assert compare(PCL5, 0, 3) == verdict(
        3, None, False, None, None, "unchanged", "unchanged", False
    )


def test_no_change() -> None:
    # PHQ-9 14 → 14: 0 %, a case, response 14 ≤ 7? no, remission no, unchanged twice
    assert compare(PHQ9, 14, 14) == verdict(
        0, 0.0, True, False, False, "unchanged", "unchanged", False
    )


# --------------------------------------------------------------------------
# Boundaries of each threshold
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "post", "reliable"),
    [
        (20, 14, "improved"),  # −6 ≤ −6
        (20, 15, "unchanged"),  # −5 > −6
        (14, 20, "deteriorated"),  # +6 ≥ +6
        (15, 20, "unchanged"),  # +5 < +6
    ],
)
def test_phq9_reliable_change_boundary(baseline: int, post: int, reliable: str) -> None:
    assert compare(PHQ9, baseline, post).reliable_change == reliable


@pytest.mark.parametrize(
    ("baseline", "post", "meaningful"),
    [
        (20, 15, "improved"),  # −5 ≤ −5
        (20, 16, "unchanged"),  # −4 > −5
        (15, 20, "deteriorated"),  # +5 ≥ +5
        (16, 20, "unchanged"),  # +4 < +5
    ],
)
def test_phq9_mcid_boundary(baseline: int, post: int, meaningful: str) -> None:
    assert compare(PHQ9, baseline, post).meaningful_change == meaningful


def test_phq9_remission_boundary() -> None:
    assert compare(PHQ9, 12, 4).remission is True  # 4 < 5
    assert compare(PHQ9, 12, 5).remission is False  # 5 is not < 5


def test_gad7_remission_boundary() -> None:
    assert compare(GAD7, 12, 4).remission is True  # 4 < 5
    assert compare(GAD7, 12, 5).remission is False


def test_pcl5_remission_boundary() -> None:
    assert compare(PCL5, 50, 32).remission is True  # 32 < 33
    assert compare(PCL5, 50, 33).remission is False


@pytest.mark.parametrize(
    ("baseline", "post", "response"),
    [
        (20, 10, True),  # 10 ≤ 10: exactly 50 %
        (20, 11, False),  # 11 > 10
        (19, 9, True),  # 9 ≤ 9.5
        (19, 10, False),  # 10 > 9.5
        (10, 5, True),  # the lowest case: 5 ≤ 5
        (10, 6, False),  # 6 > 5
        (9, 0, None),  # not a case: response is not judged
        (1, 0, None),
        (27, 13, True),  # 13 ≤ 13.5
        (27, 14, False),  # 14 > 13.5
        (10, 20, False),  # worse, not a response
    ],
)
def test_phq9_response_boundary(baseline: int, post: int, response: bool | None) -> None:
    assert compare(PHQ9, baseline, post).response is response


@pytest.mark.parametrize(
    ("baseline", "post", "reliable", "meaningful"),
    [
        (50, 35, "improved", "improved"),  # −15 ≤ −15; −15 ≤ −10
        (50, 36, "unchanged", "improved"),  # −14 > −15; −14 ≤ −10
        (50, 40, "unchanged", "improved"),  # −10 ≤ −10 (MCID exactly)
        (50, 41, "unchanged", "unchanged"),  # −9 > −10
        (35, 50, "deteriorated", "deteriorated"),  # +15
        (36, 50, "unchanged", "deteriorated"),  # +14
    ],
)
def test_pcl5_change_boundaries(baseline: int, post: int, reliable: str, meaningful: str) -> None:
    v = compare(PCL5, baseline, post)
    assert (v.reliable_change, v.meaningful_change) == (reliable, meaningful)


@pytest.mark.parametrize(
    ("baseline", "post", "significant"),
    [
        (15, 9, True),  # −6 improved; 15 ≥ 10; 9 < 10
        (16, 10, False),  # −6 improved; but post 10 is not < 10
        (10, 4, True),  # baseline exactly at the cut-off counts: 10 ≥ 10
        (9, 3, False),  # −6 improved but baseline 9 < 10: not a case
        (15, 10, False),  # −5 not reliable (and 10 not < 10)
        (14, 9, False),  # −5 not reliable even though 9 < 10
    ],
)
def test_phq9_clinically_significant_boundary(baseline: int, post: int, significant: bool) -> None:
    assert compare(PHQ9, baseline, post).clinically_significant is significant


@pytest.mark.parametrize(
    ("baseline", "post", "significant"),
    [
        (50, 28, True),  # −22 improved; 50 ≥ 33; 28 ≤ 28 (Marx 2022)
        (50, 29, False),  # −21 improved; 29 is not ≤ 28
        (50, 32, False),  # below the cut-off, but not recovered
        (33, 18, True),  # −15 improved; 33 ≥ 33; 18 ≤ 28
        (32, 17, False),  # −15 improved; baseline 32 < 33: not a case
        (43, 28, True),  # −15 exactly reliable; 28 ≤ 28
        (42, 28, False),  # −14 not reliable
    ],
)
def test_pcl5_clinically_significant_boundary(baseline: int, post: int, significant: bool) -> None:
    assert compare(PCL5, baseline, post).clinically_significant is significant


@pytest.mark.parametrize(
    ("baseline", "post", "percent"),
    [
        (19, 7, -63.2),  # −12/19 = −63.157…
        (3, 2, -33.3),  # −1/3 = −33.33…
        (3, 1, -66.7),  # −2/3 = −66.66…
        (16, 15, -6.3),  # −1/16 = −6.25 exactly: half away from zero (round() gives −6.2)
        (16, 17, 6.3),  # +6.25 → 6.3
        (16, 19, 18.8),  # 3/16 = 18.75 → 18.8
        (8, 4, -50.0),
        (1, 27, 2600.0),  # 26/1
    ],
)
def test_percent_change_rounding(baseline: int, post: int, percent: float) -> None:
    assert compare(PHQ9, baseline, post).percent_change == percent


# --------------------------------------------------------------------------
# deterioration (alert rule)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "previous", "new", "expected"),
    [
        (PHQ9, 8, 14, True),  # +6 ≥ 6
        (PHQ9, 8, 13, False),  # +5 < 6 (meaningful, but not reliable)
        (PHQ9, 14, 8, False),  # an improvement is never a deterioration
        (GAD7, 3, 7, True),  # +4 ≥ 4 (revision 2: reliable change 4)
        (GAD7, 3, 6, False),  # +3
        (PCL5, 20, 35, True),  # +15 ≥ 15
        (PCL5, 20, 34, False),  # +14
    ],
)
def test_deterioration(instrument: Instrument, previous: int, new: int, expected: bool) -> None:
    assert deterioration(instrument, previous, new) is expected


# --------------------------------------------------------------------------
# Thresholds come from the definition, not from the code
# --------------------------------------------------------------------------


def test_every_threshold_is_read_from_the_instrument() -> None:
    # A made-up variant of PHQ-9: cut-off 12, MCID 3, RC 8, remission < 7, caseness 13,
    # recovery < 11, response 30 % fall.
    custom = dataclasses.replace(
        PHQ9,
        thresholds=Thresholds(
            cutoff=12,
            mcid=3,
            reliable_change=8,
            remission_below=7,
            caseness=13,
            recovery_below=11,
            response_fall_fraction=0.3,
        ),
    )
    # 20 → 11: change −9 (≤ −8 reliable, ≤ −3 meaningful); −45.0 %; case 20 ≥ 13
    # response: 11 ≤ 0.7 × 20 = 14 → True; remission 11 < 7? no
    # significant: improved, a case, but 11 is not < 11 → False
    assert compare(custom, 20, 11) == verdict(
        -9, -45.0, True, True, False, "improved", "improved", False
    )
    # 20 → 10: −10 improved, 10 < 11 → recovered
    assert compare(custom, 20, 10).clinically_significant is True
    # 13 is a case here (caseness 13), 12 is not
    assert (compare(custom, 13, 1).baseline_case, compare(custom, 12, 0).baseline_case) == (
        True,
        False,
    )
    # 20 → 13: −7 → not reliable (> −8), meaningful (≤ −3); 13 ≤ 14 → response
    assert compare(custom, 20, 13) == verdict(
        -7, -35.0, True, True, False, "unchanged", "improved", False
    )
    # Response exactly at a 30 % fall: 20 → 14, 14 ≤ 0.7 × 20 = 14 → True (exact, no float fuzz)
    assert compare(custom, 20, 14).response is True
    assert compare(custom, 20, 15).response is False
    # Remission below 7: 6 yes, 7 no
    assert compare(custom, 20, 6).remission is True
    assert compare(custom, 20, 7).remission is False
    # Deterioration uses the custom RC 8: +7 no, +8 yes
    assert deterioration(custom, 5, 12) is False
    assert deterioration(custom, 5, 13) is True


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "post"),
    [(28, 10), (10, 28), (-1, 0), (0, -1), (True, 0), (5.0, 3), (None, 3)],
)
def test_compare_refuses_impossible_totals(baseline: object, post: object) -> None:
    # PHQ-9 totals run 0..27; anything else is a bug upstream.
    with pytest.raises(ValueError):
        compare(PHQ9, baseline, post)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        deterioration(PHQ9, baseline, post)  # type: ignore[arg-type]


def test_verdict_is_frozen_with_slots() -> None:
    v = compare(PHQ9, 19, 7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.change = 0  # type: ignore[misc]
    assert not hasattr(v, "__dict__")


# --------------------------------------------------------------------------
# Purity
# --------------------------------------------------------------------------


def test_analysis_package_is_pure() -> None:
    """Standard library and tracker.instruments only; no clock."""
    package = Path(analysis.__file__).parent
    paths = sorted(package.glob("*.py"))
    assert {p.name for p in paths} >= {"__init__.py", "change.py", "trends.py"}
    for path in paths:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                allowed = top in sys.stdlib_module_names or top == "__future__"
                allowed = allowed or name == "tracker.instruments"
                assert allowed, (path.name, name)
            assert "time" not in names, (path.name, "the clock is input, never read here")
        for node in ast.walk(tree):
            # datetime.now(), date.today(), …: the clock is input, never read here.
            if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
                pytest.fail(f"{path.name} reads the clock ({node.attr})")


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


def test_reliable_change_is_at_least_the_mcid_for_every_instrument() -> None:
    # The premise of the implication tested below, asserted from the definitions.
    for inst in instruments.all():
        assert inst.thresholds.reliable_change >= inst.thresholds.mcid > 0, inst.code


instrument_and_pair = st.sampled_from(instruments.all()).flatmap(
    lambda inst: st.tuples(
        st.just(inst),
        st.integers(inst.min_score, inst.max_score),
        st.integers(inst.min_score, inst.max_score),
    )
)


@PROPERTY
@given(instrument_and_pair)
def test_verdict_properties(case: tuple[Instrument, int, int]) -> None:
    inst, baseline, post = case
    t = inst.thresholds
    v = compare(inst, baseline, post)
    assert v.change == post - baseline
    # RC ≥ MCID, so a reliable change is always a meaningful one in the same direction.
    if t.reliable_change >= t.mcid:
        if v.reliable_change == "improved":
            assert v.meaningful_change == "improved"
        if v.reliable_change == "deteriorated":
            assert v.meaningful_change == "deteriorated"
    # Direction agrees with the sign of the change.
    if v.change == 0:
        assert v.reliable_change == v.meaningful_change == "unchanged"
    if v.reliable_change == "improved" or v.meaningful_change == "improved":
        assert v.change < 0
    # Caseness decides whether response and remission are judged at all.
    assert v.baseline_case is (baseline >= t.caseness)
    # Clinically significant = reliable improvement of a case to below the recovery threshold.
    assert v.clinically_significant is (
        v.reliable_change == "improved" and baseline >= t.caseness and post < t.recovery_below
    )
    assert v.remission is ((post < t.remission_below) if v.baseline_case else None)
    assert deterioration(inst, baseline, post) is (v.reliable_change == "deteriorated")
    if baseline == 0:
        assert v.percent_change is None and v.response is None
    else:
        # Exact reference: post / baseline ≤ 1 − fraction, for cases only.
        limit = 1 - Fraction(str(t.response_fall_fraction))
        expected = Fraction(post, baseline) <= limit
        assert v.response is (expected if v.baseline_case else None)
        assert v.percent_change is not None
        assert abs(Fraction(v.percent_change) - Fraction(100 * v.change, baseline)) <= Fraction(
            1, 20
        ) + Fraction(1, 10**9)
