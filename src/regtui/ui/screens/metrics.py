"""The metrics screen: push failure rate, traffic and storage from the registry's Prometheus.

Open it with `app.push_screen(MetricsScreen(MetricsService(registry_config)))`. It is
self-contained (its own CSS and bindings). Refreshes run in a thread worker because the
Prometheus client is synchronous; the next refresh is scheduled only when the previous
one has finished (never two at once), is skipped while another screen is on top, and backs
off while Prometheus fails. A failed chart keeps its last data and says how old it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from regtui.services.metrics import (
    RANGES,
    Backoff,
    ChartResult,
    MetricsError,
    MetricsService,
    Refresh,
    Series,
    TimeRange,
    breakdown_rows,
    class_lines,
    failure_ratios,
    format_age,
    format_value,
    latency_rows,
    one_line,
    range_by_label,
    storage_trend,
)
from regtui.text import Shown, safe_text
from regtui.ui.screens.funnel import FunnelScreen
from regtui.ui.widgets.badge import ReadOnlyBadge
from regtui.ui.widgets.charts import Line, MetricChart, StatValue
from regtui.ui.widgets.footer import PriorityFooter
from regtui.ui.widgets.tables import MeasuredTable

SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("push", "Push failure rate", ("push_failures", "push_breakdown")),
    ("traffic", "Traffic", ("traffic", "latency", "in_flight")),
    ("storage", "Storage trend", ("storage",)),
    ("harbor", "Harbor", ("harbor_health", "harbor_core")),
)
PALETTE = ("primary", "accent", "success", "warning", "secondary", "error")
"""Theme variables that colour lines with no fixed meaning, in order."""
PLOTTED = {
    "push_failures": "Push failure rate (share of push requests)",
    "traffic": "Push and pull requests per second",
    "latency": "p95 latency per handler",
    "in_flight": "In-flight requests",
    "storage": "Storage used and capacity",
    "harbor_core": "Harbor core requests by operation",
}
UNITS = {"push_failures": "ratio", "traffic": "rps", "latency": "seconds", "in_flight": "count",
         "storage": "bytes", "harbor_core": "rps"}


@dataclass
class MetricsRefreshed(Message):
    """A refresh finished in the worker thread; the screen owns what happens next."""

    refresh: Refresh
    trange: TimeRange


def chart_lines(chart: str, result: ChartResult) -> list[Line]:
    """Which lines a chart plots, with colours that mean something where they can."""
    if chart == "push_failures":
        lines = class_lines(result, ("5xx", "4xx"))
        return [Line("5xx", lines["5xx"].points, "error"),
                Line("4xx", lines["4xx"].points, "warning")]
    if chart == "latency":
        p95 = [s for s in result.series if s.label("quantile") == "p95"]
        return _palette(p95, "handler")
    legend = {"traffic": "direction", "storage": "series", "harbor_core": "operation"}.get(chart)
    if legend is None:
        return [Line(PLOTTED.get(chart, chart).lower(), result.series[0].points)]
    return _palette(sorted(result.series, key=lambda s: s.label(legend)), legend)


def _palette(series: Sequence[Series], legend: str) -> list[Line]:
    return [Line(safe_text(s.label(legend) or "(none)", 60), s.points, PALETTE[i % len(PALETTE)])
            for i, s in enumerate(series)]


def _key(value: object) -> str:
    """DataTable.sort passes one cell, or a tuple of cells when sorting by several columns."""
    cells = value if isinstance(value, tuple) else (value,)
    return "/".join(str(cell) for cell in cells)


class MetricsScreen(FunnelScreen[None]):
    """Prometheus panes for one registry; see the module docstring for how to open it."""

    DEFAULT_CSS = """
    MetricsScreen > #metrics-header { background: $panel; color: $text; padding: 0 1; }
    MetricsScreen > #metrics-ranges { color: $text-muted; padding: 0 1; }
    MetricsScreen .metrics-section { height: auto; padding: 0 1; margin: 1 0 0 0; }
    MetricsScreen .section-title { text-style: bold; color: $primary; }
    MetricsScreen .section-status { color: $text-muted; }
    MetricsScreen .section-status.-failed { color: $error; }
    MetricsScreen .stats { height: auto; }
    MetricsScreen .thresholds { color: $text-muted; }
    MetricsScreen DataTable { height: auto; max-height: 12; margin: 0 0 1 0; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(str(i + 1), f"set_range('{r.label}')", r.label, id=f"metrics.range-{r.label}",
                  tooltip=f"Show the last {r.label} (one point every {r.step}s)")
          for i, r in enumerate(RANGES)),
        Binding("r", "refresh", "Refresh", id="metrics.refresh",
                tooltip="Ask Prometheus again now (waits for a running refresh)"),
        Binding("escape", "app.pop_screen", "Back", id="metrics.back",
                tooltip="Leave the metrics screen"),
    ]

    def __init__(self, service: MetricsService, *, interval: float = 30.0,
                 time_range: str | TimeRange = "1h", name: str | None = None) -> None:
        """`time_range` is a label of `RANGES` or any `TimeRange` (tests use exact windows)."""
        super().__init__(name=name)
        self.service = service
        self.trange = range_by_label(time_range) if isinstance(time_range, str) else time_range
        self.backoff = Backoff(interval)
        self.results: dict[str, ChartResult] = {}
        self.errors: dict[str, MetricsError] = {}
        self.worker_error: str | None = None
        self.retry_in: float | None = None
        self.busy = False
        self.again = False
        self.completed = 0
        """Refreshes finished (with or without data), for tests and the header."""
        self._timer: Timer | None = None

    # --- layout ---

    def compose(self) -> ComposeResult:
        yield ReadOnlyBadge()
        yield Static(id="metrics-header")
        yield Static(id="metrics-ranges")
        with VerticalScroll(id="metrics-body"):
            for key, title, charts in SECTIONS:
                if key == "harbor" and not set(charts) & set(self.service.charts()):
                    continue
                with Vertical(classes="metrics-section", id=f"section-{key}"):
                    yield Static(Text(title), classes="section-title")
                    yield Static(classes="section-status", id=f"status-{key}")
                    yield from self._section_body(key)
        yield PriorityFooter()

    def _section_body(self, key: str) -> ComposeResult:
        if key == "push":
            with Vertical(classes="stats"):
                yield StatValue(id="stat-5xx")
                yield StatValue(id="stat-4xx")
            limits = self.service.thresholds
            yield Static(Text(f"warn ≥ {format_value(limits.warn, 'ratio')} · critical ≥ "
                              f"{format_value(limits.critical, 'ratio')}"), classes="thresholds")
            yield MetricChart(PLOTTED["push_failures"], "ratio", id="chart-push_failures")
            yield MeasuredTable(id="table-push_breakdown", cursor_type="row", zebra_stripes=True)
        elif key == "traffic":
            for chart in ("traffic", "latency"):
                yield MetricChart(PLOTTED[chart], UNITS[chart], id=f"chart-{chart}")
            yield MeasuredTable(id="table-latency", cursor_type="row", zebra_stripes=True)
            yield MetricChart(PLOTTED["in_flight"], "count", id="chart-in_flight")
        elif key == "storage":
            yield MetricChart(PLOTTED["storage"], "bytes", id="chart-storage")
            yield Static(id="storage-trend")
        else:
            yield MeasuredTable(id="table-harbor_health", cursor_type="row")
            yield MetricChart(PLOTTED["harbor_core"], "rps", id="chart-harbor_core")

    def on_mount(self) -> None:
        self._setup_tables()
        self._show_header()
        self._show_all()
        self.set_interval(5.0, self._show_statuses)
        self._schedule(0.0)

    def _setup_tables(self) -> None:
        columns = {
            "table-push_breakdown": ("handler", "method", "code", "requests", "share"),
            "table-latency": ("handler", "p50", "p95", "p99"),
            "table-harbor_health": ("series", "value"),
        }
        for table_id, names in columns.items():
            for table in self.query(f"#{table_id}").results(DataTable):
                table.add_columns(*names)

    # --- refresh loop ---

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = None
        self.retry_in = delay if delay > 0 and self.backoff.failures else None
        if delay <= 0:  # a zero-interval Timer divides by zero in Textual
            self.call_later(self._tick)
        else:
            self._timer = self.set_timer(delay, self._tick)

    def _tick(self) -> None:
        """Timer fired: refresh unless hidden behind another screen (then look again later)."""
        if self.app.screen is not self:
            self._schedule(self.backoff.interval)
            return
        self._start()

    def _start(self) -> None:
        if self.service.config is None:
            return
        if self.busy:
            self.again = True
            return
        self.busy = True
        self._show_header()
        self._fetch(self.trange)

    @work(thread=True, group="metrics", exit_on_error=False)
    def _fetch(self, trange: TimeRange) -> None:
        self.post_message(MetricsRefreshed(self.service.fetch_all(trange), trange))

    def on_metrics_refreshed(self, message: MetricsRefreshed) -> None:
        self.busy = False
        self.worker_error = None
        for chart, result in message.refresh.results.items():
            self.results[chart] = result
            self.errors.pop(chart, None)
        self.errors.update(message.refresh.errors)
        self._after(ok=not message.refresh.transient_failure)

    def worker_failed(self, worker: Worker[Any], message: str) -> None:
        if worker.group != "metrics":  # its own workers' failures are shown in place
            super().worker_failed(worker, message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A bug in a refresh must not stop the loop: say it on one line and back off."""
        if event.worker.group == "metrics" and event.state == WorkerState.ERROR:
            self.busy = False
            error = event.worker.error
            self.worker_error = one_line(f"metrics refresh failed: {type(error).__name__}: {error}")
            self._after(ok=False)

    def _after(self, ok: bool) -> None:
        self.completed += 1
        delay = self.backoff.next_delay(ok)
        if self.again:
            self.again, delay = False, 0.0
        self._schedule(delay)
        self._show_header()
        self._show_all()

    def action_set_range(self, label: str) -> None:
        self.trange = range_by_label(label)
        self._show_header()
        self._schedule(0.0)

    def action_refresh(self) -> None:
        self._schedule(0.0)

    # --- drawing ---

    def _show_header(self) -> None:
        svc = self.service
        state = " · refreshing…" if self.busy else ""
        header = self.query_one("#metrics-header", Static)
        header.update(Text(f"Metrics · {svc.name} ({svc.registry.flavor}){state}"))
        header.tooltip = f"Prometheus: {svc.url or 'not configured'}"
        ranges = Text()
        for i, item in enumerate(RANGES):
            style = "reverse bold" if item == self.trange else ""
            ranges.append(f" {i + 1}:{item.label} ", style=style)
        ranges.append(f"  step {self.trange.step}s · rate over {self.trange.window}s")
        if self.worker_error:
            ranges.append(f"  {self.worker_error}")
        self.query_one("#metrics-ranges", Static).update(ranges)

    def _show_all(self) -> None:
        for chart, result in self.results.items():
            self._show_chart(chart, result)
        self._show_statuses()

    def _show_chart(self, chart: str, result: ChartResult) -> None:
        span = (result.start.timestamp(), result.end.timestamp())
        if chart in PLOTTED:
            for widget in self.query(f"#chart-{chart}").results(MetricChart):
                widget.show(chart_lines(chart, result), *span)
        if chart == "push_failures":
            self._show_stats(result)
        elif chart == "push_breakdown":
            self._fill_breakdown(result)
        elif chart == "latency":
            self._fill_latency(result)
        elif chart == "storage":
            self._show_storage(result)
        elif chart == "harbor_health":
            self._fill_rows("table-harbor_health", [
                (safe_text(s.label("series"), 80), Shown(format_value(s.last, "count")))
                for s in result.series], 1)

    def _show_stats(self, result: ChartResult) -> None:
        ratios = failure_ratios(result)
        for name in ("5xx", "4xx"):
            level = self.service.thresholds.level(ratios[name])
            value = format_value(ratios[name], "ratio")
            self.query_one(f"#stat-{name}", StatValue).set_value(f"{name} push failures", value,
                                                                 level)

    def _fill_breakdown(self, result: ChartResult) -> None:
        self._fill_rows("table-push_breakdown", [
            (safe_text(r.handler, 80), safe_text(r.method, 10), safe_text(r.code, 5),
             Shown(format_value(round(r.count), "count")), Shown(format_value(r.share, "ratio")))
            for r in breakdown_rows(result)
        ], 3)

    def _fill_latency(self, result: ChartResult) -> None:
        self._fill_rows("table-latency", [
            (safe_text(r.handler, 80),
             *(Shown(format_value(v, "seconds")) for v in (r.p50, r.p95, r.p99)))
            for r in latency_rows(result)
        ], 1)

    def _fill_rows(self, table_id: str, rows: Sequence[tuple[Shown, ...]], key_len: int) -> None:
        """Rows by key (the first `key_len` cells): update, add new, drop gone; keep order."""
        table = self.query_one(f"#{table_id}", DataTable)
        keys = {"/".join(row[:key_len]): row for row in rows}
        rank = {key: i for i, key in enumerate(keys)}
        with self.app.batch_update():
            for gone in [k for k in table.rows if k.value not in keys]:
                table.remove_row(gone)
            for key, row in keys.items():
                self._put_row(table, key, row)
            columns = list(table.columns)[:key_len]
            table.sort(*columns, key=lambda value: rank.get(_key(value), len(rank)))

    @staticmethod
    def _put_row(table: DataTable[Text], key: str, row: tuple[Shown, ...]) -> None:
        cells = [Text(cell) for cell in row]
        if key not in {k.value for k in table.rows}:
            table.add_row(*cells, key=key)
            return
        for column, cell in zip(table.columns, cells, strict=False):
            table.update_cell(key, column, cell)

    def _show_storage(self, result: ChartResult) -> None:
        trend = storage_trend(result)
        parts = [f"used {format_value(trend.used, 'bytes')}",
                 f"capacity {format_value(trend.capacity, 'bytes')}"]
        if trend.growth_per_day is not None:
            parts.append(f"growth {format_value(trend.growth_per_day, 'bytes')}/day")
        days = trend.days_until_full
        parts.append(f"full in {days:.1f} days" if days is not None else "full in –")
        self.query_one("#storage-trend", Static).update(Text(" · ".join(parts)))

    def _show_statuses(self) -> None:
        for key, _title, charts in SECTIONS:
            for status in self.query(f"#status-{key}").results(Static):
                text, failed = self.section_status(charts)
                status.set_class(failed, "-failed")
                status.update(Text(text))

    def _other_range(self, charts: Sequence[str]) -> str:
        """Kept data may be from the range selected before; say so rather than mislead."""
        spans = {int((r.end - r.start).total_seconds()) for c in charts
                 if (r := self.results.get(c)) is not None}
        other = sorted(span for span in spans if span != self.trange.span)
        labels = [next((r.label for r in RANGES if r.span == span), f"{span}s") for span in other]
        return f" (of the {', '.join(labels)} range)" if labels else ""

    def section_status(self, charts: Sequence[str]) -> tuple[str, bool]:
        """One line per section: why it is empty, what failed and how old the data is."""
        present = [c for c in charts if c in self.service.charts()]
        if not present or self.service.config is None:
            return self.service.missing_reason(charts[0]), False
        now = self.service.clock()
        stamps = [self.results[c].fetched_at for c in present if c in self.results]
        age = format_age((now - min(stamps)).total_seconds()) if stamps else None
        errors = [self.errors[c] for c in present if c in self.errors]
        if not errors:
            return (f"updated {age} ago" if age else "loading…"), False
        kept = f"showing data from {age} ago{self._other_range(present)}" if age else \
            "no earlier data"
        retry = f" · retry in {format_age(self.retry_in)}" if self.retry_in else ""
        return f"{errors[0]} · {kept}{retry}", True
