"""Garbage collection: dry run first, output streamed live, then collect on confirmation.

Read-only mode never gets here with a way to start anything: the screen shows why instead,
and the runner itself refuses before spawning a process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, RichLog, Static

from regtui.errors import RegtuiError
from regtui.render.fleet import mode_word
from regtui.render.formats import plural, size
from regtui.services.gc import GcProgress, GcRun
from regtui.services.operations import OperationsService
from regtui.text import safe_text
from regtui.ui.operations import CHANGE_GROUP, leave_or_ask, refuse_second_change
from regtui.ui.screens.funnel import FunnelScreen
from regtui.ui.widgets.badge import ReadOnlyBadge
from regtui.ui.widgets.footer import PriorityFooter
from regtui.ui.widgets.tables import MeasuredTable

UNTAGGED_WARNING = (
    "--delete-untagged is not offered: on distribution 2.x it also deletes the untagged "
    "children of multi-arch indexes. Run it by hand only on a registry without indexes.")


def _size(value: int | None) -> str:
    return "unknown" if value is None else size(value)


def run_summary(run: GcRun) -> str:
    progress = run.progress
    text = (f"{run.mode}: exit {run.exit_code}; "
            f"{plural(progress.get('blobs_marked', 0), 'blob')} marked, "
            f"{plural(progress.get('eligible_blobs', 0), 'blob')} and "
            f"{plural(progress.get('eligible_manifests', 0), 'manifest')} eligible for deletion")
    if run.bytes_before is not None:
        text += f"; storage {_size(run.bytes_before)} -> {_size(run.bytes_after)}"
        if run.bytes_freed:
            text += f" ({_size(run.bytes_freed)} freed)"
    return text


class CollectConfirm(ModalScreen[bool]):
    """A plain yes/no with No focused: collecting deletes blobs for good."""

    DEFAULT_CSS = """
    CollectConfirm { align: center middle; }
    CollectConfirm > Vertical { width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: thick $error; background: $surface; padding: 0 1; }
    CollectConfirm Static { padding: 1 1 0 1; }
    CollectConfirm Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    CollectConfirm Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "no", "Cancel", id="gc.cancel")]

    def __init__(self, summary: str) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical():  # the buttons sit inside the dialog's border
            yield Static(Text(f"Collect garbage for real?\n\n{self.summary}\n\nBlobs deleted "
                              "now cannot be recovered. Pushes during collection can break: "
                              "put the registry in read-only maintenance mode first."))
            with Horizontal():
                yield Button("Cancel", id="gc-cancel", variant="primary")
                yield Button("Collect", id="gc-collect", variant="error")

    def on_mount(self) -> None:
        self.query_one("#gc-cancel", Button).focus()

    @on(Button.Pressed, "#gc-collect")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#gc-cancel")
    def action_no(self) -> None:
        self.dismiss(False)


