"""PCL-5 (PTSD Checklist for DSM-5), code ``pcl5``, version ``1``.

Sources: docs/clinical-rules.md, "PCL-5" (instructions, item texts, options,
clusters, scoring), "Scoring conventions" (proration) and "LOINC codes"; the
publications are listed under "Sources" there.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Band, Codes, Examples, Instrument, Item, Option, Subscale, Thresholds

__all__ = ["PCL5", "provisional_ptsd"]

# Options 0–4 (Weathers 2013; CamCOPS pcl5.xml a0–a4).
# No LOINC answer codes were found for the PCL-5 (docs/clinical-rules.md, "LOINC codes").
SEVERITY_OPTIONS: tuple[Option, ...] = (
    Option(0, "Not at all"),  # Weathers 2013
    Option(1, "A little bit"),  # Weathers 2013
    Option(2, "Moderately"),  # Weathers 2013
    Option(3, "Quite a bit"),  # Weathers 2013
    Option(4, "Extremely"),  # Weathers 2013
)

# DSM-5 clusters (DSM-5; CamCOPS pcl5.py num_symptomatic_b/c/d/e).
CLUSTER_B = (1, 2, 3, 4, 5)  # DSM-5: intrusion, items 1–5
CLUSTER_C = (6, 7)  # DSM-5: avoidance, items 6–7
CLUSTER_D = (8, 9, 10, 11, 12, 13, 14)  # DSM-5: negative cognitions/mood, items 8–14
CLUSTER_E = (15, 16, 17, 18, 19, 20)  # DSM-5: arousal/reactivity, items 15–20

_ENDORSED_AT = 2  # Weathers 2013; CamCOPS pcl5.py line 226 (value >= 2, "Moderately")
# Minimum endorsed items per cluster (Weathers 2013; CamCOPS pcl5.py ptsd()).
_CLUSTER_MINIMA: tuple[tuple[tuple[int, ...], int], ...] = (
    (CLUSTER_B, 1),  # Weathers 2013: >= 1 B
    (CLUSTER_C, 1),  # Weathers 2013: >= 1 C
    (CLUSTER_D, 2),  # Weathers 2013: >= 2 D
    (CLUSTER_E, 2),  # Weathers 2013: >= 2 E
)


def provisional_ptsd(answers: Sequence[int | None]) -> bool:
    """PCL-5 provisional DSM-5 PTSD diagnosis by the cluster rule.

    An item counts when rated >= 2; at least 1 B, 1 C, 2 D and 2 E items must
    count (Weathers 2013; CamCOPS ``ptsd()``). A skipped item never counts,
    so prorating never creates a diagnosis. Criteria A, F, G and H are not
    assessed by the 20 items (docs/clinical-rules.md, "PCL-5"), hence "provisional".
    """

    def endorsed(number: int) -> bool:
        value = answers[number - 1]
        return value is not None and value >= _ENDORSED_AT

    return all(sum(endorsed(n) for n in cluster) >= minimum for cluster, minimum in _CLUSTER_MINIMA)


PCL5 = Instrument(
    code="pcl5",
    name="PCL-5",
    title="PTSD Checklist for DSM-5",
    version="1",  # project convention (docs/clinical-rules.md, "Project conventions")
    # Instructions: VA form as stored in CamCOPS pcl5.xml, with CamCOPS's change
    # "circle one of the numbers" → "choose one of the answers" (docs/clinical-rules.md, "PCL-5").
    instructions=(
        "Below is a list of problems that people sometimes have in response to a very "
        "stressful experience. Please read each problem carefully and then choose one of the "
        "answers to indicate how much you have been bothered by that problem in the past "
        "month."
    ),
    stem="In the past month, how much were you bothered by:",  # Weathers 2013 (VA form)
    recall_period="1 month",  # Weathers 2013; VA
    # Items 1–20 in form order; texts from CamCOPS pcl5.xml / VA form, with
    # CamCOPS's typos fixed: item 4 has its space, item 10 its "?". No item LOINC
    # codes were found (docs/clinical-rules.md, "LOINC codes"), so loinc is None.
    items=(
        Item(
            1,
            "Repeated, disturbing, and unwanted memories of the stressful experience?",
            SEVERITY_OPTIONS,
        ),
        Item(2, "Repeated, disturbing dreams of the stressful experience?", SEVERITY_OPTIONS),
        Item(
            3,
            "Suddenly feeling or acting as if the stressful experience were actually happening "
            "again (as if you were actually back there reliving it)?",
            SEVERITY_OPTIONS,
        ),
        Item(
            4,
            "Feeling very upset when something reminded you of the stressful experience?",
            SEVERITY_OPTIONS,
        ),
        Item(
            5,
            "Having strong physical reactions when something reminded you of the stressful "
            "experience (for example, heart pounding, trouble breathing, sweating)?",
            SEVERITY_OPTIONS,
        ),
        Item(
            6,
            "Avoiding memories, thoughts, or feelings related to the stressful experience?",
            SEVERITY_OPTIONS,
        ),
        Item(
            7,
            "Avoiding external reminders of the stressful experience (for example, people, "
            "places, conversations, activities, objects, or situations)?",
            SEVERITY_OPTIONS,
        ),
        Item(
            8,
            "Trouble remembering important parts of the stressful experience?",
            SEVERITY_OPTIONS,
        ),
        Item(
            9,
            "Having strong negative beliefs about yourself, other people, or the world (for "
            "example, having thoughts such as: I am bad, there is something seriously wrong "
            "with me, no one can be trusted, the world is completely dangerous)?",
            SEVERITY_OPTIONS,
        ),
        Item(
            10,
            "Blaming yourself or someone else for the stressful experience or what happened "
            "after it?",
            SEVERITY_OPTIONS,
        ),
        Item(
            11,
            "Having strong negative feelings such as fear, horror, anger, guilt, or shame?",
            SEVERITY_OPTIONS,
        ),
        Item(12, "Loss of interest in activities that you used to enjoy?", SEVERITY_OPTIONS),
        Item(13, "Feeling distant or cut off from other people?", SEVERITY_OPTIONS),
        Item(
            14,
            "Trouble experiencing positive feelings (for example, being unable to feel "
            "happiness or have loving feelings for people close to you)?",
            SEVERITY_OPTIONS,
        ),
        Item(
            15,
            "Irritable behavior, angry outbursts, or acting aggressively?",
            SEVERITY_OPTIONS,
        ),
        # Item 16 (risk-taking/self-harm) is a symptom item only: no published flag
        # rule was found and the project sets none (docs/clinical-rules.md, "PCL-5").
        Item(
            16,
            "Taking too many risks or doing things that could cause you harm?",
            SEVERITY_OPTIONS,
        ),
        Item(17, 'Being "superalert" or watchful or on guard?', SEVERITY_OPTIONS),
        Item(18, "Feeling jumpy or easily startled?", SEVERITY_OPTIONS),
        Item(19, "Having difficulty concentrating?", SEVERITY_OPTIONS),
        Item(20, "Trouble falling or staying asleep?", SEVERITY_OPTIONS),
    ),
    # No official bands (docs/clinical-rules.md, "PCL-5"); the only line is the cut-off at 33
    # (VA; CamCOPS tracker line), so two bands split there.
    bands=(
        Band("below_cutoff", "Below provisional cut-off", 0, 32),  # VA; CamCOPS line at 33
        Band("probable_ptsd", "Probable PTSD (provisional)", 33, 80),  # VA; CamCOPS; max 4×20
    ),
    subscales=(
        Subscale("B", "Cluster B: intrusion", CLUSTER_B),  # DSM-5
        Subscale("C", "Cluster C: avoidance", CLUSTER_C),  # DSM-5
        Subscale("D", "Cluster D: negative cognitions and mood", CLUSTER_D),  # DSM-5
        Subscale("E", "Cluster E: arousal and reactivity", CLUSTER_E),  # DSM-5
    ),
    thresholds=Thresholds(
        cutoff=33,  # VA (31–33; 33 as the single value, as CamCOPS does)
        mcid=10,  # VA (10 points = clinically meaningful improvement)
        reliable_change=15,  # Marx 2022 (empirical PCL-5 RCI, sample 1)
        remission_below=33,  # project convention (docs/clinical-rules.md, "PCL-5"): below cut-off
        caseness=33,  # the provisional cut-off (docs/clinical-rules.md, "PCL-5")
        recovery_below=29,  # Marx 2022: "scores of <= 28" mark clinically significant change
        response_fall_fraction=0.5,  # project convention (docs/clinical-rules.md, "PCL-5")
    ),
    codes=Codes(
        panel="101697-1",  # LOINC ("LOINC codes"; LOINC calls it "civilian version")
        total="101698-9",  # LOINC (docs/clinical-rules.md, "LOINC codes")
        answer_list=None,  # none found (docs/clinical-rules.md, "LOINC codes")
        # LOINC display names (docs/clinical-rules.md, "LOINC codes").
        panel_display="Post traumatic stress disorder checklist - civilian version DSM-5 [PCL-5]",
        total_display="PTSD PCL-5 score [PCL-5]",
    ),
    # Project convention (docs/clinical-rules.md, "Scoring conventions"): at most 2
    # of 20 items may be null; the total is then prorated round(sum × 20 / answered),
    # halves up.
    max_missing=2,
    flag_rules=(),  # none: item 16 has no flag rule (see the item above)
    provisional_rule=provisional_ptsd,  # Weathers 2013; CamCOPS pcl5.py ptsd()
    # Licence: CamCOPS pcl5.rst; VA National Center for PTSD.
    licence=(
        "Public domain: a work of the US Government (VA National Center for PTSD); "
        "Weathers et al. 2013."
    ),
    # Invented patients only (tracker.demo, tracker.synth); not a clinical rule.
    examples=Examples(
        baseline=(50.0, 10.0),
        floor=25,
        noise=5.0,
        item_weights=(1.2, 1.0, 0.7, 1.2, 1.0, 1.1, 1.1, 0.6, 1.0, 0.9)
        + (1.1, 1.0, 1.1, 1.0, 0.8, 0.5, 1.2, 1.1, 1.2, 1.3),
        share=0.3,
        demo_every_weeks=2,
        min_interval_days=25,  # a one-month recall period
        course_strength=(0.7, 1.1),
    ),
)
