"""Where the rate-limit counters live: shared on Redis when REDIS_URL is set, per process
otherwise, with a per-process fallback while Redis does not answer."""

from __future__ import annotations

import pytest

from tracker.config import load


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "RATELIMIT_STORAGE_URI", "RATELIMIT_ENABLED", "TRACKER_ENV"):
        monkeypatch.delenv(name, raising=False)


def test_one_process_counts_in_memory_without_redis(tmp_path):
    config = load(str(tmp_path))
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED" not in config


def test_redis_url_shares_the_counters_with_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    config = load(str(tmp_path))
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/2"
    assert config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_OPTIONS"] == {"socket_connect_timeout": 1, "socket_timeout": 1}
    socket = load(str(tmp_path), {"REDIS_URL": "unix:///run/redis.sock"})
    assert socket["RATELIMIT_STORAGE_URI"] == "redis+unix:///run/redis.sock"


def test_an_explicit_storage_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://limits.internal:6379/0")
    assert load(str(tmp_path))["RATELIMIT_STORAGE_URI"] == "redis://limits.internal:6379/0"
    override = load(str(tmp_path), {"RATELIMIT_STORAGE_URI": "memory://"})
    assert override["RATELIMIT_STORAGE_URI"] == "memory://"
    assert "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED" not in override


def test_a_served_test_instance_turns_rate_limits_on_by_setting(tmp_path, monkeypatch):
    assert load(str(tmp_path), {"TRACKER_ENV": "test"})["RATELIMIT_ENABLED"] is False
    monkeypatch.setenv("RATELIMIT_ENABLED", "1")
    assert load(str(tmp_path), {"TRACKER_ENV": "test"})["RATELIMIT_ENABLED"] is True


def test_a_call_that_cannot_reach_redis_answers_503_with_retry_after(tmp_path):
    """The safety net for anything that must reach Redis (no route does today: the export
    kick-off keeps its job row and the workers enqueue it later): a 503 to retry, never a 500,
    as problem+json or, under /fhir, an OperationOutcome."""
    import redis

    from tests.conftest import make_app
    from tests.test_health import closed_port

    url = f"redis://127.0.0.1:{closed_port()}/0"
    app = make_app(f"sqlite:///{tmp_path}/tracker.db", REDIS_URL=url)

    def needs_redis() -> str:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return "unreachable"

    app.add_url_rule("/needs-redis", "needs_redis", needs_redis)
    app.add_url_rule("/fhir/needs-redis", "fhir_needs_redis", needs_redis)
    client = app.test_client()
    answer = client.get("/needs-redis")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.content_type == "application/problem+json"
    fhir = client.get("/fhir/needs-redis")
    assert fhir.status_code == 503 and fhir.headers["Retry-After"] == "5"
    assert fhir.json["resourceType"] == "OperationOutcome"
