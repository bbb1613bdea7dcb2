"""A patient's score-over-time chart for one instrument, as a self-contained SVG string.

Served by ``GET /api/v1/patients/{id}/trends/{instrument}.svg``. The SVG is
written by hand rather than with a charting library because the clinical
context that makes the chart useful (severity bands behind the line, treatment
series as shaded time ranges, session ticks) is awkward in pygal and is only
a few rectangles here.

Design rules, each with its reason:

* Pure: no I/O and no clock (``now`` is a parameter), and deterministic, so the
  same data gives byte-identical output (cacheable, ETag-able, testable).
* Self-contained: no script, no ``<style>`` element (CSS in an SVG that is
  inlined into a page leaks into that page), no ``id`` attributes (two
  inlined charts would clash), no external fonts, images or links.
* Safe text: every user-supplied string is stripped of characters XML 1.0
  forbids and escaped, so a label cannot break the document or inject markup.
  The output is pure ASCII (other characters become character references), so
  no transport encoding can garble it.
* Sizes are viewBox pixels. Pass ``width`` close to the display width (e.g.
  390 for a phone) so text keeps a legible size instead of being scaled down;
  tick density adapts to the width.
"""

from __future__ import annotations

import contextlib
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from xml.sax.saxutils import escape, quoteattr

from tracker.instruments.base import Band, Instrument

__all__ = ["MIN_HEIGHT", "MIN_WIDTH", "ChartPoint", "ChartSeries", "render_trend_svg"]

# Below this size no legible chart fits (title, ticks and band labels need room).
MIN_WIDTH = 280
MIN_HEIGHT = 200


@dataclass(frozen=True, slots=True)
class ChartPoint:
    """One scored response: when it was completed and its total."""

    completed_at: datetime
    total: int


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """A treatment series (e.g. a ketamine infusion series) shown as a shaded time range.

    ``ended_at`` None means the series is ongoing; ``sessions`` are the
    individual treatments (infusions), marked along the x axis.
    """

    label: str
    started_at: datetime
    ended_at: datetime | None
    sessions: tuple[datetime, ...] = ()


# --------------------------------------------------------------------------
# Look
# --------------------------------------------------------------------------

FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
PAD = 8  # outer margin
TITLE_FS = 16
TICK_FS = 12
LABEL_FS = 11  # band labels, cut-off label
SERIES_FS = 12
NOTE_FS = 14  # "No responses yet"

TEXT = "#1F2937"
MUTED = "#4B5563"
AXIS = "#9CA3AF"
LINE = "#111827"
# Light tints of Okabe-Ito hues, least to most severe: blue, yellow, orange, vermillion,
# purple. Lightness alternates so neighbouring bands stay apart (CIELAB distance >= 7)
# under simulated deuteranopia, protanopia and tritanopia, not only by hue.
BAND_FILLS = ("#DDEBF7", "#FBF6CF", "#FADBAF", "#F4C9C0", "#E4D3EE")
# Which tints an instrument with n bands uses: blue and purple look alike to
# deuteranopes, so fewer bands end on vermillion instead of purple.
BAND_PICKS = {1: (0,), 2: (0, 3), 3: (0, 1, 3), 4: (0, 1, 2, 3), 5: (0, 1, 2, 3, 4)}
# Darker Okabe-Ito hues for series: used translucent for shading, solid for text/ticks.
SERIES_COLOURS = ("#0072B2", "#A0457E", "#00795A", "#5F5F5F")
SERIES_OPACITY = 0.08
HALO = {
    "stroke": "#FFFFFF",
    "stroke-width": 3,
    "stroke-opacity": 0.9,
    "stroke-linejoin": "round",
    "paint-order": "stroke",
}

# Fixed English month names: strftime("%b") would depend on the process locale.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ELLIPSIS = "\u2026"
MIN_SPAN = timedelta(days=7)  # a shorter range would make day ticks meaningless
EMPTY_SPAN = timedelta(days=28)  # x range of a chart with nothing but ``now``
EPOCH_MONDAY = date(2001, 1, 1)  # aligns weekly ticks to Mondays, independent of the data


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------


def render_trend_svg(
    instrument: Instrument,
    points: Sequence[ChartPoint],
    series: Sequence[ChartSeries],
    *,
    title: str | None = None,
    now: datetime | None = None,
    width: int = 800,
    height: int = 400,
) -> str:
    """Render ``points`` (totals of ``instrument``) over time with ``series`` shaded.

    ``now`` only decides how far an ongoing series is shaded (to the last point
    or ``now``, whichever is later); the module never reads the clock so the
    output stays a pure function of the arguments.

    Datetimes may be naive or aware. All are shown in the zone of the first
    aware one (points, then series, then ``now``), naive ones taken as already
    in that zone, so mixing them never raises and dates read as the caller's.

    Totals outside the instrument's range are drawn clamped to the plot rather
    than failing, because a chart is a view and must not take the page down.
    Raises ValueError when ``width``/``height`` are below MIN_WIDTH/MIN_HEIGHT.
    """
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ValueError(f"chart must be at least {MIN_WIDTH}x{MIN_HEIGHT}, got {width}x{height}")
    return _Chart(instrument, tuple(points), tuple(series), title, now, width, height).svg()


