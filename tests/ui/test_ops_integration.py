"""Changing a registry from the dashboard, on the real lab: delete with the dialog, and the
read-only session in which no key, palette command or screen can change anything."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot

from regtui.config import load_config
from regtui.lab import Lab
from regtui.services.audit import AuditLog
from regtui.ui.app import RegtuiApp
from regtui.ui.operations import CHANGE_GROUP
from regtui.ui.screens.confirm import DeleteConfirmScreen
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.screens.storage import StorageScreen
from regtui.ui.widgets.badge import ReadOnlyBadge
from regtui.ui.widgets.vtable import VirtualTable
from tests.test_inventory import flush_access_log
from tests.test_operations import access_log_writes, head
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle

pytestmark = pytest.mark.lab
LabFactory = Callable[..., Lab]


def app_on(lab: Lab, tmp_path: Path, *, read_only: bool | None) -> RegtuiApp:
    path = tmp_path / "config.toml"
    path.write_text(lab.regtui_config_toml(), encoding="utf-8")
    config = replace(load_config(path), state_dir=tmp_path / "state")
    return RegtuiApp(config, read_only=read_only)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool],
                     seconds: float = 60) -> None:
    """For a worker that is waiting on a dialog: `settle` would wait for it forever."""
    for _ in range(int(seconds * 20)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never got there")


async def open_tag(pilot: Pilot[Any], repository: str, tag: str) -> None:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("colon", *f"lab/{repository}", "enter")
    await settle(pilot)
    table = pilot.app.screen.query_one("#tags", VirtualTable)
    table.focus()
    table.set_rows(table.rows, keep=tag)
    assert table.current_key == tag
    await pilot.pause()


async def test_delete_from_the_dashboard_cancel_first_then_for_real(lab_factory: LabFactory,
                                                                     tmp_path: Path) -> None:
    lab = lab_factory()
    shared = head(lab, "app", "stable")
    app = app_on(lab, tmp_path, read_only=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tag(pilot, "app", "stable")
        assert not app.screen.query_one(ReadOnlyBadge).has_class("-on")
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteConfirmScreen))
        assert "survives (same digest): 1.2.3" in "\n".join(
            str(line) for line in [app.screen.query_one("#confirm-plan").render()])
        await pilot.press("enter")  # Cancel has the focus
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        assert head(lab, "app", "stable") == shared

        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteConfirmScreen))
        await pilot.click("#confirm-yes")
        await settle(pilot)
    assert head(lab, "app", "stable") is None
    assert head(lab, "app", "1.2.3") == shared
    outcomes = [e.outcome for e in AuditLog(tmp_path / "state" / "audit.jsonl").entries()]
    assert outcomes == ["cancelled", "ok: tag removed via placeholder"]


async def test_read_only_dashboard_cannot_change_anything(lab_factory: LabFactory,
                                                          tmp_path: Path) -> None:
    lab = lab_factory()
    start = lab.log_file.stat().st_size
    app = app_on(lab, tmp_path, read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tag(pilot, "app", "stable")
        assert isinstance(app.screen, RegistryScreen)
        screen: RegistryScreen = app.screen
        assert screen.query_one(ReadOnlyBadge).has_class("-on")
        assert "Delete" not in screen_text(app)
        for key in ("ctrl+d", "X", "ctrl+r", "ctrl+g"):
            await pilot.press(key)
            await pilot.pause(0.3)
            assert isinstance(app.screen, RegistryScreen), f"{key} opened {app.screen}"
            assert not [w for w in screen.workers if w.group == CHANGE_GROUP], key
        titles = {c.title for c in screen.context_commands()}
        assert not titles & {"Delete", "Delete repo", "Retention", "GC"}
        assert "Usage" in titles  # reading is offered
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"delete")
        await settle(pilot)
        listed = _palette_text(app)
        assert not re.search(r"Delete (tag|repository)", listed)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("U")  # reading is allowed
        await settle(pilot)
        assert isinstance(app.screen, StorageScreen)
        assert app.screen.query_one(ReadOnlyBadge).has_class("-on")
    flush_access_log(lab)
    assert access_log_writes(lab, start) == []
    # The keys were not bound at all: not even a refused attempt reached the audit log.
    assert AuditLog(tmp_path / "state" / "audit.jsonl").entries() == []
    assert head(lab, "app", "stable") is not None


def _palette_text(app: RegtuiApp) -> str:
    from textual.widgets import OptionList

    options = app.screen.query_one(OptionList)
    return " ".join(str(options.get_option_at_index(i).prompt)
                    for i in range(options.option_count))


async def test_operation_keys_open_their_screens_over_a_focused_table(
        lab: Lab, tmp_path: Path) -> None:
    """Opens screens only (nothing is run), so the shared lab with Prometheus will do."""
    from regtui.ui.screens.gc import GcScreen
    from regtui.ui.screens.logs import LogsScreen
    from regtui.ui.screens.metrics import MetricsScreen
    from regtui.ui.screens.retention import RetentionScreen
    from regtui.ui.screens.tag import TagScreen

    app = app_on(lab, tmp_path, read_only=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tag(pilot, "app", "stable")
        for key, screen_type in (("ctrl+g", GcScreen), ("ctrl+r", RetentionScreen),
                                 ("U", StorageScreen), ("l", LogsScreen),
                                 ("M", MetricsScreen)):
            await pilot.press(key)
            await wait_until(pilot, lambda t=screen_type: isinstance(app.screen, t))  # type: ignore[misc]
            app.pop_screen()
            await pilot.pause()
            app.screen.query_one("#tags", VirtualTable).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TagScreen))
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LogsScreen))
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        app.pop_screen()
        await pilot.pause()
