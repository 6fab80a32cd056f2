"""Issue 13 over the fixed fake registry: keys typed in a burst land where they were aimed."""

from __future__ import annotations

from textual import events

from regtui.ui.app import RegtuiApp
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests.ui.conftest import AppMaker
from tests.ui.test_snapshots import settle


def burst(app: RegtuiApp, keys: str) -> None:
    """Post every key at once, as a pty delivers a paste or a slow link's backlog."""
    names = {"/": "slash", ":": "colon", "\r": "enter", "-": "minus", ".": "full_stop"}
    for char in keys:
        key = names.get(char, char)
        app.post_message(events.Key(key, None if key == "enter" else char))


async def test_burst_after_slash_lands_in_the_filter(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        app.screen.query_one("#tags", VirtualTable).focus()
        await pilot.pause()
        burst(app, "/1.1")
        await settle(pilot)
        assert app.screen.query_one("#filter-bar").value == "1.1"  # type: ignore[attr-defined]
        keys = [row.key for row in app.screen.query_one("#tags", VirtualTable).rows]
        assert keys == ["1.11", "1.10", "1.1"]


async def test_burst_after_colon_jumps_without_running_hotkeys(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "library/alpine")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RegistryScreen)
        tree = screen.tree_mode
        burst(app, ":lab/team/app\r")
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        assert (app.screen.registry, app.screen.repository) == ("lab", "team/app")
        assert app.screen.tree_mode == tree  # `t` did not run as a hotkey
        assert "no registry or repository" not in app.error_text
