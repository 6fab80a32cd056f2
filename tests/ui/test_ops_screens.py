"""The confirmation dialog, GC, audit and storage screens, driven through the pilot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Button, DataTable, Input, RichLog, Static, Tree

from regtui.config import Config, load_config
from regtui.lab import Lab
from regtui.registry.models import ArtifactKind, TagRecord
from regtui.services.audit import AuditLog
from regtui.services.gc import storage_root
from regtui.services.impact import DeletePlan, Target, plan_delete
from regtui.services.inventory import open_registry
from regtui.services.operations import OperationsService
from regtui.text import Untrusted as U
from regtui.ui.screens.audit import AuditScreen
from regtui.ui.screens.confirm import DeleteConfirmScreen
from regtui.ui.screens.gc import GcScreen
from regtui.ui.screens.storage import StorageScreen

LabFactory = Callable[..., Lab]


class Host(App[None]):
    """Shows one screen; remembers what a modal answered."""

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.first = screen
        self.answers: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.first, self.answers.append)


def record(tag: str, digest: str, repository: str = "app") -> TagRecord:
    return TagRecord("lab", U(repository), U(tag), digest, U(""), 10, (), None, ArtifactKind.IMAGE,
                     reachable=((digest, 10),))


def a_plan(*tags: str) -> DeletePlan:
    records = [record(t, f"sha256:{i:064x}") for i, t in enumerate(tags)]
    return plan_delete("lab", [Target("app", t) for t in tags], records, {}, can_delete_tag=False)


async def test_enter_on_the_dialog_cancels_because_cancel_has_focus() -> None:
    app = Host(DeleteConfirmScreen(a_plan("1.0")))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.focused, Button) and app.focused.id == "confirm-no"
        await pilot.press("enter")
        await pilot.pause()
    assert app.answers == [False]


async def test_latest_needs_the_repository_name_typed() -> None:
    app = Host(DeleteConfirmScreen(a_plan("latest")))
    async with app.run_test() as pilot:
        await pilot.pause()
        yes = app.screen.query_one("#confirm-yes", Button)
        assert yes.disabled
        app.screen.query_one("#confirm-typed", Input).focus()
        await pilot.press(*"ap")
        assert yes.disabled
        await pilot.press("p")
        await pilot.pause()
        assert not yes.disabled
        await pilot.click("#confirm-yes")
        await pilot.pause()
    assert app.answers == [True]


async def test_hostile_tag_names_are_shown_literally_in_the_dialog() -> None:
    hostile = "[bold red]x[/]\x1b[31m\x07"
    app = Host(DeleteConfirmScreen(a_plan(hostile)))
    async with app.run_test() as pilot:
        await pilot.pause()
        text = str(app.screen.query_one("#confirm-plan", Static).render())
        assert "[bold red]x[/]" in text and "␛[31m␇" in text and "\x1b" not in text


def _ops(lab: Lab, tmp_path: Path, *, read_only: bool) -> tuple[OperationsService, Config]:
    path = tmp_path / "config.toml"
    path.write_text(lab.regtui_config_toml())
    config = load_config(path)
    registry = config.registries[0]
    ops = OperationsService(open_registry(registry, config, read_only=read_only), registry,
                            read_only=read_only, audit=AuditLog(tmp_path / "audit.jsonl"))
    return ops, config


@pytest.mark.lab
async def test_gc_screen_runs_the_real_dry_run_and_audits_it(lab_factory: LabFactory,
                                                             tmp_path: Path) -> None:
    ops, _ = _ops(lab_factory(), tmp_path, read_only=False)
    app = Host(GcScreen(ops))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.click("#gc-dry")
        await app.workers.wait_for_complete()
        await pilot.pause()
        log = "\n".join(str(line.text) for line in app.screen.query_one(RichLog).lines)
        assert "eligible for deletion" in log
        assert not app.screen.query_one("#gc-real", Button).disabled
        assert app.screen.query_one("#gc-history", DataTable).row_count == 1
    await ops.inventory.aclose()
    assert [e.action for e in ops.audit.entries()] == ["gc --dry-run"]


@pytest.mark.lab
async def test_gc_screen_cannot_start_anything_in_read_only(lab_factory: LabFactory,
                                                            tmp_path: Path) -> None:
    ops, _ = _ops(lab_factory(), tmp_path, read_only=True)
    app = Host(GcScreen(ops))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.screen.query_one("#gc-dry", Button).disabled
        assert app.screen.query_one("#gc-real", Button).disabled
        assert "Read-only" in str(app.screen.query_one("#gc-note", Static).render())
    await ops.inventory.aclose()


async def test_audit_screen_lists_entries_newest_first(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    for outcome in ("ok: manifest deleted", "refused: read-only"):
        audit.record(registry="lab", action="delete", target="app:1", digest="sha256:x",
                     command="regtui delete lab/app:1 --yes", outcome=outcome)
    app = Host(AuditScreen(audit))
    async with app.run_test() as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        assert str(table.get_row_at(0)[5]) == "refused: read-only"


@pytest.mark.lab
async def test_storage_screen_shows_the_same_totals_as_the_cli(lab: Lab, tmp_path: Path) -> None:
    ops, _ = _ops(lab, tmp_path, read_only=True)
    root = storage_root(ops.registry.gc) if ops.registry.gc else None
    screen = StorageScreen(ops.inventory, root)
    app = Host(screen)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.report is not None
        summary = str(app.screen.query_one("#storage-summary", Static).render())
        assert f"{screen.report.total.repositories} repositories" in summary
        tree = app.screen.query_one(Tree)
        top = [str(child.label) for child in tree.root.children]
        assert any(label.endswith("team-a/") for label in top)
        await pilot.press("s")
        assert screen.sort_key == "unique_bytes"
    await ops.inventory.aclose()


@pytest.mark.lab
async def test_retention_screen_dry_run_matches_the_cli_and_apply_deletes(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    import httpx

    from regtui.ui.screens.retention import RetentionScreen

    lab = lab_factory()
    ops, _ = _ops(lab, tmp_path, read_only=False)
    cli = subprocess.run(
        [sys.executable, "-m", "regtui", "--config", str(tmp_path / "config.toml"), "retention",
         "--keep-last", "2", "--match", r"^\d", "--protect", "^(latest|stable)$"],
        capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    expected = sorted(re.findall(r"^(\S+:\S+)  sha256:", cli.stdout, re.MULTILINE))
    assert expected

    screen = RetentionScreen(ops)
    app = Host(screen)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        screen.query_one("#ret-keep", Input).value = "2"
        screen.query_one("#ret-match", Input).value = r"^\d"
        await pilot.click("#ret-dry")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = screen.query_one(DataTable)
        listed = sorted(str(key.value) for key in table.rows)
        assert listed == expected
        await pilot.click("#ret-apply")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, DeleteConfirmScreen)
        dialog.query_one("#confirm-typed", Input).value = dialog.word
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await app.workers.wait_for_complete()
        await pilot.pause()
        summary = str(screen.query_one("#retention-summary", Static).render())
        assert summary.startswith(f"{len(expected)} deleted, 0 not deleted")
    await ops.inventory.aclose()
    for reference in expected:
        repo, _, tag = reference.rpartition(":")
        status = httpx.head(f"{lab.url}/v2/{repo}/manifests/{tag}").status_code
        assert status == 404, reference
