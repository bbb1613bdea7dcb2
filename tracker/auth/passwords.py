"""argon2id password hashing with a constant-cost answer for unknown accounts."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app


@cache
def _hasher(time_cost: int, memory_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)


def hasher() -> PasswordHasher:
    cfg = current_app.config
    return _hasher(cfg["PASSWORD_HASH_TIME_COST"], cfg["PASSWORD_HASH_MEMORY_COST"])


def hash_password(password: str) -> str:
    return hasher().hash(password)


@cache
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    return _hasher(time_cost, memory_cost).hash("no account has this password")


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password; with no account, burn the same time so emails cannot be probed."""
    cfg = current_app.config
    target = stored_hash or _dummy_hash(
        cfg["PASSWORD_HASH_TIME_COST"], cfg["PASSWORD_HASH_MEMORY_COST"]
    )
    try:
        hasher().verify(target, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not None
