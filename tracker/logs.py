"""Keeping questionnaire-link tokens out of every log line.

A token in a URL is a password: the web server's access log (werkzeug under
``flask run``, gunicorn's ``gunicorn.access``) and the app's own log would
otherwise write it down. A filter on those loggers replaces it with "…"
before any handler sees the line.
"""

from __future__ import annotations

import logging
import re

from flask import Flask

# /q/<token> and /api/v1/links/<token>[/responses]: the token is the next path segment.
TOKEN_IN_PATH = re.compile(r"(/q/|/api/v1/links/)[^/\s?#\"']+")
ELIDED = r"\1…"
# The loggers that write request paths: the two servers' and the app's own.
SERVER_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    return TOKEN_IN_PATH.sub(ELIDED, text)


class TokenFilter(logging.Filter):
    """Rewrites a record whose message holds a link token; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed record is logging's problem, not ours
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def _install(logger: logging.Logger) -> None:
    if not any(isinstance(f, TokenFilter) for f in logger.filters):
        logger.addFilter(TokenFilter())


def init_app(app: Flask) -> None:
    """Once per logger, however many apps a process makes (tests make many)."""
    for name in SERVER_LOGGERS:
        _install(logging.getLogger(name))
    _install(app.logger)
