"""The metrics screen over a real Prometheus: backfilled history at a fixed time, and failures."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from regtui.config import FrozenMap, PrometheusConfig, RegistryConfig
from regtui.lab import Lab
from regtui.services.metrics import (
    MetricsService,
    Refresh,
    Thresholds,
    TimeRange,
)
from regtui.text import Shown
from regtui.ui.screens.metrics import MetricsScreen
from regtui.ui.widgets.charts import MetricChart, StatValue, theme_rgb
from tests.fixtures.metrics import Backfilled, backfilled_prometheus
from tests.fixtures.metrics import history as hist
from tests.test_metrics import PushMix, _prom_value, _wait_for

NODE = FrozenMap({"node_selector": f'mountpoint="{hist.MOUNTPOINT}"'})
SnapCompare = Callable[..., bool]


class Host(App[None]):
    """Any app: the screen must work pushed onto it with nothing else."""

    def __init__(self, screen: MetricsScreen) -> None:
        super().__init__()
        self.metrics = screen

    def on_mount(self) -> None:
        self.push_screen(self.metrics)


def make_service(url: str | None, *, selector: str = 'job="registry"',
                 clock: Callable[[], datetime] = lambda: hist.END,
                 thresholds: Thresholds | None = None,
                 queries: FrozenMap = NODE, flavor: str = "distribution") -> MetricsService:
    prometheus = PrometheusConfig(url=url, selector=selector, queries=queries) if url else None
    registry = RegistryConfig(name="lab", url="http://127.0.0.1:5000", flavor=flavor,
                              prometheus=prometheus)
    return MetricsService(registry, clock=clock, timeout=2.0, thresholds=thresholds)


def host(service: MetricsService, **options: Any) -> Host:
    return Host(MetricsScreen(service, **options))


async def settle(pilot: Pilot[None], refreshes: int = 1) -> MetricsScreen:
    """Wait (without sleeping) until the screen has finished `refreshes` refreshes."""
    app = pilot.app
    assert isinstance(app, Host)
    screen = app.metrics
    for _ in range(400):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if screen.completed >= refreshes and not screen.busy:
            break
    assert screen.completed >= refreshes, "the screen never finished a refresh"
    await pilot.pause()
    return screen


def status(screen: MetricsScreen, section: str) -> str:
    return str(screen.query_one(f"#status-{section}", Static).render())


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    with backfilled_prometheus(tmp_path_factory.mktemp("prom")) as prom:
        yield prom


# --- snapshots: fixed history, fixed clock ---


def test_snapshot_push_and_traffic(backfilled: Backfilled, snap_compare: SnapCompare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)

    assert snap_compare(host(make_service(backfilled.url)), terminal_size=(120, 50),
                        run_before=run_before)


def test_snapshot_storage_6h(backfilled: Backfilled, snap_compare: SnapCompare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        screen = await settle(pilot)
        screen.query_one("#section-storage").scroll_visible(animate=False, top=True)
        await pilot.pause()

    assert snap_compare(host(make_service(backfilled.url), time_range="6h"),
                        terminal_size=(120, 40), run_before=run_before)


def test_snapshot_narrow_text_fallback(backfilled: Backfilled,
                                       snap_compare: SnapCompare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)

    assert snap_compare(host(make_service(backfilled.url)), terminal_size=(44, 40),
                        run_before=run_before)


# --- behaviour ---


async def test_numbers_on_screen_match_the_history(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        push = sum(r for (h, m, c), r in hist.RATES.items()
                   if m in ("put", "post") and h != "blob")
        four = (hist.RATES[("blob_upload", "post", "401")]
                + hist.RATES[("blob_upload_chunk", "put", "400")]) / push
        stat = screen.query_one("#stat-4xx", StatValue)
        assert f"{four * 100:.2f}%" in str(stat.render()) and stat.has_class("-warn")
        table = screen.query_one("#table-push_breakdown", DataTable)
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[:4] == ["manifest", "put", "500", str(round(0.09 * 2400))]
        summary = str(screen.query_one("#chart-in_flight .chart-summary", Static).render())
        values = [hist.in_flight(t) for t in hist.times() if t >= hist.END.timestamp() - 3600]
        assert summary == (f"■ in-flight requests: now {values[-1]} · min {min(values)}"
                           f" · max {max(values)}")
        assert "full in 1.7 days" in str(screen.query_one("#storage-trend", Static).render())


async def test_thresholds_colour_the_stat(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url, thresholds=Thresholds(warn=0.005, critical=0.015)))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        five = screen.query_one("#stat-5xx", StatValue)
        assert five.has_class("-critical") and "(critical)" in str(five.render())


async def test_range_keys_requery_with_the_new_range(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        assert screen.results["traffic"].start == hist.END - timedelta(hours=1)
        await pilot.press("1")
        await settle(pilot, 2)
        result = screen.results["traffic"]
        assert result.start == hist.END - timedelta(minutes=15)
        assert len(result.series[0].points) == 15 * 60 // 15 + 1


async def test_prometheus_down_keeps_last_data_with_age_and_backs_off(tmp_path: Path) -> None:
    now = [hist.END]
    with backfilled_prometheus(tmp_path) as prom:
        app = host(make_service(prom.url, clock=lambda: now[0]), interval=30.0)
        async with app.run_test(size=(120, 50)) as pilot:
            screen = await settle(pilot)
            before = str(screen.query_one("#chart-traffic .chart-summary", Static).render())
            assert "push: now" in before
            prom.stop()
            now[0] = hist.END + timedelta(seconds=90)
            await pilot.press("r")
            await settle(pilot, 2)
            line = status(screen, "traffic")
            assert "unreachable" in line and prom.url in line
            assert "showing data from 1m ago" in line and "retry in 30s" in line
            assert screen.query_one("#status-traffic").has_class("-failed")
            after = str(screen.query_one("#chart-traffic .chart-summary", Static).render())
            assert after == before
            await pilot.press("r")
            await settle(pilot, 3)
            assert "retry in 1m" in status(screen, "traffic")
            assert screen.backoff.failures == 2
            await pilot.press("1")
            await settle(pilot, 4)
            assert "from 1m ago (of the 1h range)" in status(screen, "traffic")


async def test_empty_result_says_so_without_backing_off(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url, selector='job="nope"'))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        assert "no series for push failure rate" in status(screen, "push")
        assert 'job="nope"' in status(screen, "push")
        assert screen.backoff.failures == 0
        assert "no earlier data" in status(screen, "push")


async def test_without_prometheus_config_nothing_is_asked() -> None:
    app = host(make_service(None))
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        screen = app.metrics
        assert "no [registries.prometheus] url" in status(screen, "push")
        assert screen.completed == 0 and not screen.busy


async def test_storage_section_explains_node_selector(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url, queries=FrozenMap()))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        assert "node_selector" in status(screen, "storage")


async def test_harbor_section_only_for_harbor(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url, flavor="harbor", queries=FrozenMap()))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        table = screen.query_one("#table-harbor_health", DataTable)
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1])
                for i in range(table.row_count)}
        assert rows["up registry"] == "0" and rows["up core"] == "1"
        assert rows["latency REPLICATION"] == "12.50"
        assert "full in –" in str(screen.query_one("#storage-trend", Static).render())
    plain = host(make_service(backfilled.url))
    async with plain.run_test(size=(120, 50)) as pilot:
        await settle(pilot)
        assert not plain.metrics.query("#section-harbor")


async def test_tables_keep_rows_by_key_and_follow_the_ranking(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        table = screen.query_one("#table-latency", DataTable)
        def rows(*cells: str) -> tuple[Shown, ...]:
            return tuple(Shown(cell) for cell in cells)

        screen._fill_rows("table-latency", [rows("a", "1", "2", "3"), rows("b", "4", "5", "6")], 1)
        screen._fill_rows("table-latency", [rows("b", "7", "8", "9"), rows("a", "1", "2", "3")], 1)
        await pilot.pause()
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["b", "a"]
        assert [str(c) for c in table.get_row("b")] == ["b", "7", "8", "9"]


async def test_charts_follow_the_terminal_size(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        chart = screen.query_one("#chart-traffic", MetricChart)
        plot = chart.query_one(PlotextPlot)
        wide = plot.size.width
        await pilot.resize_terminal(90, 50)
        await pilot.pause()
        assert plot.size.width == wide - 30 and not chart.has_class("-narrow")
        await pilot.resize_terminal(44, 50)
        await pilot.pause()
        assert chart.has_class("-narrow") and not plot.display


async def test_no_refresh_while_another_screen_is_on_top(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        await app.push_screen(Screen())
        screen._tick()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.completed == 1 and not screen.busy
        app.pop_screen()
        await pilot.pause()
        screen._tick()
        await settle(pilot, 2)


class BrokenService(MetricsService):
    """A bug inside a refresh (not a Prometheus failure)."""

    def fetch_all(self, trange: TimeRange, charts: Iterable[str] | None = None) -> Refresh:
        raise RuntimeError("bug in a chart")


async def test_a_bug_in_a_refresh_is_one_line_and_backs_off(backfilled: Backfilled) -> None:
    base = make_service(backfilled.url)
    app = host(BrokenService(base.registry, clock=base.clock))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        text = str(screen.query_one("#metrics-ranges", Static).render())
        assert "metrics refresh failed: RuntimeError: bug in a chart" in text
        assert screen.backoff.failures == 1 and app.is_running


class GatedService(MetricsService):
    """Holds each refresh until the test opens the gate; records overlap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.running = 0
        self.most = 0
        self.calls = 0
        self.lock = threading.Lock()

    def fetch_all(self, trange: TimeRange, charts: Iterable[str] | None = None) -> Refresh:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        self.gate.wait(10)
        try:
            return super().fetch_all(trange, charts)
        finally:
            with self.lock:
                self.running -= 1


