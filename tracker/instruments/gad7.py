"""GAD-7 (Generalized Anxiety Disorder-7), code ``gad7``, version ``1``.

Sources: instruments.md "Decisions" (GAD-7 table) and the fact sheet §3.1
(item texts, options, LOINC codes) and §7.1 (LOINC).
"""

from __future__ import annotations

from .base import Band, Codes, Instrument, Item, Subscale, Thresholds
from .phq9 import FREQUENCY_OPTIONS

__all__ = ["GAD7"]

# Options: the same four labels and values 0–3 as PHQ-9 items 1–9 (Spitzer
# 2006; fact sheet §3.1), with LOINC answer list LL358-3 codes
# (LA6568-5 … LA6571-9), so FREQUENCY_OPTIONS is shared.
# Caveat (fact sheet §3.1, §9.7, unverified): one LHC-Forms Questionnaire
# binds item 2 (68509-9) to a list whose value-2 answer is LA18938-3
# "More days than not" instead of LA6570-1. We keep LL358-3 for every item;
# check loinc.org/68509-9 before relying on item 2's answer codes.
# The GAD-7 paper form also has an unscored difficulty question; the
# Decisions table does not adopt it (CamCOPS does not store it either), so
# GAD-7 has no `difficulty` item here.

GAD7 = Instrument(
    code="gad7",
    name="GAD-7",
    title="Generalized Anxiety Disorder-7",
    version="1",  # project convention (instruments.md Decisions)
    # Stem as on the GAD-7 form (fact sheet §3.1); CamCOPS gad7.xml instead uses
    # the PHQ-9 wording "…by any of the following problems?" (fact sheet §9.6).
    stem="Over the last 2 weeks, how often have you been bothered by the following problems?",
    recall_period="2 weeks",  # Spitzer 2006 (fact sheet §0)
    # Items 1–7 in form order; texts from CamCOPS gad7.xml (fact sheet §3.1);
    # item LOINC codes from the LOINC PHQ-SADS panel 69729-2 (§3.1, §7.1).
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
        reliable_change=6,  # Bischoff 2020
        remission_below=5,  # project convention (instruments.md Decisions): minimal band
        response_fall_fraction=0.5,  # project convention (instruments.md Decisions)
    ),
    codes=Codes(
        panel="69737-5",  # LOINC (fact sheet §7.1)
        total="70274-6",  # LOINC (fact sheet §7.1)
        answer_list="LL358-3",  # LOINC (fact sheet §3.1; see the 68509-9 caveat above)
    ),
    max_missing=0,  # project convention (instruments.md Decisions): every item required
    flag_rules=(),  # no flag rule in the Decisions table
    provisional_rule=None,  # no published algorithm (instruments.md Decisions): null
    # Licence: fact sheet §1 (phqscreeners.com via CamCOPS gad7.rst).
    licence=(
        "Public domain. Developed by Spitzer, Kroenke, Williams and Löwe (PHQ family, "
        "educational grant from Pfizer Inc.); no permission required to reproduce, "
        "translate, display or distribute."
    ),
)
