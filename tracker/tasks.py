"""The background worker: a Huey consumer delivering the outbox, and a ticker.

One Huey instance, ``huey``, whose storage is chosen when the worker starts
(:func:`configure`): Redis when REDIS_URL is set; the queue_* tables when
DATABASE_URL is PostgreSQL (tracker.queue); else a SQLite file next to the
database, ``instance/queue.db`` by default. Until then it runs tasks immediately in memory, which is
what unit tests use. The task code is the same everywhere.

How tasks get the Flask app: the worker process builds the app once and hands
it to :func:`configure`; every task runs inside ``app.app_context()`` (its own
database session), or inside the caller's context when there is one (tests).

The tick (:func:`tick`) adds reminders and escalations, then claims every
message waiting now and enqueues one :func:`deliver` task per claim. Delivery
is a task of its own, not done inline in the tick, so a slow or hanging mail
server holds up only the consumer thread sending to it: reminders keep being
written and other messages keep going. Claiming in the tick (not in the task)
means each claim is enqueued exactly once, however often the ticker runs; the
task carries the claim's lease (never a link token: links are minted inside
:func:`deliver`) and does nothing if the claim has since expired and passed to
another worker.

The ticker (:class:`Ticker`) is a thread of the worker process that calls the
tick locally every REMINDER_INTERVAL_SECONDS. It does not enqueue the tick:
ticks then never pile up in the queue behind a slow one, and several worker
processes ticking at once is safe (rows are deduplicated, claims are atomic).

Bulk Data exports run here too (:func:`export`, tracker.services.exports): a web
instance enqueues one task per kick-off (:func:`enqueue_export`, onto the
queue the app's settings name, made on first use); the tick re-enqueues jobs
whose worker died and removes expired files. With TASKS_IMMEDIATE (the test
suite's apps; a single process without a worker) the kick-off runs the export
at once, inside the request, as a worker would (its own context and session).
Without it and without a worker, a job waits, "waiting for a worker", until one
starts.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path

from flask import Flask, current_app, has_app_context
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer
from redis import ConnectionPool
from sqlalchemy.engine import make_url

from tracker.config import ConfigError
from tracker.services import exports, notifications

log = logging.getLogger("tracker.worker")

CONSUMER_THREADS = 4

# Immediate (in-memory, run at once) until the worker configures real storage.
huey: Huey = MemoryHuey("tracker", results=False, immediate=True)
_app: Flask | None = None
_producer_lock = threading.Lock()


def storage_for(app: Flask) -> Huey:
    """A Huey of the right kind for this app's settings (not yet the module's ``huey``)."""
    config = app.config
    if config.get("REDIS_URL"):
        # An unreachable Redis fails an enqueue within seconds (a web request may be waiting),
        # never hangs; reads wait longer than the consumer's 1 s blocking pop.
        pool = ConnectionPool.from_url(
            config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5
        )
        return RedisHuey("tracker", results=False, connection_pool=pool)
    url = config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        from tracker.queue import DatabaseStorage

        return Huey("tracker", results=False, storage_class=DatabaseStorage, url=url)
    return SqliteHuey("tracker", results=False, filename=str(sqlite_queue_path(app)))


def sqlite_queue_path(app: Flask) -> Path:
    """``queue.db`` next to the SQLite database (``instance/queue.db`` by default), so every
    worker on one database shares one queue, and a test's database gets its own."""
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    if not database or database == ":memory:":
        return Path(app.instance_path) / "queue.db"
    return Path(database).resolve().with_name("queue.db")


def configure(app: Flask, immediate: bool = False) -> Huey:
    """Give the tasks their app and the queue its storage; the worker calls this once."""
    global _app
    _app = app
    huey.immediate = immediate
    if not immediate:
        huey.storage = storage_for(app).storage
    return huey


def _context() -> AbstractContextManager:
    """A fresh app context (so its own session) per task in the worker; in immediate mode
    (tests) the caller's, when it has one."""
    if huey.immediate and has_app_context():
        return nullcontext()
    if _app is None:
        raise RuntimeError("tracker.tasks.configure(app) was not called")
    return _app.app_context()


@huey.task()
def deliver(notification_id: int, lease: datetime) -> str:
    """Send one claimed message (see notifications.deliver); returns what happened."""
    with _context():
        outcome = notifications.deliver(notification_id, lease)
    log.info("notification %s: %s", notification_id, outcome.result)
    return outcome.result


