"""Clinic outcomes latency over the whole synthetic clinic (admin), and per clinician.

``GET /api/v1/outcomes/phq9`` is timed in-process with the Flask test client
as an admin (every series of all 10,000 patients), with ``by=month``, and as
one synthetic clinician (their fifth of the clinic). The SQL it runs is
captured and its plan recorded (EXPLAIN QUERY PLAN on SQLite, EXPLAIN
ANALYZE on PostgreSQL). The baseline, in the same process, is a raw count of
the series and responses the figures are drawn from. Skips with a note when
the outcomes endpoint is not there.

    .venv/bin/python bench/outcomes.py --backend sqlite
"""

from __future__ import annotations

from typing import Any

import common
from fhir_search import explain
from flask import Flask
from sqlalchemy import event

from tracker.extensions import db
from tracker.synth import SYNTH_PASSWORD, clinician_emails


def capture(app: Flask, client: Any, url: str) -> list[tuple[str, Any]]:
    """The SELECTs of one request that read series (the outcome query), with parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        start = statement.lstrip().upper()
        if "treatment_series" in statement and start.startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return seen


def main() -> None:
    args = common.arguments(
        __doc__.splitlines()[0],
        patients={"type": int, "default": 10000},
        runs={"type": int, "default": 10},
    )
    load_before = common.load()
    with (
        common.backend_server(args.backend) as server,
        common.dataset(args.backend, server, args.patients, args.seed, "outcomes") as data,
    ):
        app = common.bench_app(data.url)
        if not any(r.rule.startswith("/api/v1/outcomes/") for r in app.url_map.iter_rules()):
            common.write_results(
                "outcomes", args.backend, {"skipped": "GET /api/v1/outcomes/<instrument> absent"}
            )
            return
        admin, _ = common.login(app, common.ADMIN_EMAIL, common.ADMIN_PASSWORD)
        clinician, _ = common.login(app, clinician_emails()[0], SYNTH_PASSWORD)
        url = "/api/v1/outcomes/phq9"

        def get(client: Any, path: str) -> dict:
            response = client.get(path)
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            return response.get_json()

        overall = get(admin, url)
        mine = get(clinician, url)
        with app.app_context():
            connection = db.engine.raw_connection()
        cursor = connection.cursor()

        def raw_counts() -> None:
            cursor.execute("SELECT count(*) FROM treatment_series")
            cursor.fetchall()
            cursor.execute("SELECT count(*) FROM response WHERE instrument = 'phq9'")
            cursor.fetchall()
            connection.rollback()

        figures = {
            "patients": data.patients,
            "series": overall["series"],
            "evaluable": overall["evaluable"],
            "response_rate": overall["response_rate"],
            "remission_rate": overall["remission_rate"],
            "admin": common.summary(common.timed(lambda: get(admin, url), args.runs, 1)),
            "admin_by_month": common.summary(
                common.timed(lambda: get(admin, url + "?by=month"), args.runs, 1)
            ),
            "clinician": common.summary(common.timed(lambda: get(clinician, url), args.runs, 1)),
            "clinician_series": mine["series"],
            "raw_counts": common.summary(common.timed(raw_counts, args.runs, 1)),
            "plans": explain(app, capture(app, admin, url)),
        }
        connection.close()
        figures["ratio_admin_p50_to_raw_counts_p50"] = round(
            figures["admin"]["p50_ms"] / figures["raw_counts"]["p50_ms"], 1
        )
        figures["load_before"] = load_before
        figures["load_after"] = common.load()
        figures["postgresql"] = server.version() if server else None
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    common.write_results("outcomes", args.backend, figures)


if __name__ == "__main__":
    main()