# --------------------------------------------------------------------------
# Input normalisation
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Span:
    """A series after normalisation: wall-clock times, start <= end, display text."""

    label: str
    ongoing: bool
    start: datetime
    end: datetime
    sessions: tuple[datetime, ...]
    colour: str


def _display_zone(values: Iterable[datetime | None]) -> tzinfo | None:
    """The zone dates are shown in: that of the first aware datetime, else none."""
    for value in values:
        if value is not None and value.utcoffset() is not None:
            return value.tzinfo
    return None


def _wall(value: datetime, zone: tzinfo | None) -> datetime:
    """Naive wall-clock time in ``zone``, so aware and naive inputs compare safely."""
    if value.tzinfo is zone:  # already in the zone: astimezone would return it unchanged
        return value.replace(tzinfo=None)
    if value.utcoffset() is not None and zone is not None:
        # Near datetime.min/max the conversion can overflow: keep the value's own wall time.
        with contextlib.suppress(OverflowError, ValueError):
            value = value.astimezone(zone)
    return value.replace(tzinfo=None)


def _shift(value: datetime, delta: timedelta) -> datetime:
    """``value + delta`` clamped to the datetime range instead of raising."""
    try:
        return value + delta
    except OverflowError:
        return datetime.max if delta > timedelta(0) else datetime.min


def _is_xml_char(ch: str) -> bool:
    code = ord(ch)
    return 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000 or ch in "\t\n\r"


def _clean(text: object) -> str:
    """One line of XML-safe text: escape() cannot make control characters legal XML."""
    chars = "".join(ch if _is_xml_char(ch) else " " for ch in str(text))
    return " ".join(chars.split())


def _day(value: datetime | date) -> str:
    """Unambiguous, locale-free date for the description and tooltips: 3 Jan 2024."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


# --------------------------------------------------------------------------
# Text measurement (no font metrics available: a conservative estimate)
# --------------------------------------------------------------------------

_NARROW = set("fijlrtI!|.,:;'`()[]{} -")
_WIDE = set("mwMW@%")


@lru_cache(maxsize=4096)  # a chart measures the same labels and ticks hundreds of times
def _text_width(text: str, size: float, bold: bool = False) -> float:
    """Approximate rendered width in px; errs wide (DejaVu Sans) so labels do not collide."""
    em = 0.0
    for ch in text:
        if ch in _NARROW:
            em += 0.34
        elif ch in _WIDE:
            em += 0.92
        elif ch.isupper():
            em += 0.72
        elif ch.isdigit():
            em += 0.64
        elif ord(ch) >= 0x2E80:  # CJK and other full-width scripts
            em += 1.0
        else:
            em += 0.6
    return em * size * (1.15 if bold else 1.0)


def _fit(text: str, max_px: float, size: float, bold: bool = False, suffix: str = "") -> str:
    """``text + suffix`` shortened with an ellipsis to ``max_px``; the suffix is kept."""
    if _text_width(text + suffix, size, bold) <= max_px:
        return text + suffix
    # No glyph is narrower than ~0.3 em, so longer prefixes cannot fit; this bounds the loop.
    cut = text[: int(max_px / (0.3 * size)) + 1]
    while cut:
        cut = cut[:-1]
        candidate = cut.rstrip() + ELLIPSIS + suffix
        if _text_width(candidate, size, bold) <= max_px:
            return candidate
    if suffix:
        return _fit(text + suffix, max_px, size, bold)
    return ELLIPSIS if _text_width(ELLIPSIS, size, bold) <= max_px else ""


def _wrap(text: str, max_px: float, size: float, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines``; the last line is ellipsised if needed."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if current and _text_width(trial, size) > max_px:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    return [_fit(line, max_px, size) for line in lines]


# --------------------------------------------------------------------------
# SVG building
# --------------------------------------------------------------------------


def _num(value: float) -> str:
    """Compact, deterministic number formatting (2 decimals at most)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _el(name: str, attrs: dict[str, object], content: str = "") -> str:
    """One element; ``content`` must already be markup (escaped text or elements)."""
    parts = [name]
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, int | float):
            # Digits, "-" and "." only: quoteattr would return it in plain double quotes.
            parts.append(f'{key}="{_num(value)}"')
        else:
            parts.append(f"{key}={quoteattr(str(value))}")
    head = " ".join(parts)
    return f"<{head}>{content}</{name}>" if content else f"<{head}/>"


