"""Bulk Data export jobs on the workers: who runs a job, for how long, and what survives.

A kick-off (any web instance) writes the job row and enqueues one ``export``
task (tracker.tasks); any worker runs it. Everything a web instance needs to
answer the status poll (state, progress, the manifest's files and counts) is on
the row, so the instance that polls need not be the one that accepted the job,
and no process holds an export in memory between requests.

Why a lease with a heartbeat on the job row, not Huey's retry with a lock: a
worker killed with SIGKILL (or a machine that dies) runs no exception handler,
so Huey never retries its task (the task already left the queue), and a Huey
lock it held would stay held forever (our PostgreSQL queue storage has no
expiring keys). A lease on the row expires by itself, and the row already is
the one place the status poll reads. It is the outbox's pattern
(tracker.services.notifications): an atomic claim, a fencing token, a lease.

1. ``claim``: ``UPDATE export_job SET state = 'running', attempts = attempts + 1,
   lease_until = now + lease, transaction_time = now WHERE id = ? AND attempts <
   MAX_ATTEMPTS AND state = 'queued'``. One worker's UPDATE matches; its attempt
   number is its fencing token. ``transaction_time`` is the start of the run
   that writes the files (the query's time, as Bulk Data defines it).
2. While it writes, the worker renews the lease every quarter lease (a
   separate connection: the rows stream from a server-side cursor that a commit
   would close), with the counts so far as ``progress``. A renewal that matches
   no row (the job was cancelled, or its lease ran out and it went to another
   worker) stops the run, which then removes only its own temporary files.
3. Files are written under temporary names private to the attempt; ``finish``
   takes the row (``SELECT … FOR UPDATE``; SQLite's write lock), checks the
   token, renames the files to their final names and marks the job completed in
   that one transaction. A client therefore never downloads a half file, and
   the files the manifest lists all come from one run: every resource once.
4. The worker's tick (every REMINDER_INTERVAL_SECONDS) puts a job whose lease
   ran out back to ``queued`` and enqueues it again; a job interrupted
   MAX_ATTEMPTS times fails instead of looping. A restarted job starts from
   scratch (its files are cheap to rewrite; a partial file is never trusted).
   A worker asked to stop (SIGTERM, a rolling restart) does not finish its
   exports: at the next resource each run puts its job back to ``queued``
   (the attempt not counted) and enqueues it again for another worker, so the
   stop takes seconds, not the length of an export.
   The tick also deletes files older than EXPORT_RETENTION_SECONDS (the job is
   then ``cancelled``, as a client's DELETE would leave it) and what a cancelled
   or failed job left behind.

A queued job's lease is the time the queue has to start it: if its task was
lost (a queue emptied, a worker killed between taking the task and claiming the
job), the tick enqueues it again. A duplicate task is harmless: only one claim
matches.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import or_, select, update

from tracker.auth import audit
from tracker.database import sqlite_write_lock
from tracker.extensions import db
from tracker.models import ApiClient, ExportJob
from tracker.models.types import utcnow

MAX_ATTEMPTS = 3  # a job that kills its worker every time fails after this many runs
WAITING = "waiting for a worker"
TEMP_SUFFIX = ".part"


class Lost(Exception):
    """This run no longer holds the job: it was cancelled, or went to another worker."""


class Stopping(Exception):
    """The worker is stopping (SIGTERM): the run hands its job back to the queue."""


@dataclass(frozen=True)
class Claim:
    """One run of one job; ``attempt`` is its fencing token."""

    job_id: str
    attempt: int
    types: list[str]
    since: datetime | None
    transaction_time: datetime


def lease() -> timedelta:
    return timedelta(seconds=current_app.config["EXPORT_LEASE_SECONDS"])


def job_dir(job_id: str) -> Path:
    return Path(current_app.config["EXPORT_DIR"]) / job_id


def delete_files(job_id: str) -> None:
    shutil.rmtree(job_dir(job_id), ignore_errors=True)


def file_name(kind: str) -> str:
    return f"{kind}.ndjson"


def temp_path(claim: Claim, kind: str) -> Path:
    """Hidden and private to the attempt: two runs never write the same file."""
    return job_dir(claim.job_id) / f".{kind}.{claim.attempt}{TEMP_SUFFIX}"


# --- one run ---------------------------------------------------------------------------------


def claim(job_id: str, now: datetime | None = None) -> Claim | None:
    """Take a waiting job for this worker; None when it is not waiting (done, cancelled,
    or running elsewhere)."""
    now = now or utcnow()
    db.session.commit()  # end any read snapshot before taking the write lock
    with sqlite_write_lock():
        won = db.session.execute(
            update(ExportJob)
            .where(
                ExportJob.id == job_id,
                ExportJob.state == "queued",
                ExportJob.attempts < MAX_ATTEMPTS,
            )
            .values(
                state="running",
                attempts=ExportJob.attempts + 1,
                lease_until=now + lease(),
                transaction_time=now,
                progress="started",
            )
        ).rowcount
        if won != 1:
            db.session.rollback()
            return None
        job = db.session.get(ExportJob, job_id, populate_existing=True)
        found = Claim(job.id, job.attempts, list(job.types), job.since, job.transaction_time)
        db.session.commit()
    return found


class Heartbeat:
    """Renews the run's lease every quarter lease, with the progress so far."""

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.every = lease().total_seconds() / 4
        self.next_at = time.monotonic() + self.every
        # Set by the worker when it begins a graceful stop (tracker.tasks.run_worker).
        self.stopping = current_app.extensions.get("tracker.worker_stopping")

    def due(self) -> bool:
        """Checked after every resource: cheap (a clock read, a flag)."""
        stopping = self.stopping is not None and self.stopping.is_set()
        return stopping or time.monotonic() >= self.next_at

    def renew(self, progress: str) -> None:
        """Raise :class:`Lost` when the job is no longer this run's, :class:`Stopping` when
        the worker is stopping."""
        if self.stopping is not None and self.stopping.is_set():
            raise Stopping(self.claim.job_id)
        statement = (
            update(ExportJob)
            .where(
                ExportJob.id == self.claim.job_id,
                ExportJob.attempts == self.claim.attempt,
                ExportJob.state == "running",
            )
            .values(lease_until=utcnow() + lease(), progress=progress[:100])
        )
        # Its own connection: the session may hold an open server-side cursor.
        with sqlite_write_lock(), db.engine.begin() as connection:
            renewed = connection.execute(statement).rowcount
        if renewed != 1:
            raise Lost(self.claim.job_id)
        self.next_at = time.monotonic() + self.every


