"""Tests for tracker.charts.trend_svg: structure, geometry, safety and edge cases.

The SVG is parsed with ElementTree, so every test also proves the output is
well-formed XML. Geometry is checked against the ``plot-area`` rectangle the
chart draws, so the tests do not depend on margins or font estimates.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tracker.charts import MIN_HEIGHT, MIN_WIDTH, ChartPoint, ChartSeries, render_trend_svg
from tracker.instruments import GAD7, PCL5, PHQ9, Instrument

SVG_NS = "http://www.w3.org/2000/svg"
NS = f"{{{SVG_NS}}}"
HOSTILE = "<script>alert(1)</script> & co"
T0 = datetime(2024, 1, 8, 10, 0)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def ketamine_course() -> tuple[list[ChartPoint], list[ChartSeries]]:
    """About six months of PHQ-9: baseline ~20, induction to ~7, ongoing maintenance."""
    induction = tuple(day(k) for k in (1, 3, 5, 8, 10, 12))
    boosters = tuple(day(62 + 30 * k) for k in range(4))
    scores = [(-7, 21), (0, 20), (1, 17), (3, 14), (5, 12), (8, 10), (10, 8), (12, 7)]
    scores += [(30, 8), (60, 12), (105, 7), (160, 8), (175, 6)]
    points = [ChartPoint(day(k), s) for k, s in scores]
    series = [
        ChartSeries("Ketamine induction", induction[0], induction[-1], induction),
        ChartSeries("Maintenance", boosters[0], None, boosters),
    ]
    return points, series


def render(
    instrument: Instrument = PHQ9,
    points: list[ChartPoint] | None = None,
    series: list[ChartSeries] | None = None,
    **kwargs: object,
) -> tuple[str, ET.Element]:
    svg = render_trend_svg(instrument, points or [], series or [], **kwargs)  # type: ignore[arg-type]
    return svg, ET.fromstring(svg)


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if el.get("class") == cls]


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    """left, top, right, bottom of the plot."""
    (rect,) = by_class(root, "plot-area")
    x, y = float(rect.get("x", "")), float(rect.get("y", ""))
    return x, y, x + float(rect.get("width", "")), y + float(rect.get("height", ""))


def own_text(el: ET.Element) -> str:
    """An element's visible text, without its <title> tooltip child."""
    title = el.find(f"{NS}title")
    return (title.tail if title is not None else el.text) or ""


def expected_y(root: ET.Element, inst: Instrument, score: float) -> float:
    _, top, _, bottom = plot_area(root)
    return bottom - (score - inst.min_score) / (inst.max_score - inst.min_score) * (bottom - top)


# --------------------------------------------------------------------------
# Document structure and safety
# --------------------------------------------------------------------------


def test_root_is_scalable_accessible_svg() -> None:
    points, series = ketamine_course()
    svg, root = render(PHQ9, points, series, now=day(182), width=640, height=320)
    assert root.tag == f"{NS}svg"
    assert root.get("viewBox") == "0 0 640 320"
    assert (root.get("width"), root.get("height")) == ("640", "320")
    assert root.get("role") == "img"
    assert "sans-serif" in root.get("font-family", "")
    # <title> and <desc> come first, for screen readers.
    assert [child.tag for child in root[:2]] == [f"{NS}title", f"{NS}desc"]
    assert root[0].text == "PHQ-9 over time"
    desc = root[1].text or ""
    assert "13 responses" in desc
    assert "Latest score 6 (Mild, below the cut-off of 10)" in desc
    assert "Ketamine induction" in desc and "ongoing" in desc
    assert svg.isascii()


def test_no_script_and_no_external_references() -> None:
    points, series = ketamine_course()
    svg, _ = render(PHQ9, points, series, now=day(182))
    lowered = svg.lower()
    assert "<script" not in lowered
    assert "<style" not in lowered  # CSS would leak into a page that inlines the chart
    assert "href" not in lowered
    assert "url(" not in lowered
    assert " id=" not in lowered  # ids would clash when two charts are inlined in one page
    assert re.findall(r"https?://[^\s\"'<]*", svg) == [SVG_NS]


def test_a_url_in_a_label_stays_inert_text() -> None:
    series = [ChartSeries("see https://evil.example/x.js", day(0), day(5))]
    _, root = render(PHQ9, [ChartPoint(day(1), 5)], series)
    for el in root.iter():
        assert all("evil" not in value for value in el.attrib.values())
    (label,) = by_class(root, "series-label")
    assert own_text(label) == "see https://evil.example/x.js"


