"""The storage screen on the real lab: column headers over aligned sizes, open namespaces
kept open across sorting, and the dashboard's records used instead of a second walk."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from regtui.lab import Lab
from regtui.render.formats import size
from regtui.services.storage import build_report
from regtui.ui.app import RegtuiApp
from regtui.ui.data import requests_sent
from regtui.ui.screens.storage import StorageScreen, UsageTree
from tests.ui.screen_text import screen_text
from tests.ui.test_pilot_lab import lab_app
from tests.ui.test_snapshots import SIZES, Snap, settle

pytestmark = pytest.mark.lab


async def until_complete(pilot: Pilot[Any], app: RegtuiApp) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if app.store["lab"].complete():
            return
    raise AssertionError("the dashboard never read the whole lab")


async def open_storage(pilot: Pilot[Any], app: RegtuiApp) -> StorageScreen:
    app.open_registry("lab", "app")
    await settle(pilot)
    await until_complete(pilot, app)
    await pilot.press("U")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, StorageScreen)
    for _ in range(200):
        if screen.report is not None:
            break
        await pilot.pause(0.05)
    await settle(pilot)
    return screen


def tree_lines(app: RegtuiApp) -> list[str]:
    text = screen_text(app)
    return text.splitlines()


async def test_storage_uses_the_dashboards_records_and_has_headers(lab: Lab,
                                                                   tmp_path: Path) -> None:
    app = lab_app(lab, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.open_registry("lab", "app")
        await settle(pilot)
        await until_complete(pilot, app)
        service = app.service("lab")
        before = requests_sent(service)
        screen = await open_storage(pilot, app)
        assert screen.report is not None
        sent = (requests_sent(service) or 0) - (before or 0)
        repositories = len(app.store["lab"].names)
        assert sent < repositories, f"{sent} requests: the tags were read again"
        assert "from the dashboard's data" in screen_text(app)
        # the same numbers a walk gives: the report of the dashboard's records
        records = [r for s in app.store["lab"].summaries.values() for r in s.tags]
        walked = build_report("lab", records)
        assert screen.report.total.stored_bytes == walked.total.stored_bytes
        # the two sizes on screen agree and say which is which: stored (each blob once) in
        # the summary, logical (the fleet's LOGICAL SIZE, per repository) beside it
        status = app.store["lab"].status
        assert screen.report.logical_bytes == status.size_bytes
        assert screen.report.logical_bytes > screen.report.total.stored_bytes  # shared layers
        summary = str(screen.query_one("#storage-summary").render())
        assert f"{size(screen.report.total.stored_bytes)} stored in " in summary
        assert f"logical size, as the fleet sums it per repository: {size(status.size_bytes)}" \
            in summary

        header = next(line for line in tree_lines(app) if "STORED" in line)
        assert "NAME" in header and "UNIQUE" in header and "SHARED" in header
        row = next(line for line in tree_lines(app) if re.search(r"team-a/ {2,}", line))
        team = next(u for u in screen.report.namespaces if u.name == "team-a")
        assert size(team.stored_bytes) in row and size(team.shared_bytes) in row
        # each size ends exactly under the end of its title
        for title, value in (("STORED", team.stored_bytes), ("SHARED", team.shared_bytes)):
            shown = size(value)
            assert row.index(shown) + len(shown) == header.index(title) + len(title)

        await pilot.press("r")  # r asks the registry itself
        await settle(pilot)
        for _ in range(200):
            if "read from the registry just now" in screen_text(app):
                break
            await pilot.pause(0.05)
        assert "read from the registry just now" in screen_text(app)
        assert (requests_sent(service) or 0) - (before or 0) >= repositories


async def test_sorting_keeps_open_namespaces_open(lab: Lab, tmp_path: Path) -> None:
    app = lab_app(lab, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = await open_storage(pilot, app)
        tree = screen.query_one(UsageTree)
        team = next(n for n in tree.root.children if n.data is not None
                    and n.data.name == "team-a")
        team.expand()
        tree.move_cursor(team)
        await settle(pilot)
        assert "releases" in screen_text(app)
        for _ in range(3):  # unique bytes, name, back to stored
            await pilot.press("s")
            await settle(pilot)
            assert "releases" in screen_text(app), screen.sort_key
            node = tree.cursor_node
            assert node is not None and node.data is not None and node.data.name == "team-a"
        closed = [n for n in tree.root.children if n.allow_expand and not n.is_expanded]
        assert closed  # only the namespace opened by hand is open


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_storage_snapshot(size: tuple[int, int], lab: Lab, tmp_path: Path,
                          snap_compare: Snap) -> None:
    """The tree keeps rows and its headers at 80x24; one namespace open, cursor on it."""
    async def at_storage(pilot: Pilot[Any]) -> None:
        assert isinstance(pilot.app, RegtuiApp)
        screen = await open_storage(pilot, pilot.app)
        tree = screen.query_one(UsageTree)
        team = next(n for n in tree.root.children if n.data is not None
                    and n.data.name == "team-b")
        team.expand()
        tree.move_cursor(team)
        tree.focus()
        await settle(pilot)

    assert snap_compare(lab_app(lab, tmp_path), terminal_size=size, run_before=at_storage)
