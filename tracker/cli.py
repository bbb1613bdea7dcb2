"""`flask --app wsgi tracker ...`: operator and demo commands."""

from __future__ import annotations

import json
import os

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


@cli.command("demo")
def demo_command() -> None:
    """Load a small synthetic clinic (idempotent) and print the demo logins."""
    from tracker.demo import load_demo

    logins = load_demo()
    click.echo("Demo clinic ready. Log in with (all synthetic):")
    for email, password, role in logins:
        click.echo(f"  {role:<10} {email:<32} {password}")