def finish(claim: Claim, output: list[dict], files: dict[Path, Path]) -> None:
    """Rename the run's files to their final names and complete the job, in one transaction
    that holds the row; raise :class:`Lost` when the job is no longer this run's."""
    db.session.commit()  # end the read snapshot
    with sqlite_write_lock():
        job = db.session.scalar(
            select(ExportJob)
            .where(
                ExportJob.id == claim.job_id,
                ExportJob.attempts == claim.attempt,
                ExportJob.state == "running",
            )
            .with_for_update()
        )
        if job is None:
            db.session.rollback()
            raise Lost(claim.job_id)
        for temp, final in files.items():
            temp.replace(final)  # atomic on one file system
        finished = utcnow()
        retention = timedelta(seconds=current_app.config["EXPORT_RETENTION_SECONDS"])
        counts = ",".join(f"{o['type']}={o['count']}" for o in output)
        job.output, job.state, job.lease_until = output, "completed", None
        job.finished_at, job.expires_at = finished, finished + retention
        job.progress = counts[:100] or "nothing to export"
        if job.client_id:
            actor = ("client", db.session.get(ApiClient, job.client_id).client_id)
        else:
            actor = ("user", str(job.user_id))
        audit.record("export", "export", job.id, actor=actor, detail=counts)
        db.session.commit()
    _remove_other_runs_files(claim)


def fail(claim: Claim, reason: str) -> None:
    """Record the failure (the client's poll reports it) unless the job is no longer ours."""
    db.session.rollback()
    with sqlite_write_lock():
        failed = db.session.execute(
            update(ExportJob)
            .where(
                ExportJob.id == claim.job_id,
                ExportJob.attempts == claim.attempt,
                ExportJob.state == "running",
            )
            .values(state="failed", error=reason, finished_at=utcnow(), lease_until=None)
        ).rowcount
        db.session.commit()
    if failed:
        delete_files(claim.job_id)
    else:
        abandon(claim)


