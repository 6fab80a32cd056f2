"""Retention: a policy form, the dry run's list and reclaimable bytes, then apply with progress.

Apply goes through the same confirmation dialog as any delete (typed repository name), keeps
going past individual failures, and ends with what was deleted and what was not, and why.
What runs is what was shown: any edit of the form makes the dry run's plan stale, and Apply
stays disabled until a new dry run.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Static

from regtui.errors import RegtuiError, UsageError
from regtui.registry.models import TagRecord
from regtui.render.fleet import mode_word
from regtui.render.formats import short_digest, size
from regtui.render.plan import outcome_count
from regtui.services.impact import DeletePlan
from regtui.services.operations import OperationsService
from regtui.services.retention import RetentionPolicy, compile_pattern, parse_duration
from regtui.text import safe_text
from regtui.ui.operations import (
    CHANGE_GROUP,
    ask,
    leave_or_ask,
    refuse_second_change,
)
from regtui.ui.screens.funnel import FunnelScreen
from regtui.ui.widgets.badge import ReadOnlyBadge
from regtui.ui.widgets.footer import PriorityFooter
from regtui.ui.widgets.tables import MeasuredTable


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


FORM_FIELDS = ("ret-scope", "ret-match", "ret-protect", "ret-older", "ret-keep")
STALE = "The form changed since the dry run: run it again to see what Apply would delete."


class RetentionScreen(FunnelScreen[None]):
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
        Binding("escape", "back", "Back", id="retention.back",
                tooltip="Back; while Apply runs, asks first"),
    ]

    def __init__(self, operations: OperationsService, scope: str = "") -> None:
        super().__init__()
        self.operations = operations
        self.scope = scope
        self.plan: DeletePlan | None = None
        self.planned_form: tuple[str, ...] | None = None
        """The form the plan was made from: Apply runs the plan only while the form is it."""

    def compose(self) -> ComposeResult:
        yield ReadOnlyBadge(self.operations.read_only)
        yield Static(Text(f"Retention — {safe_text(self.operations.registry.name, 60)} · "
                          f"{mode_word(self.operations.read_only)}"), id="title")
        with Horizontal():
            yield Label("in")
            # An Input draws its value raw: a registry's name goes in with visible stand-ins
            # (a hostile one then matches nothing, and the dry run says so).
            yield Input(value=str(safe_text(self.scope, 300)),
                        placeholder="repository or namespace (all if empty)", id="ret-scope")
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
        yield MeasuredTable(id="ret-table", cursor_type="row", zebra_stripes=True)
        yield PriorityFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("repository", "tag", "digest", "created",
                                              "how", "outcome")
        if self.operations.read_only:
            self._say("Read-only mode: the dry run works; nothing can be applied.")

    def _say(self, text: str) -> None:
        self.query_one("#retention-summary", Static).update(Text(safe_text(text, 600)))

    def _form_values(self) -> tuple[str, ...]:
        return tuple(self.query_one(f"#{field}", Input).value for field in FORM_FIELDS)

    def _form(self) -> RetentionPolicy:
        _, match, protect, older, keep = self._form_values()
        return policy_from(match, protect, older, keep)

    def _applying(self) -> bool:
        return any(w.name == "retention-apply" and not w.is_finished for w in self.workers
                   if w.node is self)

    @on(Input.Changed)
    def _form_changed(self, event: Input.Changed) -> None:
        """Any edit makes the plan stale: what Apply would run is no longer what is shown."""
        if event.input.id in FORM_FIELDS and self.plan is not None \
                and self._form_values() != self.planned_form:
            self.plan = None
            self.query_one("#ret-apply", Button).disabled = True
            self._say(STALE)

    @on(Button.Pressed, "#ret-dry")
    def _dry(self) -> None:
        if self._applying():
            self.notify("Apply is running: the dry run waits until it has finished.",
                        severity="warning")
            return
        try:
            policy = self._form()
        except RegtuiError as error:
            self.notify(str(error), severity="error", markup=False)
            self._say(str(error))
            return
        self.dry_run(policy, self._form_values())

    @work(exclusive=True, group="retention", exit_on_error=False)
    async def dry_run(self, policy: RetentionPolicy, form: tuple[str, ...]) -> None:
        self.plan = None
        self.query_one("#ret-apply", Button).disabled = True
        self._say("reading every repository (reclaimable bytes depend on all)…")
        try:
            chosen, plan = await self.operations.retention_plan(policy, scope=form[0])
        except RegtuiError as error:
            self._say(f"dry run failed: {error}")
            self.notify(str(error), severity="error", markup=False)
            return
        if form != self._form_values():
            self._say(STALE)  # edited while the dry run read the registry
            return
        self.plan, self.planned_form = plan, form
        self._show_plan(plan, chosen)
        self.query_one("#ret-apply", Button).disabled = (
            self.operations.read_only or not plan.impacts)

    def _show_plan(self, plan: DeletePlan, chosen: list[TagRecord]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        created: dict[tuple[str, str], datetime | None] = {
            (r.repository, r.tag): r.created for r in chosen}
        for impact in plan.impacts:
            when = created.get((impact.target.repository, impact.target.tag or ""))
            table.add_row(Text(safe_text(impact.target.repository, 80)),
                          Text(safe_text(impact.target.tag or "", 60)),
                          Text(short_digest(impact.digest)),
                          Text(when.strftime("%Y-%m-%d %H:%M") if when else "-"),
                          Text(impact.strategy.name.lower()), Text(""),
                          key=str(impact.target))
        count = len(plan.impacts)
        where = f" in {self.planned_form[0].strip()}" if self.planned_form and \
            self.planned_form[0].strip() else ""
        self._say(f"{count} tag{'' if count == 1 else 's'}{where} would be deleted; "
                  f"reclaimable by garbage-collect afterwards: {size(plan.reclaimable_bytes)}")

    @on(Button.Pressed, "#ret-apply")
    def _apply(self) -> None:
        plan = self.plan
        if plan is None or self.operations.read_only or self._form_values() != self.planned_form:
            self._say(STALE)
            self.query_one("#ret-apply", Button).disabled = True
            return
        if not refuse_second_change(self.app):
            self.apply(plan)

    @work(group=CHANGE_GROUP, name="retention-apply", exit_on_error=False)
    async def apply(self, plan: DeletePlan) -> None:
        bar = self.query_one("#ret-progress", ProgressBar)
        table = self.query_one(DataTable)
        dry = self.query_one("#ret-dry", Button)

        async def confirm(p: DeletePlan) -> bool:
            return await ask(self.app, p)

        def progress(done: int, total: int, line: str) -> None:
            bar.update(total=total, progress=done)

        bar.add_class("-running")
        dry.disabled = True
        self.query_one("#ret-apply", Button).disabled = True
        try:
            results = await self.operations.delete(plan, confirm=confirm, progress=progress,
                                                   command="regtui retention (TUI)")
        finally:
            self._touched(plan)
            bar.remove_class("-running")
            dry.disabled = False
        for result in results:
            row = str(result.target)
            if row in table.rows:
                table.update_cell(row, table.ordered_columns[-1].key,
                                  Text(safe_text(result.outcome, 120)))
        failed = [r for r in results if not r.ok]
        self.plan = None
        self._say(outcome_count(results)
                  + (f" (first: {safe_text(failed[0].outcome, 120)})" if failed else ""))

    def _touched(self, plan: DeletePlan) -> None:
        """Re-read, at once, every repository the apply may have changed."""
        from regtui.ui.app import RegtuiApp

        if isinstance(self.app, RegtuiApp):
            self.app.refresh_touched(self.operations.registry.name, plan.repositories)

    def action_back(self) -> None:
        leave_or_ask(self.app, self, self.app.pop_screen)