def test_hostile_labels_are_escaped() -> None:
    points, _ = ketamine_course()
    series = [ChartSeries(HOSTILE, day(1), day(12), (day(1),))]
    svg, root = render(PHQ9, points, series, title=HOSTILE, now=day(182))
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in svg
    (label,) = by_class(root, "series-label")
    assert own_text(label) == HOSTILE
    assert root[0].text == HOSTILE  # <title>
    assert HOSTILE in (root[1].text or "")  # <desc>
    assert not [el for el in root.iter() if "script" in el.tag]


def test_control_characters_cannot_break_the_document() -> None:
    series = [ChartSeries("bad\x00label\x1b\n\ttext\ufffe", day(0), day(3))]
    _, root = render(PHQ9, [ChartPoint(day(1), 5)], series, title="a\x0bb")
    (label,) = by_class(root, "series-label")
    assert own_text(label) == "bad label text"
    assert root[0].text == "a b"


def test_output_is_deterministic() -> None:
    points, series = ketamine_course()
    first = render_trend_svg(PHQ9, points, series, now=day(182))
    again = render_trend_svg(PHQ9, list(reversed(points)), tuple(series), now=day(182))
    assert first == again


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError):
        render_trend_svg(PHQ9, [], [], width=MIN_WIDTH - 1)
    with pytest.raises(ValueError):
        render_trend_svg(PHQ9, [], [], height=MIN_HEIGHT - 1)
    ET.fromstring(render_trend_svg(PHQ9, [], [], width=MIN_WIDTH, height=MIN_HEIGHT))


# --------------------------------------------------------------------------
# Bands, cut-off and the score scale
# --------------------------------------------------------------------------


@pytest.mark.parametrize("inst", [PHQ9, GAD7, PCL5], ids=lambda i: i.code)
def test_one_band_rect_per_band_spanning_the_scale(inst: Instrument) -> None:
    points, series = ketamine_course()
    _, root = render(inst, points, series, now=day(182))
    bands = by_class(root, "band")
    assert [b.get("data-band") for b in bands] == [b.code for b in inst.bands]
    assert len({b.get("fill") for b in bands}) == len(inst.bands)  # distinct colours
    _, top, _, bottom = plot_area(root)
    for rect, band in zip(bands, inst.bands, strict=True):
        y, h = float(rect.get("y", "")), float(rect.get("height", ""))
        assert y + h == pytest.approx(expected_y(root, inst, band.min), abs=0.01)
        assert y == pytest.approx(
            expected_y(root, inst, min(band.max + 1, inst.max_score)), abs=0.01
        )
    # Together the bands cover the plot from bottom to top.
    assert min(float(b.get("y", "")) for b in bands) == pytest.approx(top, abs=0.01)
    assert max(float(b.get("y", "")) + float(b.get("height", "")) for b in bands) == pytest.approx(
        bottom, abs=0.01
    )
    labels = " ".join(own_text(el) for el in by_class(root, "band-label"))
    for band in inst.bands:
        assert band.label.split()[0] in labels


@pytest.mark.parametrize("inst", [PHQ9, GAD7, PCL5], ids=lambda i: i.code)
@pytest.mark.parametrize("size", [(800, 400), (390, 320)])
def test_cutoff_line_is_at_the_cutoff(inst: Instrument, size: tuple[int, int]) -> None:
    width, height = size
    _, root = render(inst, [ChartPoint(day(0), 3)], width=width, height=height)
    (line,) = by_class(root, "cutoff")
    want = expected_y(root, inst, inst.thresholds.cutoff)
    assert float(line.get("y1", "")) == pytest.approx(want, abs=0.01)
    assert float(line.get("y2", "")) == pytest.approx(want, abs=0.01)
    assert line.get("stroke-dasharray")
    (label,) = by_class(root, "cutoff-label")
    assert own_text(label) == f"cut-off {inst.thresholds.cutoff}"


@pytest.mark.parametrize("inst", [PHQ9, PCL5], ids=lambda i: i.code)
def test_max_score_maps_to_top_and_min_to_bottom(inst: Instrument) -> None:
    points = [ChartPoint(day(0), inst.max_score), ChartPoint(day(30), inst.min_score)]
    _, root = render(inst, points)
    left, top, right, bottom = plot_area(root)
    high, low = by_class(root, "point")
    assert float(high.get("cy", "")) == pytest.approx(top, abs=0.01)
    assert float(low.get("cy", "")) == pytest.approx(bottom, abs=0.01)
    assert left < float(high.get("cx", "")) < float(low.get("cx", "")) < right


