"""`flask --app wsgi tracker ...`: operator and demo commands."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from tracker.auth.users import UserInvalid, create_user
from tracker.extensions import db

cli = AppGroup("tracker", help="tracker administration commands.")


@cli.command("create-user")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "clinician", "patient"]))
@click.option("--patient-id", type=click.IntRange(1, 2**31 - 1), default=None)
@click.option("--password", default=None, help="Else $TRACKER_PASSWORD, else a prompt.")
def create_user_command(email: str, role: str, patient_id: int | None, password: str | None):
    """Create a login; prints the new user as one JSON line."""
    password = password or os.environ.get("TRACKER_PASSWORD")
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(email, password, role, patient_id)
        db.session.commit()
    except UserInvalid as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    patient_id = None if user.patient_id is None else str(user.patient_id)
    click.echo(
        json.dumps(
            {"id": str(user.id), "email": user.email, "role": user.role, "patient_id": patient_id}
        )
    )


def _user_by_email(email: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from tracker.auth.users import normalise_email
    from tracker.models import User

    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    return user


@cli.command("set-password")
@click.option("--email", required=True)
@click.option("--password", default=None, help="Else $TRACKER_PASSWORD, else a prompt.")
def set_password_command(email: str, password: str | None) -> None:
    """Change a user's password; every login of that user ends."""
    from tracker.auth import audit
    from tracker.auth.users import set_password

    user = _user_by_email(email)
    password = password or os.environ.get("TRACKER_PASSWORD")
    if not password:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(user, password)
    except UserInvalid as error:
        raise click.ClickException(str(error)) from None
    audit.record("update", "user", user.id)
    db.session.commit()
    click.echo(json.dumps({"id": str(user.id), "email": user.email, "logins_ended": True}))


@cli.command("disable-user")
@click.option("--email", required=True)
@click.option("--enable", is_flag=True, help="Re-enable a disabled user instead.")
def disable_user_command(email: str, enable: bool) -> None:
    """Disable a user (every login ends at once), or re-enable them with --enable."""
    from tracker.auth import audit
    from tracker.auth.users import set_active

    user = _user_by_email(email)
    set_active(user, enable)
    audit.record("update", "user", user.id)
    db.session.commit()
    click.echo(json.dumps({"id": str(user.id), "email": user.email, "active": user.active}))


@cli.command("demo")
def demo_command() -> None:
    """Load a small synthetic clinic (idempotent) and print the demo logins."""
    from tracker.demo import load_demo

    logins = load_demo()
    click.echo("Demo clinic ready. Log in with (all synthetic):")
    for email, password, role in logins:
        click.echo(f"  {role:<10} {email:<32} {password}")


@cli.command("create-client")
@click.option("--name", required=True, help="Who this integration is, e.g. the EHR's name.")
@click.option("--scopes", required=True, help='Space-separated, e.g. "system/*.rs".')
@click.option(
    "--jwks",
    "jwks_file",
    type=click.File("r"),
    default=None,
    help="The client's public keys (JWKS) for SMART Backend Services.",
)
@click.option("--no-secret", is_flag=True, help="Key-only client: issue no client_secret.")
def create_client_command(name: str, scopes: str, jwks_file, no_secret: bool) -> None:  # type: ignore[no-untyped-def]
    """Register an EHR integration; prints one JSON line (the secret is shown only here)."""
    from tracker.auth import smart
    from tracker.auth.clients import register_client

    requested = scopes.split()
    normalised = [smart.normalise_scope(s) for s in requested]
    unknown = [s for s, n in zip(requested, normalised, strict=True) if n is None]
    if not requested or unknown:
        raise click.ClickException(f"unsupported scopes: {' '.join(unknown) or '(none given)'}")
    jwks = None
    if jwks_file is not None:
        try:
            jwks = smart.parse_jwks(jwks_file.read())
        except smart.InvalidJwks as error:
            raise click.ClickException(f"--jwks: {error}") from None
    if no_secret and jwks is None:
        raise click.ClickException("a client without a secret needs --jwks")
    client, secret = register_client(name, normalised, jwks, with_secret=not no_secret)
    db.session.commit()
    click.echo(
        json.dumps(
            {"client_id": client.client_id, "client_secret": secret, "scopes": " ".join(normalised)}
        )
    )


@cli.command("synth")
@click.option("--patients", required=True, type=click.IntRange(1, 1_000_000))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Data lies before midnight UTC of this day (default: today); fix it to reproduce.",
)
def synth_command(patients: int, seed: int, end: datetime | None) -> None:
    """Add N synthetic patients with up to three years of scores (bulk inserts, for benchmarks)."""
    from tracker.synth import SYNTH_PASSWORD, SynthStats, generate

    def progress(stats: SynthStats) -> None:
        click.echo(
            f"  {stats.patients:>7,} patients  {stats.responses:>9,} responses"
            f"  {stats.seconds:7.1f} s",
            err=True,
        )

    stats = generate(patients, seed, end.replace(tzinfo=UTC) if end else None, progress)
    click.echo(
        f"Added {stats.patients:,} synthetic patients (from number {stats.first_number}), "
        f"{stats.series:,} series, {stats.sessions:,} sessions, {stats.responses:,} responses, "
        f"{stats.alerts:,} alerts in {stats.seconds:.1f} s. "
        f"Clinicians {', '.join(stats.clinicians)} (password {SYNTH_PASSWORD})."
    )


@cli.command("check")
def check_command() -> None:
    """Database reachable, schema at head, stored totals recompute; exit 1 otherwise."""
    from tracker.check import run_check

    report = run_check()
    if report.reachable:
        click.echo("database reachable: yes")
        revision = report.revision or "none (empty database)"
        click.echo(f"schema revision: {revision} (head {report.head})")
        click.echo(f"responses checked: {report.responses_checked}")
    else:
        click.echo(f"database reachable: no ({report.unreachable_because})")
    if report.mismatches:
        ids = ", ".join(map(str, report.mismatches[:50]))
        click.echo(f"totals that do not recompute: {len(report.mismatches)} (ids {ids})")
    click.echo("OK" if report.ok else "PROBLEMS FOUND")
    if report.hint:
        click.echo(f"hint: {report.hint}")
    if not report.ok:
        raise SystemExit(1)


@cli.command("worker")
@click.option("--threads", type=click.IntRange(1, 32), default=4, show_default=True)
def worker_command(threads: int) -> None:
    """Deliver reminders and alert notifications, run Bulk Data exports: the task consumer
    plus a ticker.

    Every REMINDER_INTERVAL_SECONDS it writes due reminders and escalations to the
    outbox and delivers what is waiting, re-enqueues exports whose worker died and
    deletes expired export files. SIGTERM stops it gracefully (running exports go
    back to the queue).
    """
    import logging

    from flask import current_app

    from tracker.config import ConfigError
    from tracker.tasks import check_can_start, run_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        check_can_start(app)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    from flask.logging import default_handler

    # One handler for every logger (Huey's, ours); the app's own would print ours twice.
    app.logger.removeHandler(default_handler)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    smtp = app.config["SMTP_URL"]
    where = "the worker's log (SMTP_URL=console)" if smtp == "console" else "the SMTP server"
    click.echo(
        f"tracker worker: emails go to {where}; ticking every "
        f"{app.config['REMINDER_INTERVAL_SECONDS']} s",
        err=True,
    )
    run_worker(app, threads)
