"""Versions of a response chain and their Provenance, computed from the stored rows.

Pure (no Flask, no database, no clock), like tracker/fhir/mapping.py. A chain of
response rows already holds its whole history (docs/fhir.md, "Versions and
history"):

* every row is one version as it was created: the first by whoever entered the
  questionnaire (activity *create*), each later one by the clinician who amended
  the previous (activity *amend*, ``supersedes_id`` set);
* a row retracted as entered-in-error was updated in place with its version
  bumped by one, so it stands for two versions: the one it was created as, and
  the retraction (activity *retract*), whose time is the row's ``updated_at``.

So no history table is needed: :func:`chain_versions` rebuilds every version of
the Observation and QuestionnaireResponse of a chain, and :func:`provenance_resource`
says who made each version and when, as a US Core Provenance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tracker.fhir.mapping import ResponseView, enterer_reference, instant, meta

__all__ = [
    "US_CORE_PROVENANCE",
    "Version",
    "chain_versions",
    "parse_provenance_id",
    "provenance_id",
    "provenance_resource",
]

US_CORE_PROVENANCE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-provenance"
# R4 Provenance.activity is bound (extensible) to ProvenanceActivityType, which includes the
# v3 DataOperation codes: CREATE, UPDATE (a revision), NULLIFY (marked entered in error).
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
US_CORE_PARTICIPANT_TYPE = (
    "http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type"
)

Activity = Literal["create", "amend", "retract"]
_ACTIVITY_CODES: dict[str, tuple[str, str]] = {
    "create": ("CREATE", "create"),
    "amend": ("UPDATE", "revise"),
    "retract": ("NULLIFY", "nullify"),
}


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a chain: the resources as they were, and who made the version."""

    view: ResponseView  # status final/entered-in-error, version and updated_at of that version
    activity: Activity
    agent: dict[str, Any]  # a Reference to who made this version
    transmitted: bool  # True when an EHR integration sent it (US Core "transmitter")


def chain_versions(
    rows: Sequence[ResponseView], retractors: dict[int, dict[str, Any]], canonical_base: str
) -> list[Version]:
    """Every version of one chain, oldest first.

    ``rows`` are the chain's rows as stored (``status`` final, amended or
    entered-in-error; ``amended`` true when the row supersedes another);
    ``retractors`` maps the version number of a retraction to a Reference to
    whoever retracted it (the rows do not record that person, see docs/fhir.md,
    "Provenance"). A version's ``updated_at`` is when it was made: a row's
    ``recorded_at`` for the version it was created as, except that the row's
    current state keeps its ``updated_at`` so a vread of the newest version equals
    the read.
    """
    versions: list[Version] = []
    for row in sorted(rows, key=lambda r: r.version):
        retracted = row.status == "entered-in-error"
        created_as = row.version - 1 if retracted else row.version
        current = row.status == "final"
        made = dataclasses.replace(
            row,
            status="final",
            version=created_as,
            updated_at=row.updated_at if current else row.recorded_at,
        )
        versions.append(
            Version(
                view=made,
                activity="amend" if row.amended else "create",
                agent=enterer_reference(row, canonical_base),
                transmitted=row.source == "import",
            )
        )
        if retracted:
            versions.append(
                Version(
                    view=row,
                    activity="retract",
                    agent=retractors.get(row.version)
                    or {"type": "Practitioner", "display": "Clinic staff member (not recorded)"},
                    transmitted=False,
                )
            )
    return versions


def provenance_id(logical_id: int, version: int) -> str:
    """``<chain id>-<version>``: one Provenance per version, stable (a FHIR id allows '-')."""
    return f"{logical_id}-{version}"


def parse_provenance_id(raw: str) -> tuple[int, int] | None:
    """(chain id, version) of a Provenance id, or None when it cannot name one of ours."""
    head, sep, tail = raw.partition("-")
    if not sep or not head.isascii() or not tail.isascii():
        return None
    if not (head.isdigit() and tail.isdigit()) or head.startswith("0") or tail.startswith("0"):
        return None
    if len(head) > 10 or len(tail) > 9:
        return None
    return int(head), int(tail)


def _target(kind: str, version: Version) -> dict[str, str]:
    return {"reference": f"{kind}/{version.view.logical_id}/_history/{version.view.version}"}


def provenance_resource(version: Version, clinic: str) -> dict[str, Any]:
    """US Core Provenance for one version of a response chain.

    Targets are the version-specific Observation and QuestionnaireResponse (both
    made by the same act); ``recorded`` is when the version was made; the
    activity is CREATE, UPDATE (an amendment) or NULLIFY (entered in error); the
    agent is the author of the version, or the ``transmitter`` when an EHR
    integration sent it (US Core's two agent slices). An amendment or retraction
    names the version it revised as an entity. A clinician or an EHR acts
    ``onBehalfOf`` the clinic (US Core's provenance-1 requires it for a
    Practitioner or Device agent); tracker serves no Organization resource, so the
    clinic is named by ``clinic`` (CLINIC_NAME) in a display-only reference.
    """
    view = version.view
    code, display = _ACTIVITY_CODES[version.activity]
    if version.transmitted:
        role = {"system": US_CORE_PARTICIPANT_TYPE, "code": "transmitter", "display": "Transmitter"}
    else:
        role = {"system": PARTICIPANT_TYPE, "code": "author", "display": "Author"}
    resource: dict[str, Any] = {
        "resourceType": "Provenance",
        "id": provenance_id(view.logical_id, view.version),
        # A Provenance never changes once its version exists.
        "meta": meta(1, view.updated_at, US_CORE_PROVENANCE),
        "target": [_target("Observation", version), _target("QuestionnaireResponse", version)],
        "recorded": instant(view.updated_at),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": code, "display": display}]},
        "agent": [{"type": {"coding": [role]}, "who": version.agent}],
    }
    if version.agent.get("type") in ("Practitioner", "Device"):
        resource["agent"][0]["onBehalfOf"] = {"type": "Organization", "display": clinic}
    if version.activity != "create":
        previous = f"{view.logical_id}/_history/{view.version - 1}"
        resource["entity"] = [
            {"role": "revision", "what": {"reference": f"{kind}/{previous}"}}
            for kind in ("Observation", "QuestionnaireResponse")
        ]
    return resource
