"""Shared plumbing for the benchmark scripts (not a test module, not part of the app).

Each script measures one thing on SQLite or on a throwaway PostgreSQL 15 that
it starts itself (``initdb`` and ``pg_ctl``, run as the ``postgres`` user
through ``runuser`` when run as root) and stops when it is done. Synthetic databases are
built once with ``tracker.synth`` and cached under ``/tmp/tracker-bench``
(keyed by size, seed, end date and a hash of the migrations and the
generator), because building a million rows takes minutes; every run works
on a fresh copy. Results go to ``bench/results/<name>.json``, one entry per
backend, with the machine and the load it ran under: the machine has two
cores and other people run test suites on it, so ratios against baselines
measured in the same run are the robust figures.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import runpy
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as `python bench/x.py` from anywhere

import flask_migrate  # noqa: E402
import psycopg  # noqa: E402
from flask import Flask  # noqa: E402

from tracker import create_app  # noqa: E402
from tracker.extensions import db  # noqa: E402

CACHE = Path(os.environ.get("TRACKER_BENCH_CACHE", "/tmp/tracker-bench"))
# make bench-smoke points this elsewhere, so its small runs never replace the figures.
RESULTS = Path(os.environ.get("TRACKER_BENCH_RESULTS", ROOT / "bench" / "results"))
MIGRATIONS = str(ROOT / "migrations")
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OS_USER = "postgres"
BENCH_SECRET = "bench-only-secret-not-for-production"
ADMIN_EMAIL = "bench.admin@example.test"
ADMIN_PASSWORD = "bench-admin-password-2026"
SEED = 1


# --------------------------------------------------------------------------
# Arguments, timing, results
# --------------------------------------------------------------------------


def arguments(description: str, **extra: Any) -> argparse.Namespace:
    """--backend and --seed for every script; ``extra``: name -> add_argument kwargs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=SEED)
    for name, kwargs in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", **kwargs)
    return parser.parse_args()


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of the samples, in their unit."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def timed(call: Callable[[], object], runs: int, warmup: int = 3) -> list[float]:
    """Wall-clock milliseconds of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
    }


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """What the figures were taken on, so a table row can say so."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "git_head": commit or None,  # the working tree may hold uncommitted changes
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def gunicorn_threads(env: Mapping[str, str]) -> int:
    """Threads per worker that the checkout's gunicorn.conf.py gives a server started with
    ``env`` (its DATABASE_URL decides, GUNICORN_THREADS overrides)."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return int(env.get("GUNICORN_THREADS") or conf["default_threads"](env.get("DATABASE_URL", "")))


def write_results(name: str, backend: str, figures: dict[str, Any]) -> Path:
    """Merge this backend's figures into bench/results/<name>.json and print them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[backend] = {"machine": machine(), **figures}
    path.write_text(json.dumps(existing, indent=2, default=str) + "\n")
    print(json.dumps({backend: figures}, indent=2, default=str))
    print(f"written to {path}")
    return path


# --------------------------------------------------------------------------
# A throwaway PostgreSQL 15 (initdb + pg_ctl, as the postgres user when root)
# --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*command: str) -> subprocess.CompletedProcess:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    prefix = ["runuser", "-u", PG_OS_USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, cwd="/")


@dataclass
class Postgres:
    """A PostgreSQL server on a cached data directory, started and stopped by one script.

    Started with ``-F`` (no fsync: it is a throwaway), which
    flatters absolute write figures; ratios against the insert baseline,
    measured on the same server, are not affected. ``fsync=True`` for a load that
    should pay for durable commits as production does (bench/load_mixed.py).
    """

    root: Path
    port: int
    fsync: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, PG_OS_USER)
        if not (self.data / "PG_VERSION").exists():
            _as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
        with contextlib.suppress(subprocess.CalledProcessError):  # a server left running
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.fsync:
            options = f"-F {options}"
        _as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        )

    def exists(self, database: str) -> bool:
        with self.admin() as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            return found.fetchone() is not None

    def version(self) -> str:
        with self.admin() as conn:
            return conn.execute("SHOW server_version").fetchone()[0]


