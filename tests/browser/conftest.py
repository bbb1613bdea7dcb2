"""Browser fixtures: the app served on a free port, driven by Debian's Chromium via Playwright.

Without Chromium the browser tests are skipped with a message, unless
TRACKER_REQUIRE_BROWSER=1 (set by .ci/run), which makes that a failure.
The pages are served with the strict Content-Security-Policy they must work
under, and every test fails on a console error (e.g. a CSP violation).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, Response
from werkzeug.serving import make_server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STRICT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'"
)
REQUIRE_BROWSER = os.environ.get("TRACKER_REQUIRE_BROWSER") == "1"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The browser tests run on SQLite only; the test-client tests cover PostgreSQL."""
    return request.param


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        message = "Chromium not found (/usr/bin/chromium or chromium on PATH)"
        if REQUIRE_BROWSER:
            pytest.fail(message + " and TRACKER_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(message + ": browser tests skipped (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary --user-data-dir.
        chromium = playwright.chromium.launch(
            executable_path=path, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def _strict_csp(response: Response) -> Response:
    # setdefault: the app's own policy, where present, is the one under test.
    response.headers.setdefault("Content-Security-Policy", STRICT_CSP)
    return response


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1:<free port> in a daemon thread, for the browser to visit."""
    app.after_request(_strict_csp)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: TRACKER_SCREENSHOTS_DIR (e.g. docs/screenshots) or a tmp dir."""
    target = os.environ.get("TRACKER_SCREENSHOTS_DIR")
    path = Path(target) if target else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Console:
    """Collects console errors and uncaught page errors, e.g. CSP violations."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def allow(self, text: str) -> None:
        """An expected message, e.g. the 422 status of a page that shows validation errors."""
        self.allowed.append(text)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]

    def watch(self, page) -> None:  # type: ignore[no-untyped-def]
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
def console() -> Iterator[Console]:
    watcher = Console()
    yield watcher
    assert watcher.unexpected() == [], watcher.errors