def test_out_of_range_totals_are_clamped_not_fatal() -> None:
    _, root = render(PHQ9, [ChartPoint(day(0), 99), ChartPoint(day(5), -3)])
    _, top, _, bottom = plot_area(root)
    high, low = by_class(root, "point")
    assert float(high.get("cy", "")) == pytest.approx(top, abs=0.01)
    assert float(low.get("cy", "")) == pytest.approx(bottom, abs=0.01)
    assert "out of range" in (root[1].text or "")


# --------------------------------------------------------------------------
# Points, series and sessions
# --------------------------------------------------------------------------


def test_points_line_and_latest_value() -> None:
    points, series = ketamine_course()
    _, root = render(PHQ9, points, series, now=day(182))
    dots = by_class(root, "point")
    assert len(dots) == len(points)
    xs = [float(d.get("cx", "")) for d in dots]
    assert xs == sorted(xs)
    for dot, point in zip(dots, points, strict=True):
        assert float(dot.get("cy", "")) == pytest.approx(
            expected_y(root, PHQ9, point.total), abs=0.01
        )
    (line,) = by_class(root, "score-line")
    assert len(line.get("points", "").split()) == len(points)
    (latest,) = by_class(root, "latest")
    assert own_text(latest) == "6"


def test_sessions_get_one_marker_each_inside_their_series() -> None:
    points, series = ketamine_course()
    _, root = render(PHQ9, points, series, now=day(182))
    markers = by_class(root, "session")
    assert len(markers) == sum(len(s.sessions) for s in series) == 10
    regions = by_class(root, "series")
    assert len(regions) == 2
    for marker in markers:
        apex_x = float(marker.get("d", "").split()[0].removeprefix("M"))
        assert any(
            float(r.get("x", "")) - 0.01
            <= apex_x
            <= float(r.get("x", "")) + float(r.get("width", "")) + 0.01
            for r in regions
        )


def test_series_labels_and_ongoing() -> None:
    points, series = ketamine_course()
    _, root = render(PHQ9, points, series, now=day(182))
    labels = [own_text(el) for el in by_class(root, "series-label")]
    assert labels == ["Ketamine induction", "Maintenance (ongoing)"]


def test_ongoing_series_runs_to_now_or_last_point_whichever_is_later() -> None:
    points = [ChartPoint(day(0), 20), ChartPoint(day(60), 8)]
    series = [ChartSeries("Maintenance", day(10), None)]
    # now later than the last point: shading ends at now, right of the last point.
    _, root = render(PHQ9, points, series, now=day(90))
    (region,) = by_class(root, "series")
    end = float(region.get("x", "")) + float(region.get("width", ""))
    last_x = float(by_class(root, "point")[-1].get("cx", ""))
    assert end > last_x + 50
    # now earlier than the last point (or absent): shading ends at the last point.
    for now in (day(30), None):
        _, root = render(PHQ9, points, series, now=now)
        (region,) = by_class(root, "series")
        end = float(region.get("x", "")) + float(region.get("width", ""))
        assert end == pytest.approx(float(by_class(root, "point")[-1].get("cx", "")), abs=0.02)


def test_series_outside_the_points_extend_the_x_range() -> None:
    points = [ChartPoint(day(0), 12), ChartPoint(day(20), 10)]
    series = [ChartSeries("Earlier", day(-120), day(-90)), ChartSeries("Later", day(60), day(80))]
    _, root = render(PHQ9, points, series)
    left, _, right, _ = plot_area(root)
    earlier, later = by_class(root, "series")
    first_x = float(by_class(root, "point")[0].get("cx", ""))
    assert left <= float(earlier.get("x", "")) < float(earlier.get("x", "")) + 20 < first_x
    assert float(later.get("x", "")) + float(later.get("width", "")) <= right + 0.01
    assert float(later.get("width", "")) > 20


