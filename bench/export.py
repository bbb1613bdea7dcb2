"""Bulk Data export of every Observation: throughput and peak memory, against a raw read.

``tracker.fhir.export.run_export`` is called directly on a queued job row
(types ``Observation``), the way a queue worker would run it; going through
HTTP would add only the kick-off request and polling, and would put the
export in a gunicorn worker's thread where its memory cannot be told apart.
The baseline reads the same rows (``status != 'amended'``, by id) through a
raw DBAPI cursor (server-side on PostgreSQL: a named psycopg cursor; SQLite
cursors step through the table anyway) and writes each row as one compact line
of ``json.dumps`` to NDJSON: the baseline issue 14's target was set against.
The export encodes with orjson since then, so the same raw read is also timed
with ``orjson.dumps`` (``raw_orjson``): the floor of reading and writing the rows
with the export's own encoder, reported as a second ratio.
Each side runs in a fresh child process, so its peak RSS (``ru_maxrss``) is
its own; the figures are Observations/s, peak RSS, and the export/raw ratios.

    .venv/bin/python bench/export.py --backend sqlite
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import common


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child_export(url: str, directory: str) -> dict[str, Any]:
    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.fhir.export import run_export
    from tracker.models import ExportJob, User
    from tracker.models.types import utcnow

    app = common.bench_app(url, EXPORT_DIR=directory)
    with app.app_context():
        admin = db.session.scalar(select(User.id).where(User.email == common.ADMIN_EMAIL))
        job = ExportJob(
            id=str(uuid.uuid4()),
            user_id=admin,
            request_url="bench://export",
            types=["Observation"],
            transaction_time=utcnow(),
        )
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        db.session.remove()
    rss_before = _rss_mb()
    started = time.perf_counter()
    run_export(app, job_id)
    seconds = time.perf_counter() - started
    with app.app_context():
        job = db.session.get(ExportJob, job_id)
        assert job.state == "completed", (job.state, job.error)
        count = job.output[0]["count"]
        size = (Path(directory) / job_id / job.output[0]["file"]).stat().st_size
    return {
        "observations": count,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds),
        "file_mb": round(size / 2**20, 1),
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


def child_raw(url: str, directory: str, encoder: str = "json") -> dict[str, Any]:
    """The same rows through a raw cursor, each serialised with json.dumps (or orjson)."""
    import orjson

    from tracker.models.types import utcnow

    def line(row: dict) -> bytes:
        if encoder == "orjson":
            return orjson.dumps(row, default=str)
        return json.dumps(row, separators=(",", ":"), default=str).encode()

    now = utcnow()
    rss_before = _rss_mb()
    started = time.perf_counter()
    sql = "SELECT * FROM response WHERE status != 'amended' AND updated_at <= {} ORDER BY id"
    if url.startswith("sqlite"):
        import sqlite3

        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        cursor = connection.cursor()
        cursor.arraysize = 1000
        cursor.execute(sql.format("?"), (now.replace(tzinfo=None).isoformat(" "),))
    else:
        import psycopg

        connection = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
        cursor = connection.cursor(name="bench_export")  # server-side
        cursor.itersize = 1000
        cursor.execute(sql.format("%s"), (now,))
    columns = [d[0] for d in cursor.description]
    count = 0
    path = Path(directory) / "raw.ndjson"
    with path.open("wb") as handle:
        for row in cursor:
            handle.write(line(dict(zip(columns, row, strict=True))))
            handle.write(b"\n")
            count += 1
    connection.close()
    seconds = time.perf_counter() - started
    return {
        "rows": count,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


def run_child(kind: str, url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tracker-export-") as directory:
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--url", url, "--dir", directory],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    args = common.arguments(
        __doc__.splitlines()[0],
        patients={"type": int, "default": 10000},
        child={"choices": ("export", "raw", "raw_orjson"), "default": None},
        url={"default": None},
        dir={"default": None},
    )
    if args.child:
        if args.child == "export":
            print(json.dumps(child_export(args.url, args.dir)))
        else:
            encoder = "orjson" if args.child == "raw_orjson" else "json"
            print(json.dumps(child_raw(args.url, args.dir, encoder)))
        return
    load_before = common.load()
    with (
        common.backend_server(args.backend) as server,
        common.dataset(args.backend, server, args.patients, args.seed, "export") as data,
    ):
        raw = run_child("raw", data.url)
        export = run_child("export", data.url)
        raw_again = run_child("raw", data.url)  # after: both sides see a warm cache once
        raw_orjson = run_child("raw_orjson", data.url)
        version = server.version() if server else None
    raw_best = min(raw, raw_again, key=lambda r: r["seconds"])
    assert export["observations"] == raw_best["rows"], (export, raw_best)
    figures = {
        "patients": data.patients,
        "export": export,
        "raw_cursor": raw_best,
        "raw_cursor_runs": [raw, raw_again],
        "raw_cursor_orjson": raw_orjson,
        "ratio_export_rate_to_raw": round(export["per_second"] / raw_best["per_second"], 3),
        "ratio_export_rate_to_raw_orjson": round(
            export["per_second"] / raw_orjson["per_second"], 3
        ),
        "ratio_export_peak_rss_to_raw": round(export["peak_rss_mb"] / raw_best["peak_rss_mb"], 2),
        "load_before": load_before,
        "load_after": common.load(),
        "postgresql": version,
    }
    common.write_results("export", args.backend, figures)


if __name__ == "__main__":
    main()
