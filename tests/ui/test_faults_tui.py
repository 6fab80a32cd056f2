"""The dashboard against the real registry behind the fault proxy: what the screen shows.

A tag the registry lists but regtui could not read stays a row carrying its error and is
counted in the fleet's error column, with the same line `regtui inventory` prints; `r`
replaces a refresh stuck on a request that never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from regtui.config import load_config
from regtui.lab import Lab, start_lab
from regtui.render.tags import TagRow, tag_cells
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests import faultproxy as fp
from tests.faultproxy import FaultProxy
from tests.test_faults import cli, on
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def small_lab() -> Iterator[Lab]:
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture
def proxy(small_lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy(small_lab.url) as started:
        yield started


def proxied_app(proxy: FaultProxy, tmp_path: Path, **settings: object) -> RegtuiApp:
    values = {"timeout": 10.0, "deadline": 30.0, "retries": 1, **settings}
    path = tmp_path / "tui.toml"
    path.write_text("[[registries]]\nname = \"lab\"\n" f"url = \"{proxy.url}\"\n"
                    + "".join(f"{key} = {value}\n" for key, value in values.items()))
    return RegtuiApp(load_config(path), read_only=True)


def tags_of(pilot: Pilot[Any]) -> list[TagRow]:
    return list(pilot.app.screen.query_one("#tags", VirtualTable).rows)


async def test_an_unreadable_tag_is_a_row_with_its_error_and_counted(
        proxy: FaultProxy, tmp_path: Path) -> None:
    # A cold walk reads a tag with one GET, a warm one with a HEAD first: fail both.
    failing = fp.error_status(500, "disk on fire")
    head, get = (on(method, "/v2/app/manifests/1.2.2", failing) for method in ("HEAD", "GET"))
    proxy.reset(lambda request, seen: head(request, seen) or get(request, seen))
    cli_run = cli(proxy, tmp_path, retries=1, timeout=10.0, deadline=30.0)
    [cli_line] = [line for line in cli_run.errors if "1.2.2" in line]

    app = proxied_app(proxy, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        status = app.store["lab"].status
        errors = [t.error for s in app.store["lab"].summaries.values() for t in s.tags if t.error]
        assert status.tag_errors == 1, errors[:3]
        assert "1 tag could not be read" in screen_text(app)

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        await pilot.press("colon", *"lab/app", "enter")
        await settle(pilot)
        rows = {row.key: row for row in tags_of(pilot)}
        assert {"1.2.2", "1.2.3", "stable"} <= set(rows), "every listed tag is shown"
        broken = rows["1.2.2"].record
        assert broken.unreadable
        assert f"regtui: {broken.error}" == cli_line, "the same line as regtui inventory"
        assert "unreadable" in screen_text(app)
        assert broken.error in tag_cells(rows["1.2.2"], app.clock())[0]
        table = app.screen.query_one("#tags", VirtualTable)
        table.focus()
        await pilot.press("G")  # the last row, the oldest: the unreadable one (no date)
        await pilot.press("enter")
        await settle(pilot)
        assert table.rows[table.cursor].key == "1.2.2"
        assert isinstance(app.screen, RegistryScreen), "nothing to open: the error is shown"
        assert "GET /v2/app/manifests/1.2.2" in app.error_text and "HTTP 500" in app.error_text
        assert app.store["lab"].summaries["app"].tag_count == len(
            {r.tag for r in app.store["lab"].summaries["app"].tags})


async def test_r_replaces_a_refresh_stuck_on_a_request_that_never_answers(
        proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", "/v2/_catalog", fp.never_answer))
    app = proxied_app(proxy, tmp_path, timeout=300, deadline=600)
    async with app.run_test(size=(200, 50)) as pilot:
        await asyncio.sleep(1)
        status = app.store["lab"].status
        assert status.loading and status.fetched_at is None, "stuck on the catalog"
        proxy.reset()  # the registry recovers
        await pilot.press("r")
        for _ in range(100):
            if status.fetched_at is not None:
                break
            await asyncio.sleep(0.1)
        await settle(pilot)
        assert status.fetched_at is not None and status.error == ""
        assert status.repositories is not None and status.repositories > 5