def test_long_labels_are_truncated_with_an_ellipsis() -> None:
    long = "Very long treatment series label " * 10
    series = [ChartSeries(long, day(0), day(10)), ChartSeries("Second " * 20, day(5), None)]
    _, root = render(PHQ9, [ChartPoint(day(2), 9)], series, title="T" * 300, width=390, height=320)
    shown = [own_text(el) for el in by_class(root, "series-label")]
    assert all(text.endswith("\u2026") or text.endswith("\u2026 (ongoing)") for text in shown)
    assert all(len(text) < 60 for text in shown)
    # The full label stays available as a tooltip.
    tips = [el.find(f"{NS}title") for el in by_class(root, "series-label")]
    assert tips[0] is not None and tips[0].text == long.strip()
    (title,) = by_class(root, "title")
    assert own_text(title).endswith("\u2026") and len(own_text(title)) < 60
    assert root[0].text == "T" * 300  # the accessible title is not truncated


# --------------------------------------------------------------------------
# Edge cases and the time axis
# --------------------------------------------------------------------------


def test_empty_chart_says_no_responses_yet() -> None:
    _, root = render(PHQ9, [], [])
    (message,) = by_class(root, "empty")
    assert own_text(message) == "No responses yet"
    assert not by_class(root, "point") and not by_class(root, "score-line")
    assert not by_class(root, "x-tick")  # no dates at all: no invented date labels
    assert "No responses yet" in (root[1].text or "")


def test_empty_chart_with_a_series_shows_the_series() -> None:
    series = [ChartSeries("Ketamine induction", day(0), None, (day(0), day(2)))]
    _, root = render(GAD7, [], series, now=day(3))
    assert by_class(root, "empty") and len(by_class(root, "session")) == 2
    assert by_class(root, "x-tick")


def test_single_point() -> None:
    _, root = render(PHQ9, [ChartPoint(day(0), 14)])
    assert len(by_class(root, "point")) == 1
    assert not by_class(root, "score-line")
    left, _, right, _ = plot_area(root)
    assert float(by_class(root, "point")[0].get("cx", "")) == pytest.approx(
        (left + right) / 2, abs=1
    )
    assert "1 response " in (root[1].text or "")


def test_points_on_one_day() -> None:
    points = [ChartPoint(day(0) + timedelta(hours=h), s) for h, s in ((0, 3), (2, 21), (5, 0))]
    _, root = render(GAD7, points, width=390, height=320)
    xs = [float(d.get("cx", "")) for d in by_class(root, "point")]
    left, _, right, _ = plot_area(root)
    assert len(xs) == 3 and all(left < x < right for x in xs)
    assert len(by_class(root, "x-tick")) >= 2


def test_mixed_naive_and_aware_datetimes() -> None:
    points = [
        ChartPoint(datetime(2024, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))), 14),
        ChartPoint(datetime(2024, 2, 1, 12), 9),
    ]
    series = [ChartSeries("Series", datetime(2024, 1, 10, tzinfo=UTC), None)]
    _, root = render(GAD7, points, series, now=datetime(2024, 2, 20, tzinfo=UTC))
    # Shown in the first aware zone (UTC-5): the first response is on 1 Jan, not 2 Jan.
    assert "from 1 Jan 2024" in (root[1].text or "")


@pytest.mark.parametrize("days", [7, 30, 90, 180, 365, 3 * 365])
@pytest.mark.parametrize("width", [390, 800])
def test_date_ticks_are_readable_for_any_span(days: int, width: int) -> None:
    points = [ChartPoint(day(k), 10) for k in range(0, days + 1, max(1, days // 20))]
    _, root = render(PHQ9, points, width=width, height=320)
    ticks = by_class(root, "x-tick")
    assert 2 <= len(ticks) <= 14
    xs = [float(t.get("x", "")) for t in ticks]
    assert all(b - a >= 40 for a, b in zip(xs, xs[1:], strict=False))
    assert all(re.fullmatch(r"[A-Z][a-z]{2}( \d{1,2})?|\d{4}", own_text(t)) for t in ticks)


def test_everything_drawn_inside_the_viewbox() -> None:
    points, series = ketamine_course()
    for width, height in ((800, 400), (390, 320), (MIN_WIDTH, MIN_HEIGHT)):
        _, root = render(PHQ9, points, series, now=day(182), width=width, height=height)
        for el in root.iter():
            for attr in ("x", "x1", "x2", "cx"):
                if el.get(attr) is not None:
                    assert 0 <= float(el.get(attr, "")) <= width, (el.tag, attr)
            for attr in ("y", "y1", "y2", "cy"):
                if el.get(attr) is not None:
                    assert 0 <= float(el.get(attr, "")) <= height, (el.tag, attr)
