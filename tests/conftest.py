"""Fixtures: every database test runs on SQLite and on a throwaway PostgreSQL.

The schema is built by running the Alembic migrations, never by create_all().
PostgreSQL is started by the tests themselves (pytest-postgresql, through a
pg_ctl shim that drops root). Without PostgreSQL binaries the PostgreSQL half
is skipped, unless TRACKER_REQUIRE_POSTGRES=1, which makes it a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from pytest_postgresql import factories
from sqlalchemy import text

from tests.helpers import World, build_world
from tracker import create_app
from tracker.extensions import db

PG_CTL = str(Path(__file__).with_name("pg_ctl_as_postgres.sh"))
MIGRATIONS = str(Path(__file__).parent.parent / "migrations")
REQUIRE_POSTGRES = os.environ.get("TRACKER_REQUIRE_POSTGRES") == "1"

postgresql_proc = factories.postgresql_proc(executable=PG_CTL, unixsocketdir="/tmp")


def postgres_binaries_present() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl") or shutil.which("pg_ctl"))


def make_app(url: str, **overrides: object) -> Flask:
    """An app for in-process tests: exports run inside the kick-off request (TASKS_IMMEDIATE);
    tests with a real worker process set it to False."""
    return create_app(
        {
            "TRACKER_ENV": "test",
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": url,
            "TASKS_IMMEDIATE": True,
        }
        | overrides
    )


def migrate_to_head(url: str) -> None:
    app = make_app(url)
    with app.app_context():
        flask_migrate.upgrade(directory=MIGRATIONS)
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    """A migrated PostgreSQL database on a server this test session started."""
    if not postgres_binaries_present():
        message = "PostgreSQL binaries (pg_ctl) not found: PostgreSQL tests cannot run"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " and TRACKER_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(message + " (install PostgreSQL 15 to run them)")
    proc = request.getfixturevalue("postgresql_proc")
    admin = f"host={proc.host} port={proc.port} user={proc.user} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS tracker_test")
        conn.execute("CREATE DATABASE tracker_test")
    url = f"postgresql+psycopg://{proc.user}@{proc.host}:{proc.port}/tracker_test"
    migrate_to_head(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        path = tmp_path / "tracker.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def app(database_url: str, backend: str) -> Iterator[Flask]:
    app = make_app(database_url)
    yield app
    with app.app_context():
        db.session.remove()
        if backend == "postgresql":
            tables = ", ".join(
                f'"{t.name}"' for t in db.metadata.sorted_tables if t.name != "alembic_version"
            )
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """An EHR's signing keys (SMART Backend Services), made once per test run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def world(app: Flask) -> World:
    """A small clinic: an admin, two clinicians, two patients, a patient login."""
    return build_world(app)
