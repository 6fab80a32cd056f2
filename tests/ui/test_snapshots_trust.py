"""Snapshots at 80x24 and 160x48 of the dialogs and screens issue 13 names: the
delete-repository dialog (its typed name and buttons on screen), the GC screen and its
confirmation (buttons inside the border) and the fleet with mixed read-only modes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from regtui.config import Config
from regtui.services.audit import AuditLog
from regtui.services.impact import Target, plan_delete
from regtui.services.inventory import open_registry
from regtui.services.operations import OperationsService
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.confirm import DeleteConfirmScreen
from regtui.ui.screens.gc import CollectConfirm, GcScreen
from tests.ui.fakes import FakeData, fake_config, fake_factory, fixed_clock
from tests.ui.test_snapshots import SIZES, Snap, settle


async def at_delete_repository(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    records = [r for tags in FakeData().repos.values() for r in tags]
    mine = [r for r in records if r.repository == "team/app"]
    reach = {r.digest: dict(r.reachable) for r in mine}
    plan = plan_delete("lab", [Target(r.repository, r.tag) for r in mine], records, reach,
                       can_delete_tag=False)
    pilot.app.push_screen(DeleteConfirmScreen(plan))
    await settle(pilot)


def _ops(app: RegtuiApp) -> OperationsService:
    registry = app.config.registries[0]
    inventory = open_registry(registry, app.config, read_only=False)  # no request is made
    return OperationsService(inventory, registry, read_only=False,
                             audit=AuditLog(app.config.state_dir / "audit.jsonl"))


async def at_gc(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    assert isinstance(pilot.app, RegtuiApp)
    pilot.app.push_screen(GcScreen(_ops(pilot.app)))
    await settle(pilot)


async def at_collect_confirm(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    pilot.app.push_screen(CollectConfirm(
        "dry run: exit 0; 120 blobs marked, 14 blobs and 3 manifests eligible for deletion"))
    await settle(pilot)


SCENES: dict[str, Callable[[Pilot[Any]], Awaitable[None]]] = {
    "delete-repository": at_delete_repository, "gc": at_gc,
    "collect-confirm": at_collect_confirm, "fleet-mixed-modes": settle,
}


def mixed_modes(config: Config) -> Config:
    """Three registries: `lab` read-only by its own setting, `staging` writable (the same
    fake data), `mirror` down (and writable, were it up)."""
    lab, mirror = config.registries
    staging = replace(lab, name="staging", url="http://127.0.0.1:5001", read_only=False)
    return replace(config, registries=(replace(lab, read_only=True), staging, mirror))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(SCENES))
def test_snapshot(scene: str, size: tuple[int, int], snap_compare: Snap,
                  tmp_path: Path) -> None:
    config = fake_config(tmp_path)
    if scene == "fleet-mixed-modes":
        config = mixed_modes(config)
    app = RegtuiApp(config, factory=fake_factory(), clock=fixed_clock)
    assert snap_compare(app, terminal_size=size, run_before=SCENES[scene])


@pytest.mark.parametrize("scene", ["delete-repository", "collect-confirm"])
async def test_dialog_input_and_buttons_stay_on_an_80x24_screen(scene: str,
                                                                 tmp_path: Path) -> None:
    app = RegtuiApp(fake_config(tmp_path), factory=fake_factory(), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await SCENES[scene](pilot)
        dialog = app.screen.query_one("Vertical")
        for widget in app.screen.query("Button, Input"):
            region = widget.region
            assert region.height > 0 and region.bottom <= 24, widget
            assert dialog.region.contains_region(region), f"{widget} outside the border"
