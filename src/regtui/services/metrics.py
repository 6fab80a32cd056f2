"""Prometheus metrics for one registry: PromQL from the flavor profile, answers as plain data.

`prometheus-api-client` is synchronous, so every `fetch*` here blocks and is meant for a
thread worker. One PromQL query per chart per refresh, grouped in PromQL, never per
repository. Every failure becomes a `MetricsError` whose `kind` says what went wrong
(unreachable, timeout, HTTP status, malformed answer, empty result, configuration) and
whose message is one line naming the registry and the Prometheus URL.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from regtui.config import PrometheusConfig, RegistryConfig
from regtui.errors import RegtuiError
from regtui.services.metric_profiles import (
    CHARTS,
    NODE_SELECTOR_KEY,
    PULL_MATCHERS,
    PUSH_MATCHERS,
    ChartSpec,
    resolve_queries,
    unknown_overrides,
)
from regtui.text import Shown, Untrusted, safe_text

if TYPE_CHECKING:  # the client stack is imported when a query is made, not at start-up
    from prometheus_api_client import PrometheusConnect

Clock = Callable[[], datetime]
Point = tuple[float, float]

UNREACHABLE: Final = "unreachable"
TIMEOUT: Final = "timeout"
HTTP: Final = "http"
MALFORMED: Final = "malformed"
EMPTY: Final = "empty"
CONFIG: Final = "config"
TRANSIENT: Final = frozenset({UNREACHABLE, TIMEOUT, HTTP, MALFORMED})
"""Kinds worth retrying with backoff; empty and config answers will not change by retrying."""

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_]+)\}")
_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def utc_now() -> datetime:
    return datetime.now(UTC)


class MetricsError(RegtuiError):
    """Prometheus could not answer a chart's query; `kind` is one of the constants above."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A selectable range: how far back, one point every `step`, `rate()` over `window`."""

    label: str
    span: int
    step: int
    window: int

    def points(self) -> int:
        return self.span // self.step + 1


RANGES: Final = (
    TimeRange("15m", 15 * 60, 15, 60),
    TimeRange("1h", 3600, 30, 120),
    TimeRange("6h", 6 * 3600, 180, 360),
    TimeRange("24h", 24 * 3600, 720, 1440),
    TimeRange("7d", 7 * 86400, 5040, 10080),
)
"""About 60-120 points per chart; the window covers at least four 15 s scrapes."""


def range_by_label(label: str) -> TimeRange:
    for item in RANGES:
        if item.label == label:
            return item
    raise KeyError(label)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Push failure ratio levels; 0.01 is 1 %."""

    warn: float = 0.01
    critical: float = 0.05

    def level(self, value: float | None) -> str:
        """`ok`, `warn`, `critical`, or `unknown` when there were no pushes to judge."""
        if value is None or math.isnan(value):
            return "unknown"
        if value >= self.critical:
            return "critical"
        return "warn" if value >= self.warn else "ok"


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: its labels and (unix time, value) points, NaN kept."""

    labels: Mapping[str, str]
    """Label values are whatever the scraped target exported: read them through `label`."""
    points: tuple[Point, ...]

    def label(self, key: str) -> Untrusted:
        return Untrusted(self.labels.get(key, ""))

    def values(self) -> list[float]:
        return [v for _, v in self.points if not math.isnan(v)]

    @property
    def last(self) -> float | None:
        """The newest real value; NaN (0/0, no traffic) is skipped."""
        values = self.values()
        return float(values[-1]) if values else None


@dataclass(frozen=True, slots=True)
class ChartResult:
    """A chart's answer and when it was asked, so a stale copy can show its age."""

    chart: str
    promql: str
    series: tuple[Series, ...]
    start: datetime
    end: datetime
    fetched_at: datetime


@dataclass
class Backoff:
    """Delay before the next refresh: the interval, doubled per consecutive failure, capped."""

    interval: float
    cap: float = 600.0
    failures: int = 0

    def next_delay(self, ok: bool) -> float:
        if ok:
            self.failures = 0
            return self.interval
        self.failures += 1
        return float(min(self.cap, self.interval * 2.0 ** (self.failures - 1)))


@dataclass(frozen=True, slots=True)
class Refresh:
    """One refresh of every chart: each id maps to its answer or why it has none."""

    end: datetime
    results: Mapping[str, ChartResult] = field(default_factory=dict)
    errors: Mapping[str, MetricsError] = field(default_factory=dict)

    @property
    def transient_failure(self) -> bool:
        """True when a retry might help, which is when the screen should back off."""
        return any(e.kind in TRANSIENT for e in self.errors.values())


