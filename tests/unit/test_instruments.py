"""Hand-worked tests for tracker.instruments (definitions, scoring, validation).

Every expected number below is worked out by hand in a comment, from
docs/clinical-rules.md, so a wrong rule in the code makes a test fail.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import sys
from pathlib import Path

import pytest

import tracker.instruments as instruments
from tracker.instruments import (
    GAD7,
    PCL5,
    PHQ9,
    Band,
    InvalidAnswers,
    ScoreResult,
    prorate,
    score,
    validate_difficulty,
)

# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------


def test_registry_order_and_lookup() -> None:
    assert instruments.codes() == ("phq9", "gad7", "pcl5")
    assert instruments.all() == (PHQ9, GAD7, PCL5)
    assert instruments.get("phq9") is PHQ9
    assert instruments.get("gad7") is GAD7
    assert instruments.get("pcl5") is PCL5


@pytest.mark.parametrize("code", ["PHQ9", "phq-9", "", "phq2", "pcl"])
def test_registry_unknown_code_raises_keyerror(code: str) -> None:
    with pytest.raises(KeyError):
        instruments.get(code)


def test_registry_reexports() -> None:
    for name in ("Instrument", "ScoreResult", "InvalidAnswers", "score"):
        assert hasattr(instruments, name)
    assert issubclass(InvalidAnswers, ValueError)


# --------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inst", "name", "title", "count", "max_score"),
    [
        (PHQ9, "PHQ-9", "Patient Health Questionnaire-9", 9, 27),  # 9 × 3
        (GAD7, "GAD-7", "Generalized Anxiety Disorder-7", 7, 21),  # 7 × 3
        (PCL5, "PCL-5", "PTSD Checklist for DSM-5", 20, 80),  # 20 × 4
    ],
)
def test_basic_fields(inst, name: str, title: str, count: int, max_score: int) -> None:
    assert inst.name == name
    assert inst.title == title
    assert inst.version == "1"
    assert inst.item_count == count
    assert inst.min_score == 0
    assert inst.max_score == max_score
    assert [i.number for i in inst.items] == list(range(1, count + 1))
    assert inst.licence


def _bands(inst) -> list[tuple[str, str, int, int]]:
    return [(b.code, b.label, b.min, b.max) for b in inst.bands]


def test_bands_exact() -> None:
    assert _bands(PHQ9) == [
        ("minimal", "Minimal", 0, 4),
        ("mild", "Mild", 5, 9),
        ("moderate", "Moderate", 10, 14),
        ("moderately_severe", "Moderately severe", 15, 19),
        ("severe", "Severe", 20, 27),
    ]
    assert _bands(GAD7) == [
        ("minimal", "Minimal", 0, 4),
        ("mild", "Mild", 5, 9),
        ("moderate", "Moderate", 10, 14),
        ("severe", "Severe", 15, 21),
    ]
    assert _bands(PCL5) == [
        ("below_cutoff", "Below provisional cut-off", 0, 32),
        ("probable_ptsd", "Probable PTSD (provisional)", 33, 80),
    ]


@pytest.mark.parametrize(
    ("inst", "cutoff", "mcid", "rc", "remission_below"),
    [(PHQ9, 10, 5, 6, 5), (GAD7, 10, 4, 4, 5), (PCL5, 33, 10, 15, 33)],
)
def test_thresholds(inst, cutoff: int, mcid: int, rc: int, remission_below: int) -> None:
    t = inst.thresholds
    assert (t.cutoff, t.mcid, t.reliable_change, t.remission_below) == (
        cutoff,
        mcid,
        rc,
        remission_below,
    )
    assert t.response_fall_fraction == 0.5


def test_subscale_definitions() -> None:
    assert [(s.code, s.items) for s in PHQ9.subscales] == [("phq2", (1, 2))]
    assert [(s.code, s.items) for s in GAD7.subscales] == [("gad2", (1, 2))]
    assert [(s.code, s.items) for s in PCL5.subscales] == [
        ("B", (1, 2, 3, 4, 5)),
        ("C", (6, 7)),
        ("D", (8, 9, 10, 11, 12, 13, 14)),
        ("E", (15, 16, 17, 18, 19, 20)),
    ]


def test_loinc_codes() -> None:
    assert (PHQ9.codes.system, PHQ9.codes.panel, PHQ9.codes.total) == (
        "http://loinc.org",
        "44249-1",
        "44261-6",
    )
    assert [i.loinc for i in PHQ9.items] == [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7",
        "44258-2", "44252-5", "44253-3", "44260-8",
    ]  # fmt: skip
    for item in PHQ9.items + GAD7.items:
        assert [(o.value, o.label, o.loinc) for o in item.options] == [
            (0, "Not at all", "LA6568-5"),
            (1, "Several days", "LA6569-3"),
            (2, "More than half the days", "LA6570-1"),
            (3, "Nearly every day", "LA6571-9"),
        ]
    assert (GAD7.codes.panel, GAD7.codes.total) == ("69737-5", "70274-6")
    assert [i.loinc for i in GAD7.items] == [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ]  # fmt: skip
    assert (PCL5.codes.panel, PCL5.codes.total) == ("101697-1", "101698-9")
    for item in PCL5.items:
        assert item.loinc is None
        assert [(o.value, o.label, o.loinc) for o in item.options] == [
            (0, "Not at all", None),
            (1, "A little bit", None),
            (2, "Moderately", None),
            (3, "Quite a bit", None),
            (4, "Extremely", None),
        ]


def test_phq9_difficulty_item() -> None:
    d = PHQ9.difficulty
    assert d is not None
    assert d.loinc == "69722-7"
    # The LA codes are out of label order on purpose (LL359-1).
    assert [(o.value, o.label, o.loinc) for o in d.options] == [
        (0, "Not difficult at all", "LA6572-7"),
        (1, "Somewhat difficult", "LA6573-5"),
        (2, "Very difficult", "LA6575-0"),
        (3, "Extremely difficult", "LA6574-3"),
    ]
    assert GAD7.difficulty is None
    assert PCL5.difficulty is None


def test_item_texts_fixed_typos() -> None:
    assert PHQ9.item(9).text == (
        "Thoughts that you would be better off dead or of hurting yourself in some way"
    )
    assert "could have noticed" in PHQ9.item(8).text
    assert PCL5.item(4).text == (
        "Feeling very upset when something reminded you of the stressful experience?"
    )
    assert PCL5.item(10).text.endswith("after it?")
    assert PCL5.item(17).text == 'Being "superalert" or watchful or on guard?'
    assert GAD7.item(1).text == "Feeling nervous, anxious or on edge"
    for inst in instruments.all():
        for item in inst.items:
            assert item.text == item.text.strip()
            assert not item.text[0].isdigit()


def test_definition_is_json_serialisable() -> None:
    for inst in instruments.all():
        data = json.loads(json.dumps(inst.definition()))
        assert data["code"] == inst.code
        assert len(data["items"]) == inst.item_count
        assert data["thresholds"]["cutoff"] == inst.thresholds.cutoff
        assert data["codes"]["panel"] == inst.codes.panel
        assert set(inst.summary()) == {
            "code", "name", "title", "version", "item_count", "min_score", "max_score",
        }  # fmt: skip


def test_inconsistent_definition_is_refused() -> None:
    gap = (Band("minimal", "Minimal", 0, 4), Band("severe", "Severe", 6, 27))
    with pytest.raises(ValueError, match="band"):
        dataclasses.replace(PHQ9, bands=gap)
    short = (Band("minimal", "Minimal", 0, 26),)
    with pytest.raises(ValueError, match="max_score 27"):
        dataclasses.replace(PHQ9, bands=short)
    with pytest.raises(ValueError, match="max_missing"):
        dataclasses.replace(PHQ9, max_missing=9)


def test_package_is_pure_standard_library() -> None:
    """No Flask, SQLAlchemy or other third-party import may creep in."""
    package = Path(instruments.__file__).parent
    for path in package.glob("*.py"):
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
                assert top in sys.stdlib_module_names or top == "__future__", (path, name)


# --------------------------------------------------------------------------
# Band boundaries (answers worked by hand; item 9 of PHQ-9 kept at 0)
# --------------------------------------------------------------------------

BOUNDARIES = [
    # PHQ-9
    (PHQ9, [0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
    (PHQ9, [1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal"),  # 1+1+1+1
    (PHQ9, [1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),  # 5 × 1
    (PHQ9, [3, 3, 3, 0, 0, 0, 0, 0, 0], 9, "mild"),  # 3 × 3
    (PHQ9, [3, 3, 3, 1, 0, 0, 0, 0, 0], 10, "moderate"),  # 9 + 1
    (PHQ9, [2, 2, 2, 2, 2, 2, 2, 0, 0], 14, "moderate"),  # 7 × 2
    (PHQ9, [3, 3, 3, 3, 3, 0, 0, 0, 0], 15, "moderately_severe"),  # 5 × 3
    (PHQ9, [3, 3, 3, 3, 3, 3, 1, 0, 0], 19, "moderately_severe"),  # 18 + 1
    (PHQ9, [3, 3, 3, 3, 3, 3, 2, 0, 0], 20, "severe"),  # 18 + 2
    (PHQ9, [3, 3, 3, 3, 3, 3, 3, 3, 3], 27, "severe"),  # 9 × 3
    # GAD-7
    (GAD7, [0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
    (GAD7, [1, 1, 1, 1, 0, 0, 0], 4, "minimal"),  # 4 × 1
    (GAD7, [1, 1, 1, 1, 1, 0, 0], 5, "mild"),  # 5 × 1
    (GAD7, [3, 3, 3, 0, 0, 0, 0], 9, "mild"),  # 3 × 3
    (GAD7, [3, 3, 3, 1, 0, 0, 0], 10, "moderate"),  # 9 + 1
    (GAD7, [2, 2, 2, 2, 2, 2, 2], 14, "moderate"),  # 7 × 2
    (GAD7, [3, 3, 3, 3, 3, 0, 0], 15, "severe"),  # 5 × 3
    (GAD7, [3, 3, 3, 3, 3, 3, 3], 21, "severe"),  # 7 × 3
    # PCL-5
    (PCL5, [0] * 20, 0, "below_cutoff"),
    (PCL5, [4] * 8 + [0] * 12, 32, "below_cutoff"),  # 8 × 4
    (PCL5, [4] * 8 + [1] + [0] * 11, 33, "probable_ptsd"),  # 32 + 1
    (PCL5, [4] * 20, 80, "probable_ptsd"),  # 20 × 4
]


@pytest.mark.parametrize(
    ("inst", "answers", "total", "band"),
    BOUNDARIES,
    ids=[f"{b[0].code}-{b[2]}" for b in BOUNDARIES],
)
def test_band_boundaries(inst, answers: list[int], total: int, band: str) -> None:
    result = score(inst, answers)
    assert result.total == total
    assert result.severity.code == band
    assert inst.band_for(total).code == band
    assert result.prorated is False
    # Cut-offs: PHQ-9 and GAD-7 >= 10, PCL-5 >= 33.
    assert result.screen_positive is (total >= {"phq9": 10, "gad7": 10, "pcl5": 33}[inst.code])


@pytest.mark.parametrize(("inst", "bad"), [(PHQ9, -1), (PHQ9, 28), (GAD7, 22), (PCL5, 81)])
def test_band_for_out_of_range(inst, bad: int) -> None:
    with pytest.raises(ValueError):
        inst.band_for(bad)


def test_band_for_rejects_bool() -> None:
    with pytest.raises(ValueError):
        PHQ9.band_for(True)


# --------------------------------------------------------------------------
# All-zero / all-max
# --------------------------------------------------------------------------


def test_phq9_all_zero_and_all_max() -> None:
    zero = score(PHQ9, [0] * 9)
    assert (zero.total, zero.severity.code, zero.subscales) == (0, "minimal", {"phq2": 0})
    assert zero.flags == ()
    assert zero.screen_positive is False
    assert zero.provisional_diagnosis is False

    top = score(PHQ9, [3] * 9)
    assert (top.total, top.severity.code, top.subscales) == (27, "severe", {"phq2": 6})
    assert top.flags == ("suicidal_ideation",)
    assert top.screen_positive is True
    assert top.provisional_diagnosis is True  # core present, 9 symptoms


def test_gad7_all_zero_and_all_max() -> None:
    zero = score(GAD7, [0] * 7)
    assert (zero.total, zero.severity.code, zero.subscales) == (0, "minimal", {"gad2": 0})
    assert zero.provisional_diagnosis is None
    top = score(GAD7, [3] * 7)
    assert (top.total, top.severity.code, top.subscales) == (21, "severe", {"gad2": 6})
    assert top.flags == ()
    assert top.screen_positive is True
    assert top.provisional_diagnosis is None  # GAD-7 has no published algorithm


def test_pcl5_all_zero_and_all_max() -> None:
    zero = score(PCL5, [0] * 20)
    assert zero.total == 0
    assert zero.subscales == {"B": 0, "C": 0, "D": 0, "E": 0}
    assert zero.provisional_diagnosis is False
    top = score(PCL5, [4] * 20)
    assert top.total == 80
    assert top.subscales == {"B": 20, "C": 8, "D": 28, "E": 24}  # 5×4, 2×4, 7×4, 6×4
    assert top.flags == ()  # item 16 has no flag rule
    assert top.screen_positive is True
    assert top.provisional_diagnosis is True


# --------------------------------------------------------------------------
# The worked example of docs/api.md, "Responses"
# --------------------------------------------------------------------------


def test_api_worked_example() -> None:
    result = score(PHQ9, [2, 1, 3, 0, 1, 2, 1, 0, 1])
    # 2+1+3+0+1+2+1+0+1 = 11 → moderate (10–14), >= 10 → screen positive.
    # Symptoms: item 1 (2), item 3 (3), item 6 (2) at >= 2, item 9 (1) at >= 1
    # → 4 < 5, so no major depressive syndrome. Item 9 = 1 → flagged.
    assert result.as_dict() == {
        "total": 11,
        "prorated": False,
        "severity": {"code": "moderate", "label": "Moderate"},
        "subscales": {"phq2": 3},
        "flags": ["suicidal_ideation"],
        "screen_positive": True,
        "provisional_diagnosis": False,
        "depressive_syndrome": "other",  # 4 symptoms with a core one (docs/api.md, "Responses")
    }
    json.dumps(dict(result.subscales))


def test_score_result_is_frozen() -> None:
    result = score(PHQ9, [0] * 9)
    assert isinstance(result, ScoreResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.total = 5  # type: ignore[misc]


def test_tuple_answers_accepted() -> None:
    assert score(GAD7, (1, 1, 1, 1, 1, 1, 1)).total == 7


# --------------------------------------------------------------------------
# PHQ-9 flag and major-depressive-syndrome algorithm
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("item9", "flagged"), [(0, False), (1, True), (2, True), (3, True)])
def test_phq9_suicidal_ideation_flag(item9: int, flagged: bool) -> None:
    result = score(PHQ9, [0] * 8 + [item9])
    assert result.flags == (("suicidal_ideation",) if flagged else ())


PHQ9_MDS = [
    # item 9 counts at 1: core item 1; symptoms 1, 4, 5, 6, 9 = 5 → True
    ([2, 0, 0, 2, 2, 2, 0, 0, 1], True),
    # same with item 9 = 0: symptoms 1, 4, 5, 6 = 4 → False
    ([2, 0, 0, 2, 2, 2, 0, 0, 0], False),
    # items 1–8 at 1 do not count: symptoms 1, 4, 5, 6 = 4 → False
    ([2, 1, 1, 2, 2, 2, 1, 1, 0], False),
    # exactly 5 with core via item 2 only: symptoms 2, 3, 4, 5, 7 = 5 → True
    ([0, 2, 2, 2, 2, 0, 2, 0, 0], True),
    # 4 with core via item 2: symptoms 2, 3, 4, 5 = 4 → False
    ([0, 2, 2, 2, 2, 0, 0, 0, 0], False),
    # no core (items 1, 2 at 1), all 7 other symptoms (3–8 at 3, 9 at 3) → False
    ([1, 1, 3, 3, 3, 3, 3, 3, 3], False),
    # no core at all (items 1, 2 at 0), 7 other symptoms → False
    ([0, 0, 2, 2, 2, 2, 2, 2, 1], False),
    # both core items, plus 3 others = 5 → True
    ([3, 3, 0, 0, 0, 2, 2, 3, 0], True),
]


@pytest.mark.parametrize(("answers", "expected"), PHQ9_MDS)
def test_phq9_major_depressive_syndrome(answers: list[int], expected: bool) -> None:
    assert score(PHQ9, answers).provisional_diagnosis is expected


def test_phq9_no_core_total_high() -> None:
    # 1+1+3×7 = 23 (severe) and screen positive, but no core symptom → no MDS.
    result = score(PHQ9, [1, 1, 3, 3, 3, 3, 3, 3, 3])
    assert (result.total, result.severity.code, result.screen_positive) == (23, "severe", True)
    assert result.provisional_diagnosis is False


# --------------------------------------------------------------------------
# PCL-5 cluster rule
# --------------------------------------------------------------------------

# Minimal positive: B item 1, C item 6, D items 8+9, E items 15+16 at 2, rest 0.
PCL5_MIN_POSITIVE = [2, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0]


def _with(base: list[int | None], **changes: int | None) -> list[int | None]:
    """Copy ``base`` with 1-based items changed: _with(a, i3=None)."""
    out = list(base)
    for key, value in changes.items():
        out[int(key[1:]) - 1] = value
    return out


def test_pcl5_minimal_positive() -> None:
    result = score(PCL5, PCL5_MIN_POSITIVE)
    assert result.total == 12  # 6 × 2
    assert result.provisional_diagnosis is True
    assert result.screen_positive is False  # diagnosis rule is independent of the cut-off
    assert result.subscales == {"B": 2, "C": 2, "D": 4, "E": 4}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"i1": 1}, False),  # B: none at >= 2
        ({"i6": 1}, False),  # C: none at >= 2
        ({"i9": 1}, False),  # D: only one (item 8)
        ({"i16": 1}, False),  # E: only one (item 15)
        ({"i1": None}, False),  # B: the only endorsed item skipped → never counts
        ({"i8": None}, False),  # D: item 8 skipped → only item 9 counts
        ({"i15": None, "i20": 4}, True),  # E: 15 skipped, but 16 and 20 count → 2
        ({"i2": 1, "i7": 1, "i10": 1, "i17": 1}, True),  # ratings of 1 add nothing
    ],
)
def test_pcl5_cluster_rule_edges(changes: dict[str, int | None], expected: bool) -> None:
    answers = _with(PCL5_MIN_POSITIVE, **changes)
    assert score(PCL5, answers).provisional_diagnosis is expected


def test_pcl5_all_ones_never_diagnosed() -> None:
    result = score(PCL5, [1] * 20)
    assert result.total == 20
    assert result.provisional_diagnosis is False


def test_pcl5_nulls_never_count_but_others_still_do() -> None:
    # Minimal positive with items 3 and 20 (both 0) skipped: diagnosis unchanged.
    answers = _with(PCL5_MIN_POSITIVE, i3=None, i20=None)
    result = score(PCL5, answers)
    assert result.provisional_diagnosis is True
    # raw 12 over 18 answered: 12 × 20 / 18 = 13.33 → 13
    assert result.total == 13
    assert result.prorated is True
    assert result.subscales == {"B": 2, "C": 2, "D": 4, "E": 4}  # not prorated


# --------------------------------------------------------------------------
# PCL-5 prorating
# --------------------------------------------------------------------------

PRORATED = [
    # (answers, expected total) — worked by hand as round-half-up(sum × 20 / answered)
    # 18 answered, sum 30: 600 / 18 = 33.33 → 33 (crosses the cut-off)
    ([None, None] + [2] * 15 + [0] * 3, 33),
    # 18 answered, sum 29: 580 / 18 = 32.22 → 32 (stays below)
    ([None, None] + [2] * 14 + [1] + [0] * 3, 32),
    # 18 answered, sum 14: 280 / 18 = 15.56 → 16 (rounds up above a half)
    ([None] + [2] * 7 + [None] + [0] * 11, 16),
    # 19 answered, sum 19: 380 / 19 = 20 exactly
    ([None] + [1] * 19, 20),
    # 19 answered, sum 30: 600 / 19 = 31.58 → 32
    ([4] * 7 + [2] + [None] + [0] * 11, 32),
    # 19 answered, sum 10: 200 / 19 = 10.53 → 11
    ([None] + [1] * 10 + [0] * 9, 11),
    # 19 answered, sum 9: 180 / 19 = 9.47 → 9 (rounds down below a half)
    ([None] + [1] * 9 + [0] * 10, 9),
    # 18 answered, all 4: 72 × 20 / 18 = 80 → still within 0..80
    ([4] * 18 + [None, None], 80),
    # 18 answered, all 0 → 0
    ([None, 0, None] + [0] * 17, 0),
]


@pytest.mark.parametrize(("answers", "total"), PRORATED)
def test_pcl5_prorating(answers: list[int | None], total: int) -> None:
    assert len(answers) == 20
    result = score(PCL5, answers)
    assert result.total == total
    assert result.prorated is True
    assert result.severity == PCL5.band_for(total)
    assert result.screen_positive is (total >= 33)


def test_pcl5_prorated_subscales_are_plain_sums() -> None:
    # Items 1 and 20 skipped, all others 4: B = 4 × 4 = 16, C = 8, D = 28, E = 5 × 4 = 20;
    # raw 72 over 18 answered → 80.
    result = score(PCL5, [None] + [4] * 18 + [None])
    assert result.subscales == {"B": 16, "C": 8, "D": 28, "E": 20}
    assert result.total == 80


def test_pcl5_complete_is_not_prorated() -> None:
    assert score(PCL5, [1] * 20).prorated is False


@pytest.mark.parametrize(
    ("raw", "answered", "n", "expected"),
    [
        # Halves never arise for PCL-5 with 18 or 19 answered (20/18 = 10/9, 20/19),
        # so the half-up rule is checked directly on the helper:
        (1, 8, 20, 3),  # 2.5 → 3 (Python's round() would give 2)
        (5, 8, 20, 13),  # 12.5 → 13 (round() would give 12)
        (3, 8, 20, 8),  # 7.5 → 8
        (3, 2, 3, 5),  # 4.5 → 5 (round() would give 4)
        (10, 18, 20, 11),  # 11.11 → 11
        (14, 18, 20, 16),  # 15.56 → 16
        (0, 18, 20, 0),
        (9, 9, 9, 9),  # nothing missing → unchanged
    ],
)
def test_prorate_rounds_half_up(raw: int, answered: int, n: int, expected: int) -> None:
    assert prorate(raw, answered, n) == expected


@pytest.mark.parametrize(("raw", "answered", "n"), [(1, 0, 20), (-1, 5, 20), (1, 21, 20)])
def test_prorate_rejects_nonsense(raw: int, answered: int, n: int) -> None:
    with pytest.raises(ValueError):
        prorate(raw, answered, n)


def test_pcl5_three_nulls_rejected() -> None:
    with pytest.raises(InvalidAnswers) as exc:
        score(PCL5, [None, 2, None] + [2] * 16 + [None])
    assert list(exc.value.errors) == ["answers"]
    (message,) = exc.value.errors["answers"]
    assert "items 1, 3 and 20 were skipped" in message
    assert "at most 2 of 20" in message


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _errors(inst, answers) -> dict[str, list[str]]:
    with pytest.raises(InvalidAnswers) as exc:
        score(inst, answers)
    assert str(exc.value)  # a readable summary exists
    return exc.value.errors


@pytest.mark.parametrize("inst", [PHQ9, GAD7])
def test_complete_instruments_reject_any_null(inst) -> None:
    for position in range(inst.item_count):
        answers: list[int | None] = [1] * inst.item_count
        answers[position] = None
        errors = _errors(inst, answers)
        assert list(errors) == ["answers"]
        assert f"item {position + 1} was skipped" in errors["answers"][0]
        assert "requires every item" in errors["answers"][0]


def test_out_of_range_message_names_item() -> None:
    errors = _errors(PHQ9, [0, 0, 0, 5, 0, 0, 0, 0, 0])
    assert errors == {"answers.3": ["item 4: 5 is not one of the allowed values 0, 1, 2, 3"]}


def test_negative_rejected() -> None:
    errors = _errors(GAD7, [0, -1, 0, 0, 0, 0, 0])
    assert errors == {"answers.1": ["item 2: -1 is not one of the allowed values 0, 1, 2, 3"]}


def test_pcl5_accepts_4_rejects_5() -> None:
    assert score(PCL5, [4] + [0] * 19).total == 4
    errors = _errors(PCL5, [0] * 19 + [5])
    assert errors == {"answers.19": ["item 20: 5 is not one of the allowed values 0, 1, 2, 3, 4"]}


def test_phq9_rejects_4() -> None:
    # The key is the zero-based JSON path; the message names the item as people count it.
    assert _errors(PHQ9, [0] * 8 + [4]) == {
        "answers.8": ["item 9: 4 is not one of the allowed values 0, 1, 2, 3"]
    }


@pytest.mark.parametrize(
    ("bad", "shown"),
    [(2.0, "2.0"), ("2", '"2"'), (True, "true"), (False, "false"), ([1], "a list"),
     ({"v": 1}, "an object"), (1.5, "1.5")],
)  # fmt: skip
def test_non_integer_rejected(bad: object, shown: str) -> None:
    errors = _errors(PHQ9, [0, 0, bad, 0, 0, 0, 0, 0, 0])
    assert errors == {
        "answers.2": [f"item 3: {shown} is not an integer; expected one of 0, 1, 2, 3"]
    }


def test_all_item_errors_collected() -> None:
    errors = _errors(PHQ9, [True, 0, 4, 0, "1", 0, 0, -2, None])
    assert set(errors) == {"answers.0", "answers.2", "answers.4", "answers.7", "answers"}
    assert errors["answers.0"][0].startswith("item 1: ")
    assert errors["answers.2"][0].startswith("item 3: ")
    assert errors["answers.4"][0].startswith("item 5: ")
    assert errors["answers.7"][0].startswith("item 8: ")
    assert "item 9 was skipped" in errors["answers"][0]


def test_invalid_entries_are_not_counted_as_skipped() -> None:
    # Two nulls (allowed) plus one bad value: only the bad value is reported.
    errors = _errors(PCL5, [None, None, 7] + [0] * 17)
    assert errors == {"answers.2": ["item 3: 7 is not one of the allowed values 0, 1, 2, 3, 4"]}


@pytest.mark.parametrize(("inst", "length"), [(PHQ9, 8), (PHQ9, 10), (PHQ9, 0), (GAD7, 9),
                                              (PCL5, 19), (PCL5, 21)])  # fmt: skip
def test_wrong_length(inst, length: int) -> None:
    errors = _errors(inst, [0] * length)
    assert list(errors) == ["answers"]
    assert f"expected {inst.item_count} answers, got {length}" in errors["answers"][0]


@pytest.mark.parametrize("bad", ["000000000", None, 5, {"0": 1}, b"\x00" * 9, range(9)])
def test_not_a_list(bad: object) -> None:
    errors = _errors(PHQ9, bad)
    assert list(errors) == ["answers"]
    assert "must be a list of 9 answers" in errors["answers"][0]


# --------------------------------------------------------------------------
# PHQ-9 difficulty
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, 0, 1, 2, 3])
def test_difficulty_accepted(value: int | None) -> None:
    assert validate_difficulty(value, "phq9") == value
    assert validate_difficulty(value, PHQ9) == value


@pytest.mark.parametrize("value", [4, -1, True, "1", 1.0])
def test_difficulty_rejected(value: object) -> None:
    with pytest.raises(InvalidAnswers) as exc:
        validate_difficulty(value, PHQ9)
    assert list(exc.value.errors) == ["difficulty"]
    assert exc.value.errors["difficulty"][0].startswith("difficulty: ")


def test_difficulty_only_for_phq9() -> None:
    assert validate_difficulty(None, "gad7") is None
    with pytest.raises(InvalidAnswers) as exc:
        validate_difficulty(1, "gad7")
    assert exc.value.errors == {"difficulty": ["GAD-7 has no difficulty question"]}


def test_difficulty_never_changes_score() -> None:
    # The difficulty answer is not part of answers: a 10th entry is a length error.
    assert list(_errors(PHQ9, [0] * 9 + [3])) == ["answers"]


# --------------------------------------------------------------------------
# Rules carried by the definitions (alerts, crisis, labels, LOINC displays, examples)
# --------------------------------------------------------------------------


def test_phq9_item9_flag_opens_a_prioritised_alert_and_shows_crisis_resources() -> None:
    # docs/clinical-rules.md, "Alerts": item 9 >= 1 alerts; high when >= 2, routine at 1.
    (rule,) = PHQ9.flag_rules
    assert (rule.code, rule.item, rule.at_least, rule.crisis) == ("suicidal_ideation", 9, 1, True)
    assert rule.label == "Item 9 endorsed"
    assert "hurting yourself" in rule.patient_text
    for item9, expected in ((0, ()), (1, ("routine",)), (2, ("high",)), (3, ("high",))):
        answers = [0] * 8 + [item9]
        flags = score(PHQ9, answers).flags
        assert tuple(p for _, p in PHQ9.alerts_for(answers, flags)) == expected
    assert instruments.alert_labels() == {
        "suicidal_ideation": "Thoughts of self-harm (PHQ-9 item 9)",
        "reliable_deterioration": "Reliable deterioration",
    }
    assert GAD7.alert_rules == PCL5.alert_rules == ()
    assert GAD7.crisis(["suicidal_ideation"]) is None


@pytest.mark.parametrize(
    ("inst", "panel", "total"),
    [
        (
            PHQ9,
            "PHQ-9 quick depression assessment panel [Reported.PHQ]",
            "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        ),
        (
            GAD7,
            "Generalized anxiety disorder 7 item (GAD-7)",
            "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
        ),
        (
            PCL5,
            "Post traumatic stress disorder checklist - civilian version DSM-5 [PCL-5]",
            "PTSD PCL-5 score [PCL-5]",
        ),
    ],
)
def test_loinc_display_names_are_on_the_definition(inst, panel: str, total: str) -> None:
    assert (inst.codes.system, inst.codes.panel_display, inst.codes.total_display) == (
        instruments.LOINC,
        panel,
        total,
    )


@pytest.mark.parametrize("inst", [PHQ9, GAD7, PCL5])
def test_example_profiles_fit_their_instrument(inst) -> None:
    ex = inst.examples
    assert ex is not None and len(ex.item_weights) == inst.item_count
    assert inst.min_score <= ex.floor <= ex.baseline[0] <= inst.max_score
    assert 0 < ex.share <= 1


def test_registry_versions_order_numerically() -> None:
    nine = dataclasses.replace(PHQ9, version="9")
    ten = dataclasses.replace(PHQ9, version="10")
    with instruments.registered(ten, nine):
        assert instruments.get("phq9") is ten  # "10" is newer than "9", and than "1"
        assert instruments.versions("phq9") == (PHQ9, nine, ten)
        assert instruments.get("phq9", "1") is PHQ9
        assert instruments.codes() == ("phq9", "gad7", "pcl5")
    assert instruments.get("phq9") is PHQ9
    with pytest.raises(ValueError, match="must match"):
        instruments.register(dataclasses.replace(PHQ9, code="PHQ 9"))
