"""Push times from registry:2's storage layout, on the real lab: a tag's `current/link` is
written on each push, so with `[registries.gc] config` readable its mtime is the push time;
without it regtui shows CREATED only and never invents a push time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from regtui.config import load_config
from regtui.lab import Lab
from regtui.services.gc import storage_root
from regtui.services.inventory import open_registry
from regtui.ui.app import RegtuiApp
from regtui.ui.widgets.vtable import VirtualTable
from tests.ui.test_snapshots import settle

pytestmark = pytest.mark.lab
REPO = "team-a/releases"


def lab_config(lab: Lab, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(lab.regtui_config_toml(), encoding="utf-8")
    return path


async def test_tag_link_mtime_is_the_push_time_only_with_a_readable_layout(
        lab: Lab, tmp_path: Path) -> None:
    config = replace(load_config(lab_config(lab, tmp_path)), cache_dir=tmp_path / "cache")
    registry = config.registries[0]
    assert registry.gc is not None
    root = storage_root(registry.gc)
    assert root is not None
    service = open_registry(registry, config, read_only=True)
    try:
        records = await service.tag_records(REPO)
    finally:
        await service.aclose()
    base = root / "docker" / "registry" / "v2" / "repositories" / REPO / "_manifests" / "tags"
    assert len(records) > 100
    for record in records:
        link = base / record.tag / "current" / "link"
        assert record.pushed_at == datetime.fromtimestamp(link.stat().st_mtime, UTC), record.tag

    blind = replace(registry, gc=None)
    service = open_registry(blind, replace(config, registries=(blind,)), read_only=True)
    try:
        assert {r.pushed_at for r in await service.tag_records(REPO)} == {None}
    finally:
        await service.aclose()


async def test_the_tags_pane_shows_pushed_beside_created_where_known(
        lab: Lab, tmp_path: Path) -> None:
    config = replace(load_config(lab_config(lab, tmp_path)), cache_dir=tmp_path / "cache",
                     state_dir=tmp_path / "state")
    app = RegtuiApp(config, read_only=True)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        app.open_registry("lab", REPO)
        await settle(pilot)
        table = app.screen.query_one("#tags", VirtualTable)
        for _ in range(100):
            if table.rows:
                break
            await pilot.pause(0.05)
        keys = [column.key for column in table.columns]
        assert keys[:6] == ["tag", "digest", "size", "platforms", "created", "marks"]
        assert "pushed" in keys
        header = table.render_line(0).text
        assert "CREATED" in header and "PUSHED" in header and "LAST PUSH" not in header


async def test_the_seeded_lab_pushed_each_tag_when_it_was_built(lab: Lab, tmp_path: Path) -> None:
    """Seeding writes links in a varying order within a second; the lab sets each link's
    mtime to the image's created time, so push-time plans are the same on every run."""
    config = replace(load_config(lab_config(lab, tmp_path)), cache_dir=tmp_path / "cache")
    service = open_registry(config.registries[0], config, read_only=True)
    try:
        records = await service.tag_records(REPO)
    finally:
        await service.aclose()
    images = [r for r in records if r.created is not None]
    assert len(images) > 100
    assert all(r.pushed_at == r.created for r in images), [
        (r.tag, r.pushed_at, r.created) for r in images if r.pushed_at != r.created][:3]