def hand_back(claim: Claim) -> str:
    """After :class:`Stopping`: the job waits again, its attempt not counted (this run ends
    here, its files removed first), for another worker; returns "handed back"."""
    for path in job_dir(claim.job_id).glob(f".*.{claim.attempt}{TEMP_SUFFIX}"):
        path.unlink(missing_ok=True)
    db.session.rollback()
    with sqlite_write_lock():
        handed = db.session.execute(
            update(ExportJob)
            .where(
                ExportJob.id == claim.job_id,
                ExportJob.attempts == claim.attempt,
                ExportJob.state == "running",
            )
            .values(
                state="queued",
                attempts=claim.attempt - 1,
                lease_until=utcnow() + lease(),
                progress=WAITING,
            )
        ).rowcount
        db.session.commit()
    return "handed back" if handed else abandon(claim)


def abandon(claim: Claim) -> str:
    """After :class:`Lost`: remove this run's files; all of the job's when it has ended.
    Returns what became of the job."""
    db.session.rollback()
    state = db.session.scalar(select(ExportJob.state).where(ExportJob.id == claim.job_id))
    db.session.rollback()
    if state in (None, "cancelled", "failed"):
        delete_files(claim.job_id)
        return state or "gone"
    for path in job_dir(claim.job_id).glob(f".*.{claim.attempt}{TEMP_SUFFIX}"):
        path.unlink(missing_ok=True)
    return "taken over"


def _remove_other_runs_files(claim: Claim) -> None:
    """A killed run's temporary files (a live one's own turn: it finds itself Lost)."""
    for path in job_dir(claim.job_id).glob(f".*{TEMP_SUFFIX}"):
        path.unlink(missing_ok=True)


# --- the tick's upkeep -----------------------------------------------------------------------


def requeue_stale(now: datetime | None = None) -> list[str]:
    """Jobs whose lease ran out, back to ``queued`` (or ``failed`` after MAX_ATTEMPTS runs);
    returns the ids to enqueue again. Each change is a compare-and-set on the row, so of
    several workers ticking at once one re-enqueues a job."""
    now = now or utcnow()
    stale = db.session.execute(
        select(ExportJob.id, ExportJob.state, ExportJob.attempts).where(
            ExportJob.state.in_(("queued", "running")),
            or_(ExportJob.lease_until.is_(None), ExportJob.lease_until < now),
        )
    ).all()
    db.session.rollback()
    again = []
    for job_id, state, attempts in stale:
        exhausted = attempts >= MAX_ATTEMPTS
        values: dict = (
            {"state": "failed", "error": f"interrupted {attempts} times", "finished_at": now}
            if exhausted
            else {"state": "queued", "lease_until": now + lease(), "progress": WAITING}
        )
        if exhausted:
            values["lease_until"] = None
        with sqlite_write_lock():
            changed = db.session.execute(
                update(ExportJob)
                .where(
                    ExportJob.id == job_id,
                    ExportJob.state == state,
                    ExportJob.attempts == attempts,
                    or_(ExportJob.lease_until.is_(None), ExportJob.lease_until < now),
                )
                .values(**values)
            ).rowcount
            db.session.commit()
        if changed and exhausted:
            delete_files(job_id)
        elif changed:
            again.append(job_id)
    return again


def remove_expired(now: datetime | None = None) -> int:
    """Delete files kept longer than EXPORT_RETENTION_SECONDS (the job becomes cancelled,
    so later polls get 404) and whatever a cancelled or failed job left on disk; returns
    how many jobs' files were removed."""
    now = now or utcnow()
    with sqlite_write_lock():
        expired = db.session.scalars(
            select(ExportJob).where(ExportJob.expires_at < now, ExportJob.state == "completed")
        ).all()
        for job in expired:
            job.state = "cancelled"
        ended = [job.id for job in expired]
        db.session.commit()
    root = Path(current_app.config["EXPORT_DIR"])
    names = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    if names:
        ended += db.session.scalars(
            select(ExportJob.id).where(
                ExportJob.id.in_(names), ExportJob.state.in_(("cancelled", "failed"))
            )
        ).all()
        db.session.rollback()
    for job_id in set(ended):
        delete_files(job_id)
    return len(set(ended))
