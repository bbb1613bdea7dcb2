"""Questionnaire links in the browser: ``/q/<token>`` answers one occurrence, and nothing else.

No login and no session: the token in the URL is the only credential (so the
form needs no CSRF token either — a forger cannot know the URL), and these
pages set no cookie and link nowhere (no navigation, no history). The rules —
which questionnaires, until when, one 404 for unknown, expired and used-up
tokens — are :mod:`tracker.services.links`; submissions go through it to
:func:`tracker.services.responses.submit`, so scoring, alerts and the crisis
text are those of the patient's own form.
"""

from __future__ import annotations

import secrets

from flask import current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as HttpResponse

from tracker import instruments
from tracker.auth import audit
from tracker.extensions import limiter
from tracker.models import Response
from tracker.services import links
from tracker.services.errors import Conflict, Invalid
from tracker.web import bp
from tracker.web.forms import FORM_KEY, FormErrors, answers, service_errors
from tracker.web.render import crisis_text, render_audited

TOKEN = "<token>"
Page = tuple[str, int]

rate_limited = limiter.shared_limit(
    lambda: current_app.config["LINK_RATE_LIMIT"], scope=links.RATE_LIMIT_SCOPE
)


def _gone() -> Page:
    """One page for an unknown, expired or used-up link: which one it was is nobody's business."""
    return render_template("web/link/gone.html"), 404


def _form(
    token: str,
    grant: links.LinkGrant,
    code: str,
    values: dict,
    errors: FormErrors,
    status: int = 200,
) -> Page:
    return (
        render_audited(
            "web/link/questionnaire.html",
            token=token,
            grant=grant,
            instrument=instruments.get(code),
            values=values,
            errors=errors,
            # A fresh key per form: a double-click or a resend stores one response.
            form_key=values.get("form_key") or "web-" + secrets.token_urlsafe(24),
        ),
        status,
    )


@bp.get(f"/q/{TOKEN}")
@rate_limited
def link_page(token: str) -> Page:
    """The next questionnaire the link asks for, with the others named above it."""
    grant = links.resolve(token)
    if grant is None:
        return _gone()
    audit.record(
        "read",
        "questionnaire_link",
        grant.link_id,
        grant.patient_id,
        actor=links.audit_actor(grant),
    )
    return _form(token, grant, grant.pending[0], {}, FormErrors())


def _sent(token: str, row: Response) -> HttpResponse | Page:
    """On to the next questionnaire, unless there is none or the crisis text must come first."""
    instrument = instruments.get(row.instrument, row.instrument_version)
    crisis = instrument.crisis(row.flags)
    remaining = links.resolve(token)
    if remaining is not None and crisis is None:
        return redirect(url_for("web.link_page", token=token), code=303)
    page = render_template(
        "web/link/sent.html",
        token=token,
        instrument=instrument,
        crisis=crisis,
        crisis_text=crisis_text(),
        next_code=remaining.pending[0] if remaining is not None else None,
    )
    return page, 200


@bp.post(f"/q/{TOKEN}")
@rate_limited
def link_submit(token: str) -> HttpResponse | Page:
    """Validate every question, then submit through the link (same scoring, same alert)."""
    code = request.form.get("instrument", "")
    key = request.form.get("form_key", "")
    key = key if FORM_KEY.match(key) else None
    if code not in instruments.codes():
        return _gone() if links.resolve(token) is None else _again(token)
    errors = FormErrors()
    values, difficulty = answers(request.form, instruments.get(code), errors)
    shown = request.form.to_dict() | {"form_key": key or ""}
    if errors:
        grant = links.resolve(token)
        if grant is None:
            return _gone()
        if code not in grant.pending:
            return _again(token)
        return _form(token, grant, code, shown, errors, 422)
    try:
        row, _created = links.submit(
            token, instrument=code, answers=values, difficulty=difficulty, idempotency_key=key
        )
    except links.LinkUnusable:
        return _gone()
    except Invalid as invalid:
        grant = links.resolve(token)
        if grant is None:
            return _gone()
        if "instrument" in invalid.errors:
            return _again(token)  # answered meanwhile (another tab): show what is left
        service_errors(invalid.errors, errors)
        return _form(token, grant, code, shown, errors, 422)
    except Conflict as conflict:
        # This form was sent before with other answers (back, change, resend): the first stands.
        if not isinstance(conflict.existing, Response):
            raise
        row = conflict.existing
    return _sent(token, row)


def _again(token: str) -> HttpResponse:
    return redirect(url_for("web.link_page", token=token), code=303)
