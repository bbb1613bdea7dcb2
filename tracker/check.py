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

    @property
    def ok(self) -> bool:
        return self.reachable and self.revision == self.head and not self.mismatches


def run_check() -> CheckReport:
    report = CheckReport()
    db.session.rollback()  # start from a fresh snapshot
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        report.reachable = True
        report.revision = MigrationContext.configure(connection).get_current_revision()
    directory = current_app.extensions["migrate"].directory
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", directory)
    report.head = ScriptDirectory.from_config(config).get_current_head()
    if report.revision != report.head:
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