# --------------------------------------------------------------------------
# Synthetic databases
# --------------------------------------------------------------------------


def _schema_key() -> str:
    """Cached databases are rebuilt when the migrations or the generator change."""
    digest = hashlib.sha256()
    for path in sorted(Path(MIGRATIONS, "versions").glob("*.py")) + [ROOT / "tracker/synth.py"]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:10]


def bench_app(url: str, **overrides: Any) -> Flask:
    """The real app on ``url``, as production would configure it (cheap test hashing aside)."""
    return create_app(
        {
            "TRACKER_ENV": "production",
            "SECRET_KEY": BENCH_SECRET,
            "SQLALCHEMY_DATABASE_URI": url,
            "SESSION_COOKIE_SECURE": False,  # the test client and wrk speak plain HTTP
        }
        | overrides
    )


def _build(url: str, patients: int, seed: int, end: datetime) -> None:
    from tracker.auth.users import create_user
    from tracker.synth import generate

    app = bench_app(url)
    with app.app_context():
        flask_migrate.upgrade(directory=MIGRATIONS)
        started = time.perf_counter()
        stats = generate(patients, seed, end, progress=lambda s: print(f"  synth {s.patients:,}"))
        print(f"synth: {stats.responses:,} responses in {time.perf_counter() - started:.1f} s")
        create_user(ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@dataclass
class Dataset:
    """A working copy of a synthetic database: its URL and what it holds."""

    url: str
    patients: int
    end: datetime  # every synthetic instant lies before it


@contextlib.contextmanager
def backend_server(backend: str) -> Iterator[Postgres | None]:
    """PostgreSQL for the duration of the block (and stopped after), or nothing for SQLite."""
    if backend == "sqlite":
        yield None
        return
    server = Postgres(CACHE / "pg15", _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def dataset(
    backend: str, server: Postgres | None, patients: int, seed: int = SEED, label: str = "work"
) -> Iterator[Dataset]:
    """A fresh copy of the cached synthetic database with ``patients`` patients."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if os.environ.get("TRACKER_BENCH_END"):  # one dataset for a run that passes midnight
        end = datetime.fromisoformat(os.environ["TRACKER_BENCH_END"]).replace(tzinfo=UTC)
    key = f"synth_{patients}_{seed}_{end:%Y%m%d}_{_schema_key()}"
    if server is None:
        cached = CACHE / "sqlite" / f"{key}.db"
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            building = cached.with_suffix(".building")
            building.unlink(missing_ok=True)
            _build(f"sqlite:///{building}", patients, seed, end)
            conn = sqlite3.connect(building)
            conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to copy
            conn.close()
            building.rename(cached)
        work = CACHE / "work" / f"{label}.db"
        work.parent.mkdir(parents=True, exist_ok=True)
        for stale in work.parent.glob(f"{label}.db*"):
            stale.unlink()
        shutil.copyfile(cached, work)
        try:
            yield Dataset(f"sqlite:///{work}", patients, end)
        finally:
            for copy in work.parent.glob(f"{label}.db*"):
                copy.unlink()
        return
    if not server.exists(key):
        building = f"{key}_building"
        with server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{building}"')
            conn.execute(f'CREATE DATABASE "{building}"')
        _build(server.url(building), patients, seed, end)
        with server.admin() as conn:
            conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{key}"')
    with server.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{label}"')
        conn.execute(f'CREATE DATABASE "{label}" TEMPLATE "{key}"')
    try:
        yield Dataset(server.url(label), patients, end)
    finally:
        with server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{label}" WITH (FORCE)')


def login(app: Flask, email: str, password: str) -> Any:
    """A logged-in Flask test client and its CSRF token."""
    client = app.test_client()
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return client, client.get("/api/v1/auth/me").get_json()["csrf_token"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def days_before(moment: datetime, days: float) -> datetime:
    return moment - timedelta(days=days)
