"""tracker: scored mental-health questionnaires over time, for clinics and EHRs."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, send_from_directory
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError

from tracker import config as config_module
from tracker import extensions
from tracker.extensions import db, migrate


def create_app(overrides: dict | None = None) -> Flask:
    """The application factory: one app per configuration (tests make many)."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(config_module.load(app.instance_path, overrides))
    app.json.sort_keys = False
    if app.config["TRACKER_TRUST_PROXY"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).parent.parent / "migrations"),
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with app.app_context():
        from tracker.database import configure_engine

        configure_engine(db.engine)

    extensions.limiter.init_app(app)
    from tracker.inputs import DbIdConverter, InstrumentConverter

    app.url_map.converters["id"] = DbIdConverter
    app.url_map.converters["instrument"] = InstrumentConverter

    from tracker import (
        logs,
        models,  # noqa: F401  (registers the tables)
        security,
    )
    from tracker.auth import session

    session.init_app(app)
    security.init_app(app)
    logs.init_app(app)  # no questionnaire-link token in any log line
    _register_api(app)
    _register_errors(app)

    from tracker.cli import cli

    app.cli.add_command(cli)
    return app


def _register_api(app: Flask) -> None:
    from tracker import instruments as instruments_module
    from tracker.api import (
        alerts,
        audit_events,
        auth,
        due,
        instruments,
        links,
        notifications,
        oauth,
        outcomes,
        patients,
        plans,
        responses,
        series,
        trends,
    )
    from tracker.api.guards import init_app as init_guards
    from tracker.api.openapi import declare_security_schemes, openapi, spec_security

    openapi.init_app(
        app,
        spec_kwargs={
            **spec_security(),
            "info": {
                "description": (
                    f"Scored {instruments_module.names()} responses over time. Errors are "
                    "application/problem+json (RFC 9457). Cookie-authenticated writes "
                    "need the X-CSRF-Token header from GET /api/v1/auth/me."
                )
            },
        },
    )
    from tracker.api.fields import id_parameter_schema
    from tracker.inputs import DbIdConverter, InstrumentConverter, instrument_parameter_schema

    declare_security_schemes(app)
    openapi.register_converter(DbIdConverter, id_parameter_schema)
    openapi.register_converter(InstrumentConverter, instrument_parameter_schema)
    for module in (
        auth,
        oauth,
        instruments,
        patients,
        responses,
        series,
        plans,
        due,
        trends,
        alerts,
        outcomes,
        audit_events,
        links,
        notifications,
    ):
        openapi.register_blueprint(module.blp)
    init_guards(app)
    _serve_swagger_assets(app)

    from tracker.fhir import export  # noqa: F401  (adds the Bulk Data routes to the blueprint)
    from tracker.fhir.routes import bp as fhir_blueprint

    app.register_blueprint(fhir_blueprint)
    from tracker.web import web_blueprint

    app.register_blueprint(web_blueprint)
    from tracker.health import bp as health_blueprint

    app.register_blueprint(health_blueprint)


def _serve_swagger_assets(app: Flask) -> None:
    """Serve Swagger UI from the installed bundle: the docs page needs no CDN."""
    import swagger_ui_bundle

    @app.get("/api/v1/docs/static/<path:filename>")
    def swagger_static(filename: str):  # type: ignore[no-untyped-def]
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)


def _release_session(_error: BaseException | None) -> None:
    """Give the connection back even when the database died under it (never raise here)."""
    try:
        db.session.remove()
    except SQLAlchemyError:
        current_app.logger.warning("a database session could not be released cleanly")


def _register_errors(app: Flask) -> None:
    from tracker.problems import http_error, render_error, service_error_response
    from tracker.services.errors import ServiceError

    # A use case's refusal becomes a 422/409/412 in the format of the shell that called it.
    app.register_error_handler(ServiceError, service_error_response)

    # Runs before Flask-SQLAlchemy's own teardown, which would raise on a dead connection.
    app.teardown_appcontext(_release_session)

    @app.errorhandler(OperationalError)
    @app.errorhandler(SqlTimeoutError)  # no pooled connection came free in time
    def database_unavailable(error: Exception):  # type: ignore[no-untyped-def]
        _release_session(None)
        app.logger.warning("database unavailable: %s", type(getattr(error, "orig", error)).__name__)
        return render_error(
            http_error(
                503, "The database is unavailable; retry shortly.", headers={"Retry-After": "5"}
            )
        )

    # Only what must reach Redis fails with it: putting work on the queue (REDIS_URL).
    # Rate limits fall back to per-process counters instead (config.rate_limit_storage).
    @app.errorhandler(RedisError)
    def redis_unavailable(error: RedisError):  # type: ignore[no-untyped-def]
        app.logger.warning("redis unavailable: %s", type(error).__name__)
        return render_error(
            http_error(
                503,
                "The task queue is unavailable; retry shortly.",
                headers={"Retry-After": "5"},
            )
        )
