"""The OpenAPI document describes every API route, and its errors as problem+json."""

import re

from tests.helpers import anonymous

UNDOCUMENTED = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/static/<path:filename>"}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", re.sub(r"\([^)]*\)", "", rule))


def test_every_api_route_is_documented(app):
    spec = anonymous(app).get("/api/v1/openapi.json").json
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in UNDOCUMENTED:
            continue
        path = openapi_path(rule.rule)
        assert path in spec["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = spec["paths"][path][method.lower()]
            assert operation["responses"], (method, path)


def test_errors_are_documented_as_problem_json(app):
    spec = anonymous(app).get("/api/v1/openapi.json").json
    submit = spec["paths"]["/api/v1/patients/{patient_id}/responses"]["post"]
    assert {"201", "200", "401", "404", "409", "413", "415", "422"} <= set(submit["responses"])
    assert "application/problem+json" in submit["responses"]["409"]["content"]
    assert "application/problem+json" in spec["components"]["responses"]["DEFAULT_ERROR"]["content"]


def test_interactive_docs_are_served_without_a_cdn(app):
    client = anonymous(app)
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "https://" not in page
    assert client.get("/api/v1/docs/static/swagger-ui-bundle.js").status_code == 200


def test_security_schemes_let_try_it_out_write(app):
    """Session cookie + X-CSRF-Token, or a bearer token; login and token say they need neither."""
    spec = anonymous(app).get("/api/v1/openapi.json").json
    schemes = spec["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": app.config["SESSION_COOKIE_NAME"],
        "description": schemes["sessionCookie"]["description"],
    }
    assert (schemes["csrfHeader"]["in"], schemes["csrfHeader"]["name"]) == (
        "header",
        "X-CSRF-Token",
    )
    assert (schemes["bearerToken"]["type"], schemes["bearerToken"]["scheme"]) == ("http", "bearer")
    assert spec["security"] == [{"sessionCookie": [], "csrfHeader": []}, {"bearerToken": []}]
    public = {
        (path, method)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("security") == []
    }
    assert public == {
        ("/api/v1/auth/login", "post"),
        ("/api/v1/oauth/token", "post"),
        ("/api/v1/links/{token}", "get"),  # the token in the path is the credential
        ("/api/v1/links/{token}/responses", "post"),
    }


def test_depressive_syndrome_is_documented_as_a_nullable_enum(app):
    schemas = anonymous(app).get("/api/v1/openapi.json").json["components"]["schemas"]
    # Every response body (a read and the submission answer) carries it; OpenAPI 3.0 needs
    # null in the enum as well as nullable for a null value to validate.
    for name in ("Response", "SubmittedResponse"):
        field = schemas[name]["properties"]["depressive_syndrome"]
        assert (field["type"], field["nullable"]) == ("string", True), name
        assert field["enum"] == ["major", "other", None], name
    assert schemas["Instrument"]["properties"]["has_depressive_syndrome"]["type"] == "boolean"
