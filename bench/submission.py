"""Submission throughput under gunicorn, as a ratio to two baselines in the same run.

``POST /api/v1/patients/{id}/responses`` (logged-in clinician: session cookie
and X-CSRF-Token in the wrk Lua script) is driven by wrk on 127.0.0.1 against
gunicorn with 2 workers and the checkout's ``gunicorn.conf.py`` (production's:
4 threads each on PostgreSQL, 1 on SQLite) serving ``bench/app.py``: the real app plus
``POST /bench/trivial`` (HTTP floor) and ``POST /bench/insert`` (one
response-sized row in one transaction: the write floor). All three get the
same JSON body; the baselines get no cookie (they check no login). Each
endpoint runs ``--rounds`` times, interleaved, and the median run counts, so
load from other processes hits all three alike. The database is a copy of the
synthetic clinic (default 10,000 patients, ≈1M responses), so the indexes are
realistically large.

    .venv/bin/python bench/submission.py --backend sqlite
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import common
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.models import CareTeamMember, Response, User
from tracker.models.types import utcnow
from tracker.synth import SYNTH_PASSWORD, clinician_emails

ANSWERS = [2, 1, 3, 0, 1, 2, 1, 0, 0]  # total 10, item 9 at 0: the common path, no alert
LUA = """
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def request(port: int, method: str, path: str, body: Any = None, headers: dict | None = None):  # type: ignore[no-untyped-def]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    payload = None if body is None else json.dumps(body)
    connection.request(
        method, path, payload, {"Content-Type": "application/json", **(headers or {})}
    )
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, json.loads(data) if data else None


def start_gunicorn(url: str, port: int, patient_id: int, user_id: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TRACKER_ENV": "production",
        "SECRET_KEY": common.BENCH_SECRET,
        "BENCH_PATIENT_ID": str(patient_id),
        "BENCH_USER_ID": str(user_id),
    }
    server = subprocess.Popen(
        [
            str(common.ROOT / ".venv/bin/gunicorn"),
            "-c",
            str(common.ROOT / "gunicorn.conf.py"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--chdir",
            str(common.ROOT),
            "--pythonpath",
            str(common.ROOT / "bench"),
            "--log-level",
            "warning",
            "app:app",
        ],
        env=env,
        start_new_session=True,  # its own process group: stopped as one below
    )
    for _ in range(200):
        try:
            response, _ = request(port, "POST", "/bench/trivial", {})
            if response.status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)  # the process group started above, nothing else
    server.wait(timeout=30)


def session_for(port: int, email: str) -> tuple[str, str]:
    """Log in over HTTP; return the session cookie and the CSRF token."""
    response, _ = request(
        port, "POST", "/api/v1/auth/login", {"email": email, "password": SYNTH_PASSWORD}
    )
    assert response.status == 200, response.status
    cookie = response.getheader("Set-Cookie").split(";")[0]
    me, body = request(port, "GET", "/api/v1/auth/me", headers={"Cookie": cookie})
    assert me.status == 200
    return cookie, body["csrf_token"]


def wrk(script: Path, url: str, seconds: int, connections: int) -> dict[str, Any]:
    before = common.load()
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    figures["rps"] = round(figures["requests"] / (figures["duration_us"] / 1e6), 1)
    figures["load_before"] = before
    return figures


def main() -> None:
    args = common.arguments(
        __doc__.splitlines()[0],
        patients={"type": int, "default": 10000},
        seconds={"type": int, "default": 10},
        rounds={"type": int, "default": 3},
        connections={"type": int, "default": 4},
    )
    with (
        common.backend_server(args.backend) as server,
        common.dataset(args.backend, server, args.patients, args.seed, "submission") as data,
    ):
        app = common.bench_app(data.url)
        email = clinician_emails()[0]
        with app.app_context():
            user_id = db.session.scalar(select(User.id).where(User.email == email))
            patient_id = db.session.scalar(
                select(func.min(CareTeamMember.patient_id)).where(CareTeamMember.user_id == user_id)
            )
            rows_before = db.session.scalar(select(func.count()).select_from(Response))
            db.session.remove()
            db.engine.dispose()
        port = common._free_port()
        threads = common.gunicorn_threads({**os.environ, "DATABASE_URL": data.url})
        gunicorn = start_gunicorn(data.url, port, patient_id, user_id)
        try:
            cookie, csrf = session_for(port, email)
            completed = (utcnow() - timedelta(hours=1)).isoformat()
            body = json.dumps({"instrument": "phq9", "answers": ANSWERS, "completed_at": completed})
            endpoints = {
                "trivial": ("/bench/trivial", ""),
                "insert": ("/bench/insert", ""),
                "submission": (
                    f"/api/v1/patients/{patient_id}/responses",
                    f'wrk.headers["Cookie"] = "{cookie}"\nwrk.headers["X-CSRF-Token"] = "{csrf}"',
                ),
            }
            scripts = Path(tempfile.mkdtemp(prefix="tracker-wrk-"))
            runs: dict[str, list[dict]] = {name: [] for name in endpoints}
            for _round in range(args.rounds):
                for name, (path, headers) in endpoints.items():
                    script = scripts / f"{name}.lua"
                    script.write_text(LUA.format(body=body, headers=headers))
                    result = wrk(
                        script, f"http://127.0.0.1:{port}{path}", args.seconds, args.connections
                    )
                    print(name, json.dumps(result))
                    runs[name].append(result)
        finally:
            stop(gunicorn)
        with app.app_context():
            rows_after = db.session.scalar(select(func.count()).select_from(Response))
            db.session.remove()
            db.engine.dispose()
        version = server.version() if server else None

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    chosen = {
        name: {
            "rps": median(name, "rps"),
            "p50_ms": median(name, "p50_us") / 1000,
            "p99_ms": median(name, "p99_us") / 1000,
            "errors": sum(
                r[k]
                for r in runs[name]
                for k in ("connect_errors", "read_errors", "write_errors", "status_errors")
            ),
        }
        for name in endpoints
    }
    written = sum(r["requests"] for name in ("insert", "submission") for r in runs[name])
    figures = {
        "patients": data.patients,
        "responses_before": rows_before,
        "rows_written": rows_after - rows_before,
        "requests_that_write": written,
        "wrk": f"-t1 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds, median run",
        "gunicorn": f"2 workers, {threads} thread(s) each (gunicorn.conf.py)",
        **chosen,
        "ratio_submission_rps_to_trivial": round(
            chosen["submission"]["rps"] / chosen["trivial"]["rps"], 3
        ),
        "ratio_submission_rps_to_insert": round(
            chosen["submission"]["rps"] / chosen["insert"]["rps"], 3
        ),
        "ratio_submission_p50_to_trivial": round(
            chosen["submission"]["p50_ms"] / chosen["trivial"]["p50_ms"], 2
        ),
        "ratio_submission_p50_to_insert": round(
            chosen["submission"]["p50_ms"] / chosen["insert"]["p50_ms"], 2
        ),
        "ratio_submission_p99_to_insert": round(
            chosen["submission"]["p99_ms"] / chosen["insert"]["p99_ms"], 2
        ),
        "runs": runs,
        "postgresql": version,
    }
    common.write_results("submission", args.backend, figures)


if __name__ == "__main__":
    main()
