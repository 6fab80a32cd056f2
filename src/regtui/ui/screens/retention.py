"""Retention: a policy form, the dry run's list and reclaimable bytes, then apply with progress.

Apply goes through the same confirmation dialog as any delete (typed repository name), keeps
going past individual failures, and ends with what was deleted and what was not, and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Static

from regtui.errors import RegtuiError, UsageError
from regtui.render.formats import size
from regtui.render.plan import outcome_count
from regtui.services.impact import DeletePlan
from regtui.services.operations import OperationsService
from regtui.services.retention import RetentionPolicy, compile_pattern, parse_duration
from regtui.text import safe_text
from regtui.ui.operations import ask
from regtui.ui.widgets.badge import ReadOnlyBadge


def policy_from(match: str, protect: str, older_than: str, keep_last: str) -> RetentionPolicy:
    """Build a policy from the form; every mistake is a one-line `UsageError`."""
    keep: int | None = None
    if keep_last.strip():
        if not keep_last.strip().isdigit():
            raise UsageError(f"keep last {keep_last!r}: expected a whole number")
        keep = int(keep_last)
    return RetentionPolicy(
        match=compile_pattern("match", match.strip() or None),
        protect=compile_pattern("protect", protect.strip() or None),
        older_than=parse_duration(older_than) if older_than.strip() else None,
        keep_last=keep,
    )


class RetentionScreen(Screen[None]):
    DEFAULT_CSS = """
    RetentionScreen Horizontal { height: auto; }
    RetentionScreen Input { width: 1fr; }
    RetentionScreen Label { padding: 1 1 0 1; }
    RetentionScreen #retention-summary { height: auto; margin: 1 0; }
    RetentionScreen DataTable { height: 1fr; }
    RetentionScreen ProgressBar { display: none; }
    RetentionScreen ProgressBar.-running { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="retention-back"),
    ]

    def __init__(self, operations: OperationsService) -> None:
        super().__init__()
        self.operations = operations
        self.plan: DeletePlan | None = None

    def compose(self) -> ComposeResult:
        yield ReadOnlyBadge(self.operations.read_only)
        yield Static(Text(f"Retention — {safe_text(self.operations.registry.name, 60)}"),
                     id="title")
        with Horizontal():
            yield Label("match")
            yield Input(placeholder="regex, e.g. ^pr-", id="ret-match")
            yield Label("protect")
            yield Input(value="^(latest|stable)$", id="ret-protect")
        with Horizontal():
            yield Label("older than")
            yield Input(placeholder="e.g. 30d", id="ret-older")
            yield Label("keep last")
            yield Input(placeholder="N per repository", id="ret-keep")
            yield Button("Dry run", id="ret-dry", variant="primary")
            yield Button("Apply…", id="ret-apply", variant="error", disabled=True)
        yield Static(id="retention-summary")
        yield ProgressBar(id="ret-progress", show_eta=False)
        yield DataTable(id="ret-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("repository", "tag", "digest", "created",
                                              "how", "outcome")
        if self.operations.read_only:
            self.query_one("#retention-summary", Static).update(
                Text("Read-only mode: the dry run works; nothing can be applied."))

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def _form(self) -> RetentionPolicy:
        return policy_from(self._value("ret-match"), self._value("ret-protect"),
                           self._value("ret-older"), self._value("ret-keep"))

    @on(Button.Pressed, "#ret-dry")
    def _dry(self) -> None:
        try:
            policy = self._form()
        except RegtuiError as error:
            self.notify(str(error), severity="error")
            return
        self.dry_run(policy)

    @work(exclusive=True, group="retention", exit_on_error=False)
    async def dry_run(self, policy: RetentionPolicy) -> None:
        summary = self.query_one("#retention-summary", Static)
        summary.update(Text("reading every repository (reclaimable bytes depend on all)…"))
        chosen, plan = await self.operations.retention_plan(policy)
        self.plan = plan
        table = self.query_one(DataTable)
        table.clear()
        created: dict[tuple[str, str], datetime | None] = {
            (r.repository, r.tag): r.created for r in chosen}
        for impact in plan.impacts:
            when = created.get((impact.target.repository, impact.target.tag or ""))
            table.add_row(Text(safe_text(impact.target.repository, 80)),
                          Text(safe_text(impact.target.tag or "", 60)),
                          Text(impact.digest[:19]),
                          Text(when.strftime("%Y-%m-%d %H:%M") if when else "-"),
                          Text(impact.strategy.name.lower()), Text(""),
                          key=str(impact.target))
        summary.update(Text(f"{len(plan.impacts)} tags would be deleted; reclaimable by "
                            f"garbage-collect afterwards: {size(plan.reclaimable_bytes)}"))
        self.query_one("#ret-apply", Button).disabled = (
            self.operations.read_only or not plan.impacts)

    @on(Button.Pressed, "#ret-apply")
    def _apply(self) -> None:
        if self.plan is not None and not self.operations.read_only:
            self.apply(self.plan)

    @work(exclusive=True, group="retention", exit_on_error=False)
    async def apply(self, plan: DeletePlan) -> None:
        bar = self.query_one("#ret-progress", ProgressBar)
        table = self.query_one(DataTable)

        async def confirm(p: DeletePlan) -> bool:
            return await ask(self.app, p)

        def progress(done: int, total: int, line: str) -> None:
            bar.update(total=total, progress=done)

        bar.add_class("-running")
        results = await self.operations.delete(plan, confirm=confirm, progress=progress,
                                               command="regtui retention (TUI)")
        bar.remove_class("-running")
        for result in results:
            row = str(result.target)
            if row in table.rows:
                table.update_cell(row, table.ordered_columns[-1].key,
                                  Text(safe_text(result.outcome, 120)))
        failed = [r for r in results if not r.ok]
        self.query_one("#retention-summary", Static).update(Text(
            outcome_count(results)
            + (f" (first: {safe_text(failed[0].outcome, 120)})" if failed else "")))
        self.query_one("#ret-apply", Button).disabled = True
