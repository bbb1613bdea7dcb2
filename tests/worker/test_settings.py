"""The worker's settings: defaults, and the refusals that keep links and messages safe."""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tracker.channels import email_channel
from tracker.channels.email import ConsoleChannel, SmtpChannel
from tracker.config import ConfigError


def test_defaults(tmp_path, monkeypatch):
    for name in ("SMTP_URL", "CLINIC_NAME", "NOTIFY_WEBHOOK_URL", "REDIS_URL", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    config = make_app(f"sqlite:///{tmp_path}/x.db").config
    assert config["SMTP_URL"] == "console"
    assert config["REMINDER_INTERVAL_SECONDS"] == 60
    assert config["ALERT_ESCALATE_MINUTES"] == 240
    assert config["NOTIFY_LEASE_SECONDS"] == 300
    assert config["NOTIFY_RETRY_SECONDS"] == 60
    assert config["NOTIFY_WEBHOOK_URL"] is None and config["REDIS_URL"] is None
    production = make_app(
        f"sqlite:///{tmp_path}/x.db", TRACKER_ENV="production", SECRET_KEY="a-real-secret"
    )
    assert production.config["SMTP_URL"] is None  # no console by default in production


def test_production_links_must_be_https(tmp_path, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://clinic.example")
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL must start with https://"):
        make_app(f"sqlite:///{tmp_path}/x.db", TRACKER_ENV="production", SECRET_KEY="s")
    make_app(f"sqlite:///{tmp_path}/x.db")  # plain http is fine in development
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://clinic.example")
    make_app(f"sqlite:///{tmp_path}/x.db", TRACKER_ENV="production", SECRET_KEY="s")


def test_a_webhook_needs_its_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", "https://hooks.example.org/x")
    monkeypatch.delenv("NOTIFY_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="NOTIFY_WEBHOOK_SECRET"):
        make_app(f"sqlite:///{tmp_path}/x.db")


@pytest.mark.parametrize("raw", ["soon", "0", "-5"])
def test_intervals_are_positive_whole_numbers(tmp_path, monkeypatch, raw):
    monkeypatch.setenv("REMINDER_INTERVAL_SECONDS", raw)
    with pytest.raises(ConfigError, match="REMINDER_INTERVAL_SECONDS"):
        make_app(f"sqlite:///{tmp_path}/x.db")


def test_smtp_urls():
    plain = SmtpChannel.from_url("smtp://mail.example:2525", "from@example", 5)
    assert (plain.scheme, plain.host, plain.port, plain.username) == (
        "smtp",
        "mail.example",
        2525,
        None,
    )
    tls = SmtpChannel.from_url("smtp+starttls://user%40x:p%3Ass@mail.example", "f", 5)
    assert (tls.port, tls.username, tls.password) == (587, "user@x", "p:ss")
    assert SmtpChannel.from_url("smtps://mail.example", "f", 5).port == 465
    assert isinstance(email_channel("console", "f", 5), ConsoleChannel)
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpChannel.from_url("http://mail.example", "f", 5)