def _text(
    x: float,
    y: float,
    text: str,
    size: float,
    *,
    anchor: str = "start",
    fill: str = TEXT,
    bold: bool = False,
    halo: bool = False,
    cls: str | None = None,
) -> str:
    attrs: dict[str, object] = {
        "class": cls,
        "x": x,
        "y": y,
        "font-size": size,
        "text-anchor": anchor if anchor != "start" else None,
        "font-weight": "bold" if bold else None,
        "fill": fill,
    }
    if halo:
        attrs.update(HALO)
    return _el("text", attrs, escape(text))


def _tooltip(text: str) -> str:
    """A ``<title>`` child: browsers show it on hover when the SVG is opened or inlined."""
    return f"<title>{escape(text)}</title>"


# --------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _text_box(x: float, baseline: float, width: float, size: float, anchor: str) -> Box:
    x0 = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
    return (x0, baseline - size * 0.8, x0 + width, baseline + size * 0.25)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _hits(
    box: Box, samples: Sequence[tuple[float, float]], xs: Sequence[float], margin: float = 2.0
) -> int:
    """Samples inside ``box`` (grown by ``margin``); ``samples`` sorted, ``xs`` their x values.

    Bisecting on x visits only the samples in the box's columns, not all ~3,000
    of a long history for each of the ten candidate label positions.
    """
    x0, y0, x1, y1 = box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin
    column = samples[bisect_left(xs, x0) : bisect_right(xs, x1)]
    return sum(1 for _x, y in column if y0 <= y <= y1)


