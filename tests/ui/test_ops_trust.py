"""What runs is what was shown, on the real lab: retention's plan goes stale with the form,
is scoped to the repository it was opened from, and a running apply can be neither cancelled
by another button nor left without asking; what it changed is re-read at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input

from regtui.lab import Lab
from regtui.services.audit import AuditLog
from regtui.ui.operations import running_changes
from regtui.ui.screens.confirm import DeleteConfirmScreen, LeaveConfirm
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.screens.retention import RetentionScreen
from tests.test_operations import paged_tags
from tests.ui.test_ops_integration import app_on, wait_until
from tests.ui.test_snapshots import settle

pytestmark = pytest.mark.lab
LabFactory = Callable[..., Lab]
REPO = "team-a/releases"


async def open_retention(pilot: Pilot[Any]) -> RetentionScreen:
    await settle(pilot)
    await pilot.press("colon", *f"lab/{REPO}", "enter")
    await settle(pilot)
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, RetentionScreen))
    screen = pilot.app.screen
    assert isinstance(screen, RetentionScreen)
    return screen


async def dry_run(pilot: Pilot[Any], screen: RetentionScreen, match: str) -> None:
    screen.query_one("#ret-match", Input).value = match
    await pilot.pause()
    await pilot.click("#ret-dry")
    await settle(pilot)


def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "state" / "audit.jsonl")


async def test_an_edited_form_makes_the_plan_stale(lab_factory: LabFactory,
                                                   tmp_path: Path) -> None:
    lab = lab_factory()
    before = set(paged_tags(lab, REPO))
    app = app_on(lab, tmp_path, read_only=False)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_retention(pilot)
        assert screen.query_one("#ret-scope", Input).value == REPO  # opened from it: scoped
        await dry_run(pilot, screen, r"^1\.0\.0$")
        assert screen.plan is not None
        assert [str(i.target) for i in screen.plan.impacts] == [f"{REPO}:1.0.0"]
        apply = screen.query_one("#ret-apply", Button)
        assert not apply.disabled
        screen.query_one("#ret-match", Input).value = r"^1\.0\.1$"
        await pilot.pause()
        assert apply.disabled and screen.plan is None
        screen._apply()  # even a stray press (a mouse, a macro) cannot run the old plan
        await pilot.pause(0.3)
        assert not isinstance(app.screen, DeleteConfirmScreen)
        assert "form changed" in str(screen.query_one("#retention-summary").render())

        await pilot.click("#ret-dry")
        await settle(pilot)
        assert [str(i.target) for i in screen.plan.impacts] == [f"{REPO}:1.0.1"]
        await pilot.click("#ret-apply")
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteConfirmScreen))
        dialog = app.screen
        assert isinstance(dialog, DeleteConfirmScreen)
        assert [str(i.target) for i in dialog.plan.impacts] == [f"{REPO}:1.0.1"]
        await pilot.click("#confirm-yes")
        await settle(pilot)
        # Re-read at once: the registry's own table no longer lists the deleted tag.
        tags = {r.tag for r in app.store["lab"].summaries[REPO].tags}
        assert "1.0.1" not in tags and "1.0.0" in tags
    assert set(paged_tags(lab, REPO)) == before - {"1.0.1"}
    assert [e.target for e in audit(tmp_path).entries()] == [f"{REPO}:1.0.1"]


async def test_a_running_apply_survives_dry_run_and_escape_asks(lab_factory: LabFactory,
                                                                tmp_path: Path) -> None:
    lab = lab_factory()
    before = set(paged_tags(lab, REPO))
    app = app_on(lab, tmp_path, read_only=False)
    gate = asyncio.Event()

    async def hold(response: httpx.Response) -> None:
        if response.request.method == "DELETE":
            await gate.wait()

    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_retention(pilot)
        await dry_run(pilot, screen, r"^1\.0\.[0-3]$")
        assert screen.plan is not None and len(screen.plan.impacts) == 4
        app.operations("lab").inventory.backend.client.event_hooks["response"].append(hold)
        await pilot.click("#ret-apply")
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteConfirmScreen))
        app.screen.query_one("#confirm-typed", Input).value = REPO
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await wait_until(pilot, lambda: isinstance(app.screen, RetentionScreen))
        await pilot.pause(0.5)
        assert running_changes(app)

        await pilot.click("#ret-dry")  # used to cancel the apply (same exclusive group)
        await pilot.pause(0.3)
        assert running_changes(app), "the dry run button cancelled the apply"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, LeaveConfirm))
        await pilot.press("enter")  # Stay has the focus
        await wait_until(pilot, lambda: isinstance(app.screen, RetentionScreen))
        assert running_changes(app)
        screen.query_one("#ret-table").focus()
        await pilot.pause()
        await pilot.press("q")  # quitting asks too
        await wait_until(pilot, lambda: isinstance(app.screen, LeaveConfirm))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, RetentionScreen))

        workers = running_changes(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, LeaveConfirm))
        await pilot.click("#leave-yes")  # leave: the apply stops after its current step
        await wait_until(pilot, lambda: isinstance(app.screen, RegistryScreen))
        await wait_until(pilot, lambda: all(w.is_cancelled for w in workers))
        gate.set()
        await wait_until(pilot, lambda: not running_changes(app))
        await settle(pilot)
    entries = audit(tmp_path).entries()
    assert len(entries) == 4, "every planned delete has its audit line"
    gone = {e.target.partition(":")[2] for e in entries if e.outcome.startswith("ok")}
    assert len(gone) == 1, [e.outcome for e in entries]
    assert all(e.outcome.startswith("interrupted") for e in entries if not
               e.outcome.startswith("ok"))
    assert set(paged_tags(lab, REPO)) == before - gone


async def test_space_marks_tags_and_ctrl_d_deletes_the_set_once(lab_factory: LabFactory,
                                                                tmp_path: Path) -> None:
    from tests.ui.test_ops_integration import open_tag

    lab = lab_factory()
    before = set(paged_tags(lab, REPO))
    app = app_on(lab, tmp_path, read_only=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tag(pilot, REPO, "1.0.2")
        await pilot.press("space", "space")  # marks 1.0.2, then the next row
        screen = app.screen
        assert isinstance(screen, RegistryScreen)
        marked = set(screen.marked)
        assert len(marked) == 2 and "1.0.2" in marked
        assert "2 marked" in str(screen.query_one("#tags").border_title)
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteConfirmScreen))
        dialog = app.screen
        assert isinstance(dialog, DeleteConfirmScreen)
        assert sorted(i.target.tag or "" for i in dialog.plan.impacts) == sorted(marked)
        dialog.query_one("#confirm-typed", Input).value = dialog.word
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await wait_until(pilot, lambda: not running_changes(app))
        await settle(pilot)
        assert not screen.marked
        assert not marked & {r.tag for r in app.store["lab"].summaries[REPO].tags}
    assert set(paged_tags(lab, REPO)) == before - marked
    assert sorted(e.target for e in audit(tmp_path).entries()) == sorted(
        f"{REPO}:{t}" for t in marked)


async def test_gc_focuses_the_next_action_and_collects_as_a_change(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    from textual.widgets import Button

    from regtui.ui.operations import CHANGE_GROUP
    from regtui.ui.screens.gc import CollectConfirm, GcScreen
    from tests.ui.test_ops_screens import Host, _ops

    class Recording(Host):
        """Gets every worker change through the screens' funnel."""

        def worker_changed(self, worker: Any, state: Any) -> None:
            groups.append((worker.name, worker.group))

    ops, _ = _ops(lab_factory(), tmp_path, read_only=False)
    screen = GcScreen(ops)
    app = Recording(screen)
    groups: list[tuple[str, str]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert screen.focused is screen.query_one("#gc-dry", Button)  # focus on entry
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.focused is screen.query_one("#gc-real", Button)  # after the dry run
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CollectConfirm))
        await pilot.click("#gc-collect")
        await wait_until(pilot, lambda: ("garbage-collect", CHANGE_GROUP) in groups)
        await app.workers.wait_for_complete()
        await pilot.pause()
    await ops.inventory.aclose()
    assert [e.action for e in ops.audit.entries()] == ["gc --dry-run", "gc"]
    assert ops.audit.entries()[-1].outcome.startswith("ok")
