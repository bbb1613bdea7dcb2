"""Two tracker instances behind an imaginary load balancer, on one PostgreSQL and one Redis,
with two workers: whichever instance a request reaches, the answer is the same.

Nothing of a login, a form, a submission or a client lives in an instance's memory between
requests: sessions are signed cookies naming a login row, CSRF tokens ride in the session,
Idempotency-Keys, assertion ids (jti), tokens and lockouts are rows. Rate-limit counters and
the task queue are on Redis. When Redis stops, logins, reads and writes go on (rate limits
count per process meanwhile), /readyz says so, and everything is shared again once it is back,
with no restart.
"""

from __future__ import annotations

import re
import time
import uuid

import redis
import requests
from sqlalchemy import update

from tests.fhir.conftest import make_ehr
from tests.helpers import COMPLETED_AT, PASSWORD, PHQ9_EXAMPLE, add_patient
from tests.scale.conftest import PUBLIC_BASE_URL, Instance, redis_url
from tests.worker.conftest import add_planned_series, wait_until
from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.models import ApiClient

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
TOKEN = "/api/v1/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def log_in(instance: Instance, email: str, browser: requests.Session | None = None):  # type: ignore[no-untyped-def]
    browser = browser or requests.Session()
    answer = browser.post(instance.url(LOGIN), json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return browser


def attempt(instance: Instance, email: str, password: str = "wrong password!"):  # type: ignore[no-untyped-def]
    return requests.post(instance.url(LOGIN), json={"email": email, "password": password})


def phq9(**headers: str) -> dict:
    return {
        "json": {"instrument": "phq9", "answers": PHQ9_EXAMPLE, "completed_at": COMPLETED_AT},
        "headers": headers,
    }


def test_a_login_on_one_instance_is_a_login_on_the_other(world, redis_server, start_instances):
    a, b = start_instances(REDIS_URL=redis_url(redis_server))
    responses = f"/api/v1/patients/{world.patient_1}/responses"

    # The API: log in on A, read on B, write on A with the CSRF token B handed out.
    api = log_in(a, "clinician.a@example.test")
    me = api.get(b.url(ME))
    assert me.status_code == 200 and me.json()["email"] == "clinician.a@example.test"
    csrf = me.json()["csrf_token"]
    assert api.post(a.url(responses), **phq9()).status_code == 403  # no CSRF token
    first = api.post(a.url(responses), **phq9(**{"X-CSRF-Token": csrf, "Idempotency-Key": "v1"}))
    assert first.status_code == 201
    # The retry lands on B: the same submission, not a second one.
    again = api.post(b.url(responses), **phq9(**{"X-CSRF-Token": csrf, "Idempotency-Key": "v1"}))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    listed = api.get(b.url(responses)).json()["items"]
    assert [r["id"] for r in listed] == [first.json()["id"]]

    # Pages: the login form from B, posted to A; the patient list on B; log out on A.
    browser = requests.Session()
    form = browser.get(b.url("/login"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    posted = browser.post(
        a.url("/login"),
        data={"csrf_token": token, "email": "clinician.b@example.test", "password": PASSWORD},
        allow_redirects=False,
    )
    assert posted.status_code == 303
    assert browser.get(b.url("/clinic")).status_code == 200
    page_csrf = browser.get(a.url(ME)).json()["csrf_token"]
    out = browser.post(a.url("/logout"), data={"csrf_token": page_csrf}, allow_redirects=False)
    assert out.status_code == 303
    # The logout is seen by both: the cookie no longer opens anything.
    assert browser.get(b.url(ME)).status_code == 401
    assert browser.get(a.url(ME)).status_code == 401

    # Logging out through B's API ends the API login on A too.
    assert api.post(b.url("/api/v1/auth/logout"), headers={"X-CSRF-Token": csrf}).status_code == 204
    assert api.get(a.url(ME)).status_code == 401

    # The lockout counts failures in the database: five spread over both, then locked on both.
    for instance in (a, b, a, b, a):
        assert attempt(instance, "admin@example.test").status_code == 401
    for instance in (b, a):
        locked = attempt(instance, "admin@example.test", PASSWORD)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_client_assertions_and_tokens_are_the_same_on_both(
    app, world, redis_server, start_instances, rsa_key, ec_key
):
    a, b = start_instances(REDIS_URL=redis_url(redis_server))
    ehr = make_ehr(app, rsa_key, ec_key)
    # Both instances take the load balancer's address as the assertion's audience.
    assertion = ehr.assertion(aud=f"{PUBLIC_BASE_URL}{TOKEN}")
    form = {
        "grant_type": "client_credentials",
        "scope": "system/*.rs",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    granted = requests.post(a.url(TOKEN), data=form)
    assert granted.status_code == 200, granted.text
    replay = requests.post(b.url(TOKEN), data=form)  # the jti is remembered in the database
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"

    bearer = {"Authorization": f"Bearer {granted.json()['access_token']}"}
    search = f"/fhir/Patient/{world.patient_1}"
    assert requests.get(b.url(search), headers=bearer).status_code == 200
    with app.app_context():  # an administrator deactivates the client
        db.session.execute(update(ApiClient).values(active=False))
        db.session.commit()
    for instance in (a, b):
        assert requests.get(instance.url(search), headers=bearer).status_code == 401


def test_the_rate_limit_trips_at_the_same_count_whichever_instance_is_hit(
    world, redis_server, start_instances
):
    a, b = start_instances(REDIS_URL=redis_url(redis_server), LOGIN_RATE_LIMIT="6/minute")
    # Unknown addresses, each once: the lockout (per account) never comes into it.
    statuses = [
        attempt(instance, f"x{n}@example.test").status_code for n, instance in enumerate([a, b] * 3)
    ]
    assert statuses == [401] * 6
    for instance in (a, b):
        refused = attempt(instance, "x-last@example.test")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0

    # Without Redis each instance counts alone, so two instances let twice as many through:
    # the reason the counters must be shared.
    c, d = start_instances(LOGIN_RATE_LIMIT="6/minute")
    alone = [attempt(i, f"y{n}@example.test").status_code for n, i in enumerate([c, d] * 6)]
    assert alone == [401] * 12
    assert attempt(c, "y-last@example.test").status_code == 429


def patient_with_open_window(app, world, email: str) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        patient = add_patient("Synthetic Reminded", [world.clinician_a_id])
        create_user(email, PASSWORD, "patient", patient_id=patient)
        db.session.commit()
        add_planned_series(patient)
        return patient


def test_a_reminder_is_sent_once_although_both_workers_tick(
    app, world, database_url, redis_server, smtp_server, start_worker
):
    queue = {"REDIS_URL": redis_url(redis_server)}
    workers = [start_worker(database_url, smtp_server.url, **queue) for _ in range(2)]
    patient_with_open_window(app, world, "reminded@example.test")
    smtp_server.wait_for(1, timeout=60)
    time.sleep(4)  # several more ticks of both workers
    assert [m.rcpt_tos for m in smtp_server.messages] == [["reminded@example.test"]]
    # The delivery went through Redis: pushed there once, and both consumers were reading it.
    stats = redis.Redis(host=redis_server.host, port=redis_server.port).info("commandstats")
    assert stats["cmdstat_lpush"]["calls"] == 1
    assert stats["cmdstat_brpop"]["calls"] > 2
    assert all(w.process.poll() is None for w in workers)


def remaining(answer: requests.Response) -> int:
    return int(answer.headers["X-RateLimit-Remaining"])


def fall_over_a_b_a(a: Instance, b: Instance) -> int:
    """How far A's remaining login attempts fall over attempts on A, B, A: by 2 when both
    instances share one count (on Redis), by 1 when each counts alone (in its memory)."""
    first, _, third = (
        remaining(attempt(i, f"probe-{uuid.uuid4().hex[:8]}@example.test")) for i in (a, b, a)
    )
    return first - third


def test_redis_stops_and_comes_back(
    app, world, database_url, redis_server, smtp_server, start_instances, start_worker
):
    settings = {"REDIS_URL": redis_url(redis_server), "LOGIN_RATE_LIMIT": "200/minute"}
    a, b = start_instances(**settings)
    workers = [start_worker(database_url, smtp_server.url, **settings) for _ in range(2)]
    pids = [p.process.pid for p in (a, b, *workers)]
    for instance in (a, b):
        assert requests.get(instance.url("/readyz")).status_code == 200
    assert fall_over_a_b_a(a, b) == 2

    redis_server.stop()
    try:
        for instance in (a, b):
            ready = requests.get(instance.url("/readyz"))
            assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
            assert ready.json()["problems"] == ["redis unreachable"]
            assert requests.get(instance.url("/healthz")).status_code == 200
        # Logins, reads and writes need only the database.
        api = log_in(b, "clinician.a@example.test")
        csrf = api.get(a.url(ME)).json()["csrf_token"]
        written = api.post(
            a.url(f"/api/v1/patients/{world.patient_1}/responses"), **phq9(**{"X-CSRF-Token": csrf})
        )
        assert written.status_code == 201
        trend = api.get(b.url(f"/api/v1/patients/{world.patient_1}/trends/phq9"))
        assert trend.status_code == 200 and len(trend.json()["points"]) == 1
        # Rate limits still apply, each instance counting on its own meanwhile.
        assert fall_over_a_b_a(a, b) == 1
        # A reminder falls due: it cannot be queued now (nor the alert email), and is not lost.
        patient_with_open_window(app, world, "during.outage@example.test")
        time.sleep(3)
        assert smtp_server.messages == []
    finally:
        redis_server.start()

    smtp_server.wait_for(2, timeout=60)
    for instance in (a, b):
        wait_until(lambda i=instance: requests.get(i.url("/readyz")).status_code == 200, 10)
    wait_until(lambda: fall_over_a_b_a(a, b) == 2, timeout=70, step=0.5)
    time.sleep(3)
    # Once each: the reminder, and the alert email of the PHQ-9 written during the outage
    # (item 9 above 0), both waiting in the outbox until the queue was back.
    recipients = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert recipients == ["clinician.a@example.test", "during.outage@example.test"]
    # No process was restarted.
    assert [p.process.pid for p in (a, b, *workers)] == pids
    assert all(p.process.poll() is None for p in (a, b, *workers))
    assert redis.Redis(host=redis_server.host, port=redis_server.port).ping()
