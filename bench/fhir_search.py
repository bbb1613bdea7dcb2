"""FHIR Observation search latency at ~10k and ~1M responses, and how it grows.

Two synthetic clinics (104 patients ≈ 10k responses, 10,000 patients ≈ 1M),
each searched in-process with the Flask test client as an admin (the FHIR
routes accept an admin session for reads; a bearer token adds one indexed
lookup and expires after 300 s, too soon for a long run):

- ``Observation?patient=<id>&_count=100``, rotating over 50 patients with at
  least 100 responses (a full page each);
- ``Observation?_lastUpdated=gt<end − 7 days>&_count=500`` (an EHR's
  incremental sync; default sort by date), and the same with
  ``_sort=_lastUpdated``.

The figure that matters is the ratio of the 1M p50 to the 10k p50: an indexed
search grows little with the table, a scan grows with it. The SQL of each
search is captured and its plan recorded (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL) so a search that does not scale can be named.

    .venv/bin/python bench/fhir_search.py --backend sqlite
"""

from __future__ import annotations

import itertools
from typing import Any

import common
from flask import Flask
from sqlalchemy import event, text

from tracker.extensions import db

PATIENT_RUNS = 100
SYNC_RUNS = 20


def capture_sql(app: Flask, client: Any, url: str) -> list[tuple[str, Any]]:
    """The search SELECTs one request runs against the response table."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "FROM response" in statement:
            seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return seen


def explain(app: Flask, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    plans = []
    with app.app_context():
        connection = db.engine.raw_connection()
        postgres = db.engine.dialect.name == "postgresql"
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        try:
            for statement, parameters in statements:
                cursor = connection.cursor()
                cursor.execute(prefix + statement, parameters)
                rows = cursor.fetchall()
                lines = [r[0] for r in rows] if postgres else [str(r[-1]) for r in rows]
                plans.append({"sql": " ".join(statement.split()), "plan": lines})
                cursor.close()
            connection.rollback()
        finally:
            connection.close()
    return plans


def measure(data: common.Dataset) -> dict[str, Any]:
    app = common.bench_app(data.url)
    with app.app_context():
        patients = [
            row[0]
            for row in db.session.execute(
                text(
                    "SELECT patient_id FROM response GROUP BY patient_id"
                    " HAVING count(*) >= 100 ORDER BY patient_id LIMIT 50"
                )
            )
        ]
        responses = db.session.scalar(text("SELECT count(*) FROM response"))
    client, _csrf = common.login(app, common.ADMIN_EMAIL, common.ADMIN_PASSWORD)
    since = common.iso(common.days_before(data.end, 7))
    rotation = itertools.cycle(patients)
    by_patient = "/fhir/Observation?patient={}&_count=100"
    sync = f"/fhir/Observation?_lastUpdated=gt{since}&_count=500"
    sync_sorted = sync + "&_sort=_lastUpdated"

    def get(url: str) -> dict:
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        return response.get_json()

    first = get(by_patient.format(patients[0]))
    assert len(first["entry"]) == 100
    sync_page = get(sync)
    figures: dict[str, Any] = {
        "patients": data.patients,
        "responses": responses,
        "by_patient": common.summary(
            common.timed(lambda: get(by_patient.format(next(rotation))), PATIENT_RUNS, 10)
        ),
        "last_updated": common.summary(common.timed(lambda: get(sync), SYNC_RUNS, 2)),
        "last_updated_sorted": common.summary(common.timed(lambda: get(sync_sorted), SYNC_RUNS, 2)),
        "last_updated_total": sync_page["total"],
        "last_updated_page": len(sync_page.get("entry", [])),
        "plans": {
            "by_patient": explain(app, capture_sql(app, client, by_patient.format(patients[0]))),
            "last_updated": explain(app, capture_sql(app, client, sync)),
            "last_updated_sorted": explain(app, capture_sql(app, client, sync_sorted)),
        },
    }
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return figures


def main() -> None:
    args = common.arguments(
        __doc__.splitlines()[0],
        small_patients={"type": int, "default": 104, "help": "≈10k responses"},
        large_patients={"type": int, "default": 10000, "help": "≈1M responses"},
    )
    load_before = common.load()
    sizes = {}
    with common.backend_server(args.backend) as server:
        for size, patients in (("small", args.small_patients), ("large", args.large_patients)):
            with common.dataset(args.backend, server, patients, args.seed, f"fhir_{size}") as data:
                sizes[size] = measure(data)
        version = server.version() if server else None
    small, large = sizes["small"], sizes["large"]
    figures = {
        **sizes,
        "ratio_large_to_small_p50": {
            name: round(large[name]["p50_ms"] / small[name]["p50_ms"], 2)
            for name in ("by_patient", "last_updated", "last_updated_sorted")
        },
        "load_before": load_before,
        "load_after": common.load(),
        "postgresql": version,
    }
    common.write_results("fhir_search", args.backend, figures)


if __name__ == "__main__":
    main()
