"""A clinic's morning for 60 s: submissions, trend reads, FHIR searches and logins at once.

Starts a throwaway PostgreSQL 15 (or uses --database-url), migrates it, adds synthetic
patients, serves tracker with gunicorn (2 sync workers, production settings) and drives
it with wrk and bench/lua/mixed.lua. Prints one line of figures and writes
bench/results/load_mixed.json. Needs wrk (apt-get install wrk).

    .venv/bin/python bench/load_mixed.py            # PostgreSQL, 60 s
    .venv/bin/python bench/load_mixed.py --backend sqlite --seconds 30
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
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PASSWORD = "load-test-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_postgres():
    """PostgreSQL 15 in a temp dir, run as the postgres user when we are root."""
    pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    tmp = Path(tempfile.mkdtemp(prefix="pgload."))
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
    subprocess.run(
        [
            *as_pg,
            str(pg_bin / "initdb"),
            "-D",
            str(tmp / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *as_pg,
            str(pg_bin / "pg_ctl"),
            "-D",
            str(tmp / "data"),
            "-l",
            str(tmp / "log"),
            "-w",
            "-o",
            f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c max_connections=100",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run(
            [
                *as_pg,
                str(pg_bin / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "tracker",
            ],
            check=True,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/tracker"
    finally:
        subprocess.run(
            [*as_pg, str(pg_bin / "pg_ctl"), "-D", str(tmp / "data"), "-m", "fast", "-w", "stop"],
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(tmp, ignore_errors=True)


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


def run(database_url: str, backend: str, seconds: int, patients: int, connections: int) -> dict:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        TRACKER_ENV="production",
        SECRET_KEY="load-test-secret",
        LOGIN_RATE_LIMIT="100000/minute",
    )
    prepare(env, patients)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            try:
                requests.get(f"{base}/fhir/metadata", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.1)
        cookie, csrf = session_for(base)
        wrk_env = dict(
            os.environ,
            LOAD_COOKIE=cookie,
            LOAD_CSRF=csrf,
            LOAD_TOKEN=token_for(env, base),
            LOAD_PATIENTS=str(patients),
            LOAD_EMAIL="load.admin@example.test",
            LOAD_PASSWORD=PASSWORD,
        )
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
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(30)
    figures = dict(re.findall(r"(\w+)=([\d.]+)", out.split("RESULT", 1)[1]))
    server_errors = len(re.findall(r"Traceback", gunicorn.stderr.read() if gunicorn.stderr else ""))
    return {
        "backend": backend,
        "seconds": seconds,
        "connections": connections,
        "patients": patients,
        "mix": "25% submit, 35% trend, 35% FHIR search, 5% login",
        "requests": int(float(figures["requests"])),
        "requests_per_s": float(figures["rps"]),
        "p50_ms": float(figures["p50_ms"]),
        "p99_ms": float(figures["p99_ms"]),
        "errors": int(float(figures["socket_or_status_errors"])),
        "non_2xx": int(float(figures["non_2xx"])),
        "server_tracebacks": server_errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            result = run(
                f"sqlite:///{tmp}/load.db", "sqlite", args.seconds, args.patients, args.connections
            )
    else:
        with throwaway_postgres() as url:
            result = run(url, "postgresql", args.seconds, args.patients, args.connections)
    print(json.dumps(result))
    results = Path(os.environ.get("TRACKER_BENCH_RESULTS", ROOT / "bench/results"))
    results.mkdir(parents=True, exist_ok=True)
    (results / f"load_mixed_{args.backend}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
