"""GAD-7 (Generalized Anxiety Disorder-7), code ``gad7``, version ``1``.

Sources: docs/clinical-rules.md, "GAD-7" (item texts, options, bands,
thresholds) and "LOINC codes"; the publications are listed under "Sources"
there.
"""

from __future__ import annotations

from .base import Band, Codes, Examples, Instrument, Item, Subscale, Thresholds
from .phq9 import FREQUENCY_OPTIONS

__all__ = ["GAD7"]

# Options: the same four labels and values 0–3 as PHQ-9 items 1–9 (Spitzer
# 2006), with LOINC answer list LL358-3 codes
# (LA6568-5 … LA6571-9), so FREQUENCY_OPTIONS is shared.
# Caveat (docs/clinical-rules.md, "LOINC codes"; unverified): one LHC-Forms Questionnaire
# binds item 2 (68509-9) to a list whose value-2 answer is LA18938-3
# "More days than not" instead of LA6570-1. We keep LL358-3 for every item;
# check loinc.org/68509-9 before relying on item 2's answer codes.
# The GAD-7 paper form also has an unscored difficulty question; the
# project does not adopt it (CamCOPS does not store it either), so
# GAD-7 has no `difficulty` item here.

GAD7 = Instrument(
    code="gad7",
    name="GAD-7",
    title="Generalized Anxiety Disorder-7",
    version="1",  # project convention (docs/clinical-rules.md, "Project conventions")
    # Stem as on the GAD-7 form (Spitzer 2006); CamCOPS gad7.xml instead uses
    # the PHQ-9 wording "…by any of the following problems?" (docs/clinical-rules.md, "GAD-7").
    stem="Over the last 2 weeks, how often have you been bothered by the following problems?",
    recall_period="2 weeks",  # Spitzer 2006
    # Items 1–7 in form order; texts from CamCOPS gad7.xml; item LOINC codes from
    # the LOINC PHQ-SADS panel 69729-2 (docs/clinical-rules.md, "LOINC codes").
    items=(
        Item(1, "Feeling nervous, anxious or on edge", FREQUENCY_OPTIONS, "69725-0"),
        Item(2, "Not being able to stop or control worrying", FREQUENCY_OPTIONS, "68509-9"),
        Item(3, "Worrying too much about different things", FREQUENCY_OPTIONS, "69733-4"),
        Item(4, "Trouble relaxing", FREQUENCY_OPTIONS, "69734-2"),
        Item(5, "Being so restless that it is hard to sit still", FREQUENCY_OPTIONS, "69735-9"),
        # LOINC names 69689-8 "in last 4 weeks" (shared with the PHQ anxiety module).
        Item(6, "Becoming easily annoyed or irritable", FREQUENCY_OPTIONS, "69689-8"),
        Item(
            7,
            "Feeling afraid as if something awful might happen",
            FREQUENCY_OPTIONS,
            "69736-7",
        ),
    ),
    bands=(
        Band("minimal", "Minimal", 0, 4),  # Spitzer 2006
        Band("mild", "Mild", 5, 9),  # Spitzer 2006
        Band("moderate", "Moderate", 10, 14),  # Spitzer 2006
        Band("severe", "Severe", 15, 21),  # Spitzer 2006
    ),
    subscales=(
        Subscale("gad2", "GAD-2 (items 1 and 2)", (1, 2)),  # Kroenke 2007
    ),
    thresholds=Thresholds(
        cutoff=10,  # Spitzer 2006 (screen_positive: total >= 10)
        mcid=4,  # Toussaint 2020
        reliable_change=4,  # NHS Talking Therapies manual: reliable improvement is a fall >= 4
        remission_below=5,  # project convention (docs/clinical-rules.md, "GAD-7"): minimal band
        # NHS Talking Therapies caseness (Kroenke 2007: >= 8 for any anxiety disorder);
        # recovery is moving below it (docs/clinical-rules.md, "GAD-7")
        caseness=8,
        recovery_below=8,
        response_fall_fraction=0.5,  # project convention (docs/clinical-rules.md, "GAD-7")
    ),
    codes=Codes(
        panel="69737-5",  # LOINC (docs/clinical-rules.md, "LOINC codes")
        total="70274-6",  # LOINC (docs/clinical-rules.md, "LOINC codes")
        answer_list="LL358-3",  # LOINC (see the 68509-9 caveat above)
        # LOINC display names (docs/clinical-rules.md, "LOINC codes").
        panel_display="Generalized anxiety disorder 7 item (GAD-7)",
        total_display="Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
    ),
    max_missing=0,  # project convention (docs/clinical-rules.md, "Scoring conventions")
    flag_rules=(),  # none (docs/clinical-rules.md, "GAD-7")
    provisional_rule=None,  # no published algorithm (docs/clinical-rules.md, "GAD-7"): null
    # Licence: phqscreeners.com (via CamCOPS gad7.rst).
    licence=(
        "Public domain. Developed by Spitzer, Kroenke, Williams and Löwe (PHQ family, "
        "educational grant from Pfizer Inc.); no permission required to reproduce, "
        "translate, display or distribute."
    ),
    # Invented patients only (tracker.demo, tracker.synth); not a clinical rule.
    examples=Examples(
        baseline=(13.0, 4.0),
        floor=5,
        noise=1.5,
        item_weights=(1.3, 1.2, 1.3, 1.1, 0.8, 1.0, 0.9),
        share=0.7,
        demo_every_weeks=2,
        course_strength=(0.7, 1.1),
    ),
)
