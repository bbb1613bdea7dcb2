"""Charts rendered server-side as self-contained SVG (no JavaScript, no external files).

Pure: standard library only, no I/O and no clock, so a chart is a function of
its input and can be tested, cached and served by any endpoint.
"""

from __future__ import annotations

from .trend_svg import MIN_HEIGHT, MIN_WIDTH, ChartPoint, ChartSeries, render_trend_svg

__all__ = ["MIN_HEIGHT", "MIN_WIDTH", "ChartPoint", "ChartSeries", "render_trend_svg"]
