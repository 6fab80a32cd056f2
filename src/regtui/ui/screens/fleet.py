"""The fleet view: every configured registry, its health, size and the age of its data."""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType

from regtui.filter import TextFilter
from regtui.render.fleet import (
    RegistryStatus,
    fleet_columns,
    fleet_row,
    status_word,
)
from regtui.render.formats import plural
from regtui.text import Shown
from regtui.ui.commands import ContextCommand
from regtui.ui.screens.base import BaseScreen
from regtui.ui.widgets.vtable import VirtualTable


class FleetScreen(BaseScreen):
    """The first screen: Enter opens a registry."""

    BINDINGS: ClassVar[list[BindingType]] = []

    def compose_body(self) -> ComposeResult:
        table = VirtualTable(fleet_columns(self.rapp.store.statuses()), self._cells,
                             style_of=_row_style, id="fleet",
                             empty="no registries configured: add [[registries]] to the config")
        table.border_title = Text("Registries")
        yield table

    def on_mount(self) -> None:
        super().on_mount()
        self.show()
        self.query_one("#fleet").focus()
        for status in self.rapp.store.statuses():
            if status.fetched_at is None and not status.loading:
                self.rapp.refresh_registry(status.name)

    def _cells(self, status: RegistryStatus) -> tuple[Shown, ...]:
        table = self.query_one("#fleet", VirtualTable)
        return fleet_row(status, self.rapp.clock(), table.columns,
                         read_only=self.rapp.registry_read_only(status.name),
                         retry_in=self.rapp.retry_in(status.name))

    def show(self) -> None:
        """Re-render every registry row in place (cursor stays on the same registry)."""
        statuses = self.rapp.store.statuses()
        table = self.query_one("#fleet", VirtualTable)
        table.set_columns(fleet_columns(statuses))
        rows = self.filters.get("fleet", TextFilter()).apply(statuses, _search)
        table.set_rows(rows)
        table.invalidate()
        self.set_title(f"regtui · {plural(len(statuses), 'registry', 'registries')} · "
                       f"{self._modes(statuses)}")

    def _modes(self, statuses: list[RegistryStatus]) -> str:
        """Each registry's mode, as the one function that decides it says."""
        read_only = [s.name for s in statuses if self.rapp.registry_read_only(s.name)]
        if not read_only:
            return "read-write allowed"
        if len(read_only) == len(statuses):
            return "all read-only"
        return f"read-only: {', '.join(read_only)}"

    def refresh_data(self) -> None:
        for status in self.rapp.store.statuses():
            self.rapp.refresh_registry(status.name)

    def periodic_refresh(self) -> None:
        """Status only: the slow tier keeps the totals current."""
        for status in self.rapp.store.statuses():
            if status.fetched_at is None and not status.loading:
                self.rapp.refresh_registry(status.name)

    def data_changed(self, registry: str, repository: str | None) -> None:
        if repository is None or self.is_current:
            self.show()

    def data_changed_batch(self, registry: str, repositories: set[str | None]) -> None:
        self.show()

    def clock_moved(self) -> None:
        self.show()

    def apply_filter(self, table_id: str, text_filter: TextFilter) -> None:
        self.show()

    @on(VirtualTable.Selected, "#fleet")
    def _open(self, event: VirtualTable.Selected) -> None:
        self.rapp.open_registry(event.row.name)

    def context_commands(self) -> list[ContextCommand]:
        commands = super().context_commands()
        for status in self.rapp.store.statuses():
            name = status.name
            commands.append(ContextCommand(f"Open registry {name}", status.shown_url,
                                           partial(self.rapp.open_registry, name)))
        return commands


def _search(status: RegistryStatus) -> str:
    return f"{status.name} {status.url} {status.alias} {status.flavor}".lower()


def _row_style(status: RegistryStatus) -> str:
    word = status_word(status)
    if word == "up" and status.failing_tags:
        return "vtable--error"  # scan findings reach the configured fail_on threshold
    styles = {"down": "vtable--error", "stale": "vtable--warning", "…": "vtable--muted",
              "snapshot": "vtable--muted"}
    style = styles.get(word, "")
    return style or ("vtable--warning" if status.warns else "")
