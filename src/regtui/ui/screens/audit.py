"""The audit log pane: every change attempted, newest first, as the log file has it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from regtui.services.audit import AuditLog
from regtui.text import safe_text
from regtui.ui.screens.funnel import FunnelScreen
from regtui.ui.widgets.badge import ReadOnlyBadge

COLUMNS = ("time", "user", "registry", "action", "target", "outcome", "command", "url")


class AuditScreen(FunnelScreen[None]):
    DEFAULT_CSS = """
    AuditScreen DataTable { height: 1fr; }
    AuditScreen #audit-path { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="audit.back"),
        Binding("r", "reload", "Reload", id="audit.refresh"),
    ]

    def __init__(self, audit: AuditLog) -> None:
        super().__init__()
        self.audit = audit

    def compose(self) -> ComposeResult:
        yield ReadOnlyBadge()
        yield Static(Text("Audit log"), id="title")
        yield Static(Text(safe_text(str(self.audit.path), 300)), id="audit-path")
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.action_reload()

    def action_reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for entry in reversed(self.audit.entries(limit=2000)):
            style = "" if entry.outcome.startswith("ok") else "bold"
            table.add_row(*(Text(safe_text(getattr(entry, c), 120), style=style)
                            for c in COLUMNS))