async def test_refreshes_never_overlap(backfilled: Backfilled) -> None:
    base = make_service(backfilled.url)
    gated = GatedService(base.registry, clock=base.clock, timeout=2.0)
    app = host(gated)
    async with app.run_test(size=(120, 50)) as pilot:
        for _ in range(50):
            await pilot.pause()
            if gated.calls:
                break
        for _ in range(3):
            await pilot.press("r")
        await pilot.press("3")
        assert gated.calls == 1
        gated.gate.set()
        screen = await settle(pilot, 2)
        assert gated.most == 1 and gated.calls == 2
        assert screen.results["traffic"].start == hist.END - timedelta(hours=6)


async def test_chart_colours_follow_the_theme(backfilled: Backfilled) -> None:
    app = host(make_service(backfilled.url))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        chart = screen.query_one("#chart-push_failures", MetricChart)
        assert [line.color for line in chart.lines] == ["error", "warning"]
        seen = set()
        for theme in ("textual-dark", "solarized-light"):
            app.theme = theme
            await pilot.pause()
            red, green, blue = theme_rgb(app.theme_variables, "error")
            seen.add((red, green, blue))
            drawn = chart.query_one(PlotextPlot).plt.build()
            assert f"{red};{green};{blue}m" in drawn, theme
        assert len(seen) == 2