def render_query(template: str, values: Mapping[str, str], where: str) -> str:
    """Fill `${name}` placeholders; an unknown one is the operator's typo, said plainly."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(f"${{{k}}}" for k in sorted(values))
            raise MetricsError(CONFIG, f"{where}: unknown placeholder ${{{name}}} (known: {known})")
        return values[name]

    return _PLACEHOLDER.sub(fill, template)


def selector_prefix(selector: str) -> str:
    """`job="registry"` -> `job="registry", ` so templates can put it first in the braces."""
    text = selector.strip().strip("{}").strip().rstrip(",").strip()
    return f"{text}, " if text else ""


def one_line(text: str, limit: int = 160) -> Shown:
    """Prometheus error bodies can be long or multi-line; the error line is neither."""
    return safe_text(" ".join(_CONTROL.sub(" ", text).split()), limit)


class MetricsService:
    """Charts of one registry's Prometheus; blocking calls, meant for thread workers."""

    def __init__(
        self,
        registry: RegistryConfig,
        *,
        clock: Clock = utc_now,
        timeout: float = 10.0,
        thresholds: Thresholds | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.config: PrometheusConfig | None = registry.prometheus
        self.clock = clock
        self.timeout = timeout
        self.thresholds = thresholds or (Thresholds(
            self.config.push_failure_warn, self.config.push_failure_critical)
            if self.config else Thresholds())
        self._env = os.environ if env is None else env
        overrides = dict(self.config.queries) if self.config else {}
        if self.config and self.config.node_selector:
            overrides[NODE_SELECTOR_KEY] = self.config.node_selector
        unknown = unknown_overrides(overrides)
        if unknown:
            raise MetricsError(CONFIG, (
                f"registry {registry.name!r}: [registries.prometheus.queries] {unknown[0]!r} "
                f"is no chart (known: {', '.join([*CHARTS, NODE_SELECTOR_KEY])})"))
        self.queries = resolve_queries(registry.flavor, overrides)
        self.queries_node_selector = overrides.get(NODE_SELECTOR_KEY, "")
        self._client: PrometheusConnect | None = None

    @property
    def name(self) -> str:
        return self.registry.name

    @property
    def url(self) -> str:
        return self.config.url if self.config else ""

    @property
    def where(self) -> str:
        """`registry 'lab' Prometheus http://...`: the start of every message."""
        return f"registry {self.name!r} Prometheus {self.url or '(not configured)'}"

    def charts(self) -> tuple[str, ...]:
        """Chart ids this profile (plus overrides) can answer, in display order."""
        return tuple(c for c in CHARTS if c in self.queries)

    def spec(self, chart: str) -> ChartSpec:
        return CHARTS[chart]

    def missing_reason(self, chart: str) -> str:
        """Why a chart is absent, for the pane, e.g. storage without node_exporter."""
        if self.config is None:
            return f"registry {self.name!r} has no [registries.prometheus] url in the config"
        if chart == "storage":
            return (f"storage trend needs node_exporter: set [registries.prometheus] "
                    f"{NODE_SELECTOR_KEY} = 'mountpoint=\"/var/lib/registry\"' for {self.name!r}")
        return f"flavor {self.registry.flavor!r} has no query for {chart!r}"

    def promql(self, chart: str, trange: TimeRange) -> str:
        """The query as sent, for the chart's tooltip and for tests."""
        template = self.queries.get(chart)
        if template is None:
            raise MetricsError(CONFIG, self.missing_reason(chart))
        return render_query(template, self._placeholders(trange), f"{self.where} query {chart!r}")

    def _placeholders(self, trange: TimeRange) -> dict[str, str]:
        node = self.queries_node_selector
        return {
            "sel": selector_prefix(self.config.selector if self.config else ""),
            "push": PUSH_MATCHERS,
            "pull": PULL_MATCHERS,
            "window": f"{trange.window}s",
            "range": f"{trange.span}s",
            "node": node.strip().strip("{}"),
        }

    def fetch_all(self, trange: TimeRange, charts: Iterable[str] | None = None) -> Refresh:
        """Every chart at one end time; after unreachable/timeout the rest are not tried."""
        end = self.clock()
        results: dict[str, ChartResult] = {}
        errors: dict[str, MetricsError] = {}
        for chart in self.charts() if charts is None else charts:
            down = next((e for e in errors.values() if e.kind in (UNREACHABLE, TIMEOUT)), None)
            try:
                if down is not None:
                    raise down
                results[chart] = self.fetch(chart, trange, end)
            except MetricsError as error:
                errors[chart] = error
        return Refresh(end, results, errors)

    def fetch(self, chart: str, trange: TimeRange, end: datetime | None = None) -> ChartResult:
        """One chart: a range query, or an instant query at `end` for table-like charts."""
        end = end or self.clock()
        start = end - timedelta(seconds=trange.span)
        promql = self.promql(chart, trange)
        raw = self._ask(promql, chart, trange, start, end)
        series = parse_result(raw, instant=self.spec(chart).instant, where=self._qwhere(chart))
        if not series:
            raise MetricsError(EMPTY, self._empty_message(chart))
        return ChartResult(chart, promql, series, start, end, self.clock())

    def instant_value(self, promql: str) -> float | None:
        """One number from an instant query (the first series); None when it has none."""
        try:
            raw = self._connect().custom_query(promql)
        except Exception as exc:  # the client raises requests', its own and JSON errors
            raise classify(exc, f"{self.where} query {promql!r}", self.timeout) from exc
        series = parse_result(raw, instant=True, where=self.where)
        return series[0].last if series else None

    def _qwhere(self, chart: str) -> str:
        return f"{self.where} query {chart!r}"

    def _empty_message(self, chart: str) -> str:
        selector = self.config.selector if self.config else ""
        return (f"{self.where} has no series for {CHARTS[chart].title.lower()} "
                f"(selector {selector or 'none'}): check the selector, or no traffic yet")

    def _ask(self, promql: str, chart: str, trange: TimeRange,
             start: datetime, end: datetime) -> Any:
        client = self._connect()
        try:
            if self.spec(chart).instant:
                return client.custom_query(promql, params={"time": f"{end.timestamp():.3f}"})
            return client.custom_query_range(promql, start, end, step=str(trange.step))
        except Exception as exc:  # the client raises requests', its own and JSON errors
            raise classify(exc, self._qwhere(chart), self.timeout) from exc

    def _connect(self) -> PrometheusConnect:
        if self._client is None:
            self._client = self._build_client()
        return self._client

    def _build_client(self) -> PrometheusConnect:
        if self.config is None:
            raise MetricsError(CONFIG, self.missing_reason(""))
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        session = requests.Session()
        session.verify = _verify(self.config)
        return PrometheusConnect(
            url=self.config.url,
            headers=self._headers(),
            auth=self._auth(),
            session=session,
            timeout=self.timeout,  # type: ignore[arg-type,unused-ignore]  # floats work
            retry=Retry(total=0, read=False, raise_on_status=False),
        )

    def _headers(self) -> dict[str, str] | None:
        assert self.config is not None
        if not self.config.bearer_token_env:
            return None
        token = self._secret(self.config.bearer_token_env, "bearer_token_env")
        return {"Authorization": f"Bearer {token}"}

    def _auth(self) -> tuple[str, str] | None:
        assert self.config is not None
        if not self.config.username:
            return None
        env = self.config.password_env
        password = self._secret(env, "password_env") if env else ""
        return (self.config.username, password)

    def _secret(self, var: str, key: str) -> str:
        value = self._env.get(var)
        if not value:
            raise MetricsError(
                CONFIG, f"{self.where}: [registries.prometheus] {key} names ${var}, which is unset"
            )
        return value

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _verify(config: PrometheusConfig) -> bool | str:
    if config.insecure:
        import urllib3

        # Asked for in the config; urllib3's per-request warning would scribble on the TUI.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return False
    return str(config.ca_file) if config.ca_file else True


def classify(exc: BaseException, where: str, timeout: float) -> MetricsError:
    """Turn whatever the client raised into one line that says which failure it was."""
    if isinstance(exc, MetricsError):
        return exc
    import requests
    from prometheus_api_client.exceptions import PrometheusApiClientException

    if isinstance(exc, requests.exceptions.Timeout):
        return MetricsError(TIMEOUT, f"{where}: no answer within {timeout:g}s (Prometheus slow?)")
    if isinstance(exc, requests.exceptions.SSLError):
        return MetricsError(UNREACHABLE, f"{where}: TLS failed ({_tls_reason(str(exc))}); "
                                         "set [registries.prometheus] ca_file, or insecure")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return MetricsError(UNREACHABLE, f"{where}: unreachable ({_reason(exc)})")
    if isinstance(exc, PrometheusApiClientException):
        return _http_error(str(exc), where)
    if isinstance(exc, ValueError | KeyError | TypeError | IndexError):
        return MetricsError(MALFORMED, f"{where}: malformed answer ({one_line(str(exc), 80)})")
    if isinstance(exc, requests.exceptions.RequestException):
        return MetricsError(UNREACHABLE, f"{where}: request failed ({one_line(str(exc), 120)})")
    name = type(exc).__name__
    return MetricsError(MALFORMED, f"{where}: unexpected {name}: {one_line(str(exc))}")


def _tls_reason(text: str) -> str:
    """The words that matter out of urllib3's nested retry/SSL message."""
    match = re.search(r"certificate verify failed[^'\"()]*", text) or re.search(
        r"\[SSL[^\]]*\] ([^'\"()]+)", text)
    return one_line(match.group(0), 100).rstrip(" .") if match else one_line(text, 100)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "No route to host",
                 "Connection reset", "Remote end closed"):
        if hint.lower() in text.lower():
            return hint.lower()
    return one_line(text, 100)


