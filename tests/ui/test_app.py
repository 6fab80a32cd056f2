"""Behaviour of the app over the fixed fake registry: keys, filter, refresh, errors, stale data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from regtui.config import Config, RegistryConfig
from regtui.errors import RegistryError
from regtui.registry.models import TagRecord
from regtui.render.tags import TagRow
from regtui.text import Untrusted as U
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.fleet import FleetScreen
from regtui.ui.screens.help import HelpScreen
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests.ui.conftest import AppMaker
from tests.ui.fakes import FakeData, FakeService, fixed_clock
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle


def tag_keys(app: RegtuiApp) -> list[str]:
    return [row.key for row in app.screen.query_one("#tags", VirtualTable).rows]


async def test_filter_substring_regex_invert_and_bad_regex(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        assert len(tag_keys(app)) == 12
        await pilot.press("slash", *"1.1")
        await settle(pilot)
        assert tag_keys(app) == ["1.11", "1.10", "1.1"]
        await pilot.press(*["backspace"] * 3, *"!~^1\\.1")
        await settle(pilot)
        assert sorted(tag_keys(app)) == ["1.0", *(f"1.{i}" for i in range(2, 10))]
        await pilot.press("ctrl+u", *"~[")
        await settle(pilot)
        assert "bad regular expression in filter '['" in app.error_text
        assert "bad regular expression" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert len(tag_keys(app)) == 12


async def test_sort_keys_sort_all_tags_version_aware(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        await pilot.press("N")
        assert tag_keys(app) == [f"1.{i}" for i in range(12)]
        await pilot.press("N")
        assert tag_keys(app) == [f"1.{i}" for i in reversed(range(12))]


async def test_keymap_remaps_a_binding_by_id(make_app: AppMaker) -> None:
    app = make_app(keymap={"filter": "f", "help": "h"})
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("f")
        assert app.screen.query_one("#filter-bar").has_focus
        await pilot.press("escape", "h")
        assert isinstance(app.screen, HelpScreen)
        assert "f" in screen_text(app).split("Filter the focused table")[0].splitlines()[-1]


async def test_unknown_keymap_id_is_reported(make_app: AppMaker) -> None:
    app = make_app(keymap={"no-such-binding": "x"})
    async with app.run_test() as pilot:
        await settle(pilot)
        assert any("no-such-binding" in str(n.message) for n in app._notifications)


async def test_escape_goes_back_and_enter_opens(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen) and app.screen.registry == "lab"
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


class GatedService(FakeService):
    """Blocks `repository_names` until the test opens the gate; counts the calls."""

    def __init__(self, registry: RegistryConfig) -> None:
        super().__init__(registry, FakeData())
        self.gate = asyncio.Event()
        self.calls = 0

    async def repository_names(self) -> list[U]:
        self.calls += 1
        await self.gate.wait()
        return await super().repository_names()


def one_registry(tmp_path: Path) -> Config:
    return Config(registries=(RegistryConfig("lab", "http://127.0.0.1:5000"),),
                  refresh_interval=3600, cache_dir=tmp_path, state_dir=tmp_path)


async def test_refresh_never_overlaps_and_pauses_behind_a_modal(tmp_path: Path) -> None:
    """Ticks never start a second refresh; `r` replaces a running one (it may be stuck)."""
    services: list[GatedService] = []

    def factory(registry: RegistryConfig) -> GatedService:
        services.append(GatedService(registry))
        return services[-1]

    def running() -> int:
        return sum(1 for w in app.workers if w.name == "refresh:lab" and not w.is_finished)

    app = RegtuiApp(one_registry(tmp_path), factory=factory, clock=fixed_clock)
    async with app.run_test() as pilot:
        await pilot.pause()
        app._tick()
        await pilot.pause()
        assert services[0].calls == 1, "a tick leaves the running refresh be"
        await pilot.press("r", "r")
        await pilot.pause()
        assert services[0].calls == 3 and running() == 1, "each r replaced the one before"
        services[0].gate.set()
        await settle(pilot)
        await pilot.press("question_mark")
        app._tick()
        await pilot.pause()
        assert services[0].calls == 3
        await pilot.press("escape")
        app._tick()  # the fleet's fast tier: the registry is loaded, nothing to walk
        await settle(pilot)
        assert services[0].calls == 3
        app._background_tick()  # the slow tier reads the catalog again
        await settle(pilot)
        assert services[0].calls == 4


class FlakyService(FakeService):
    """Works once, then the registry goes away."""

    def __init__(self, registry: RegistryConfig) -> None:
        super().__init__(registry, FakeData())
        self.broken = False

    async def repository_names(self) -> list[U]:
        if self.broken:
            raise RegistryError(f"registry lab at {self.url}/v2/_catalog: 503 Service Unavailable")
        return await super().repository_names()


async def test_failed_refresh_keeps_data_marked_stale(tmp_path: Path) -> None:
    service: list[FlakyService] = []

    def factory(registry: RegistryConfig) -> FlakyService:
        service.append(FlakyService(registry))
        return service[0]

    app = RegtuiApp(one_registry(tmp_path), factory=factory, clock=fixed_clock)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        service[0].broken = True
        await pilot.press("r")
        await settle(pilot)
        text = screen_text(app)
        assert "stale" in text and "503 Service Unavailable" in text
        assert app.store["lab"].status.repositories == 5  # the data shown before stays
        await pilot.press("enter")
        await settle(pilot)
        assert "STALE" in screen_text(app)
        assert len(app.screen.query_one("#repos", VirtualTable).rows) > 5


async def test_rows_update_in_place_keeping_the_cursor(make_app: AppMaker) -> None:
    data = FakeData()
    app = make_app(data)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        await pilot.press("N", "home", "down", "down", "down")
        table = app.screen.query_one("#tags", VirtualTable)
        assert table.current_key == "1.3"
        first: TagRecord = data.repos["team/app"][0]
        data.repos["team/app"].insert(0, TagRecord(
            "lab", U("team/app"), U("0.9"), first.digest, first.media_type, 1, (), first.created,
            first.artifact_kind))
        await pilot.press("r")
        await settle(pilot)
        assert tag_keys(app)[:5] == ["0.9", "1.0", "1.1", "1.2", "1.3"]
        assert table.current_key == "1.3"
        assert isinstance(table.current, TagRow)


@pytest.mark.parametrize("no_color", [True, False])
async def test_no_color_is_honoured(make_app: AppMaker, no_color: bool,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.no_color is no_color
        svg = app.export_screenshot()
        assert ("#0178d4" in svg) is not no_color  # the theme's primary blue, or greys only


async def test_command_mode_suggests_and_jumps(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"lab/team")
        await settle(pilot)
        bar = app.screen.query_one("#command-bar")
        assert getattr(bar, "_suggestion", "") == "lab/team/app"
        await pilot.press("right", "enter")  # accept the suggestion, then jump
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        assert (app.screen.registry, app.screen.repository) == ("lab", "team/app")
        assert len(tag_keys(app)) == 12
        await pilot.press("colon", *"fleet", "enter")
        assert isinstance(app.screen, FleetScreen)


async def test_periodic_refresh_backs_off_after_failures_but_r_does_not(tmp_path: Path) -> None:
    service: list[FlakyService] = []

    def factory(registry: RegistryConfig) -> FlakyService:
        service.append(FlakyService(registry))
        service[0].broken = True
        return service[0]

    app = RegtuiApp(one_registry(tmp_path), factory=factory, clock=fixed_clock)
    calls: list[str] = []
    original = FlakyService.repository_names

    async def counted(self: FlakyService) -> list[U]:
        calls.append("names")
        return await original(self)

    async with app.run_test() as pilot:
        FlakyService.repository_names = counted  # type: ignore[method-assign]
        try:
            await settle(pilot)
            app._tick()  # the first failure set a back-off: the timer is skipped
            await settle(pilot)
            assert calls == []
            await pilot.press("r")  # the operator asked: no back-off
            await settle(pilot)
            assert calls == ["names"]
            app.retries.expire("lab")  # the back-off has run out
            service[0].broken = False
            app._tick()
            await settle(pilot)
            assert calls == ["names", "names"]
            assert app.store["lab"].status.error == "" and app.retries.failures("lab") == 0
        finally:
            FlakyService.repository_names = original  # type: ignore[method-assign]


async def test_the_fleet_title_counts_registries_in_good_grammar(tmp_path: Path) -> None:
    app = RegtuiApp(one_registry(tmp_path), factory=FakeService, clock=fixed_clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert "regtui · 1 registry · " in screen_text(app)