class GcScreen(FunnelScreen[None]):
    """One registry's garbage collection, with its history."""

    BINDINGS_TITLE = "Garbage collection"

    DEFAULT_CSS = """
    GcScreen #gc-progress { height: 1; color: $accent; }
    GcScreen #gc-note { color: $text-muted; }
    GcScreen RichLog { height: 1fr; border: round $border-blurred; }
    GcScreen DataTable { height: 8; }
    GcScreen Horizontal { height: auto; }
    GcScreen Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="gc.back",
                tooltip="Back; while garbage-collect runs, asks first"),
    ]

    def __init__(self, operations: OperationsService) -> None:
        super().__init__()
        self.operations = operations
        self.last_dry_run: GcRun | None = None

    def compose(self) -> ComposeResult:
        yield ReadOnlyBadge(self.operations.read_only)
        name = safe_text(self.operations.registry.name, 60)
        yield Static(Text(f"Garbage collection — {name} · {mode_word(self.operations.read_only)}"),
                     id="title")
        yield Static(Text(self._note()), id="gc-note")
        yield Static(id="gc-progress")
        yield RichLog(id="gc-log", max_lines=5000, markup=False, highlight=False, wrap=False)
        with Horizontal():
            yield Button("Dry run", id="gc-dry", disabled=not self._can_run())
            yield Button("Collect…", id="gc-real", variant="error", disabled=True)
        yield MeasuredTable(id="gc-history", cursor_type="row", zebra_stripes=True)
        yield PriorityFooter()

    def _collector_problem(self) -> str:
        try:
            self.operations.gc_runner()
        except RegtuiError as error:
            return str(error)
        return ""

    def _can_run(self) -> bool:
        return not self.operations.read_only and not self._collector_problem()

    def _note(self) -> str:
        if self.operations.read_only:
            return "Read-only mode: garbage collection cannot be started."
        problem = self._collector_problem()
        if problem:
            return problem
        return self.operations.gc_runner().note or UNTAGGED_WARNING

    def on_mount(self) -> None:
        self._focus_action()
        table = self.query_one("#gc-history", DataTable)
        table.add_columns("time", "mode", "exit", "freed", "summary")
        self._load_history()

    def _load_history(self) -> None:
        if self._collector_problem():
            return
        table = self.query_one("#gc-history", DataTable)
        table.clear()
        for run in reversed(self.operations.gc_runner().history()[-50:]):
            table.add_row(Text(run.time), Text(run.mode), Text(str(run.exit_code)),
                          Text(_size(run.bytes_freed)), Text(safe_text(run_summary(run), 200)))

    @on(Button.Pressed, "#gc-dry")
    def _dry(self) -> None:
        self.run_gc(dry_run=True)

    @on(Button.Pressed, "#gc-real")
    def _real(self) -> None:
        summary = run_summary(self.last_dry_run) if self.last_dry_run else ""

        def answered(yes: bool | None) -> None:
            if yes and not refuse_second_change(self.app):
                self.collect()

        self.app.push_screen(CollectConfirm(summary), answered)

    @work(group=CHANGE_GROUP, name="garbage-collect", exit_on_error=False)
    async def collect(self) -> None:
        """The real run is a change: never `exclusive` with the dry run, asked before left."""
        await self._gc(dry_run=False)

    def action_back(self) -> None:
        leave_or_ask(self.app, self, self.app.pop_screen)

    @work(exclusive=True, group="gc", exit_on_error=False)
    async def run_gc(self, *, dry_run: bool) -> None:
        await self._gc(dry_run=dry_run)

    async def _gc(self, *, dry_run: bool) -> None:
        log = self.query_one("#gc-log", RichLog)
        progress_line = self.query_one("#gc-progress", Static)
        for button in self.query(Button):
            button.disabled = True
        log.write(Text(f"--- {'dry run' if dry_run else 'collect'} ---"))

        def on_line(line: str, progress: GcProgress) -> None:
            log.write(Text(safe_text(line, 500)))
            progress_line.update(Text(progress.describe()))

        try:
            run = await self._run(dry_run, on_line)
        finally:
            self.query_one("#gc-dry", Button).disabled = not self._can_run()
        if run is None:
            return
        log.write(Text(run_summary(run)))
        if dry_run:
            self.last_dry_run = run
            self.query_one("#gc-real", Button).disabled = run.exit_code != 0
        self._load_history()
        self._focus_action()

    def _focus_action(self) -> None:
        """Focus the next thing to do: Collect after a good dry run, else Dry run."""
        for button_id in ("#gc-real", "#gc-dry"):
            button = self.query_one(button_id, Button)
            if not button.disabled:
                button.focus()
                return

    async def _run(self, dry_run: bool,
                   on_line: Callable[[str, GcProgress], None]) -> GcRun | None:
        try:
            return await self.operations.collect_garbage(dry_run=dry_run, on_line=on_line)
        except RegtuiError as error:
            self.notify(str(error), severity="error")
            return None