def _http_error(text: str, where: str) -> MetricsError:
    match = _STATUS.match(text)
    if match is None:
        return MetricsError(HTTP, f"{where}: {one_line(text)}")
    return MetricsError(HTTP, f"{where}: HTTP {match.group(1)}: {_error_body(match.group(2))}")


def _error_body(literal: str) -> str:
    """Prometheus puts the reason in a JSON `error` field; a proxy may send anything."""
    try:
        body = ast.literal_eval(literal)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    except (ValueError, SyntaxError):
        text = literal
    try:
        data = json.loads(text)
    except ValueError:
        return one_line(text) or "(empty body)"
    if isinstance(data, dict) and data.get("error"):
        return one_line(str(data["error"]))
    return one_line(text)


def parse_result(raw: Any, *, instant: bool, where: str) -> tuple[Series, ...]:
    """Prometheus' `data.result` -> Series; anything off-shape is a malformed answer."""
    try:
        if _is_sample(raw):  # a scalar or string result from an overridden query
            return (Series({}, (_sample(raw),)),)
        if not isinstance(raw, list):
            raise TypeError(f"result is {type(raw).__name__}, not a list")
        return tuple(_series(item, instant) for item in raw)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        reason = one_line(str(exc), 80)
        raise MetricsError(MALFORMED, f"{where}: malformed answer ({reason})") from exc


