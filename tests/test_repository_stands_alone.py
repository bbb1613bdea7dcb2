"""The repository stands alone: everything it cites is in it.

Someone who only cloned the repository must be able to check where a clinical
threshold, an API rule or a FHIR decision comes from. So no tracked file may
point at a document outside the repository (the design notes the project was
started from, a path on the machine it was written on), and every citation of
our own documentation by section heading, such as
``docs/clinical-rules.md, "Change statistics"``, must name a heading that
exists in that file.

Read from ``git ls-files``, so what is checked is exactly what a clone gets.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCOPE_DIRS = ("tracker/", "tests/", "bench/", "docs/", "migrations/")
SCOPE_FILES = ("README.md", "Makefile")
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

# References that can only mean a document or path outside the repository. (The patterns
# are spelled with [d] and [ ] so that a plain grep for them finds nothing here either.)
OUTSIDE = {
    "a path into the design folder beside the repository": re.compile(
        r"\.\./share[d]\b|\bshare[d]/(design|reference)/"
    ),
    "an absolute path on the development machine": re.compile(r"/work/"),
    "a section of the external clinical notes": re.compile(r"\bfact[ ]sheet\b", re.IGNORECASE),
    "the external architecture notes": re.compile(r"\bARCHITECTURE\b"),
}

# A Markdown file named in the text: "docs/api.md", "fhir.md", "../x/README.md".
MARKDOWN_REF = re.compile(r"(?<![\w./-])((?:\.\.?/)*(?:[\w.-]+/)*[\w-]+\.md)(?![\w-])")
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)

# A citation of our docs by heading: docs/<file>.md, "<Heading>" [and "<Heading>" …],
# also docs/<file>.md ("<Heading>", "<Heading>" …). Headings may wrap across lines of a
# comment or docstring, so whitespace (and a comment's "#") inside one is collapsed.
CITATION = re.compile(r"\bdocs/([\w-]+\.md)(?:,\s*|\s*\(\s*)(?:#\s*)?\"")
QUOTED = re.compile(r"\"([^\"]{1,120})\"")
BETWEEN_HEADINGS = re.compile(r"(?:\s*,\s*|\s+and\s+|\s+or\s+)(?:#\s*)?(?=\")")


@cache
def tracked_files() -> tuple[str, ...]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:  # pragma: no cover
        pytest.fail(f"git ls-files failed in {ROOT}: {error}")
    return tuple(
        path
        for path in out.split("\0")
        if path
        and (path.startswith(SCOPE_DIRS) or path in SCOPE_FILES)
        and path != THIS_FILE
        and (ROOT / path).is_file()
    )


@cache
def text_of(path: str) -> str | None:
    """The file as text, or None for a binary file (screenshots, charts)."""
    data = (ROOT / path).read_bytes()
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _outside_markdown(path: str, text: str) -> list[str]:
    """Markdown files named in ``text`` that do not exist in the repository.

    A reference must resolve from the repository root (``docs/api.md``) or from
    the citing file's folder (``web.md`` inside docs/); a bare ``fhir.md`` in
    tracker/fhir/ is a document somewhere else. Names inside URLs are not ours.
    """
    urls = [m.span() for m in URL.finditer(text)]
    here = (ROOT / path).parent
    problems = []
    for match in MARKDOWN_REF.finditer(text):
        if any(start <= match.start() < end for start, end in urls):
            continue
        name = match.group(1)
        candidates = (ROOT / name, here / name)
        inside = [c for c in candidates if c.resolve().is_relative_to(ROOT) and c.is_file()]
        if not inside:
            problems.append(
                f"{path}:{_line(text, match.start())}: {name!r} is not in the repository"
            )
    return problems


def test_scope_is_not_empty() -> None:
    files = tracked_files()
    assert any(f.startswith("tracker/") for f in files)
    assert "docs/clinical-rules.md" in files
    assert "docs/api.md" in files
    assert "docs/fhir.md" in files


def test_no_reference_to_documents_outside_the_repository() -> None:
    problems: list[str] = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for what, pattern in OUTSIDE.items():
            for match in pattern.finditer(text):
                problems.append(f"{path}:{_line(text, match.start())}: {what} ({match.group(0)!r})")
        problems += _outside_markdown(path, text)
    assert not problems, (
        f"{len(problems)} reference(s) to documents outside the repository; cite "
        "docs/clinical-rules.md, docs/api.md or docs/fhir.md by section heading instead:\n"
        + "\n".join(problems)
    )


@cache
def headings(doc: str) -> frozenset[str]:
    """The section headings of docs/<doc>, outside fenced code blocks."""
    found: set[str] = set()
    fenced = False
    for line in (ROOT / "docs" / doc).read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)):
            found.add(m.group(1))
    return frozenset(found)


def citations(text: str) -> list[tuple[int, str, str]]:
    """(offset, doc file, heading) for every heading citation in ``text``."""
    found = []
    for match in CITATION.finditer(text):
        doc, position = match.group(1), match.end() - 1  # at the opening quote
        while quoted := QUOTED.match(text, position):
            heading = " ".join(quoted.group(1).replace("#", " ").split())
            found.append((match.start(), doc, heading))
            position = quoted.end()
            between = BETWEEN_HEADINGS.match(text, position)
            if between is None:
                break
            position = between.end()
    return found


def test_citation_parser_reads_the_forms_used() -> None:
    text = (
        'see docs/clinical-rules.md, "PHQ-9" and "Alerts"; docs/api.md ("Trends", "Errors")\n'
        '# (docs/fhir.md, "Search and\n# paging"); docs/api.md, "Trends": the windows'
    )
    assert [(doc, h) for _, doc, h in citations(text)] == [
        ("clinical-rules.md", "PHQ-9"),
        ("clinical-rules.md", "Alerts"),
        ("api.md", "Trends"),
        ("api.md", "Errors"),
        ("fhir.md", "Search and paging"),
        ("api.md", "Trends"),
    ]


def test_every_cited_heading_exists() -> None:
    problems: list[str] = []
    count = 0
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for offset, doc, heading in citations(text):
            count += 1
            where = f"{path}:{_line(text, offset)}"
            if not (ROOT / "docs" / doc).is_file():
                problems.append(f"{where}: docs/{doc} does not exist")
            elif heading not in headings(doc):
                problems.append(f'{where}: docs/{doc} has no heading "{heading}"')
    assert count > 0, "no citations found: the pattern no longer matches how we cite"
    assert not problems, "\n".join(problems)
