"""Tokens never appear in logs: the access logs of both servers and the app's own log.

Real servers, not a formatted string: werkzeug's (``flask run``) in a thread with its
log captured, and gunicorn as a process writing its access log to a file.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from tests.links.helpers import GAD7, PHQ9_NO_ITEM_9, form, open_link
from tracker.logs import redact

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Logging does not depend on the database; the API and page tests cover PostgreSQL."""
    return request.param


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def visit(base: str, token: str) -> list[int]:
    """What a patient's phone does with a link: the page, both answers, the JSON, a 404."""
    session = requests.Session()
    statuses = [
        session.get(f"{base}/q/{token}", timeout=30).status_code,
        session.get(f"{base}/api/v1/links/{token}", timeout=30).status_code,
        session.post(
            f"{base}/q/{token}",
            data=form(PHQ9_NO_ITEM_9, form_key="web-" + "k" * 32),
            allow_redirects=False,
            timeout=30,
        ).status_code,
        session.post(
            f"{base}/api/v1/links/{token}/responses",
            json={"instrument": "gad7", "answers": GAD7},
            timeout=30,
        ).status_code,
        session.get(f"{base}/q/{token}", timeout=30).status_code,
        session.get(f"{base}/api/v1/links/{token}", timeout=30).status_code,
    ]
    assert statuses == [200, 200, 303, 201, 404, 404]
    return statuses


@pytest.fixture
def served(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def loggers_on(app) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Alembic's fileConfig (the migrations the fixtures run) disables loggers made before it."""
    loggers = [logging.getLogger("werkzeug"), app.logger]
    was = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = False
    yield
    for logger, disabled in zip(loggers, was, strict=True):
        logger.disabled = disabled


def test_the_development_server_and_the_app_log_no_token(world, served, caplog, loggers_on):
    link = open_link(world.app, world)
    caplog.set_level(logging.INFO)
    visit(served, link.token)
    # An error logged with the path (as Flask logs an exception) is cleaned too.
    world.app.logger.error("Exception on /q/%s [GET]", link.token)
    lines = [record.getMessage() for record in caplog.records]
    logged = ANSI.sub("", "\n".join(lines))  # werkzeug colours some request lines
    assert link.token not in logged
    assert link.token not in caplog.text
    assert '"GET /q/… HTTP/1.1" 200' in logged
    assert '"POST /api/v1/links/…/responses HTTP/1.1" 201' in logged
    assert "Exception on /q/… [GET]" in logged


def test_gunicorns_access_log_holds_no_token(world, database_url, tmp_path):
    link = open_link(world.app, world)
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, TRACKER_ENV="test", SECRET_KEY="test-secret")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(access),
            "--error-logfile",
            str(errors),
            "--log-level",
            "debug",  # the error log then names every request too
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the worker imports the app first
            try:
                requests.get(f"{base}/fhir/metadata", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        visit(base, link.token)
    finally:
        server.terminate()
        server.wait(30)
    written = access.read_text() + errors.read_text()
    assert link.token not in written
    assert access.read_text().count("/q/…") == 3
    assert access.read_text().count("/api/v1/links/…") == 3


def test_redact_leaves_other_paths_alone():
    assert redact("GET /q/abc_DEF-123 HTTP/1.1") == "GET /q/… HTTP/1.1"
    assert redact("/api/v1/links/abc/responses?x=1") == "/api/v1/links/…/responses?x=1"
    assert redact("GET /api/v1/patients/1/responses") == "GET /api/v1/patients/1/responses"
    assert redact("GET /quick/q/ HTTP/1.1") == "GET /quick/q/ HTTP/1.1"
