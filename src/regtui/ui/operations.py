"""Changing a registry from the dashboard: plan, confirm in the dialog, act, report.

Screens call these from workers; everything goes through `OperationsService`, so the TUI's
deletes are previewed, re-checked, read-only-guarded and audited exactly like the CLI's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Final

from textual.app import App
from textual.dom import DOMNode
from textual.worker import Worker, WorkerState

from regtui.config import Config, RegistryConfig
from regtui.errors import UsageError
from regtui.registry.models import TagRecord
from regtui.render.plan import outcome_count
from regtui.services.audit import AuditLog
from regtui.services.impact import DeletePlan, Target
from regtui.services.inventory import InventoryService
from regtui.services.operations import DeleteResult, OperationsService
from regtui.text import safe_text
from regtui.ui.screens.confirm import DeleteConfirmScreen, LeaveConfirm

CHANGE_GROUP: Final = "change"
"""The worker group of everything that changes a registry: never `exclusive`, so no read-only
worker (a dry run, a refresh) can cancel a change by starting."""
STOP_NOTE: Final = ("The item being changed now finishes; the rest are not attempted, and "
                    "the audit log records them as interrupted.")


def running_changes(app: App[Any], node: DOMNode | None = None) -> list[Worker[Any]]:
    """Changes under way (started by `node`, when given)."""
    return [w for w in app.workers
            if w.group == CHANGE_GROUP and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            and (node is None or w.node is node)]


def refuse_second_change(app: App[Any]) -> bool:
    """True (and says so) when a change is already running: one change at a time."""
    running = running_changes(app)
    if running:
        app.notify(f"A change is already running ({safe_text(running[0].name, 80)}); "
                   "wait for it to finish.", severity="warning", markup=False)
    return bool(running)


def leave_or_ask(app: App[Any], node: DOMNode | None, leave: Callable[[], object],
                 what: str = "leave this screen") -> None:
    """Leave at once, or, while a change started here runs, ask first (Stay is the default)."""
    running = running_changes(app, node)
    if not running:
        leave()
        return
    question = (f"A change is running: {safe_text(running[0].name, 120)}.\n\n"
                f"Stop it and {what}? {STOP_NOTE}")

    def answered(yes: bool | None) -> None:
        if yes:
            leave()

    app.push_screen(LeaveConfirm(question), answered)


def audit_log(config: Config) -> AuditLog:
    return AuditLog(config.state_dir / "audit.jsonl")


def open_operations(config: Config, registry: RegistryConfig, service: object, *,
                    read_only: bool) -> OperationsService:
    """Operations need the live registry service; a fixed demo service cannot change things."""
    if not isinstance(service, InventoryService):
        raise UsageError(f"registry {registry.name}: changes need a live connection")
    return OperationsService(service, registry, read_only=read_only, audit=audit_log(config))


async def ask(app: App[Any], plan: DeletePlan) -> bool:
    """The confirmation dialog, awaited; anything but an explicit Delete is a no."""
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def answered(result: bool | None) -> None:
        if not answer.done():
            answer.set_result(bool(result))

    app.push_screen(DeleteConfirmScreen(plan), answered)
    return await answer


async def delete_with_confirmation(app: App[Any], ops: OperationsService,
                                   targets: Sequence[Target],
                                   records: list[TagRecord] | None = None,
                                   ) -> list[DeleteResult]:
    """Plan (against `records` when they cover the whole registry), confirm, delete, report."""
    if records is not None:
        ops.use_records(records)
    plan = await ops.plan(targets)
    if not plan.impacts:
        problem = plan.problems[0] if plan.problems else "nothing to delete"
        app.notify(safe_text(problem, 300), severity="warning", markup=False)
        return []

    async def confirm(candidate: DeletePlan) -> bool:
        return await ask(app, candidate)

    results = await ops.delete(plan, confirm=confirm)
    app.notify(summary(results), severity="information" if all(r.ok for r in results)
               else "error", markup=False, timeout=10)
    return results


def summary(results: Sequence[DeleteResult]) -> str:
    if results and all(r.outcome == "cancelled" for r in results):
        return "Cancelled: nothing was deleted."
    failed = [r for r in results if not r.ok]
    text = outcome_count(results)
    if failed:
        text += f"; {safe_text(str(failed[0].target), 80)}: {safe_text(failed[0].outcome, 200)}"
    return text
