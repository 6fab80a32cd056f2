"""The bottom bars: `/` filter, `:` command mode, and the one error line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from regtui.text import safe_text


class BarClosed(Message):
    """A bottom bar was dismissed with escape."""

    def __init__(self, bar: Input) -> None:
        super().__init__()
        self.bar = bar


class FilterBar(Input):
    """`/` filter input; the screen applies every change to the focused pane."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_bar", "Clear filter", id="filter.clear",
                tooltip="Clear the filter and go back to the table"),
    ]

    def __init__(self) -> None:
        super().__init__(placeholder="filter: text · ~regex · !invert", id="filter-bar",
                         select_on_focus=False)

    def action_dismiss_bar(self) -> None:
        self.value = ""
        self.screen.post_message(BarClosed(self))


class CommandBar(Input):
    """`:` command mode with completion of registry and repository names."""

    BINDINGS_TITLE = "Command mode"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_bar", "Close", id="command.close",
                tooltip="Leave command mode"),
    ]

    def __init__(self) -> None:
        super().__init__(placeholder=":registry  :registry/repository  :fleet  :quit",
                         id="command-bar")

    def set_targets(self, targets: Sequence[str]) -> None:
        """Offer these names as inline suggestions (right arrow accepts)."""
        self.suggester = SuggestFromList(list(targets), case_sensitive=False)

    def action_dismiss_bar(self) -> None:
        self.value = ""
        self.screen.post_message(BarClosed(self))


class ErrorLine(Static):
    """Shows the latest non-fatal error, set in one place by the app; empty hides it."""

    def show_error(self, message: str) -> None:
        self.set_class(bool(message), "-visible")
        self.update(Text(safe_text(message, 400)) if message else "")
