"""Creating accounts and changing their password or state, shared by the CLI, demo and tests."""

from __future__ import annotations

from sqlalchemy import select

from tracker.auth.passwords import hash_password
from tracker.extensions import db
from tracker.models import Patient, User
from tracker.models.user import ROLES

MIN_PASSWORD_LENGTH = 12


class UserInvalid(ValueError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_new_user(email: str, password: str, role: str, patient_id: int | None) -> None:
    """Refuse what would make an unusable or unsafe account."""
    if role not in ROLES:
        raise UserInvalid(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email or len(email) > 254:
        raise UserInvalid("email is not an email address")
    check_password(email, password)
    if role == "patient" and patient_id is None:
        raise UserInvalid("a patient user needs --patient-id")
    if role != "patient" and patient_id is not None:
        raise UserInvalid("only a patient user links to a patient")
    if patient_id is not None and db.session.get(Patient, patient_id) is None:
        raise UserInvalid(f"no patient with id {patient_id}")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserInvalid("a user with this email already exists")


def create_user(email: str, password: str, role: str, patient_id: int | None = None) -> User:
    """Add a user to the session (the caller commits)."""
    email = normalise_email(email)
    check_new_user(email, password, role, patient_id)
    user = User(
        email=email, password_hash=hash_password(password), role=role, patient_id=patient_id
    )
    db.session.add(user)
    db.session.flush()
    return user


def check_password(email: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserInvalid(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() == email:
        raise UserInvalid("password must not be the email address")


def set_password(user: User, password: str) -> None:
    """Change the password and end every login of the user (the caller commits).

    Whoever knew the old password may be logged in somewhere: they must log in again.
    """
    check_password(user.email, password)
    user.password_hash = hash_password(password)
    user.session_version += 1


def set_active(user: User, active: bool) -> None:
    """Disable (or re-enable) an account; disabling ends every login of the user at once."""
    if user.active and not active:
        user.session_version += 1
    user.active = active
