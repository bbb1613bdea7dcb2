"""`tracker check`: is this database reachable, at the latest schema, and are its totals right?

Recomputing every stored total from the stored answers with the current scoring
core finds rows that a scoring bug (fixed later) computed wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from tracker import instruments
from tracker.extensions import db
from tracker.instruments import InvalidAnswers
from tracker.models import Response

BATCH = 5000


@dataclass
class CheckReport:
    reachable: bool = False
    revision: str | None = None
    head: str | None = None
    responses_checked: int = 0
    mismatches: list[int] = field(default_factory=list)  # response ids, never their contents
    unreachable_because: str | None = None

    @property
    def ok(self) -> bool:
        return self.reachable and self.revision == self.head and not self.mismatches

    @property
    def hint(self) -> str | None:
        """What an operator should do next, in one line."""
        if not self.reachable:
            return "check DATABASE_URL and that the database server is running and accepts you"
        if self.revision != self.head:
            return "run: flask --app wsgi db upgrade"
        if self.mismatches:
            return "these totals were stored by older scoring rules; review them before use"
        return None


def _reason(error: SQLAlchemyError) -> str:
    """The driver's first line (host, port, file; never the password), kept short."""
    original = getattr(error, "orig", None) or error
    first = (str(original).strip().splitlines() or [type(original).__name__])[0]
    return first if len(first) <= 200 else first[:197] + "..."


def run_check() -> CheckReport:
    report = CheckReport()
    try:
        db.session.rollback()  # start from a fresh snapshot
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            report.reachable = True
            report.revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as error:
        report.unreachable_because = _reason(error)
    directory = current_app.extensions["migrate"].directory
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", directory)
    report.head = ScriptDirectory.from_config(config).get_current_head()
    if not report.reachable or report.revision != report.head:
        return report
    query = select(
        Response.id,
        Response.instrument,
        Response.instrument_version,
        Response.answers,
        Response.total,
        Response.severity,
    ).order_by(Response.id)
    for row in db.session.execute(query.execution_options(yield_per=BATCH)):
        report.responses_checked += 1
        try:
            result = instruments.score(
                instruments.get(row.instrument, row.instrument_version), row.answers
            )
        except (KeyError, InvalidAnswers):
            report.mismatches.append(row.id)
            continue
        if result.total != row.total or result.severity.code != row.severity:
            report.mismatches.append(row.id)
    db.session.rollback()  # read-only: end the snapshot
    return report