async def test_opens_on_the_regtui_app(backfilled: Backfilled, make_app: Callable[..., App[None]]
                                      ) -> None:
    app = make_app()
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        screen = MetricsScreen(make_service(backfilled.url))
        await app.push_screen(screen)
        for _ in range(400):
            await app.workers.wait_for_complete()
            await pilot.pause()
            if screen.completed:
                break
        assert "updated 0s ago" in status(screen, "push")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen


# --- the live lab: the pane shows the failure rate of pushes we made ---


@pytest.mark.lab
async def test_live_pane_shows_the_failure_rate_of_known_pushes(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(auth="htpasswd", prometheus=True)
    _wait_for(lambda: bool(_prom_value(lab, 'up{job="registry"} == 1')), "the first scrape")
    mix = PushMix(lab)
    mix.round(good=2, unauthorized=1, wrong=1, broken=1)
    _wait_for(lambda: bool(_prom_value(lab, 'registry_http_requests_total{code="500"}')),
              "the 500 series")
    time.sleep(2.5)
    start, first = time.time(), len(mix.codes)
    time.sleep(1.5)
    mix.round(good=4, unauthorized=4, wrong=3, broken=2)
    time.sleep(3.0)
    end = time.time()
    want_4xx, want_5xx = mix.ratio(first)
    window = math.ceil(end - start)
    service = make_service(lab.prometheus_url, queries=FrozenMap(),
                           clock=lambda: datetime.fromtimestamp(end, UTC))
    app = host(service, time_range=TimeRange("test", window, window, window))
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await settle(pilot)
        text = str(screen.query_one("#stat-4xx", StatValue).render())
        shown = float(text.split()[3].rstrip("%")) / 100
        assert shown == pytest.approx(want_4xx, abs=0.02)
        assert want_5xx > 0.05
        five = str(screen.query_one("#stat-5xx", StatValue).render())
        assert five == f"5xx push failures {want_5xx * 100:.2f}% (critical)"


# --- the storage pane's trend chart (issue 6), from the same fixed history -----------------------

@pytest.mark.lab
@pytest.mark.parametrize("queries", [NODE, FrozenMap({})])
async def test_storage_pane_shows_the_trend_or_says_why_not(backfilled: Backfilled, lab: Any,
                                                           queries: FrozenMap) -> None:
    from regtui.config import adhoc_registry, load_config
    from regtui.services.inventory import open_registry
    from regtui.ui.screens.storage import StorageScreen

    service = make_service(backfilled.url, queries=queries)
    inventory = open_registry(adhoc_registry(lab.url), load_config(None), read_only=True)
    screen = StorageScreen(inventory, None, service.registry, metrics=service)

    class StorageHost(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    app = StorageHost()
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        chart = screen.query_one("#storage-trend", MetricChart)
        note = str(screen.query_one("#storage-trend-note", Static).render())
        if queries:
            assert chart.display and not screen.query_one("#storage-trend-note").display
        else:
            assert not chart.display and "node_selector" in note
    await inventory.aclose()
