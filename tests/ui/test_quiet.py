"""A quiet dashboard over fake registries: costs that grow with changes, not with size."""

from __future__ import annotations

import asyncio
from pathlib import Path

from regtui.config import Config, RegistryConfig
from regtui.registry.models import TagRecord
from regtui.text import Untrusted as U
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests.ui.fakes import FakeData, FakeService, fixed_clock
from tests.ui.test_snapshots import settle


def many_repositories(count: int) -> FakeData:
    """`count` repositories in 25 namespaces, one tag each (copied from the fake's app)."""
    data = FakeData()
    template = data.repos["team/app"][0]
    data.repos = {}
    for i in range(count):
        name = f"team-{i % 25:02d}/svc-{i:05d}"
        data.repos[name] = [TagRecord(template.registry, U(name), U("1.0"), template.digest,
                                      template.media_type, template.size_bytes + i,
                                      template.platforms, template.created,
                                      template.artifact_kind, None, template.reachable)]
    return data


class TrickleService(FakeService):
    """Repositories arrive one by one, as from a real registry, not all in one batch."""

    async def tag_records(self, repository: str) -> list[TagRecord]:
        await asyncio.sleep(0.0005)
        return await super().tag_records(repository)


def config(tmp_path: Path) -> Config:
    return Config(registries=(RegistryConfig("lab", "http://127.0.0.1:5000"),),
                  refresh_interval=3600, cache_dir=tmp_path / "cache",
                  state_dir=tmp_path / "state")


async def load_cost(count: int, tmp_path: Path) -> tuple[int, int, int]:
    """Open the registry screen, let `count` repositories arrive; what did the pane cost?"""
    data = many_repositories(count)
    app = RegtuiApp(config(tmp_path / str(count)), factory=lambda r: TrickleService(r, data),
                    clock=fixed_clock)
    async with app.run_test(size=(160, 48)) as pilot:
        app.open_registry("lab")
        await settle(pilot)
        while len(app.store["lab"].summaries) < count or app._drain_posted:
            await pilot.pause(0.01)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RegistryScreen)
        table = screen.query_one("#repos", VirtualTable)
        assert len(app.store["lab"].summaries) == count
        assert table.border_title is not None and f"{count:,}" in str(table.border_title)
        return screen.pane.work, table.cells_computed, app.drains


async def test_repositories_pane_cost_grows_linearly(tmp_path: Path) -> None:
    small = await load_cost(500, tmp_path)
    big = await load_cost(2_000, tmp_path)
    work_ratio, cells_ratio = big[0] / small[0], big[1] / max(1, small[1])
    # Four times the repositories: linear is about 4, a rebuild per arrival about 16.
    assert work_ratio < 6, (small, big)
    assert cells_ratio < 6, (small, big)
    assert big[2] > 10, "repositories did not arrive in several batches: nothing measured"


async def test_nothing_changed_means_nothing_redrawn(tmp_path: Path) -> None:
    services: list[FakeService] = []

    def factory(registry: RegistryConfig) -> FakeService:
        services.append(FakeService(registry, FakeData()))
        return services[-1]

    app = RegtuiApp(config(tmp_path), factory=factory, clock=fixed_clock)
    async with app.run_test(size=(160, 48)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        tables = list(app.screen.query(VirtualTable))
        before = [t.lines_rendered for t in tables]
        drains = app.drains
        app._tick()  # fast tier: the tag list of team/app, unchanged
        app._background_tick()  # slow tier: catalog and tag lists, unchanged
        app._clock_tick()  # the clock is fixed: no age label changes
        await settle(pilot)
        assert services[0].tag_lists >= 2  # the checks did run...
        assert [t.lines_rendered for t in tables] == before  # ...and nothing was redrawn
        assert app.drains == drains + 1  # only the refresh's own "done" went through

        services[0].data.repos["team/app"] = services[0].data.repos["team/app"][:-1]
        app._tick()  # a tag went away: its repository's rows change, and only those
        await settle(pilot)
        assert [t.lines_rendered for t in tables] != before
        assert app.store["lab"].summaries["team/app"].tag_count == 11
