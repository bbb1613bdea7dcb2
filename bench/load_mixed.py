"""A clinic's morning for 60 s: submissions, trend reads, FHIR searches and logins at once.

Starts a throwaway PostgreSQL 15, migrates it, adds synthetic patients, serves tracker
with gunicorn as production does (2 workers, the repository's gunicorn.conf.py: 4 threads
each; --server-args "--threads 1" for sync workers) and drives it with wrk and
bench/lua/mixed.lua. Prints one line of figures and writes
bench/results/load_mixed_<backend>.json. Needs wrk (apt-get install wrk).

    .venv/bin/python bench/load_mixed.py            # PostgreSQL, 60 s
    .venv/bin/python bench/load_mixed.py --backend sqlite --seconds 30

Latency per category. wrk's single histogram mixes the 5 % of argon2 logins and the
submissions with the reads, so the reads' target (p99 ≤ 150 ms) cannot be read off it.
The figures per category (submit, trend, fhir, login, and "reads" = trend + FHIR search)
are measured by the same wrk, in the same run, client side: each request carries an
X-Request-ID naming its category, which tracker echoes; mixed.lua notes a monotonic clock
just before wrk writes the request and again when wrk has read the answer, and writes every
answer's X-Request-ID and milliseconds to a file this script reads (see mixed.lua). So a read's
latency includes the time it waited in the listen queue behind a login or a submission, as
a client sees it, with the load and the connections unchanged; a separate probe process
would have added its own connections and CPU, and a Python driver would have taken far
more of this 2-core machine's CPU than wrk does.

Where the time goes. gunicorn writes an access log with each answer's X-Request-ID and
its time inside the worker (%(D)s, µs, parse to write). "server" figures are those; the
"queued" figures are client minus server per request: the wait for a free worker or
thread, reading the request's headers, and the network (loopback here). With threads, a
request that shares the CPU with others waits inside the worker instead: that wait is in
"server". The host's load average is recorded before and after: the machine is shared
(and runnable threads, argon2's and gunicorn's, count in it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Postgres, gunicorn_threads, percentile  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PASSWORD = "load-test-password-1"
CATEGORIES = ("submit", "trend", "fhir", "login")
READS = ("trend", "fhir")
# gunicorn access log: the echoed X-Request-ID, the status, µs inside the worker.
ACCESS_FORMAT = "%({x-request-id}o)s %(s)s %(D)s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Instance:
    """A running gunicorn serving tracker: its address, pid and stderr file."""

    base: str
    pid: int
    stderr: Path

    def tracebacks(self) -> int:
        return len(re.findall(r"Traceback", self.stderr.read_text()))


@contextmanager
def gunicorn(env: dict, workers: int = 2, extra: list[str] | None = None) -> Iterator[Instance]:
    """gunicorn with ``workers`` workers and the repository's gunicorn.conf.py (threads per
    worker), ready to answer; stopped after. Its stderr goes to a file: a pipe nobody reads
    would stall the server once it filled."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stderr = Path(tempfile.mkstemp(prefix="gunicorn.", suffix=".err")[1])
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
            + [*(extra or []), "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"gunicorn did not become ready (see {stderr})")
        yield Instance(base, process.pid, stderr)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """PostgreSQL 15 in a temp dir, with fsync as in production; the URL of its "tracker"."""
    server = Postgres(Path(tempfile.mkdtemp(prefix="pgload.")), free_port(), fsync=True)
    server.start()
    try:
        with server.admin() as admin:
            admin.execute("CREATE DATABASE tracker")
        yield server.url("tracker")
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def flask(env: dict, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def prepare(env: dict, patients: int) -> None:
    flask(env, "db", "upgrade")
    flask(env, "tracker", "synth", "--patients", str(patients), "--seed", "7")
    flask(
        env,
        "tracker",
        "create-user",
        "--email",
        "load.admin@example.test",
        "--role",
        "admin",
        "--password",
        PASSWORD,
    )


def session_for(base: str) -> tuple[str, str]:
    """A logged-in admin's session cookie (sent by hand: it is Secure) and CSRF token."""
    login = requests.post(
        f"{base}/api/v1/auth/login", json={"email": "load.admin@example.test", "password": PASSWORD}
    )
    login.raise_for_status()
    cookie = re.search(r"session=([^;]+)", login.headers["Set-Cookie"]).group(1)
    me = requests.get(f"{base}/api/v1/auth/me", headers={"Cookie": f"session={cookie}"})
    return f"session={cookie}", me.json()["csrf_token"]


def token_for(env: dict, base: str) -> str:
    client = json.loads(
        flask(env, "tracker", "create-client", "--name", "Load EHR", "--scopes", "system/*.rs")
    )
    response = requests.post(
        f"{base}/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs"},
        auth=(client["client_id"], client["client_secret"]),
    )
    response.raise_for_status()
    return response.json()["access_token"]


def spread(samples: list[float]) -> dict:
    """Count, p50 and p99 (nearest rank) of milliseconds."""
    if not samples:
        return {"count": 0, "p50_ms": None, "p99_ms": None}
    return {
        "count": len(samples),
        "p50_ms": round(percentile(samples, 50), 1),
        "p99_ms": round(percentile(samples, 99), 1),
    }


def by_category(samples: dict[str, list[float]]) -> dict:
    """p50/p99 per category and for the reads (trend + FHIR search) together."""
    figures = {name: spread(samples.get(name, [])) for name in CATEGORIES}
    figures["reads"] = spread([ms for name in READS for ms in samples.get(name, [])])
    return figures


def latency_figures(samples_path: Path, access_log: Path) -> dict:
    """Client-side and in-worker p50/p99 per category, and the reads' wait for a worker.

    mixed.lua writes "<X-Request-ID> <ms>" per answer; the access log "<X-Request-ID>
    <status> <µs>". The ID starts with the category."""
    client: dict[str, float] = {}
    unmatched = 0
    for line in samples_path.read_text().splitlines():
        request_id, value = line.split()
        if request_id == "unmatched":
            unmatched = int(value)
        else:
            client[request_id] = float(value)
    server: dict[str, float] = {}
    for line in access_log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in client:
            server[parts[0]] = int(parts[2]) / 1000

    def grouped(values: dict[str, float]) -> dict[str, list[float]]:
        groups: dict[str, list[float]] = {}
        for request_id, ms in values.items():
            groups.setdefault(request_id.split("-", 1)[0], []).append(ms)
        return groups

    queued = {rid: max(client[rid] - ms, 0.0) for rid, ms in server.items()}
    return {
        "client": by_category(grouped(client)),
        "server": by_category(grouped(server)),
        "queued": by_category(grouped(queued)),
        "unmatched_answers": unmatched,
    }


def run(
    database_url: str,
    backend: str,
    seconds: int,
    patients: int,
    connections: int,
    server_args: list[str] | None = None,
) -> dict:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        TRACKER_ENV="production",
        SECRET_KEY="load-test-secret",
        LOGIN_RATE_LIMIT="100000/minute",
    )
    prepare(env, patients)
    scratch = Path(tempfile.mkdtemp(prefix="loadmixed."))
    access_log, samples = scratch / "access.log", scratch / "samples.txt"
    server_args = server_args or []
    logging = ["--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT]
    with gunicorn(env, 2, logging + server_args) as instance:
        base = instance.base
        cookie, csrf = session_for(base)
        wrk_env = dict(
            os.environ,
            LOAD_COOKIE=cookie,
            LOAD_CSRF=csrf,
            LOAD_TOKEN=token_for(env, base),
            LOAD_PATIENTS=str(patients),
            LOAD_EMAIL="load.admin@example.test",
            LOAD_PASSWORD=PASSWORD,
            LOAD_SAMPLES=str(samples),
        )
        load_before = [round(x, 2) for x in os.getloadavg()]
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(ROOT / "bench/lua/mixed.lua"),
                base,
            ],
            env=wrk_env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        load_after = [round(x, 2) for x in os.getloadavg()]
    figures = dict(re.findall(r"(\w+)=([\d.]+)", out.split("RESULT", 1)[1]))
    server_errors = instance.tracebacks()
    instance.stderr.unlink()
    latency = latency_figures(samples, access_log)
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "backend": backend,
        "seconds": seconds,
        "connections": connections,
        "patients": patients,
        "gunicorn": ["-w", "2", *server_args],
        "gunicorn_conf_threads": gunicorn_threads(env),
        "mix": "25% submit, 35% trend, 35% FHIR search, 5% login",
        "requests": int(float(figures["requests"])),
        "requests_per_s": float(figures["rps"]),
        # wrk's own histogram over every request, logins and submissions included.
        "p50_ms": float(figures["p50_ms"]),
        "p99_ms": float(figures["p99_ms"]),
        "reads_p50_ms": latency["client"]["reads"]["p50_ms"],
        "reads_p99_ms": latency["client"]["reads"]["p99_ms"],
        "errors": int(float(figures["socket_or_status_errors"])),
        "non_2xx": int(float(figures["non_2xx"])),
        "server_tracebacks": server_errors,
        # Client side (queueing included), in the worker, and client minus worker.
        "latency": latency,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--server-args",
        default="",
        help='extra gunicorn options to compare, e.g. "--threads 4" (recorded in the JSON)',
    )
    args = parser.parse_args()
    extra = args.server_args.split()
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            result = run(
                f"sqlite:///{tmp}/load.db",
                "sqlite",
                args.seconds,
                args.patients,
                args.connections,
                extra,
            )
    else:
        with throwaway_postgres() as url:
            result = run(url, "postgresql", args.seconds, args.patients, args.connections, extra)
    print(json.dumps(result))
    results = Path(os.environ.get("TRACKER_BENCH_RESULTS", ROOT / "bench/results"))
    results.mkdir(parents=True, exist_ok=True)
    (results / f"load_mixed_{args.backend}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