def _is_sample(raw: Any) -> bool:
    return isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], int | float)


def _series(item: Any, instant: bool) -> Series:
    metric = item["metric"]
    if not isinstance(metric, dict):
        raise TypeError("metric is not an object")
    labels = {str(k): Untrusted(v) for k, v in metric.items()}
    samples = [item["value"]] if instant else item["values"]
    if not isinstance(samples, list):
        raise TypeError("values is not a list")
    return Series(labels, tuple(_sample(s) for s in samples))


def _sample(sample: Any) -> Point:
    if not isinstance(sample, list | tuple) or len(sample) != 2:
        raise TypeError(f"sample {sample!r:.40} is not [time, value]")
    return (float(sample[0]), float(sample[1]))


# --- Derived numbers: pure functions over results, unit-tested without Prometheus. ---


def failure_ratios(result: ChartResult | None) -> dict[str, float | None]:
    """Latest 4xx and 5xx share of pushes; a class absent while pushes exist is 0, not unknown."""
    if result is None:
        return {"4xx": None, "5xx": None}
    lines = class_lines(result, ("4xx", "5xx"))
    return {name: series.last for name, series in lines.items()}


def class_lines(result: ChartResult, classes: Sequence[str]) -> dict[str, Series]:
    """One line per wanted class on the shared timeline, 0 where pushes had no such class."""
    timeline: dict[float, bool] = {}
    for series in result.series:
        for ts, value in series.points:
            timeline[ts] = timeline.get(ts, False) or not math.isnan(value)
    by_class: dict[str, dict[float, float]] = {s.label("class"): dict(s.points)
                                               for s in result.series}
    lines: dict[str, Series] = {}
    for name in classes:
        values = by_class.get(name, {})
        points = tuple((ts, values.get(ts, 0.0 if real else math.nan))
                       for ts, real in sorted(timeline.items()))
        lines[name] = Series({"class": name}, points)
    return lines


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """Push requests of one handler/method/code over the range, and their share of all pushes."""

    handler: Untrusted
    method: Untrusted
    code: Untrusted
    count: float
    share: float

    @property
    def failed(self) -> bool:
        return self.code[:1] in ("4", "5")


