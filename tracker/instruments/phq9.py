"""PHQ-9 (Patient Health Questionnaire-9), code ``phq9``, version ``1``.

Sources: instruments.md "Decisions" (PHQ-9 table) and the fact sheet §2.1
(item texts, options, LOINC codes) and §7.1 (LOINC).
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import (
    Band,
    Codes,
    FlagRule,
    Instrument,
    Item,
    Option,
    Subscale,
    Thresholds,
)

__all__ = ["PHQ9", "major_depressive_syndrome"]

# Options for items 1–9: values 0–3 (Kroenke 2001); labels and answer codes
# from LOINC answer list LL358-3 (fact sheet §2.1, §7.1).
FREQUENCY_OPTIONS: tuple[Option, ...] = (
    Option(0, "Not at all", "LA6568-5"),  # Kroenke 2001; LL358-3
    Option(1, "Several days", "LA6569-3"),  # Kroenke 2001; LL358-3
    Option(2, "More than half the days", "LA6570-1"),  # Kroenke 2001; LL358-3
    Option(3, "Nearly every day", "LA6571-9"),  # Kroenke 2001; LL358-3
)

# Unscored difficulty question ("item 10"): 0–3 as stored by CamCOPS; LOINC
# list LL359-1 assigns no scores. The LA codes are NOT in label order
# (Very = LA6575-0, Extremely = LA6574-3); that is correct (fact sheet §2.1).
DIFFICULTY_OPTIONS: tuple[Option, ...] = (
    Option(0, "Not difficult at all", "LA6572-7"),  # CamCOPS phq9.py q10; LL359-1
    Option(1, "Somewhat difficult", "LA6573-5"),  # CamCOPS phq9.py q10; LL359-1
    Option(2, "Very difficult", "LA6575-0"),  # CamCOPS phq9.py q10; LL359-1
    Option(3, "Extremely difficult", "LA6574-3"),  # CamCOPS phq9.py q10; LL359-1
)

# Symptom counting for the major-depressive-syndrome algorithm
# (Kroenke 2001 scoring algorithm; CamCOPS phq9.py n_core/n_other/is_mds).
_CORE_ITEMS = (1, 2)  # Kroenke 2001: anhedonia, depressed mood
_ENDORSED_AT = 2  # Kroenke 2001: "more than half the days" for items 1–8
_SUICIDALITY_ITEM = 9  # Kroenke 2001 / CamCOPS phq9.cpp: item 9 counted "whenever present"
_SUICIDALITY_ENDORSED_AT = 1  # Kroenke 2001; CamCOPS phq9.py line 236 one_if_q_ge(9, 1)
_MIN_SYMPTOMS = 5  # Kroenke 2001; CamCOPS is_mds(): at least 5 symptoms in total


def major_depressive_syndrome(answers: Sequence[int | None]) -> bool:
    """PHQ-9 provisional "major depressive syndrome".

    Item 1 or item 2 at >= 2, and at least 5 symptoms, counting items 1–8 at
    >= 2 and item 9 at >= 1 (Kroenke 2001; CamCOPS ``is_mds()``). A skipped
    item never counts. This is the instrument's published algorithm, exposed
    as ``provisional_diagnosis``; it is not a diagnosis (the pad text also
    requires impairment and clinician verification, fact sheet §2.2).
    """

    def endorsed(number: int) -> bool:
        value = answers[number - 1]
        threshold = _SUICIDALITY_ENDORSED_AT if number == _SUICIDALITY_ITEM else _ENDORSED_AT
        return value is not None and value >= threshold

    core = any(endorsed(n) for n in _CORE_ITEMS)
    symptoms = sum(endorsed(n) for n in range(1, 10))  # items 1–9 (Kroenke 2001)
    return core and symptoms >= _MIN_SYMPTOMS


PHQ9 = Instrument(
    code="phq9",
    name="PHQ-9",
    title="Patient Health Questionnaire-9",
    version="1",  # project convention (instruments.md Decisions)
    # Stem: CamCOPS phq9.xml `stem` (fact sheet §2.1).
    stem=(
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    ),
    recall_period="2 weeks",  # Kroenke 2001 (fact sheet §0)
    # Items 1–9 in form order; texts from the fact sheet §2.1 table (CamCOPS
    # phq9.xml); item LOINC codes from HL7/US-Core examples (§2.1, §7.1).
    items=(
        Item(1, "Little interest or pleasure in doing things", FREQUENCY_OPTIONS, "44250-9"),
        Item(2, "Feeling down, depressed, or hopeless", FREQUENCY_OPTIONS, "44255-8"),
        Item(
            3,
            "Trouble falling or staying asleep, or sleeping too much",
            FREQUENCY_OPTIONS,
            "44259-0",
        ),
        Item(4, "Feeling tired or having little energy", FREQUENCY_OPTIONS, "44254-1"),
        Item(5, "Poor appetite or overeating", FREQUENCY_OPTIONS, "44251-7"),
        Item(
            6,
            "Feeling bad about yourself — or that you are a failure or have let yourself or "
            "your family down",
            FREQUENCY_OPTIONS,
            "44258-2",
        ),
        Item(
            7,
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            FREQUENCY_OPTIONS,
            "44252-5",
        ),
        Item(
            8,
            "Moving or speaking so slowly that other people could have noticed? Or the "
            "opposite — being so fidgety or restless that you have been moving around a lot "
            "more than usual",
            FREQUENCY_OPTIONS,
            "44253-3",
        ),
        # Fact sheet §2.1 table text (US Core/LOINC add ", or" — not used).
        Item(
            9,
            "Thoughts that you would be better off dead or of hurting yourself in some way",
            FREQUENCY_OPTIONS,
            "44260-8",
        ),
    ),
    difficulty=Item(
        10,  # printed as question 10 on the form (fact sheet §2.1); unscored
        "If you checked off any problems, how difficult have these problems made it for you "
        "to do your work, take care of things at home, or get along with other people?",
        DIFFICULTY_OPTIONS,
        "69722-7",  # LOINC difficulty item (fact sheet §2.1, §7.1)
    ),
    bands=(
        Band("minimal", "Minimal", 0, 4),  # Kroenke 2001
        Band("mild", "Mild", 5, 9),  # Kroenke 2001
        Band("moderate", "Moderate", 10, 14),  # Kroenke 2001
        Band("moderately_severe", "Moderately severe", 15, 19),  # Kroenke 2001
        Band("severe", "Severe", 20, 27),  # Kroenke 2001
    ),
    subscales=(
        Subscale("phq2", "PHQ-2 (items 1 and 2)", (1, 2)),  # Kroenke 2003
    ),
    thresholds=Thresholds(
        cutoff=10,  # Kroenke 2001 (screen_positive: total >= 10)
        mcid=5,  # Löwe 2004
        # Jacobson & Truax 1991: 1.96 × 5 × √(2 × (1 − .84)) = 5.54 → 6 (fact sheet §6.2)
        reliable_change=6,
        remission_below=5,  # NCQA/HEDIS (post < 5)
        response_fall_fraction=0.5,  # NCQA/HEDIS (fall of at least 50 %)
    ),
    codes=Codes(
        panel="44249-1",  # LOINC (fact sheet §7.1)
        total="44261-6",  # LOINC (fact sheet §7.1)
        answer_list="LL358-3",  # LOINC (fact sheet §2.1)
    ),
    max_missing=0,  # project convention (instruments.md Decisions): every item required
    flag_rules=(
        # Common clinical convention (Greenspace, Blueprint, Mirah; fact sheet §2.3):
        # item 9 >= 1 flags suicidal ideation and opens an alert.
        FlagRule("suicidal_ideation", item=9, at_least=1),
    ),
    provisional_rule=major_depressive_syndrome,  # Kroenke 2001; CamCOPS is_mds()
    # Licence: fact sheet §1 (phqscreeners.com via CamCOPS; LOINC 44261-6 copyright).
    licence=(
        "Public domain. Developed by Spitzer, Williams, Kroenke and colleagues with an "
        "educational grant from Pfizer Inc.; no permission required to reproduce, translate, "
        "display or distribute."
    ),
)
