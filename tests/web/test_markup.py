"""Markup rules every page keeps: strict-CSP safe, labelled fields, CSRF on every form.

The pages must work under ``style-src 'self'; script-src 'self'`` (no inline
styles or scripts), so these are checked on the templates and on each
rendered page, with a real HTML parser for labels and forms.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.helpers import login, submit
from tests.web.helpers import as_clinician_a, as_patient_1, text_of

TEMPLATES = Path(__file__).parents[2] / "tracker" / "web" / "templates"


class Page(HTMLParser):
    """Collects what the rules look at: fields, labels, forms and their hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[str] = []
        self.labels: set[str] = set()
        self.forms: list[dict] = []
        self.inline: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"] or "")
        if "style" in a or tag in ("style", "script") or any(k.startswith("on") for k in a):
            self.inline.append(tag)
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"] or "")
        if tag == "form":
            self.forms.append({"method": (a.get("method") or "get").lower(), "csrf": False})
        if tag == "input" and a.get("name") == "csrf_token" and self.forms:
            self.forms[-1]["csrf"] = bool(a.get("value"))
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append(a.get("id") or f"<{tag} name={a.get('name')} without id>")


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def test_templates_have_no_inline_style_or_script():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for needle in ("style=", "<style", "<script", "javascript:", "onclick", "onsubmit"):
            assert needle not in text, f"{template.name} contains {needle}"


@pytest.fixture
def pages(world):  # type: ignore[no-untyped-def]
    """Every page once, as its user sees it, with some data to show."""
    response_id = submit(login(world.app, "admin@example.test"), world.patient_1).json["id"]
    clinician = as_clinician_a(world)
    clinician.post(
        f"/clinic/patients/{world.patient_1}/series",
        {"label": "Induction", "kind": "induction", "started_at": "2026-01-10T08:00"},
    )
    patient = as_patient_1(world)
    world.app.config["PATIENT_HISTORY_ENABLED"] = True
    urls = {
        patient: ["/me", "/me/questionnaires/phq9", "/me/questionnaires/pcl5", "/me/history"],
        clinician: [
            "/clinic",
            "/clinic/alerts",
            "/clinic/alerts?status=acknowledged",
            f"/clinic/patients/{world.patient_1}",
            f"/clinic/patients/{world.patient_1}/series/new",
            f"/clinic/responses/{response_id}",
            "/clinic/series/1",
        ],
    }
    rendered = {"/login": text_of(world.app.test_client().get("/login"))}
    for browser, paths in urls.items():
        for path in paths:
            response = browser.get(path)
            assert response.status_code == 200, path
            rendered[path] = text_of(response)
    done = patient.post("/me/questionnaires/phq9", {f"item-{n}": "1" for n in range(1, 10)})
    rendered["confirmation"] = text_of(patient.get(done.headers["Location"]))
    return rendered


def test_every_page_is_csp_safe_labelled_and_protected(pages):
    for name, html in pages.items():
        page = parse(html)
        assert page.inline == [], f"{name}: inline style or script in {page.inline}"
        unlabelled = [f for f in page.fields if f not in page.labels]
        assert unlabelled == [], f"{name}: fields without a <label for>: {unlabelled}"
        assert all(form["csrf"] for form in page.forms if form["method"] == "post"), name
        duplicates = {i for i in page.ids if page.ids.count(i) > 1}
        assert duplicates == set(), f"{name}: repeated ids {duplicates}"
        assert '<html lang="en">' in html and '<main id="main"' in html
        assert 'href="/static/print.css" media="print"' in html


def test_pages_are_not_cached_and_static_files_are_served(world):
    assert as_patient_1(world).get("/me").headers["Cache-Control"] == "no-store"
    css = world.app.test_client().get("/static/app.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "@media (min-width: 700px)" in text_of(css)
    css.close()
    printed = world.app.test_client().get("/static/print.css")
    assert ".chart-wide { display: block !important; }" in text_of(printed)
    printed.close()
