"""Snapshots of every screen at 80x24 and 160x48 over fixed fake data and a fixed clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from regtui.ui.app import RegtuiApp
from tests.ui.conftest import AppMaker

SIZES = [(80, 24), (160, 48)]
Snap = Callable[..., bool]


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for every worker and the messages they posted, then for the screen."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def app_of(pilot: Pilot[Any]) -> RegtuiApp:
    assert isinstance(pilot.app, RegtuiApp)
    return pilot.app


async def at_fleet(pilot: Pilot[Any]) -> None:
    await settle(pilot)


async def at_repos(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def at_tags(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    app_of(pilot).open_registry("lab", "library/alpine")
    await settle(pilot)
    await pilot.press("down", "down", "z")
    await settle(pilot)


async def at_detail(pilot: Pilot[Any]) -> None:
    await at_tags(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def at_help(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await settle(pilot)


async def at_palette(pilot: Pilot[Any]) -> None:
    await at_repos(pilot)
    await pilot.press("ctrl+p")
    await settle(pilot)
    pilot.app.screen.query_one(Input).cursor_blink = False
    await pilot.press(*"sort")
    await settle(pilot)


SCENES: dict[str, Callable[[Pilot[Any]], Awaitable[None]]] = {
    "fleet": at_fleet, "repos": at_repos, "tags": at_tags, "detail": at_detail,
    "help": at_help, "palette": at_palette,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(SCENES))
def test_snapshot(scene: str, size: tuple[int, int], snap_compare: Snap,
                  make_app: AppMaker) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=SCENES[scene])


GALLERY_THEMES = ["regtui-dusk", "regtui-paper", "regtui-contrast", "regtui-ansi"]


@pytest.mark.parametrize("theme", GALLERY_THEMES)
def test_theme_gallery(theme: str, snap_compare: Snap, make_app: AppMaker) -> None:
    """The main screen (repositories and tags) in every shipped theme."""
    assert snap_compare(make_app(theme=theme), terminal_size=(160, 48), run_before=at_tags)
