"""Due questionnaires on the pages: the patient's home, the list, the schedule, the worklist.

Every test arranges the worked example of tests/web/due_example.py (or a
variant) relative to now, and checks what each page shows, who may see it,
and that the patient list's statement count does not grow with patients.
"""

from __future__ import annotations

import re
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from tests.web import due_example
from tests.web.due_example import (
    CHECK_IN,
    DAY,
    PHQ9_HIGH,
    add_patient,
    answer,
    arrange_attention,
    make_plan,
    start_series,
)
from tests.web.helpers import (
    QueryCounter,
    as_admin,
    as_clinician_a,
    as_clinician_b,
    as_patient_1,
    audit_since,
    last_audit_id,
    text_of,
)
from tests.web.test_markup import parse
from tracker.models.types import utcnow
from tracker.web import clinic_due, clinic_list
from tracker.web.render import format_when

ROW_NAME = re.compile(r'<th scope="row" class="row-title">\s*<a[^>]*>([^<]+)</a>')


def plain(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def section(html: str, marker: str, end: str = "</section>") -> str:
    return html.split(marker, 1)[1].split(end, 1)[0]


def names_in_list(html: str) -> list[str]:
    """Patient names of the clinician's list, in the order shown."""
    return [plain(name) for name in ROW_NAME.findall(html)]


def row_of(html: str, name: str) -> str:
    rows = re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>", 1)[1], re.S)
    return plain(next(row for row in rows if name in row))


@pytest.fixture
def example(world):  # type: ignore[no-untyped-def]
    with world.app.app_context():
        return due_example.worked_example(world.patient_1)


def when(app, value) -> str:  # type: ignore[no-untyped-def]
    with app.test_request_context():
        return format_when(value)


# The patient's home


def test_home_lists_what_is_due_first_then_what_comes_next(world, example):
    html = text_of(as_patient_1(world).get("/me"))
    due_now = section(html, 'id="due-title"')
    assert [plain(h) for h in re.findall(r"<h3>(.*?)</h3>", due_now)] == ["PHQ-9", "GAD-7"]
    closes = example.started_at + 7 * DAY + 4 * DAY  # Weekly 2 closes on day +1
    by = when(world.app, closes)
    assert f"by {by} · Baseline, Weekly" in plain(due_now)  # GAD-7: both visits, earliest close
    assert f"by {by} · Weekly" in plain(due_now)
    assert due_now.count('href="/me/questionnaires/gad7"') == 1
    assert due_now.count('href="/me/questionnaires/phq9"') == 1
    coming = plain(section(html, 'id="upcoming-title"'))
    opens = when(world.app, example.started_at + 14 * DAY)
    assert f"Weekly 3 : PHQ-9, GAD-7 from {opens}" in coming
    assert html.index('id="due-title"') < html.index('id="upcoming-title"')
    assert "All questionnaires" in html  # every form stays reachable


def test_home_shows_dates_in_the_clinic_time_zone(world, example):
    world.app.config["CLINIC_TIMEZONE"] = "Asia/Tokyo"  # UTC+9, no daylight saving
    html = text_of(as_patient_1(world).get("/me"))
    closes = (example.started_at + 11 * DAY).astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"by {closes.day} {closes:%b %Y, %H:%M}" in plain(html)


def test_home_without_a_plan_is_the_list_of_questionnaires(world):
    html = text_of(as_patient_1(world).get("/me"))
    assert 'id="due-title"' not in html and 'id="upcoming-title"' not in html
    assert "<h2>PHQ-9</h2>" in html


def test_answering_a_due_questionnaire_takes_it_off_the_home(world, example):
    patient = as_patient_1(world)
    form = {f"item-{n}": "1" for n in range(1, 8)}
    assert patient.post("/me/questionnaires/gad7", form).status_code == 303
    due_now = section(text_of(patient.get("/me")), 'id="due-title"')
    assert [plain(h) for h in re.findall(r"<h3>(.*?)</h3>", due_now)] == ["PHQ-9"]


def test_a_patient_sees_only_their_own_items(world, example):
    with world.app.app_context():
        other_plan = make_plan("Other clinic plan", CHECK_IN, ["pcl5"])
        start_series(world.patient_2, other_plan, utcnow() - DAY, "Other series")
    html = text_of(as_patient_1(world).get("/me"))
    assert "PCL-5" not in section(html, 'id="due-title"')
    patient = as_patient_1(world)
    assert patient.get("/clinic/due").status_code == 403
    assert patient.get(f"/clinic/patients/{world.patient_1}").status_code == 403


# The clinician's patient list


def test_patient_list_shows_due_and_missed_counts(world, example):
    html = text_of(as_clinician_a(world).get("/clinic"))
    assert row_of(html, "Synthetic Patient One").endswith("1 missed 3 due")
    assert f'href="/clinic/patients/{world.patient_1}#schedule"' in html
    plain_list = text_of(as_admin(world).get("/clinic"))
    assert row_of(plain_list, "Synthetic Patient Two").endswith("none none due")


def test_patient_list_counts_only_the_clinicians_patients(world, example):
    html = text_of(as_clinician_b(world).get("/clinic"))
    assert "Synthetic Patient One" not in html and "3 due" not in html


def test_patient_list_searches_names_and_mrns(world):
    with world.app.app_context():
        add_patient("Robin Synthetic", world.clinician_a_id, mrn="MRN-1001")
        add_patient("Robert Synthetic", world.clinician_a_id, mrn="MRN-1002")
        add_patient("Sam 100% Synthetic", world.clinician_a_id, mrn="X-77")
        add_patient("Other Team", world.clinician_b_id, mrn="MRN-1003")
    clinician = as_clinician_a(world)

    def found(q: str) -> list[str]:
        return names_in_list(text_of(clinician.get("/clinic", query_string={"q": q})))

    assert found("rob") == ["Robert Synthetic", "Robin Synthetic"]  # any case, any part
    assert found("BIN SYN") == ["Robin Synthetic"]
    assert found("MRN-1001") == ["Robin Synthetic"]  # exact MRN
    assert found("MRN-100") == ["Robert Synthetic", "Robin Synthetic"]  # prefix, own team only
    assert found("1001") == []  # the MRN's middle is not searched
    assert found("100%") == ["Sam 100% Synthetic"]  # % and _ are taken literally
    assert found("_") == []
    assert found("  ") == names_in_list(text_of(clinician.get("/clinic")))  # blank: every patient
    nothing = text_of(clinician.get("/clinic", query_string={"q": "zzz"}))
    assert "No patient matches “zzz”." in nothing
    assert 'value="zzz"' in nothing  # the box keeps what was typed
    assert found("x" * 5000) == []  # a long query is cut, not an error


@pytest.mark.parametrize("sort", ["name", "attention"])
def test_patient_list_pages_keep_the_search_and_the_sort(world, monkeypatch, sort):
    monkeypatch.setattr(clinic_list, "PAGE_SIZE", 2)
    with world.app.app_context():
        for letter in "ABCDE":
            add_patient(f"Paged {letter}", world.clinician_a_id)
    clinician = as_clinician_a(world)
    seen: list[str] = []
    url, query = "/clinic", {"q": "paged", "sort": sort}
    for _ in range(5):
        html = text_of(clinician.get(url, query_string=query))
        seen += names_in_list(html)
        following = re.search(r'<a href="([^"]+)">Next page</a>', html)
        if not following:
            break
        url, query = unescape(following.group(1)), None
        assert "q=paged" in url and (sort == "name" or "sort=attention" in url)
    assert seen == [f"Paged {letter}" for letter in "ABCDE"]  # no counts: by name, no repeats
    beyond = text_of(clinician.get("/clinic", query_string={"page": 9}))
    assert "No more patients." in beyond


def test_needs_attention_puts_high_alerts_then_missed_then_due_first(world):
    arrange_attention(world)
    clinician = as_clinician_a(world)
    by_name = names_in_list(text_of(clinician.get("/clinic")))
    assert by_name == ["Alpha Due", "Bravo Missed", "Charlie Alert", "Synthetic Patient One"]
    html = text_of(clinician.get("/clinic", query_string={"sort": "attention"}))
    assert names_in_list(html) == [
        "Charlie Alert",
        "Bravo Missed",
        "Alpha Due",
        "Synthetic Patient One",
    ]
    assert row_of(html, "Charlie Alert").endswith("1 open alert 1 high priority none due")
    assert row_of(html, "Bravo Missed").endswith("none 1 missed")
    assert row_of(html, "Alpha Due").endswith("none 1 due")
    assert '<option value="attention" selected>' in html
    odd = text_of(clinician.get("/clinic", query_string={"sort": "sideways"}))
    assert names_in_list(odd) == by_name  # an unknown sort is the default


def test_patient_list_runs_a_fixed_number_of_statements(world):
    clinician = as_clinician_a(world)
    now = utcnow()
    with world.app.app_context():
        plan = make_plan("Check-in", CHECK_IN, ["phq9"])
        start_series(world.patient_1, plan, now - 10 * DAY, "Check-in")
        answer(world.patient_1, "phq9", now - 9 * DAY, PHQ9_HIGH)

    def statements(sort: str) -> tuple[int, int]:
        """SELECTs, and every statement but the audit trail's INSERTs (one event per row shown)."""
        with QueryCounter(world.app) as counter:
            assert clinician.get("/clinic", query_string={"sort": sort}).status_code == 200
        audit = [s for s in counter.statements if re.match(r"\s*INSERT INTO audit_event", s, re.I)]
        return counter.selects, len(counter.statements) - len(audit)

    few = {sort: statements(sort) for sort in clinic_list.SORTS}
    with world.app.app_context():
        for n in range(12):
            patient_id = add_patient(f"Synthetic Extra {n:02d}", world.clinician_a_id, f"E-{n}")
            start_series(patient_id, plan, now - (n % 4) * 3 * DAY, f"Series {n}")
            answer(patient_id, "phq9", now - (n % 3) * DAY, PHQ9_HIGH if n % 2 else None)
    many = {sort: statements(sort) for sort in clinic_list.SORTS}
    assert many == few, (few, many)
    assert few["name"][0] <= 10 and few["attention"][0] <= 12


def test_patient_list_audits_the_counts_it_shows(world, example):
    before = last_audit_id(world.app)
    as_clinician_a(world).get("/clinic")
    events = [e for e in audit_since(world.app, before) if e[1] == "read"]
    assert (
        f"user:{world.clinician_a_id}",
        "read",
        "due",
        None,
        world.patient_1,
        "success",
    ) in events


# The clinician's patient page


def test_patient_page_shows_each_series_schedule(world, example):
    html = text_of(as_clinician_a(world).get(f"/clinic/patients/{world.patient_1}"))
    schedule = section(html, 'id="schedule"')
    assert "2 completed · 1 missed · 3 due · 2 upcoming" in plain(schedule)
    rows = re.findall(r'<tr class="visit-(\w+)" id="visit-([^"]+)">(.*?)</tr>', schedule, re.S)
    sid = example.series_id
    assert [(status, key) for status, key, _ in rows] == [
        ("due", f"s{sid}.e1.r0"),
        ("missed", f"s{sid}.e2.r0"),
        ("due", f"s{sid}.e2.r1"),
        ("upcoming", f"s{sid}.e2.r2"),
    ]
    texts = [plain(body) for _, _, body in rows]
    assert texts[0].startswith("Baseline") and texts[0].endswith("PHQ-9 completed GAD-7 due")
    assert texts[1].startswith("Weekly 1") and texts[1].endswith("PHQ-9 completed GAD-7 missed")
    assert texts[2].startswith("Weekly 2") and texts[2].endswith("PHQ-9 due GAD-7 due")
    assert texts[3].startswith("Weekly 3") and texts[3].endswith("PHQ-9 upcoming GAD-7 upcoming")
    assert f'href="/clinic/responses/{example.baseline_phq9}"' in rows[0][2]
    assert f'href="/clinic/responses/{example.weekly_phq9}"' in rows[1][2]
    opens = when(world.app, example.started_at - 3 * DAY)
    assert opens in texts[0]
    series_row = plain(section(html, 'id="series-title"', "</table>"))
    assert "Ketamine induction 1 missed 3 due" in series_row


def test_patient_page_without_plans_has_no_schedule(world):
    with world.app.app_context():
        start_series(world.patient_1, None, utcnow() - DAY, "No plan")
    html = text_of(as_clinician_a(world).get(f"/clinic/patients/{world.patient_1}"))
    assert 'id="schedule"' not in html
    assert as_clinician_b(world).get(f"/clinic/patients/{world.patient_1}").status_code == 404


# The worklist


def test_worklist_lists_due_and_missed_with_a_filter(world, example):
    clinician = as_clinician_a(world)
    html = text_of(clinician.get("/clinic/due"))
    rows = [plain(r) for r in re.findall(r'<tr class="item-\w+">(.*?)</tr>', html, re.S)]
    statuses = re.findall(r'<tr class="item-(\w+)">', html)
    assert sorted(statuses) == ["due", "due", "due", "missed"]
    assert all(r.startswith("Synthetic Patient One") for r in rows)
    due_only = text_of(clinician.get("/clinic/due", query_string={"status": "due"}))
    assert re.findall(r'<tr class="item-(\w+)">', due_only) == ["due", "due", "due"]
    missed = text_of(clinician.get("/clinic/due", query_string={"status": "missed"}))
    missed_rows = [plain(r) for r in re.findall(r'<tr class="item-\w+">(.*?)</tr>', missed, re.S)]
    assert len(missed_rows) == 1
    assert "GAD-7 Weekly Ketamine induction" in missed_rows[0] and "missed" in missed_rows[0]
    assert 'aria-current="page">Missed</a>' in missed
    odd = text_of(clinician.get("/clinic/due", query_string={"status": "everything"}))
    assert len(re.findall(r'<tr class="item-', odd)) == 4  # an odd filter shows both


def test_worklist_is_linked_from_the_clinic_navigation(world):
    html = text_of(as_clinician_a(world).get("/clinic"))
    nav = section(html, '<nav aria-label="Main"', "</nav>")
    assert 'href="/clinic/due"' in nav
    assert 'href="/clinic/due"' not in text_of(as_patient_1(world).get("/me"))


def test_worklist_pages_with_a_cursor(world, example, monkeypatch):
    monkeypatch.setattr(clinic_due, "PAGE_SIZE", 3)
    clinician = as_clinician_a(world)
    first = text_of(clinician.get("/clinic/due"))
    assert len(re.findall(r'<tr class="item-', first)) == 3
    following = unescape(re.search(r'<a href="([^"]+)">Next page</a>', first).group(1))
    second = text_of(clinician.get(following))
    assert len(re.findall(r'<tr class="item-', second)) == 1
    assert "Next page" not in second and "First page" in second
    forged = clinician.get("/clinic/due", query_string={"cursor": "not-a-cursor"})
    assert forged.status_code == 200  # a broken link shows the first page
    assert len(re.findall(r'<tr class="item-', text_of(forged))) == 3


def test_worklist_shows_only_the_clinicians_patients_and_audits_them(world, example):
    with world.app.app_context():
        plan = make_plan("Check-in", CHECK_IN, ["pcl5"])
        start_series(world.patient_2, plan, utcnow() - DAY, "Other series")
    before = last_audit_id(world.app)
    a = text_of(as_clinician_a(world).get("/clinic/due"))
    assert "Synthetic Patient Two" not in a and "Synthetic Patient One" in a
    b = text_of(as_clinician_b(world).get("/clinic/due"))
    assert "Synthetic Patient One" not in b and "Synthetic Patient Two" in b
    admin = text_of(as_admin(world).get("/clinic/due"))
    assert "Synthetic Patient One" in admin and "Synthetic Patient Two" in admin
    reads = [e for e in audit_since(world.app, before) if e[1] == "read"]
    assert (
        f"user:{world.clinician_a_id}",
        "read",
        "due",
        None,
        world.patient_1,
        "success",
    ) in reads
    assert not any(
        e[0] == f"user:{world.clinician_a_id}" and e[4] == world.patient_2 for e in reads
    )


def test_new_pages_are_csp_safe_and_labelled(world, example):
    pages = {
        "home": as_patient_1(world).get("/me"),
        "list": as_clinician_a(world).get("/clinic?sort=attention&q=syn"),
        "patient": as_clinician_a(world).get(f"/clinic/patients/{world.patient_1}"),
        "worklist": as_clinician_a(world).get("/clinic/due"),
        "series": as_clinician_a(world).get(f"/clinic/series/{example.series_id}"),
        "new series": as_clinician_a(world).get(f"/clinic/patients/{world.patient_1}/series/new"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        page = parse(text_of(response))
        assert page.inline == [], name
        assert [f for f in page.fields if f not in page.labels] == [], name
        assert len(set(page.ids)) == len(page.ids), name


def test_an_answer_marked_entered_in_error_no_longer_completes_its_item(world, example):
    clinician = as_clinician_a(world)
    done = clinician.post(
        f"/clinic/responses/{example.weekly_phq9}/entered-in-error",
        {"retract_reason": "Wrong patient"},
    )
    assert done.status_code == 303, text_of(done)
    html = text_of(clinician.get("/clinic"))
    assert row_of(html, "Synthetic Patient One").endswith("2 missed 3 due")


def test_worklist_and_patient_page_run_a_fixed_number_of_selects(world, example):
    clinician = as_clinician_a(world)

    def selects(path: str) -> int:
        with QueryCounter(world.app) as counter:
            assert clinician.get(path).status_code == 200
        return counter.selects

    paths = ("/clinic/due", f"/clinic/patients/{world.patient_1}")
    few = [selects(path) for path in paths]
    now = utcnow()
    with world.app.app_context():
        plan = make_plan("Check-in", CHECK_IN, ["phq9", "gad7"])
        for n in range(6):
            patient_id = add_patient(f"Synthetic Extra {n}", world.clinician_a_id)
            start_series(patient_id, plan, now - n * 2 * DAY, f"Series {n}")
            start_series(world.patient_1, plan, now - n * 5 * DAY, f"More {n}")
            answer(world.patient_1, "phq9", now - n * 4 * DAY - DAY / 24)
    assert [selects(path) for path in paths] == few