def _nice_step(span: float, max_ticks: int) -> int:
    """Smallest of 1, 2, 5, 10, 20, 50, … giving at most ``max_ticks`` intervals."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if span / step <= max_ticks:
                return step
        magnitude *= 10


# x tick candidates, finest first: (unit, count).
_TICK_STEPS: tuple[tuple[str, int], ...] = (
    ("day", 1),
    ("day", 2),
    ("week", 1),
    ("week", 2),
    ("month", 1),
    ("month", 2),
    ("month", 3),
    ("month", 6),
    *(("year", n) for n in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)),
)
_UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 30.44, "year": 365.25}


def _tick_dates(t0: datetime, t1: datetime, unit: str, count: int) -> list[date]:
    """Midnights in [t0, t1] aligned to the unit (days since a fixed Monday, month, year)."""
    out: list[date] = []
    first = t0.date() if t0.time() == time() else t0.date() + timedelta(days=1)
    last = t1.date()
    if unit in ("day", "week"):
        period = count * (7 if unit == "week" else 1)
        offset = (first - EPOCH_MONDAY).days % period
        day = first + timedelta(days=(period - offset) % period)
        while day <= last:
            out.append(day)
            if day > date.max - timedelta(days=period):
                break
            day += timedelta(days=period)
        return out
    months = 12 * count if unit == "year" else count
    index = first.year * 12 + first.month - 1
    if first.day != 1:
        index += 1
    index += -index % months
    while index <= last.year * 12 + last.month - 1:
        out.append(date(index // 12, index % 12 + 1, 1))
        index += months
    return out


def _tick_labels(days: Sequence[date], unit: str) -> list[tuple[str, str]]:
    """(main, year) label lines; the year is shown on the first tick and when it changes."""
    labels: list[tuple[str, str]] = []
    previous_year: int | None = None
    for day in days:
        if unit == "year":
            labels.append((str(day.year), ""))
            continue
        main = MONTHS[day.month - 1] if unit == "month" else f"{MONTHS[day.month - 1]} {day.day}"
        labels.append((main, str(day.year) if day.year != previous_year else ""))
        previous_year = day.year
    return labels


def _series_width(text: str) -> float:
    return _text_width(text, SERIES_FS, bold=True)


@dataclass(frozen=True, slots=True)
class _SeriesLabel:
    """A placed series label; ``label`` + ``tail`` is the untruncated text for the tooltip."""

    x: float
    lane: int
    text: str
    colour: str
    label: str
    tail: str  # " (ongoing)" or ""

    @property
    def end(self) -> float:
        return self.x + _series_width(self.text)


# --------------------------------------------------------------------------
# The chart
# --------------------------------------------------------------------------


class _Chart:
    """Lays out and draws one chart; an object only to share the computed geometry."""

    def __init__(
        self,
        instrument: Instrument,
        points: tuple[ChartPoint, ...],
        series: tuple[ChartSeries, ...],
        title: str | None,
        now: datetime | None,
        width: int,
        height: int,
    ) -> None:
        self.inst = instrument
        self.width = width
        self.height = height
        self.title = _clean(title if title is not None else f"{instrument.name} over time")
        self.lo = instrument.min_score
        self.hi = instrument.max_score

        zone = _display_zone(
            [p.completed_at for p in points]
            + [t for s in series for t in (s.started_at, s.ended_at, *s.sessions)]
            + [now]
        )
        self.points = sorted((_wall(p.completed_at, zone), p.total) for p in points)
        self.now = _wall(now, zone) if now is not None else None
        self.spans = self._spans(series, zone)
        self.t0, self.t1 = self._time_range()
        # With no dates at all the x range is arbitrary, so it gets no date labels.
        self.dated = bool(self.points or self.spans) or self.now is not None

        # Horizontal layout: y labels on the left, band labels in a right gutter.
        widest = max(len(str(self.lo)), len(str(self.hi)))
        self.left = PAD + _text_width("8" * widest, TICK_FS) + 10
        self.gutter = min(max(width * 0.16, 72.0), 140.0)
        self.right = width - PAD - self.gutter
        # Vertical layout: title, series label lanes, plot, two lines of x labels.
        self.series_labels = self._layout_series_labels()
        lanes = 1 + max((lab.lane for lab in self.series_labels), default=-1)
        self.top = PAD + TITLE_FS + 12 + lanes * (SERIES_FS + 4)
        self.bottom = height - PAD - 6 - 2 * (TICK_FS + 2)
        self._xy_cache: list[tuple[float, float]] | None = None

    # ---- normalisation ---------------------------------------------------

    def _spans(self, series: tuple[ChartSeries, ...], zone: tzinfo | None) -> list[_Span]:
        last_point = self.points[-1][0] if self.points else None
        spans: list[_Span] = []
        for index, item in enumerate(series):
            start = _wall(item.started_at, zone)
            sessions = tuple(sorted(_wall(t, zone) for t in item.sessions))
            if item.ended_at is None:
                # Ongoing: shade to the last point or now, whichever is later.
                ends = [t for t in (last_point, self.now) if t is not None]
                end = max([start, *sessions, *ends])
            else:
                end = _wall(item.ended_at, zone)
            start, end = min(start, end), max(start, end)
            spans.append(
                _Span(
                    label=_clean(item.label) or "Series",
                    ongoing=item.ended_at is None,
                    start=start,
                    end=end,
                    sessions=sessions,
                    colour=SERIES_COLOURS[index % len(SERIES_COLOURS)],
                )
            )
        return spans

    def _time_range(self) -> tuple[datetime, datetime]:
        """The x range: every point, series and session, at least a week, padded."""
        times = [t for t, _ in self.points]
        for span in self.spans:
            times += [span.start, span.end, *span.sessions]
        if not times:
            anchor = self.now or datetime(2000, 1, 1)  # arbitrary, and then not labelled
            times = [_shift(anchor, -EMPTY_SPAN), anchor]
        t0, t1 = min(times), max(times)
        if t1 - t0 < MIN_SPAN:
            middle = t0 + (t1 - t0) / 2
            t0, t1 = _shift(middle, -MIN_SPAN / 2), _shift(middle, MIN_SPAN / 2)
        pad = max((t1 - t0) * 0.03, timedelta(hours=12))
        return _shift(t0, -pad), _shift(t1, pad)

    # ---- mapping -----------------------------------------------------------

    def x(self, t: datetime) -> float:
        total = (self.t1 - self.t0).total_seconds() or 1.0
        return self.left + (t - self.t0).total_seconds() / total * (self.right - self.left)

    def y(self, score: float) -> float:
        clamped = min(max(score, self.lo), self.hi)
        return self.bottom - (clamped - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)

    def _clamp_x(self, value: float) -> float:
        return min(max(value, self.left), self.right)

    # ---- layout ------------------------------------------------------------

    def _layout_series_labels(self) -> list[_SeriesLabel]:
        """Series labels above the plot, in up to two lanes, truncated rather than overlapping."""
        gap, limit = 10.0, self.width - PAD
        cap = max((self.right - self.left) * 0.6, 90.0)  # one long label must not take the row
        lanes: list[list[_SeriesLabel]] = []
        order = sorted(range(len(self.spans)), key=lambda i: (self.spans[i].start, i))
        for index in order:
            span = self.spans[index]
            tail = " (ongoing)" if span.ongoing else ""
            text = _fit(span.label, cap, SERIES_FS, bold=True, suffix=tail)
            x = self._clamp_x(self.x(span.start))
            x = max(self.left, min(x, limit - _series_width(text)))  # keep it inside the image
            lane = next((k for k, row in enumerate(lanes) if row[-1].end + gap <= x), None)
            if lane is None and len(lanes) < 2:
                lanes.append([])
                lane = len(lanes) - 1
            if lane is None:
                # Both lanes busy: shorten the label that ends first, then fit this one after it.
                lane = min(range(len(lanes)), key=lambda k: lanes[k][-1].end)
                prev = lanes[lane][-1]
                room = max(x - gap - prev.x, _series_width("W" + ELLIPSIS))
                short = _fit(prev.label, room, SERIES_FS, bold=True, suffix=prev.tail)
                lanes[lane][-1] = _SeriesLabel(
                    prev.x, lane, short, prev.colour, prev.label, prev.tail
                )
                x = max(x, prev.x + _series_width(short) + gap)
                text = _fit(span.label, limit - x, SERIES_FS, bold=True, suffix=tail)
            lanes[lane].append(_SeriesLabel(x, lane, text, span.colour, span.label, tail))
        return [label for row in lanes for label in row]

    def _band_extent(self, band: Band) -> tuple[float, float]:
        """Top and bottom y of a band: boundaries sit on whole scores, so the cut-off line
        (score >= cutoff) coincides with the edge of the band it starts."""
        return self.y(min(band.max + 1, self.hi)), self.y(band.min)

    def _x_ticks(self) -> list[tuple[float, str, str]]:
        """The finest tick unit whose labels do not collide; at least two ticks if possible."""
        if not self.dated:
            return []
        plot_w = self.right - self.left
        span_days = (self.t1 - self.t0).total_seconds() / 86400
        fallback: list[tuple[float, str, str]] = []
        for unit, count in _TICK_STEPS:
            if span_days / (_UNIT_DAYS[unit] * count) > plot_w / 24:
                continue  # certainly too dense; skip without generating thousands of dates
            days = _tick_dates(self.t0, self.t1, unit, count)
            if not days:
                continue
            labels = _tick_labels(days, unit)
            xs = [self.x(datetime.combine(d, time())) for d in days]
            need = max(max(_text_width(a, TICK_FS), _text_width(b, TICK_FS)) for a, b in labels)
            if all(b - a >= need + 12 for a, b in zip(xs, xs[1:], strict=False)):
                ticks = [(x, a, b) for x, (a, b) in zip(xs, labels, strict=True)]
                if len(ticks) >= 2:
                    return ticks
                fallback = fallback or ticks
        return fallback

    # ---- drawing -----------------------------------------------------------

    def svg(self) -> str:
        parts = [
            _el("rect", {"width": self.width, "height": self.height, "fill": "#FFFFFF"}),
            _text(PAD, PAD + TITLE_FS, self._title_text(), TITLE_FS, bold=True, cls="title"),
            *self._bands(),
            *self._grid_and_ticks(),
            *self._series_regions(),
            self._cutoff_line(),
            *self._band_labels(),
            *self._series_label_elements(),
            *self._sessions(),
            *self._score(),
        ]
        parts += self._annotations()
        body = "".join(p for p in parts if p)
        root = {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": self.width,
            "height": self.height,
            "viewBox": f"0 0 {self.width} {self.height}",
            "role": "img",
            "font-family": FONT_FAMILY,
        }
        head = "<svg " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in root.items()) + ">"
        document = f"{head}<title>{escape(self.title)}</title><desc>{escape(self._desc())}</desc>"
        document += body + "</svg>"
        # ASCII only: non-ASCII text becomes character references.
        return document.encode("ascii", "xmlcharrefreplace").decode("ascii")

    def _title_text(self) -> str:
        return _fit(self.title, self.width - 2 * PAD, TITLE_FS, bold=True)

    def _bands(self) -> list[str]:
        out = []
        n = len(self.inst.bands)
        picks = BAND_PICKS.get(n, tuple(range(n)))  # more than five bands: cycle
        for index, band in enumerate(self.inst.bands):
            colour = BAND_FILLS[picks[index] % len(BAND_FILLS)]
            top, bottom = self._band_extent(band)
            attrs = {
                "class": "band",
                "data-band": band.code,
                "x": self.left,
                "y": top,
                "width": self.width - PAD - self.left,  # runs on under its label
                "height": bottom - top,
                "fill": colour,
            }
            tip = f"{band.label}: {band.min}\u2013{band.max}"
            out.append(_el("rect", attrs, _tooltip(_clean(tip))))
        return out

    def _grid_and_ticks(self) -> list[str]:
        out = [
            _el(
                "rect",
                {
                    "class": "plot-area",
                    "x": self.left,
                    "y": self.top,
                    "width": self.right - self.left,
                    "height": self.bottom - self.top,
                    "fill": "none",
                    "stroke": AXIS,
                    "stroke-width": 1,
                },
            )
        ]
        plot_h = self.bottom - self.top
        step = _nice_step(self.hi - self.lo, max(2, int(plot_h // 28)))
        first = -(-self.lo // step) * step
        for value in range(first, self.hi + 1, step):
            y = self.y(value)
            out.append(
                _el(
                    "line", {"x1": self.left - 4, "y1": y, "x2": self.left, "y2": y, "stroke": AXIS}
                )
            )
            out.append(_text(self.left - 6, y + 4, str(value), TICK_FS, anchor="end", fill=MUTED))
        for x, main, year in self._x_ticks():
            out.append(
                _el(
                    "line",
                    {
                        "x1": x,
                        "y1": self.top,
                        "x2": x,
                        "y2": self.bottom,
                        "stroke": "#000000",
                        "stroke-opacity": 0.07,
                    },
                )
            )
            out.append(
                _el(
                    "line",
                    {"x1": x, "y1": self.bottom, "x2": x, "y2": self.bottom + 4, "stroke": AXIS},
                )
            )
            half = max(_text_width(main, TICK_FS), _text_width(year, TICK_FS)) / 2
            tx = min(max(x, PAD + half), self.width - PAD - half)  # keep edge labels inside
            base = self.bottom + 4 + TICK_FS
            out.append(_text(tx, base, main, TICK_FS, anchor="middle", fill=MUTED, cls="x-tick"))
            if year:
                out.append(
                    _text(tx, base + TICK_FS + 2, year, TICK_FS, anchor="middle", fill=MUTED)
                )
        return out

    def _series_regions(self) -> list[str]:
        out = []
        for span in self.spans:
            x0, x1 = self._clamp_x(self.x(span.start)), self._clamp_x(self.x(span.end))
            if x1 - x0 < 2:  # a one-day series must still be visible
                x0, x1 = x0 - 1, x1 + 1
            when = (
                f"from {_day(span.start)}, ongoing"
                if span.ongoing
                else (f"{_day(span.start)} to {_day(span.end)}")
            )
            tip = f"{span.label}: {when}"
            plot_h = self.bottom - self.top
            out.append(
                _el(
                    "rect",
                    {
                        "class": "series",
                        "x": x0,
                        "y": self.top,
                        "width": x1 - x0,
                        "height": plot_h,
                        "fill": span.colour,
                        "fill-opacity": SERIES_OPACITY,
                    },
                    _tooltip(tip),
                )
            )
            # A solid cap along the top ties the region to its label above.
            out.append(
                _el(
                    "rect",
                    {"x": x0, "y": self.top, "width": x1 - x0, "height": 3, "fill": span.colour},
                )
            )
            edges = [x0] if span.ongoing else [x0, x1]
            for edge in edges:
                out.append(
                    _el(
                        "line",
                        {
                            "x1": edge,
                            "y1": self.top,
                            "x2": edge,
                            "y2": self.bottom,
                            "stroke": span.colour,
                            "stroke-opacity": 0.5,
                        },
                    )
                )
        return out

    def _cutoff_line(self) -> str:
        y = self.y(self.inst.thresholds.cutoff)
        return _el(
            "line",
            {
                "class": "cutoff",
                "x1": self.left,
                "y1": y,
                "x2": self.right,
                "y2": y,
                "stroke": "#374151",
                "stroke-width": 1.5,
                "stroke-dasharray": "6 4",
            },
        )

    def _band_labels(self) -> list[str]:
        """Band labels in the right gutter, wrapped to fit, nudged apart if bands are thin."""
        x = self.right + 6
        max_w = self.width - PAD - x - 2
        line_h = LABEL_FS + 2
        blocks: list[tuple[float, list[str]]] = []  # (centre y, lines)
        for band in self.inst.bands:
            top, bottom = self._band_extent(band)
            max_lines = max(1, int((bottom - top - 2) // line_h))
            lines = _wrap(_clean(band.label), max_w, LABEL_FS, max_lines) or [""]
            blocks.append(((top + bottom) / 2, lines))
        # Bands run bottom-up; lay blocks out top-down without overlap, inside the plot.
        blocks.sort(key=lambda b: b[0])
        tops: list[float] = []
        cursor = self.top
        for centre, lines in blocks:
            block_top = max(centre - len(lines) * line_h / 2, cursor)
            tops.append(block_top)
            cursor = block_top + len(lines) * line_h
        overflow = cursor - self.bottom
        if overflow > 0:  # push back up from the bottom
            floor = self.bottom
            for i in range(len(blocks) - 1, -1, -1):
                tops[i] = min(tops[i], floor - len(blocks[i][1]) * line_h)
                floor = tops[i]
        out = []
        for block_top, (_, lines) in zip(tops, blocks, strict=True):
            for k, line in enumerate(lines):
                base = block_top + k * line_h + LABEL_FS * 0.9
                out.append(_text(x, base, line, LABEL_FS, fill=TEXT, cls="band-label"))
        return out

    def _series_label_elements(self) -> list[str]:
        out = []
        for label in self.series_labels:
            base = self.top - 6 - label.lane * (SERIES_FS + 4)
            attrs = {
                "class": "series-label",
                "x": label.x,
                "y": base,
                "font-size": SERIES_FS,
                "font-weight": "bold",
                "fill": label.colour,
            }
            out.append(_el("text", attrs, _tooltip(label.label + label.tail) + escape(label.text)))
        return out

    def _sessions(self) -> list[str]:
        """One small upward triangle per session, standing on the x axis."""
        out = []
        for span in self.spans:
            xs = [self.x(when) for when in span.sessions]
            # Narrower triangles when sessions are close, so each stays distinguishable.
            gaps = [b - a for a, b in zip(xs, xs[1:], strict=False) if b > a]
            half = min(4.5, max(2.0, min(gaps, default=9.0) / 2 - 0.5))
            top, base = _num(self.bottom - 8), _num(self.bottom)
            # One template per series, as for the score's dots: only the path and tooltip vary.
            triangle = _el(
                "path",
                {
                    "class": "session",
                    "d": "{d}",
                    "fill": span.colour,
                    "stroke": "#FFFFFF",
                    "stroke-width": 0.75,
                },
                "{tip}",
            ).format
            for number, (when, x) in enumerate(zip(span.sessions, xs, strict=True), start=1):
                # Digits, "-", ".", spaces and M/L/Z: quoteattr would leave the path as it is.
                d = f"M{_num(x)} {top}L{_num(x + half)} {base}L{_num(x - half)} {base}Z"
                tip = f"{span.label}: session {number}, {_day(when)}"
                out.append(triangle(d=d, tip=_tooltip(tip)))
        return out

    def _xy(self) -> list[tuple[float, float]]:
        """Every point's position, computed once per chart (the line, dots and labels use it)."""
        if self._xy_cache is None:
            self._xy_cache = [(self.x(t), self.y(total)) for t, total in self.points]
        return self._xy_cache

    def _dense(self) -> bool:
        """More than one point per ~10 px: small plain dots, or the line looks beaded."""
        return len(self.points) > (self.right - self.left) / 10

    def _score(self) -> list[str]:
        xy = self._xy()
        heights: dict[float, str] = {}  # a score's y, formatted once per distinct score
        shown = [
            (_num(x), heights[y] if y in heights else heights.setdefault(y, _num(y))) for x, y in xy
        ]
        out = []
        if len(xy) >= 2:
            coords = " ".join(f"{x},{y}" for x, y in shown)
            out.append(
                _el(
                    "polyline",
                    {
                        "class": "score-line",
                        "points": coords,
                        "fill": "none",
                        "stroke": LINE,
                        "stroke-width": 2,
                        "stroke-linejoin": "round",
                    },
                )
            )
        dense = self._dense()
        # Every dot is the same element but for its position and tooltip: _el builds it
        # once with placeholders (no constant attribute holds a brace), filled per point.
        dot = _el(
            "circle",
            {
                "class": "point",
                "cx": "{x}",
                "cy": "{y}",
                "r": 2.0 if dense else 3.5,
                "fill": LINE,
                "stroke": None if dense else "#FFFFFF",
                "stroke-width": None if dense else 1.25,
            },
            "{tip}",
        ).format
        # The tooltip's "score (band)" part, escaped once per distinct total.
        # escape() replaces character by character, so escaping the parts is
        # escaping the whole; _day() gives digits, spaces and month names only.
        tails: dict[int, str] = {}
        for (x, y), (t, total) in zip(shown, self.points, strict=True):
            tail = tails.get(total)
            if tail is None:
                tail = tails[total] = escape(f": {total} ({self._band_label(total)})")
            out.append(dot(x=x, y=y, tip=f"<title>{_day(t)}{tail}</title>"))
        return out

    def _band_label(self, total: int) -> str:
        try:
            return _clean(self.inst.band_for(total).label)
        except ValueError:
            return "out of range"

    def _samples(self) -> list[tuple[float, float]]:
        """Points along the score line, every ~4 px, to keep labels off the data."""
        xy = self._xy()
        samples = list(xy)
        for (xa, ya), (xb, yb) in zip(xy, xy[1:], strict=False):
            steps = int(math.hypot(xb - xa, yb - ya) // 4)
            if steps > 1:  # a shorter segment has no sample between its ends
                samples += [
                    (xa + (xb - xa) * k / steps, ya + (yb - ya) * k / steps)
                    for k in range(1, steps)
                ]
        for span in self.spans:  # session triangles
            samples += [(self.x(t), self.bottom - 4) for t in span.sessions]
        return samples

    def _annotations(self) -> list[str]:
        """Latest value, cut-off label and empty message: placed where they hide no data."""
        out: list[str] = []
        samples = sorted(self._samples())  # by x, for _hits; a filtered copy stays sorted
        taken: list[Box] = []
        if self.points:
            (x, y), total = self._xy()[-1], self.points[-1][1]
            text = str(total)
            w = _text_width(text, TICK_FS, bold=True)
            others = [s for s in samples if math.hypot(s[0] - x, s[1] - y) > 5]
            candidates = [
                (x, y - 8, "middle"),
                (x, y + 8 + TICK_FS * 0.8, "middle"),
                (x + 7, y + 4, "start"),
                (x - 7, y + 4, "end"),
            ]
            best = self._place(candidates, w, TICK_FS, others, taken)
            cx, base, anchor = candidates[best]
            taken.append(_text_box(cx, base, w, TICK_FS, anchor))
            out.append(
                _text(
                    cx,
                    base,
                    text,
                    TICK_FS,
                    anchor=anchor,
                    fill=LINE,
                    bold=True,
                    halo=True,
                    cls="latest",
                )
            )
        if not self.points:
            message = "No responses yet"
            mid_x, mid_y = (self.left + self.right) / 2, (self.top + self.bottom) / 2
            cut_y = self.y(self.inst.thresholds.cutoff)
            if abs(mid_y - cut_y) < NOTE_FS * 1.5:  # keep it off the cut-off line
                room_above = cut_y - self.top >= self.bottom - cut_y
                mid_y = (self.top + cut_y) / 2 if room_above else (cut_y + self.bottom) / 2
            mid_y += NOTE_FS * 0.35  # baseline that centres the text vertically
            taken.append(_text_box(mid_x, mid_y, _text_width(message, NOTE_FS), NOTE_FS, "middle"))
            out.append(
                _text(
                    mid_x,
                    mid_y,
                    message,
                    NOTE_FS,
                    anchor="middle",
                    fill=MUTED,
                    halo=True,
                    cls="empty",
                )
            )
        cutoff = self.inst.thresholds.cutoff
        text = f"cut-off {cutoff}"
        w = _text_width(text, LABEL_FS)
        y = self.y(cutoff)
        above, below = y - 4, y + 4 + LABEL_FS * 0.8
        candidates = [
            (self.left + 4, above, "start"),
            (self.right - 4, above, "end"),
            (self.left + 4, below, "start"),
            (self.right - 4, below, "end"),
            ((self.left + self.right) / 2, above, "middle"),
            ((self.left + self.right) / 2, below, "middle"),
        ]
        best = self._place(candidates, w, LABEL_FS, samples, taken)
        cx, base, anchor = candidates[best]
        out.append(
            _text(
                cx,
                base,
                text,
                LABEL_FS,
                anchor=anchor,
                fill="#374151",
                halo=True,
                cls="cutoff-label",
            )
        )
        return out

    def _place(
        self,
        candidates: Sequence[tuple[float, float, str]],
        width: float,
        size: float,
        samples: Sequence[tuple[float, float]],
        taken: Sequence[Box],
    ) -> int:
        """Index of the first candidate that stays in the plot and covers nothing,
        else the one covering least (ties: earliest), so placement is deterministic.

        ``samples`` must be sorted (by x, then y).
        """
        xs = [x for x, _y in samples]
        scores = []
        for x, base, anchor in candidates:
            box = _text_box(x, base, width, size, anchor)
            inside = (
                box[0] >= self.left
                and box[2] <= self.right
                and box[1] >= self.top
                and box[3] <= self.bottom
            )
            penalty = _hits(box, samples, xs) + 100 * sum(_overlaps(box, t) for t in taken)
            penalty += 0 if inside else 1000
            if penalty == 0:
                return len(scores)
            scores.append(penalty)
        return scores.index(min(scores))

    def _desc(self) -> str:
        """A sentence summary for screen readers: count, range, latest score and band."""
        name = _clean(self.inst.name)
        parts = [f"{name} total score ({self.lo} to {self.hi}) over time."]
        if self.points:
            first, last = self.points[0], self.points[-1]
            count = len(self.points)
            noun = "response" if count == 1 else "responses"
            when = _day(first[0]) if count == 1 else f"from {_day(first[0])} to {_day(last[0])}"
            parts.append(f"{count} {noun} {when}.")
            cutoff = self.inst.thresholds.cutoff
            side = "below" if last[1] < cutoff else "at or above"
            band = self._band_label(last[1])
            parts.append(
                f"Latest score {last[1]} ({band}, {side} the cut-off of {cutoff}) "
                f"on {_day(last[0])}."
            )
        else:
            parts.append(f"No responses yet. Cut-off {self.inst.thresholds.cutoff}.")
        for span in self.spans:
            sessions = len(span.sessions)
            when = (
                f"from {_day(span.start)}, ongoing"
                if span.ongoing
                else f"{_day(span.start)} to {_day(span.end)}"
            )
            noun = "session" if sessions == 1 else "sessions"
            parts.append(f'Treatment series "{span.label}": {when}, {sessions} {noun}.')
        return " ".join(parts)
