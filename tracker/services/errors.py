"""What a use case can refuse, in words every shell translates the same way.

The JSON API answers these as problem+json (422, 409, 412), the FHIR layer as
OperationOutcome, the pages as form errors next to the field. A service never
speaks HTTP itself.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every refusal; ``status`` is the HTTP status the API shells use."""

    status = 400

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class Invalid(ServiceError):
    """The input breaks a rule; ``errors`` maps each field path to its messages (→ 422)."""

    status = 422

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None):
        super().__init__(
            detail or "The request has invalid fields: " + ", ".join(sorted(errors)), errors
        )


class Conflict(ServiceError):
    """The request clashes with stored state (→ 409); ``existing`` is the row it clashed with."""

    status = 409

    def __init__(self, detail: str, existing: object = None):
        super().__init__(detail)
        self.existing = existing


class Stale(ServiceError):
    """The caller changed a record from an outdated copy (If-Match failed, → 412)."""

    status = 412
