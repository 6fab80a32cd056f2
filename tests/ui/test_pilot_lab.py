"""Pilot tests against the real lab: a real docker-registry seeded with the default data set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from regtui.config import load_config
from regtui.lab import Lab
from regtui.render.tags import TagRow, marks
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.screens.tag import TagScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle

pytestmark = pytest.mark.lab


def lab_app(lab: Lab, tmp_path: Path) -> RegtuiApp:
    path = tmp_path / "config.toml"
    path.write_text(lab.regtui_config_toml(), encoding="utf-8")
    return RegtuiApp(load_config(path), read_only=True)


def tags_of(pilot: Pilot[Any]) -> list[TagRow]:
    return list(pilot.app.screen.query_one("#tags", VirtualTable).rows)


async def jump(pilot: Pilot[Any], target: str) -> None:
    await pilot.press("colon", *target, "enter")
    await settle(pilot)


async def test_browse_filter_sort_and_fold_on_the_lab(lab: Lab, tmp_path: Path) -> None:
    app = lab_app(lab, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        status = app.store["lab"].status
        assert (status.reachable, status.error) == (True, "")
        assert status.repositories is not None and status.repositories > 100
        assert "lab" in screen_text(app) and " up " in screen_text(app)

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        await jump(pilot, "lab/team-a/releases")
        assert len(tags_of(pilot)) == 301
        assert "301 tags" in screen_text(app)

        await pilot.press("slash", *"3.9.", "enter")
        await settle(pilot)
        assert sorted(r.key for r in tags_of(pilot)) == [f"3.9.{i}" for i in range(10)]
        await pilot.press("slash", "ctrl+u", *"!~^[12]\\.", "enter")
        await settle(pilot)
        assert len(tags_of(pilot)) == 101 and "latest" in {r.key for r in tags_of(pilot)}
        await pilot.press("escape")  # clears the filter

        await pilot.press("S")  # size, largest first, across all 301 tags
        sizes = [row.record.size_bytes for row in tags_of(pilot)]
        assert len(sizes) == 301 and sizes == sorted(sizes, reverse=True)
        await pilot.press("N")
        assert [r.key for r in tags_of(pilot)][:3] == ["1.0.0", "1.0.1", "1.0.2"]
        await pilot.press("N")
        assert tags_of(pilot)[0].key == "latest"

        await jump(pilot, "lab/app")
        rows = tags_of(pilot)
        assert not any(r.key.startswith("sha256-") for r in rows)  # folded, not listed
        image = next(r for r in rows if r.children)
        assert lab.seeded is not None
        digest = lab.seeded.tags["app"]["1.2.3"]
        assert image.key in ("1.2.3", "stable") and image.record.digest == digest
        short = "sha256-" + digest.removeprefix("sha256:")[:12]  # formats.DIGEST_LENGTH
        assert len(image.children) == 3
        assert {c.tag.rsplit(".", 1)[-1] for c in image.children} >= {"sig", "att"}
        assert marks(image) == "SBA =1"  # signature, SBOM (referrers tag), attestation
        assert "SBA =1" in screen_text(app)
        table = app.screen.query_one("#tags", VirtualTable)
        table.set_rows(table.rows, keep=image.key)
        await pilot.press("z")
        await settle(pilot)
        shown = tags_of(pilot)
        index = [r.key for r in shown].index(image.key)
        assert all(r.depth == 1 for r in shown[index + 1:index + 1 + len(image.children)])
        text = screen_text(app)
        assert f"└ {short}….sig" in text and f"└ {short}….att" in text


async def test_index_platforms_and_hostile_labels_in_detail(lab: Lab, tmp_path: Path) -> None:
    app = lab_app(lab, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.open_registry("lab", "multiarch")
        await settle(pilot)
        table = app.screen.query_one("#tags", VirtualTable)
        table.set_rows(table.rows, keep="1.0")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TagScreen)
        app.screen.query_one("TabbedContent").active = "tab-platforms"  # type: ignore[attr-defined]
        await settle(pilot)
        text = screen_text(app)
        for platform in ("linux/amd64", "linux/arm64"):
            assert platform in text
        assert "…" not in text.split("PLATFORM")[1]  # every per-platform size was fetched
        assert "docker pull" not in text

        await pilot.press("escape")
        await jump(pilot, "lab/hostile")
        await pilot.press("enter")
        await settle(pilot)
        app.screen.query_one("TabbedContent").active = "tab-config"  # type: ignore[attr-defined]
        await settle(pilot)
        text = screen_text(app)
        assert "markup.bold=[bold red]x[/]" in text
        assert "bell=ding␇dong" in text and "ansi.red=␛[31mred␛[0m" in text
        assert "RUN echo [bold red]x[/] ␛[31m␇" in text
        assert "\x1b" not in text and "\x07" not in text


async def test_logs_open_from_the_registry_screen(lab: Lab, tmp_path: Path) -> None:
    from regtui.ui.screens.logs import LogsScreen

    app = lab_app(lab, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_registry("lab", "app")
        await settle(pilot)
        assert app.screen.check_action("logs", ()) is True  # the lab config names its log
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RegistryScreen)


async def _open_detail(pilot: Pilot[Any], app: RegtuiApp, repo: str, tag: str) -> TagScreen:
    app.open_registry("lab", repo)
    await settle(pilot)
    table = app.screen.query_one("#tags", VirtualTable)
    table.set_rows(table.rows, keep=tag)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, TagScreen)
    return app.screen


async def _tab_text(pilot: Pilot[Any], screen: TagScreen, tab: str) -> str:
    screen.query_one("TabbedContent").active = f"tab-{tab}"  # type: ignore[attr-defined]
    await settle(pilot)
    return screen_text(pilot.app)


async def test_empty_detail_tabs_say_why(lab: Lab, tmp_path: Path) -> None:
    """A single-platform image without referrers: Platforms and Referrers say why they are
    empty; a signed image lists its referrers and an index its platforms, with no note."""
    app = lab_app(lab, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = await _open_detail(pilot, app, "app", "1.2.2")
        assert "single-platform image: no platforms list" in await _tab_text(
            pilot, screen, "platforms")
        text = await _tab_text(pilot, screen, "referrers")
        assert "no referrers: no signatures, attestations or SBOMs point at this image" in text
        assert "ARTIFACT TYPE" not in text  # the note instead of an empty table
        assert "loading" not in await _tab_text(pilot, screen, "layers")

        await pilot.press("escape")
        screen = await _open_detail(pilot, app, "app", "1.2.3")  # signed, attested, an SBOM
        text = await _tab_text(pilot, screen, "referrers")
        assert "no referrers" not in text and "signature" in text

        await pilot.press("escape")
        screen = await _open_detail(pilot, app, "multiarch", "1.0")
        text = await _tab_text(pilot, screen, "platforms")
        assert "single-platform" not in text and "linux/amd64" in text
        assert "an index has no layers of its own" in await _tab_text(pilot, screen, "layers")
        assert "no referrers:" in await _tab_text(pilot, screen, "referrers")