@huey.task()
def tick() -> int:
    """Reminders, then escalations, then one delivery task per message waiting now; then the
    exports' upkeep. Returns how many deliveries were enqueued."""
    with _context():
        notifications.add_due_rows()
        claimed = notifications.claim_due()
    for notification_id, lease in claimed:
        deliver(notification_id, lease)
    with _context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        exports.remove_expired()
        stale = exports.requeue_stale()
    for job_id in stale:
        enqueue_export(app, job_id)
    return len(claimed)


@huey.task()
def export(job_id: str) -> str:
    """Run one Bulk Data export if it is still waiting (tracker.services.exports)."""
    if _app is None:
        raise RuntimeError("tracker.tasks.configure(app) was not called")
    outcome = _run_export(_app, job_id)
    log.info("export %s: %s", job_id, outcome)
    if outcome == "handed back":  # this worker is stopping: another one takes it from here
        huey.enqueue(export.s(job_id))
    return outcome


def _run_export(app: Flask, job_id: str) -> str:
    # tracker.fhir.export registers its run_export here: the worker never imports the FHIR layer.
    return app.extensions["tracker.run_export"](app, job_id)


def enqueue_export(app: Flask, job_id: str) -> None:
    """Hand a job to the workers; with TASKS_IMMEDIATE (outside a worker) run it now instead,
    in an empty context (no request: its own app context, session and transactions)."""
    if app is _app and not huey.immediate:  # inside the worker: its own queue
        huey.enqueue(export.s(job_id))
    elif app.config["TASKS_IMMEDIATE"]:
        contextvars.Context().run(_run_export, app, job_id)
    else:
        _producer(app).enqueue(huey.serialize_task(export.s(job_id)), 0)


def _producer(app: Flask):  # type: ignore[no-untyped-def]
    """The queue storage a web instance enqueues on, made from its settings on first use."""
    with _producer_lock:
        if "tracker.queue" not in app.extensions:
            app.extensions["tracker.queue"] = storage_for(app).storage
        return app.extensions["tracker.queue"]


def close_producer(app: Flask) -> None:
    """Close the web instance's queue connections (tests; a process that ends)."""
    with _producer_lock:
        storage = app.extensions.pop("tracker.queue", None)
    if storage is not None:
        storage.close()


class Ticker(threading.Thread):
    """Runs the tick every ``interval`` seconds until stopped; a failed tick is logged and
    the next one runs as usual (a database restart must not end the worker)."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="ticker", daemon=True)
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                tick.call_local()
            except Exception as error:  # noqa: BLE001 - keep ticking; the reason is logged
                log.warning("tick failed: %s", type(error).__name__)
            self.stopping.wait(self.interval)


def check_can_start(app: Flask) -> None:
    """Refuse to deliver in production to the console or without a public base URL."""
    config = app.config
    if config["TRACKER_ENV"] != "production":
        return
    if not config.get("SMTP_URL") or config["SMTP_URL"] == "console":
        raise ConfigError(
            "SMTP_URL must name a mail server in production (smtp://, smtp+starttls:// or "
            "smtps://); SMTP_URL=console would write patients' links into the log"
        )
    if not config.get("PUBLIC_BASE_URL"):
        raise ConfigError("PUBLIC_BASE_URL must be set in production: messages carry links")


def run_worker(app: Flask, threads: int = CONSUMER_THREADS) -> None:
    """The worker process: the Huey consumer plus the ticker, until SIGTERM or SIGINT.

    SIGTERM stops gracefully: no new task starts, running deliveries finish, running
    exports hand their jobs back to the queue, and the ticker ends after its current
    tick. SIGINT stops at once. A delivery cut short
    (SIGINT, SIGKILL) keeps its lease until it expires and is then claimed again.
    """
    check_can_start(app)
    configure(app)
    consumer = Consumer(
        huey,
        workers=threads,
        worker_type="thread",
        periodic=False,
        graceful_signal="TERM",
        max_delay=1.0,
    )
    # Exports watch this flag and hand their jobs back when the consumer begins to stop.
    app.extensions["tracker.worker_stopping"] = consumer.stop_flag
    ticker = Ticker(app.config["REMINDER_INTERVAL_SECONDS"])
    ticker.start()
    try:
        consumer.run()
    finally:
        ticker.stopping.set()
        ticker.join(timeout=60)
        huey.storage.close()
