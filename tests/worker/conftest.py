"""Real parts for the worker's tests, reusable elsewhere (e.g. a browser test opening a link
from a captured email):

- ``smtp_server``: an aiosmtpd server on 127.0.0.1 that keeps every accepted message and can
  be told how to answer the next attempts (``"451"``, ``"550"``, ``"hang"``).
- ``start_worker``: starts ``flask --app wsgi tracker worker`` as a real process on a database.
- ``webhook_receiver``: a small HTTP server that keeps every POST and answers as told.
- ``planned_series``: a treatment series on a one-entry plan whose window is open now.
"""

from __future__ import annotations

import asyncio
import email
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from tracker.config import DEFAULT_CRISIS_TEXT
from tracker.extensions import db
from tracker.models import MeasurementPlan, TreatmentSeries
from tracker.models.types import utcnow

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"https?://[^\s/]+/q/([A-Za-z0-9_\-]+)")


# What a message leaving the system must never carry: a name, a score, a diagnosis or a
# questionnaire's name.
PRIVATE_WORDS = ("Synthetic", "Patient One", "PHQ", "phq9", "GAD", "PCL", "score")
PRIVATE_WORDS += ("depress", "anxi", "suicid")


def assert_private(body: str, subject: str) -> None:
    """No private word in the message (the crisis text aside).

    The link's token is random base64, so it is taken out first: a token may spell "phq".
    """
    text = LINK.sub("<link>", body.replace(DEFAULT_CRISIS_TEXT, "")) + subject
    for word in PRIVATE_WORDS:
        assert word.lower() not in text.lower(), word


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float = 20, step: float = 0.1) -> object:
    """Poll until ``condition()`` is truthy; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Captured:
    """One accepted message: envelope recipients and the parsed email."""

    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        return self.message.get_payload(decode=True).decode()

    @property
    def link_token(self) -> str | None:
        found = LINK.search(self.body)
        return found.group(1) if found else None


@dataclass
class SmtpServer:
    """A real SMTP server; ``replies`` scripts the answers to the next DATA commands."""

    host: str
    port: int
    messages: list[Captured] = field(default_factory=list)
    attempts: int = 0
    replies: deque[str] = field(default_factory=deque)
    hanging: int = 0  # attempts currently held by a "hang" reply
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def to(self, address: str) -> list[Captured]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def wait_for(self, count: int, timeout: float = 20) -> list[Captured]:
        wait_until(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.attempts += 1
        reply = self.replies.popleft() if self.replies else "250"
        if reply == "hang":  # hold the client until released (or until it dies)
            self.hanging += 1
            while not self.released.is_set():
                await asyncio.sleep(0.05)
            self.hanging -= 1
            return "451 4.3.0 released without delivery"
        if reply.startswith("250"):
            message = email.message_from_bytes(envelope.original_content or envelope.content)
            self.messages.append(Captured(list(envelope.rcpt_tos), message))
            return "250 2.0.0 OK"
        return {"451": "451 4.3.0 try again later", "550": "550 5.1.1 no such user"}.get(
            reply, reply
        )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer("127.0.0.1", free_port())
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    yield server
    server.released.set()
    controller.stop()


# --- webhook ------------------------------------------------------------------------------


@dataclass
class WebhookReceiver:
    port: int
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.statuses.popleft() if receiver.statuses else 200
            if status == 200:
                receiver.posts.append((dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


# --- the worker process -----------------------------------------------------------------------


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a machine dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


WORKER_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")


@pytest.fixture
def start_worker(app: Flask, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker(database_url, smtp_url, **env)``: a real worker process.

    Depends on ``app`` so its processes are gone before the database is cleaned.
    Defaults for tests: a tick every second, a short lease and retry delay.
    """
    started: list[WorkerProcess] = []

    def start(database_url: str, smtp_url: str, **settings: str) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if k in WORKER_ENV_KEEP}
        env.update(
            DATABASE_URL=database_url,
            SMTP_URL=smtp_url,
            TRACKER_ENV="test",
            SECRET_KEY="test-secret",
            PUBLIC_BASE_URL="http://tracker.test",
            REMINDER_INTERVAL_SECONDS="1",
            NOTIFY_LEASE_SECONDS="5",
            NOTIFY_RETRY_SECONDS="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(settings)
        log_path = tmp_path / f"worker-{len(started) + 1}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "tracker", "worker"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()


# --- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    series_id: int
    occurrence: str  # "s17.e1.r0"
    opens_at: datetime
    closes_at: datetime


def add_planned_series(
    patient_id: int,
    *,
    window_days: int = 7,
    opened: timedelta = timedelta(hours=1),
    instruments: tuple[str, ...] = ("phq9",),
    now: datetime | None = None,
) -> Planned:
    """A series started ``opened`` ago on a plan asking ``instruments`` at its start, within
    ``window_days`` days: one occurrence, open now. Call inside an app context."""
    started = (now or utcnow()) - opened
    plan = MeasurementPlan(
        name="Start of treatment",
        instruments=list(instruments),
        entries=[
            {
                "label": "Baseline",
                "anchor": "series_start",
                "offset_days": 0,
                "window_days": window_days,
                "instruments": list(instruments),
            }
        ],
    )
    db.session.add(plan)
    db.session.flush()
    series = TreatmentSeries(
        patient_id=patient_id, label="Induction", kind="induction", started_at=started
    )
    series.plan_id = plan.id
    db.session.add(series)
    db.session.commit()
    return Planned(series.id, f"s{series.id}.e1.r0", started, started + timedelta(days=window_days))


@pytest.fixture
def planned_series(app: Flask) -> Callable[..., Planned]:
    def make(patient_id: int, **kwargs: object) -> Planned:
        with app.app_context():
            return add_planned_series(patient_id, **kwargs)  # type: ignore[arg-type]

    return make