def breakdown_rows(result: ChartResult | None) -> list[BreakdownRow]:
    """Failures first (5xx, then 4xx), biggest first, then successes."""
    if result is None:
        return []
    total = sum(s.last or 0.0 for s in result.series)
    rows = [
        BreakdownRow(s.label("handler"), s.label("method"), s.label("code"), s.last or 0.0,
                     (s.last or 0.0) / total if total else 0.0)
        for s in result.series
    ]
    return sorted(rows, key=lambda r: (not r.failed, -int(r.code[:1] or 0), -r.count, r.handler))


@dataclass(frozen=True, slots=True)
class LatencyRow:
    handler: Untrusted
    p50: float | None
    p95: float | None
    p99: float | None


def latency_rows(result: ChartResult | None) -> list[LatencyRow]:
    """p50/p95/p99 per handler from the latest point of each quantile line."""
    if result is None:
        return []
    table: dict[Untrusted, dict[str, float | None]] = {}
    for series in result.series:
        table.setdefault(series.label("handler"), {})[series.label("quantile")] = series.last
    return [LatencyRow(h, q.get("p50"), q.get("p95"), q.get("p99"))
            for h, q in sorted(table.items())]


@dataclass(frozen=True, slots=True)
class StorageTrend:
    """Used bytes now, growth per day (least squares over the range), days until full."""

    used: float | None
    capacity: float | None
    growth_per_day: float | None
    days_until_full: float | None


def storage_trend(result: ChartResult | None) -> StorageTrend:
    if result is None:
        return StorageTrend(None, None, None, None)
    by_name: dict[str, Series] = {s.label("series"): s for s in result.series}
    used, capacity = by_name.get("used"), by_name.get("capacity")
    slope = _slope(used.points) if used else None
    growth = slope * 86400 if slope is not None else None
    now = used.last if used else None
    cap = capacity.last if capacity else None
    return StorageTrend(now, cap, growth, _days_left(now, cap, growth))


def _days_left(used: float | None, cap: float | None, growth: float | None) -> float | None:
    if used is None or cap is None or growth is None or growth <= 0:
        return None
    return max(0.0, (cap - used) / growth)


def _slope(points: Sequence[Point]) -> float | None:
    """Least-squares slope (per second), the same idea as PromQL `deriv()`."""
    real = [(t, v) for t, v in points if not math.isnan(v)]
    if len(real) < 2:
        return None
    mean_t = sum(t for t, _ in real) / len(real)
    mean_v = sum(v for _, v in real) / len(real)
    den = sum((t - mean_t) ** 2 for t, _ in real)
    if den == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in real) / den


# --- Text: the fallback for every chart and the numbers on the stat lines. ---

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_value(value: float | None, unit: str) -> str:
    """A short human number; `–` when there is no value (no traffic, no data)."""
    if value is None or math.isnan(value):
        return "–"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "rps":
        return f"{value:.2f}/s"
    if unit == "seconds":
        return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"
    if unit == "bytes":
        return _bytes(value)
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _bytes(value: float) -> str:
    size, unit = abs(value), 0
    while size >= 1024 and unit < len(_BYTE_UNITS) - 1:
        size, unit = size / 1024, unit + 1
    sign = "-" if value < 0 else ""
    digits = 0 if unit == 0 else 1
    return f"{sign}{size:.{digits}f} {_BYTE_UNITS[unit]}"


def summarize(name: str, series: Series, unit: str) -> str:
    """`5xx: now 1.20% · min 0.00% · max 4.00%`, the chart for screen readers and narrow panes."""
    values = series.values()
    if not values:
        return f"{name}: no data"
    return (f"{name}: now {format_value(series.last, unit)} · min {format_value(min(values), unit)}"
            f" · max {format_value(max(values), unit)}")


def format_age(seconds: float) -> str:
    """`12s`, `4m`, `3h`, `2d`: how old the data on screen is."""
    seconds = max(0.0, seconds)
    for size, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size:.0f}{suffix}"
    return f"{seconds:.0f}s"
