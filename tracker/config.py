"""Settings read from the environment, so one build runs as demo, test or production."""

from __future__ import annotations

import os
from pathlib import Path

from tracker.models.types import json_column_loads

ENVIRONMENTS = ("development", "production", "test")


class ConfigError(RuntimeError):
    """Raised at start-up when the environment cannot give a safe configuration."""


def default_sqlite_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "tracker.db")


DEFAULT_CRISIS_TEXT = (
    "If you are in crisis or thinking about harming yourself, call or text 988 "
    "(Suicide & Crisis Lifeline, US) or your local emergency number now."
)


def load(instance_path: str, overrides: dict | None = None) -> dict:
    """Build the Flask config; refuse to start production without a real secret."""
    overrides = dict(overrides or {})
    env = overrides.get("TRACKER_ENV") or os.environ.get("TRACKER_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"TRACKER_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    secret = overrides.get("SECRET_KEY") or os.environ.get("SECRET_KEY")
    if not secret:
        if env == "production":
            raise ConfigError("SECRET_KEY must be set when TRACKER_ENV=production")
        secret = "dev-only-not-secret"
    url = (
        overrides.get("SQLALCHEMY_DATABASE_URI")
        or os.environ.get("DATABASE_URL")
        or default_sqlite_url(instance_path)
    )
    config = {
        "TRACKER_ENV": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        # Bodies larger than this are refused with 413 before any parsing.
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env == "production",
        "REMEMBER_COOKIE_SECURE": env == "production",
        # argon2id cost; tests lower it so the suite stays fast.
        "PASSWORD_HASH_TIME_COST": 3,
        "PASSWORD_HASH_MEMORY_COST": 65536,
        # Future tolerance for completed_at (docs/api.md, "Responses": 5 minutes).
        "COMPLETED_AT_MAX_FUTURE_SECONDS": 300,
        "API_TITLE": "tracker",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/static/",
        "JSON_SORT_KEYS": False,
        # Absolute links (FHIR paging, token audience, export files) use this base when set.
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "").rstrip("/") or None,
        # Honour X-Forwarded-For/-Proto/-Host/-Port/-Prefix from exactly one proxy hop.
        "TRACKER_TRUST_PROXY": os.environ.get("TRACKER_TRUST_PROXY") == "1",
        # Canonical URLs of our FHIR Questionnaires: stable identifiers, not locations.
        "FHIR_CANONICAL_BASE": os.environ.get(
            "FHIR_CANONICAL_BASE", "https://tracker.example.org/fhir"
        ).rstrip("/"),
        # Bulk Data export files (private storage) and how long they are kept.
        "EXPORT_DIR": os.environ.get("EXPORT_DIR") or str(Path(instance_path) / "exports"),
        "EXPORT_RETENTION_SECONDS": int(os.environ.get("EXPORT_RETENTION_SECONDS", "3600")),
        # A worker renews its claim on an export every quarter of this; a killed worker's
        # export goes to another worker after it (tracker.services.exports).
        "EXPORT_LEASE_SECONDS": _int_setting("EXPORT_LEASE_SECONDS", 60),
        # Run an export inside the kick-off request instead of on a worker: the test suite's
        # apps, or one process without a worker. Never in production: the request waits.
        "TASKS_IMMEDIATE": os.environ.get("TASKS_IMMEDIATE") == "1",
        # Test-only (ignored unless TRACKER_ENV=test): a pause after each exported resource,
        # so a test can kill a worker in the middle of an export.
        "TEST_ONLY_EXPORT_PAUSE_SECONDS": 0.0,
        # Login protection: a lockout after repeated failures, and per-address rate limits.
        "LOGIN_LOCKOUT_THRESHOLD": int(os.environ.get("LOGIN_LOCKOUT_THRESHOLD", "5")),
        "LOGIN_LOCKOUT_SECONDS": int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "900")),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "20/minute"),
        "TOKEN_RATE_LIMIT": os.environ.get("TOKEN_RATE_LIMIT", "60/minute"),
        # Questionnaire links (/q/<token> and /api/v1/links/…), per address, pages and API together.
        "LINK_RATE_LIMIT": os.environ.get("LINK_RATE_LIMIT", "30/minute"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Signed session cookies expire; logout revokes its own login (LoginSession).
        "PERMANENT_SESSION_LIFETIME": int(os.environ.get("SESSION_LIFETIME_SECONDS", "43200")),
        # Web pages: patients may see their own chart only when the clinic enables it;
        # crisis text shown after a PHQ-9 with item 9 above 0; the zone for date inputs.
        "PATIENT_HISTORY_ENABLED": os.environ.get("PATIENT_HISTORY_ENABLED") == "1",
        "CLINIC_TIMEZONE": os.environ.get("CLINIC_TIMEZONE", "UTC"),
        # Cross-origin browser access: off unless origins are listed (comma-separated).
        "CORS_ORIGINS": [
            o.strip() for o in os.environ.get("CORS_ORIGINS", "").split(",") if o.strip()
        ],
    }
    if env == "test":
        config["PASSWORD_HASH_TIME_COST"] = 1
        config["PASSWORD_HASH_MEMORY_COST"] = 1024
        config["TEST_ONLY_EXPORT_PAUSE_SECONDS"] = float(
            os.environ.get("TEST_ONLY_EXPORT_PAUSE_SECONDS") or 0
        )
        # Tests log in hundreds of times from one address; rate-limit tests turn it on
        # (in-process with an override; in a served test instance with RATELIMIT_ENABLED=1).
        config["RATELIMIT_ENABLED"] = os.environ.get("RATELIMIT_ENABLED") == "1"
    # Shown to a patient at once when an answer raises a crisis flag (pages and API).
    config["CRISIS_TEXT"] = os.environ.get("CRISIS_TEXT") or DEFAULT_CRISIS_TEXT
    config.update(_notification_settings(env))
    config.update(overrides)
    config.update(rate_limit_storage(config, overrides))
    _check_notification_settings(config)
    return config


