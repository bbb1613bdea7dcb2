"""PHQ-9 (Patient Health Questionnaire-9), code ``phq9``, version ``1``.

Sources: docs/clinical-rules.md, "PHQ-9" (item texts, options, bands,
thresholds, flag and alert), "LOINC codes" and "Alerts"; the publications are
listed under "Sources" there.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import (
    AlertRule,
    Band,
    Codes,
    Examples,
    FlagRule,
    Instrument,
    Item,
    Option,
    Subscale,
    Thresholds,
)

__all__ = ["PHQ9", "depressive_syndrome", "major_depressive_syndrome"]

# Options for items 1–9: values 0–3 (Kroenke 2001); labels and answer codes
# from LOINC answer list LL358-3 (docs/clinical-rules.md, "LOINC codes").
FREQUENCY_OPTIONS: tuple[Option, ...] = (
    Option(0, "Not at all", "LA6568-5"),  # Kroenke 2001; LL358-3
    Option(1, "Several days", "LA6569-3"),  # Kroenke 2001; LL358-3
    Option(2, "More than half the days", "LA6570-1"),  # Kroenke 2001; LL358-3
    Option(3, "Nearly every day", "LA6571-9"),  # Kroenke 2001; LL358-3
)

# Unscored difficulty question ("item 10"): 0–3 as stored by CamCOPS; LOINC
# list LL359-1 assigns no scores. The LA codes are NOT in label order
# (Very = LA6575-0, Extremely = LA6574-3); that is correct (docs/clinical-rules.md, "PHQ-9").
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
_MIN_OTHER_SYMPTOMS = 2  # Spitzer 1999; CamCOPS is_ods(): 2–4 symptoms, one of them core


def depressive_syndrome(answers: Sequence[int | None]) -> str | None:
    """The PHQ depressive syndrome the answers meet: "major", "other" or None.

    A symptom counts when items 1–8 are answered >= 2 ("more than half the
    days") or item 9 >= 1 (whenever present); a skipped item never counts.
    With item 1 or item 2 counting: at least 5 symptoms is the major
    depressive syndrome (Kroenke 2001; CamCOPS ``is_mds()``), 2 to 4 the
    "other depressive syndrome" (Spitzer 1999; CamCOPS ``is_ods()``). This is
    the instrument's published algorithm, not a diagnosis (the pad text also
    requires impairment and clinician verification; docs/clinical-rules.md, "PHQ-9").
    """

    def endorsed(number: int) -> bool:
        value = answers[number - 1]
        threshold = _SUICIDALITY_ENDORSED_AT if number == _SUICIDALITY_ITEM else _ENDORSED_AT
        return value is not None and value >= threshold

    if not any(endorsed(n) for n in _CORE_ITEMS):
        return None
    symptoms = sum(endorsed(n) for n in range(1, 10))  # items 1–9 (Kroenke 2001)
    if symptoms >= _MIN_SYMPTOMS:
        return "major"
    return "other" if symptoms >= _MIN_OTHER_SYMPTOMS else None


def major_depressive_syndrome(answers: Sequence[int | None]) -> bool:
    """PHQ-9 provisional "major depressive syndrome": ``provisional_diagnosis``."""
    return depressive_syndrome(answers) == "major"


PHQ9 = Instrument(
    code="phq9",
    name="PHQ-9",
    title="Patient Health Questionnaire-9",
    version="1",  # project convention (docs/clinical-rules.md, "Project conventions")
    # Stem: CamCOPS phq9.xml `stem` (docs/clinical-rules.md, "PHQ-9").
    stem=(
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    ),
    recall_period="2 weeks",  # Kroenke 2001
    # Items 1–9 in form order; texts as in CamCOPS phq9.xml; item LOINC codes from
    # the HL7/US Core examples (docs/clinical-rules.md, "PHQ-9" and "LOINC codes").
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
        # CamCOPS/Kroenke 2001 text (US Core/LOINC add ", or" — not used).
        Item(
            9,
            "Thoughts that you would be better off dead or of hurting yourself in some way",
            FREQUENCY_OPTIONS,
            "44260-8",
        ),
    ),
    difficulty=Item(
        10,  # printed as question 10 on the form (Kroenke 2001); unscored
        "If you checked off any problems, how difficult have these problems made it for you "
        "to do your work, take care of things at home, or get along with other people?",
        DIFFICULTY_OPTIONS,
        "69722-7",  # LOINC difficulty item (docs/clinical-rules.md, "LOINC codes")
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
        # Jacobson & Truax 1991: 1.96 × 5 × √(2 × (1 − .84)) = 5.54 → 6
        # (docs/clinical-rules.md, "Change statistics")
        reliable_change=6,
        remission_below=5,  # NCQA/HEDIS (post < 5)
        # NCQA/HEDIS and NHS Talking Therapies: an elevated PHQ-9 (>= 10) starts the measure,
        # and recovery is moving below it (docs/clinical-rules.md, "Change statistics")
        caseness=10,
        recovery_below=10,
        response_fall_fraction=0.5,  # NCQA/HEDIS (fall of at least 50 %)
    ),
    codes=Codes(
        panel="44249-1",  # LOINC (docs/clinical-rules.md, "LOINC codes")
        total="44261-6",  # LOINC (docs/clinical-rules.md, "LOINC codes")
        answer_list="LL358-3",  # LOINC (docs/clinical-rules.md, "LOINC codes")
        # LOINC display names (docs/clinical-rules.md, "LOINC codes").
        panel_display="PHQ-9 quick depression assessment panel [Reported.PHQ]",
        total_display="Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
    ),
    max_missing=0,  # project convention (docs/clinical-rules.md, "Scoring conventions")
    flag_rules=(
        # Common clinical convention (Greenspace, Blueprint, Mirah; docs/clinical-rules.md,
        # "PHQ-9" and "Alerts"): item 9 >= 1 flags suicidal ideation, the patient sees
        # crisis resources at once, and an alert is opened.
        FlagRule(
            "suicidal_ideation",
            item=9,
            at_least=1,
            label="Item 9 endorsed",
            crisis=True,
            patient_text=(
                "You told us you have had thoughts of being better off dead or of hurting yourself."
            ),
        ),
    ),
    alert_rules=(
        # Priority: high when item 9 >= 2, routine when 1 (Simon 2013; docs/clinical-rules.md,
        # "Alerts").
        AlertRule(
            "suicidal_ideation",
            kind="suicidal_ideation",
            label="Thoughts of self-harm (PHQ-9 item 9)",
            priorities=((2, "high"),),
            priority="routine",
        ),
    ),
    provisional_rule=major_depressive_syndrome,  # Kroenke 2001; CamCOPS is_mds()
    syndrome_rule=depressive_syndrome,  # Kroenke 2001, Spitzer 1999; CamCOPS is_mds(), is_ods()
    syndrome_labels=(
        ("major", "Major depressive syndrome (PHQ-9 algorithm, provisional)"),
        ("other", "Other depressive syndrome (PHQ-9 algorithm, provisional)"),
    ),
    # Licence: phqscreeners.com (via CamCOPS); LOINC 44261-6 copyright notice.
    licence=(
        "Public domain. Developed by Spitzer, Williams, Kroenke and colleagues with an "
        "educational grant from Pfizer Inc.; no permission required to reproduce, translate, "
        "display or distribute."
    ),
    # Invented patients only (tracker.demo, tracker.synth); not a clinical rule.
    examples=Examples(
        baseline=(18.5, 3.5),
        floor=10,
        noise=1.8,
        # Sleep and energy are reported first; item 9 is answered by its flag rule.
        item_weights=(1.2, 1.3, 1.4, 1.5, 1.0, 1.1, 1.0, 0.6, 0.0),
        demo_every_weeks=1,
    ),
)
