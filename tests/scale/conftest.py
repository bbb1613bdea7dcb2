"""Real parts for the scale-out tests: a Redis server, tracker served by several gunicorn
instances on one PostgreSQL database, and (from tests/worker) real worker processes.

- ``redis_server``: a ``redis-server`` started by pytest-redis for this session; each test gets
  it running and empty. Stopping it mid-test (``redis_server.stop()``) is allowed: the next
  test starts it again. Missing ``redis-server`` skips, or fails under
  TRACKER_REQUIRE_REDIS=1 (set by ``.ci/run``).
- ``start_instances(count, **env)``: ``count`` gunicorn instances (``-w 1``) of ``wsgi:app``
  sharing the test's PostgreSQL database, SECRET_KEY and EXPORT_DIR, as behind a load
  balancer; ``Instance.url(path)`` addresses one of them.

These tests run on PostgreSQL only (the ``backend`` fixture is narrowed below): several
instances on one SQLite file is not a shape tracker supports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from pytest_redis import factories
from pytest_redis.executor import RedisExecutor

from tests.worker.conftest import (  # noqa: F401  (fixtures reused here)
    ROOT,
    WORKER_ENV_KEEP,
    free_port,
    planned_series,
    smtp_server,
    start_worker,
    wait_until,
)
from tests.worker.test_exports import clinic  # noqa: F401  (the same synthetic clinic)

REDIS_SERVER = os.environ.get("TRACKER_REDIS_SERVER", "/usr/bin/redis-server")
REQUIRE_REDIS = os.environ.get("TRACKER_REQUIRE_REDIS") == "1"
SECRET_KEY = "test-secret"  # the same as tests/conftest.make_app's, so both sign alike
PUBLIC_BASE_URL = "http://tracker.test"  # the load balancer's address, the same for all

# A server of its own: these tests stop and start it.
scale_redis_proc = factories.redis_proc(executable=REDIS_SERVER)


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def redis_url(proc: RedisExecutor) -> str:
    return f"redis://{proc.host}:{proc.port}/0"


@pytest.fixture
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisExecutor]:
    if not Path(REDIS_SERVER).is_file():
        message = f"{REDIS_SERVER} not found: the scale-out tests need a real Redis"
        if REQUIRE_REDIS:
            pytest.fail(message + " and TRACKER_REQUIRE_REDIS=1", pytrace=False)
        pytest.skip(message + " (apt-get install redis-server)")
    proc: RedisExecutor = request.getfixturevalue("scale_redis_proc")
    if not proc.running():
        proc.start()
    client = redis.Redis(host=proc.host, port=proc.port)
    client.flushall()
    client.config_resetstat()  # command counts start from zero for each test
    client.close()
    yield proc
    if not proc.running():
        proc.start()


@dataclass
class Instance:
    """One gunicorn serving tracker; ``url(path)`` is this instance's address for ``path``."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_instances(
    app, database_url: str, tmp_path: Path
) -> Iterator[Callable[..., list[Instance]]]:
    """``start_instances(count=2, **env)``: gunicorn instances on the test's database.

    Depends on ``app`` so they are gone before the database is cleaned. Rate limits are on
    (RATELIMIT_ENABLED=1); LOGIN_RATE_LIMIT is high unless a test sets it.
    """
    started: list[Instance] = []
    exports = tmp_path / "exports"  # one directory for every instance: shared storage

    def start(count: int = 2, **settings: str) -> list[Instance]:
        env = {k: v for k, v in os.environ.items() if k in WORKER_ENV_KEEP}
        env.update(
            DATABASE_URL=database_url,
            TRACKER_ENV="test",
            SECRET_KEY=SECRET_KEY,
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
            EXPORT_DIR=str(exports),
            RATELIMIT_ENABLED="1",
            LOGIN_RATE_LIMIT="1000/minute",
            PYTHONUNBUFFERED="1",
        )
        env.update(settings)
        batch = []
        for _ in range(count):
            name = "AB"[len(started)] if len(started) < 2 else f"#{len(started) + 1}"
            port = free_port()
            log_path = tmp_path / f"gunicorn-{name}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "-w",
                        "1",
                        "-b",
                        f"127.0.0.1:{port}",
                        "--graceful-timeout",
                        "5",
                        "wsgi:app",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            instance = Instance(name, port, process, log_path)
            started.append(instance)
            batch.append(instance)
        for instance in batch:
            wait_until(lambda i=instance: _alive(i), timeout=60)
        return batch

    yield start
    for instance in started:
        if instance.process.poll() is None:
            instance.process.send_signal(signal.SIGTERM)
            try:
                instance.process.wait(15)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait(5)


def _alive(instance: Instance) -> bool:
    if instance.process.poll() is not None:
        raise AssertionError(f"gunicorn {instance.name} exited:\n{instance.log()}")
    try:
        return requests.get(instance.url("/healthz"), timeout=2).status_code == 200
    except requests.RequestException:
        return False