def rate_limit_storage(config: dict, overrides: dict) -> dict:
    """Where Flask-Limiter keeps its counters: RATELIMIT_STORAGE_URI when given, else the
    Redis of REDIS_URL (shared by every instance, so a limit trips at the same count
    whichever one is hit), else ``memory://`` (per process: right for one instance only).

    If Redis stops answering, each process counts in its own memory until Redis is back
    (checked again after 1, 2, 4 … 32 s): logins keep working and stay limited per
    process, rather than failing or going unlimited. Connecting gives up after a second,
    so a dead Redis never holds a request for long.
    """
    uri = overrides.get("RATELIMIT_STORAGE_URI") or os.environ.get("RATELIMIT_STORAGE_URI")
    redis_url = config.get("REDIS_URL")
    if not uri and redis_url:
        # redis-py's unix:// is redis+unix:// to the limits library.
        uri = "redis+" + redis_url if redis_url.startswith("unix://") else redis_url
    uri = uri or "memory://"
    settings: dict = {"RATELIMIT_STORAGE_URI": uri}
    if not uri.startswith("memory://"):
        settings["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
        settings["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 1, "socket_timeout": 1}
    return settings


def _int_setting(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _notification_settings(env: str) -> dict:
    """Reminders, alert notifications and the worker (docs/api.md, "Reminders, alert
    notifications and the outbox"). Outside production mail goes to the worker's log."""
    return {
        "CLINIC_NAME": os.environ.get("CLINIC_NAME") or "Your clinic",
        # smtp://, smtp+starttls://, smtps:// or "console"; production has no default.
        "SMTP_URL": os.environ.get("SMTP_URL") or (None if env == "production" else "console"),
        "MAIL_FROM": os.environ.get("MAIL_FROM") or "tracker@localhost",
        "NOTIFY_WEBHOOK_URL": os.environ.get("NOTIFY_WEBHOOK_URL") or None,
        "NOTIFY_WEBHOOK_SECRET": os.environ.get("NOTIFY_WEBHOOK_SECRET") or None,
        "REMINDER_INTERVAL_SECONDS": _int_setting("REMINDER_INTERVAL_SECONDS", 60),
        "ALERT_ESCALATE_MINUTES": _int_setting("ALERT_ESCALATE_MINUTES", 240),
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        # How long a worker's claim on a message lasts: a killed worker's message is
        # claimable again after this.
        "NOTIFY_LEASE_SECONDS": _int_setting("NOTIFY_LEASE_SECONDS", 300),
        # The first retry after a temporary failure; each next one waits twice as long.
        "NOTIFY_RETRY_SECONDS": _int_setting("NOTIFY_RETRY_SECONDS", 60),
    }


def _check_notification_settings(config: dict) -> None:
    """Links in messages carry tokens: in production they must not travel over plain http;
    and a webhook receiver can only trust what is signed."""
    base = config.get("PUBLIC_BASE_URL")
    if config["TRACKER_ENV"] == "production" and base and not base.startswith("https://"):
        raise ConfigError(f"PUBLIC_BASE_URL must start with https:// in production, not {base!r}")
    if config.get("NOTIFY_WEBHOOK_URL") and not config.get("NOTIFY_WEBHOOK_SECRET"):
        raise ConfigError("NOTIFY_WEBHOOK_SECRET must be set when NOTIFY_WEBHOOK_URL is")


def engine_options(url: str) -> dict:
    """Engine settings per backend: a waiting SQLite writer, a self-healing PG pool."""
    # hide_parameters: a failed statement's error must not carry answers into the logs.
    if url.startswith("sqlite"):
        return {
            "connect_args": {"timeout": 30},
            "hide_parameters": True,
            "json_deserializer": json_column_loads,
        }
    return {
        "json_deserializer": json_column_loads,
        "pool_pre_ping": True,  # a restarted database is noticed and reconnected
        "pool_size": 5,
        "max_overflow": 5,
        "pool_timeout": 10,
        "hide_parameters": True,
        # No request hangs on a dead server or a stuck statement: fail fast, answer 503.
        "connect_args": {"connect_timeout": 5, "options": "-c statement_timeout=30000"},
    }
