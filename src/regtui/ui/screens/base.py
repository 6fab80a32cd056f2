"""What every dashboard screen shares: title, `/` filter, `:` command mode, error line, footer."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input
from textual.worker import Worker

from regtui.filter import FilterError, TextFilter, parse_filter
from regtui.render.fleet import mode_word
from regtui.text import Tailed
from regtui.ui.commands import ContextCommand, ContextCommands
from regtui.ui.screens.funnel import FunnelScreen
from regtui.ui.widgets.badge import ReadOnlyBadge, TitleLine
from regtui.ui.widgets.bars import BarClosed, CommandBar, ErrorLine, FilterBar
from regtui.ui.widgets.footer import PriorityFooter
from regtui.ui.widgets.vtable import VirtualTable

if TYPE_CHECKING:
    from regtui.ui.app import RegtuiApp


PALETTE_SKIP = frozenset({"back", "open_filter", "open_command"})
"""Bindings that make no sense from the palette (it is itself a way in and out)."""


class BaseScreen(FunnelScreen[None]):
    """A data screen: subclasses compose the body and say which table a filter applies to."""

    BINDINGS_TITLE = "Every screen"

    COMMANDS = Screen.COMMANDS | {ContextCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: run as the key arrives, before the keys typed after it are dispatched, so
        # a burst (a paste, a slow link) lands in the bar. Inputs still get their own `/`.
        Binding("slash", "open_filter", "Filter", id="screen.filter", priority=True,
                tooltip="Filter the focused table: text, ~regex, ! to invert"),
        Binding("colon", "open_command", "Jump", id="screen.jump", priority=True,
                tooltip="Command mode: jump to a registry or registry/repository"),
        Binding("escape", "back", "Back", id="screen.back",
                tooltip="Clear the filter, else go back to the previous screen"),
        Binding("r", "refresh", "Refresh", id="screen.refresh",
                tooltip="Reload the data shown now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters: dict[str, TextFilter] = {}
        self.ready = False
        self._filter_target: str | None = None
        self._title = ""
        self._missed: dict[str, set[str | None]] = {}
        self._clock_missed = False

    @property
    def rapp(self) -> RegtuiApp:
        from regtui.ui.app import RegtuiApp

        assert isinstance(self.app, RegtuiApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield ReadOnlyBadge(self.read_only_mode())
        yield TitleLine(id="title")
        yield from self.compose_body()
        yield FilterBar()
        yield CommandBar()
        yield ErrorLine(id="error-line")
        yield PriorityFooter()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def screen_registry(self) -> str | None:
        """The registry this screen shows, if it shows one (its mode goes in the title)."""
        registry = getattr(self, "registry", None)
        return registry if isinstance(registry, str) and registry in \
            self.rapp.store.registries else None

    def read_only_mode(self) -> bool:
        """Whether changes are refused here: a registry's screens ask the one function that
        decides it for that registry, the others take the session's mode."""
        registry = self.screen_registry()
        return self.rapp.read_only if registry is None else self.rapp.registry_read_only(registry)

    def on_mount(self) -> None:
        self.ready = True  # composed: data_changed may now touch the widgets
        self.watch(self.app, "error_text", self._show_error)

    def worker_failed(self, worker: Worker[Any], message: str) -> None:
        """The app's handler already put it on this screen's error line."""

    def _show_error(self, message: str) -> None:
        self.query_one(ErrorLine).show_error(message)

    def set_title(self, text: str) -> None:
        """The top line; built from plain strings so names cannot inject markup.

        Unchanged text is not set again: an idle screen writes nothing to the terminal.
        A registry's screens end it with that registry's mode (read-only or writable).
        """
        tail = text.tail if isinstance(text, Tailed) else 0
        if self.screen_registry() is not None:
            text = f"{mode_word(self.read_only_mode())} · {text}"
        shown = Tailed(text, 400, tail=tail)
        if shown != self._title:
            self._title = shown
            self.query_one("#title", TitleLine).show(shown)

    # -- hooks for subclasses ---------------------------------------------------------------

    def refresh_data(self) -> None:
        """Start reloading what this screen shows (never blocks)."""

    def data_changed(self, registry: str, repository: str | None) -> None:
        """The store changed for `registry` (and `repository`, if given)."""

    def store_changed(self, registry: str, repositories: set[str | None]) -> None:
        """From the app: apply now if this screen is on top, else when it is shown again.

        Why: Textual repaints a covered screen's dirty regions through the one on top, so a
        screen below that redraws on every change costs the visible one full repaints.
        """
        if self.app.screen is self:
            self.data_changed_batch(registry, repositories)
        else:
            self._missed.setdefault(registry, set()).update(repositories)

    def clock_ticked(self) -> None:
        """From the app's coarse clock: re-read time labels now, or when shown again."""
        if self.app.screen is self:
            self.clock_moved()
        else:
            self._clock_missed = True

    def on_screen_resume(self) -> None:
        self.rapp.clear_error("jump")  # a failed jump is left behind on another screen
        # A registry's screens wear its theme (`[[registries]] theme`), others the global one.
        registry = getattr(self, "registry", None)
        self.rapp.apply_registry_theme(registry if isinstance(registry, str) else None)
        missed, self._missed = self._missed, {}
        try:
            for registry, repositories in missed.items():
                self.data_changed_batch(registry, repositories)
            if missed or self._clock_missed:
                self.clock_moved()
        except NoMatches:
            pass  # resumed while the app shuts down: its widgets are already gone
        self._clock_missed = False

    def data_changed_batch(self, registry: str, repositories: set[str | None]) -> None:
        """Several changes at once (the app coalesces them); screens where a change costs
        more than a line override this to do the work once per batch."""
        if None in repositories:
            self.data_changed(registry, None)
        for repository in repositories - {None}:
            self.data_changed(registry, repository)

    def periodic_refresh(self) -> None:
        """Every `refresh_interval`: revalidate what is shown, cheaply (default: nothing)."""

    def clock_moved(self) -> None:
        """The coarse clock ticked: re-read labels that depend on the time (ages, rates)."""

    def apply_filter(self, table_id: str, text_filter: TextFilter) -> None:
        """Show only the rows of `table_id` that pass `text_filter`."""

    def context_commands(self) -> list[ContextCommand]:
        """The palette's entries: this screen's bindings (title, tooltip, key) that are
        active here, so the palette and the keys cannot disagree; screens add the rest."""
        commands: list[ContextCommand] = []
        for cls in type(self).__mro__:
            for binding in cls.__dict__.get("BINDINGS", ()):
                if not isinstance(binding, Binding) or binding.action in PALETTE_SKIP:
                    continue
                name, _, params = binding.action.partition("(")
                arguments = tuple(part.strip().strip("'\"") for part in
                                  params.rstrip(")").split(",") if part.strip())
                if "." in name or not self.check_action(name, arguments):
                    continue
                key = self.app.get_key_display(binding)
                commands.append(ContextCommand(
                    binding.description, f"{binding.tooltip or binding.description} (key {key})",
                    partial(self.run_action, binding.action)))
        return commands

    # -- filter and command bars ------------------------------------------------------------

    def _focused_table(self) -> VirtualTable | None:
        focused = self.focused
        if isinstance(focused, VirtualTable):
            return focused
        tables = list(self.query(VirtualTable))
        return tables[0] if tables else None

    def _typing(self) -> None:
        """Priority bindings see keys before an Input does: let the focused Input have them
        (Textual filters `:` for inputs but not `/`, whose key name has no character)."""
        if isinstance(self.focused, Input):
            raise SkipAction()

    def action_open_filter(self) -> None:
        self._typing()
        table = self._focused_table()
        if table is None or table.id is None:
            return
        self._filter_target = table.id
        bar = self.query_one(FilterBar)
        bar.value = self.filters.get(table.id, TextFilter()).query
        self._open_bar(bar)

    def action_open_command(self) -> None:
        self._typing()
        bar = self.query_one(CommandBar)
        bar.set_targets(self.rapp.jump_targets())
        bar.value = ""
        self._open_bar(bar)

    def _open_bar(self, bar: Input) -> None:
        """Focus now, not after a refresh: keys already queued behind `/` or `:` go to the
        bar, in order, instead of running as hotkeys on the table."""
        bar.add_class("-visible")
        self.set_focus(bar)

    @on(Input.Changed, "#filter-bar")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_target is None:
            return
        try:
            text_filter = parse_filter(event.value)
        except FilterError as error:
            self.rapp.report_error(error, source="filter")
            return
        self.rapp.clear_error("filter")
        self.filters[self._filter_target] = text_filter
        self.apply_filter(self._filter_target, text_filter)

    @on(Input.Submitted, "#filter-bar")
    def _filter_submitted(self) -> None:
        self._close_bar(self.query_one(FilterBar))

    @on(Input.Submitted, "#command-bar")
    def _command_submitted(self, event: Input.Submitted) -> None:
        bar = self.query_one(CommandBar)
        self._close_bar(bar)
        target = event.value.strip().lstrip(":")
        bar.value = ""
        if target:
            self.rapp.jump(target)

    @on(BarClosed)
    def _bar_closed(self, event: BarClosed) -> None:
        self._close_bar(event.bar)

    def _close_bar(self, bar: Input) -> None:
        bar.remove_class("-visible")
        if isinstance(bar, FilterBar):
            self.rapp.clear_error("filter")  # left: the half-typed regex is gone
        target = self.query_one(f"#{self._filter_target}") if self._filter_target else None
        (target or self._focused_table() or self).focus()

    # -- actions ----------------------------------------------------------------------------

    def action_back(self) -> None:
        table = self._focused_table()
        if table is not None and table.id and not self.filters.get(table.id, TextFilter()).is_empty:
            self.filters[table.id] = TextFilter()
            self.apply_filter(table.id, TextFilter())
            return
        if len(self.app.screen_stack) > 1:
            from regtui.ui.operations import leave_or_ask

            leave_or_ask(self.app, self, self.app.pop_screen)

    def action_refresh(self) -> None:
        with self.rapp.superseding():  # the operator asked: a stuck refresh gives way
            self.refresh_data()
