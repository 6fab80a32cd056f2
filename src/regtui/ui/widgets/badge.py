"""The header lines: the title, and the READ-ONLY bar of a read-only session."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from regtui.text import Shown
from regtui.ui.widgets.vtable import cut_cells

READ_ONLY_TEXT = "READ-ONLY  nothing can be changed in this session"


class ReadOnlyBadge(Static):
    """Shown only in read-only mode, so read-write screens look exactly as before."""

    DEFAULT_CSS = """
    ReadOnlyBadge {
        dock: top; height: 1; width: 100%; display: none;
        background: $error; color: $text; text-style: bold; padding: 0 1;
    }
    ReadOnlyBadge.-on { display: block; }
    """

    def __init__(self, read_only: bool | None = None) -> None:
        super().__init__(Text(READ_ONLY_TEXT), id="read-only-badge")
        self.read_only = read_only

    def on_mount(self) -> None:
        mode = self.read_only
        if mode is None:
            mode = bool(getattr(self.app, "read_only", False))
        self.set_class(mode, "-on")


class TitleLine(Static):
    """The top line: cut to the width it has, keeping the tail of `Tailed` text (a retry
    countdown) instead of losing it off the right edge."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown = Shown("")

    def show(self, text: Shown) -> None:
        self.shown = text
        self.refresh()

    def render(self) -> Text:
        return Text(cut_cells(self.shown, self.content_size.width or len(self.shown)))
