"""Every error is problem+json with the right status; bad input never stores or 500s."""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.helpers import count, submit
from tracker.models import Patient, Response


def test_malformed_json_is_400(world):
    api = world.as_clinician_a()
    response = api.client.post(
        "/api/v1/patients",
        data="{not json",
        headers={"Content-Type": "application/json", "X-CSRF-Token": api.csrf},
    )
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 400


def test_wrong_content_type_is_415(world):
    api = world.as_clinician_a()
    response = api.client.post(
        "/api/v1/patients",
        data="display_name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": api.csrf},
    )
    assert response.status_code == 415
    assert response.content_type == "application/problem+json"
    assert count(world.app, Patient) == 2


def test_body_over_64_kib_is_413(world):
    api = world.as_clinician_a()
    response = submit(api, world.patient_1, {"padding": "x" * (65 * 1024)})
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert count(world.app, Response) == 0


def test_unknown_route_and_method(world):
    api = world.as_clinician_a()
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"
    wrong_method = api.client.delete(
        f"/api/v1/patients/{world.patient_1}", headers={"X-CSRF-Token": api.csrf}
    )
    assert wrong_method.status_code == 405
    assert "PATCH" in wrong_method.headers["Allow"]


@pytest.mark.parametrize("raw_id", ["9223372036854775808", "2147483648", "-1", "abc", "0x10"])
def test_ids_the_database_cannot_hold_are_404(world, raw_id):
    api = world.as_admin()
    assert api.get(f"/api/v1/patients/{raw_id}").status_code == 404
    assert api.get(f"/api/v1/responses/{raw_id}").status_code == 404


def test_large_id_in_body_is_422(world):
    response = world.as_clinician_a().post(
        f"/api/v1/patients/{world.patient_1}/care-team", json={"clinician_id": 2**63}
    )
    assert response.status_code == 422 and "clinician_id" in response.json["errors"]


def test_unexpected_exception_is_a_problem_500_without_details(database_url):
    app = make_app(database_url)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/api/v1/test-crash")
    def crash():  # type: ignore[no-untyped-def]
        raise RuntimeError("secret detail")

    response = app.test_client().get("/api/v1/test-crash")
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert "secret" not in response.get_data(as_text=True)


def test_database_down_is_503_with_retry_after():
    app = make_app("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().post(
        "/api/v1/auth/login", json={"email": "a@example.test", "password": "x" * 12}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.content_type == "application/problem+json"
