"""Charts for the metrics screen: a plotext plot with a text line that says the same thing.

The text fallback (now, min, max per line) is always shown under the plot, so a screen reader
or a narrow terminal loses nothing; below `NARROW` columns the plot itself is hidden.
Colours come from the app theme's variables, never literals, and follow theme changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.color import Color
from textual.containers import Vertical
from textual.events import Resize
from textual.widgets import Static
from textual_plotext import PlotextPlot

from regtui.services.metrics import Point, Series, format_value, summarize

NARROW = 50
"""Below this many columns a plot is unreadable; only the text line is shown."""


@dataclass(frozen=True, slots=True)
class Line:
    """One plotted line: its legend name, points and the theme variable that colours it."""

    name: str
    points: Sequence[Point]
    color: str = "primary"


def theme_rgb(variables: dict[str, str], name: str) -> tuple[int, int, int]:
    """A theme variable as plotext's (r, g, b); unknown names fall back to the foreground."""
    value = variables.get(name) or variables.get("foreground") or "white"
    red, green, blue = Color.parse(value).rgb
    return (red, green, blue)


def time_ticks(start: float, end: float, count: int = 5) -> tuple[list[float], list[str]]:
    """Evenly spaced x ticks labelled in UTC; day names once the range passes a day."""
    if end <= start:
        return [start], [_clock(start, end - start)]
    ticks = [start + (end - start) * i / (count - 1) for i in range(count)]
    return ticks, [_clock(t, end - start) for t in ticks]


def _clock(stamp: float, span: float) -> str:
    moment = datetime.fromtimestamp(stamp, UTC)
    return moment.strftime("%a %H:%M" if span > 86400 else "%H:%M")


def value_ticks(values: Sequence[float], unit: str,
                count: int = 3) -> tuple[list[float], list[str]]:
    """Y ticks from 0 (or the minimum, when negative) to the maximum, in the chart's unit."""
    low = min(0.0, min(values, default=0.0))
    high = max(values, default=0.0)
    if high <= low:
        high = low + (1.0 if unit != "ratio" else 0.01)
    ticks = [low + (high - low) * i / (count - 1) for i in range(count)]
    return ticks, [format_value(t, unit) for t in ticks]


class SafePlot(PlotextPlot):
    """plotext raises on some tiny sizes; a chart must never take the screen down with it."""

    def render(self) -> RenderResult:
        try:
            return super().render()
        except (IndexError, ValueError, ZeroDivisionError):
            return Text("(too small to plot: see the text below)")


class MetricChart(Vertical):
    """Title, plot and text summary of one chart; `show()` replaces its lines."""

    DEFAULT_CSS = """
    MetricChart {
        height: auto;
        margin: 0 0 1 0;
    }
    MetricChart > .chart-title {
        text-style: bold;
        color: $text;
    }
    MetricChart > SafePlot {
        height: 10;
    }
    MetricChart > .chart-summary {
        color: $text-muted;
    }
    MetricChart.-narrow > SafePlot, MetricChart.-empty > SafePlot {
        display: none;
    }
    """

    def __init__(self, title: str, unit: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.unit = unit
        self.lines: list[Line] = []
        self.span: tuple[float, float] = (0.0, 0.0)

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title), classes="chart-title")
        yield SafePlot()
        yield Static(Text("no data yet"), classes="chart-summary")

    def on_mount(self) -> None:
        self.add_class("-empty")
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    def show(self, lines: Sequence[Line], start: float, end: float) -> None:
        """Draw these lines over [start, end] (unix seconds) and rewrite the summary."""
        self.lines = list(lines)
        self.span = (start, end)
        self.set_class(not any(_real(line.points) for line in self.lines), "-empty")
        self._draw()

    def summary(self) -> Text:
        """The chart in words, one `name: now · min · max` per line; the names, in the
        line's colour, are also the legend (plotext's own legend overflows small plots)."""
        if not self.lines:
            return Text("no data")
        text = Text()
        variables = self.app.theme_variables
        for i, line in enumerate(self.lines):
            words = summarize(line.name, Series({}, tuple(line.points)), self.unit)
            colour = Color(*theme_rgb(variables, line.color)).rich_color
            text.append("\n" if i else "")
            text.append("■ ", style=Style(color=colour))
            text.append(words)
        return text

    def _draw(self) -> None:
        self.query_one(".chart-summary", Static).update(self.summary())
        plot = self.query_one(SafePlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        variables = self.app.theme_variables
        values: list[float] = []
        for line in self.lines:
            real = _real(line.points)
            if not real:
                continue
            values.extend(v for _, v in real)
            plt.plot([t for t, _ in real], [v for _, v in real], marker="braille",
                     color=theme_rgb(variables, line.color))
        self._axes(values)
        plot.refresh()

    def _axes(self, values: Sequence[float]) -> None:
        plt = self.query_one(SafePlot).plt
        start, end = self.span
        xticks, xlabels = time_ticks(start, end)
        plt.xticks(xticks, xlabels)
        plt.xlim(start, end)
        yticks, ylabels = value_ticks(values, self.unit)
        plt.yticks(yticks, ylabels)
        plt.ylim(yticks[0], yticks[-1])


def _real(points: Sequence[Point]) -> list[Point]:
    return [(t, v) for t, v in points if not math.isnan(v) and not math.isinf(v)]


class StatValue(Static):
    """One headline number, coloured by level and saying the level in words too."""

    DEFAULT_CSS = """
    StatValue {
        width: auto;
        padding: 0 2 0 0;
    }
    StatValue.-ok { color: $success; }
    StatValue.-warn { color: $warning; text-style: bold; }
    StatValue.-critical { color: $error; text-style: bold; }
    StatValue.-unknown { color: $text-muted; }
    """

    LEVELS = ("ok", "warn", "critical", "unknown")

    def set_value(self, label: str, value: str, level: str) -> None:
        for name in self.LEVELS:
            self.set_class(name == level, f"-{name}")
        self.update(Text(f"{label} {value} ({level})"))
