"""The log lines pane: renders only the lines on screen, from an index of millions.

It scrolls by line, not by pixel row, so wrapping long lines never needs the height of
every line in the file: the screen is laid out from `top` downwards, or, when following,
from the last line upwards (k9s's and toolong's follow mode). Line text is untrusted: it
becomes plain `Segment`s after `safe_text`, so markup and escape sequences show literally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from typing import ClassVar

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from regtui.services.logparse import LogRecord
from regtui.services.logs import FilteredView, LineIndex
from regtui.text import safe_text

LEVEL_LABELS = {"debug": "DEBUG", "info": "INFO", "warning": "WARN", "error": "ERROR",
                "fatal": "FATAL", "panic": "PANIC"}
MESSAGE_LIMIT = 4000
"""Characters of one line shown at most (wrapped); the saved file keeps the whole line."""
REPOSITORY_WIDTH = 24

Cell = tuple[str, str]
"""(text, component class) of one column."""


def format_duration(ms: float | None) -> str:
    """Short and sortable by eye: `0.4ms`, `12.3ms`, `1.25s`."""
    if ms is None:
        return ""
    return f"{ms:.1f}ms" if ms < 1000 else f"{ms / 1000:.2f}s"


def row_cells(record: LogRecord, *, timestamps: bool) -> list[Cell]:
    """The fixed-width columns of a line, then its message (unpadded, last)."""
    cells: list[Cell] = []
    if timestamps:
        when = record.time.astimezone(UTC).strftime("%H:%M:%S.%f")[:12] if record.time else ""
        cells.append((when.ljust(12), "logview--time"))
    cells += [
        (LEVEL_LABELS.get(record.level, "").ljust(5), f"logview--level-{record.level or 'none'}"),
        (safe_text(record.method, 6).ljust(6), "logview--method"),
        (str(record.status or "").ljust(3), f"logview--status-{record.status_class}"),
        (_fit(safe_text(record.repository, 200), REPOSITORY_WIDTH), "logview--repository"),
        (format_duration(record.duration_ms).rjust(8), "logview--duration"),
    ]
    message = record.message if record.kind != "text" else record.raw
    cells.append((safe_text(message, MESSAGE_LIMIT), _message_class(record)))
    return cells


def _message_class(record: LogRecord) -> str:
    if record.severity >= 3 or record.status_class == 5:
        return "logview--message-error"
    if record.level == "warning" or record.status_class == 4:
        return "logview--message-warning"
    return "logview--message"


def _fit(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text + " " * (width - cell_len(text))
    return chop_cells(text, width - 1)[0] + "…"


@dataclass(frozen=True)
class ScreenLine:
    """One terminal row of the pane: part `part` of the display row `row`."""

    row: int
    part: int
    cells: tuple[Cell, ...]


class LogView(Widget, can_focus=True):
    """Log lines with follow, wrap, timestamps and a cursor; the screen owns the data."""

    DEFAULT_CSS = """
    LogView { height: 1fr; background: $surface; }
    LogView > .logview--time { color: $text-muted; }
    LogView > .logview--level-debug { color: $text-muted; }
    LogView > .logview--level-info { color: $text-success; }
    LogView > .logview--level-warning { color: $text-warning; text-style: bold; }
    LogView > .logview--level-error { color: $text-error; text-style: bold; }
    LogView > .logview--level-fatal { color: $text-error; text-style: bold reverse; }
    LogView > .logview--level-panic { color: $text-error; text-style: bold reverse; }
    LogView > .logview--method { color: $text-secondary; }
    LogView > .logview--status-2 { color: $text-success; }
    LogView > .logview--status-3 { color: $text-accent; }
    LogView > .logview--status-4 { color: $text-warning; }
    LogView > .logview--status-5 { color: $text-error; text-style: bold; }
    LogView > .logview--repository { color: $text-accent; }
    LogView > .logview--duration { color: $text-muted; }
    LogView > .logview--message-warning { color: $text-warning; }
    LogView > .logview--message-error { color: $text-error; }
    LogView > .logview--context { color: $text-muted; text-style: dim; }
    LogView > .logview--cursor { background: $block-cursor-blurred-background; }
    LogView:focus > .logview--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    LogView > .logview--empty { color: $text-muted; text-style: italic; }
    LogView > .logview--match { background: $warning-muted; text-style: bold; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "logview--time", "logview--level-debug", "logview--level-info",
        "logview--level-warning", "logview--level-error", "logview--level-fatal",
        "logview--level-panic", "logview--method", "logview--status-2", "logview--status-3",
        "logview--status-4", "logview--status-5", "logview--repository", "logview--duration",
        "logview--message-warning", "logview--message-error", "logview--context",
        "logview--cursor", "logview--empty", "logview--match",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False, id="logs.up", tooltip="Previous line"),
        Binding("down,j", "move(1)", "Down", show=False, id="logs.down", tooltip="Next line"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="logs.page-up",
                tooltip="One screen up (pauses following)"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="logs.page-down",
                tooltip="One screen down"),
        Binding("home,g", "first", "First", show=False, id="logs.first",
                tooltip="First line read (pauses following)"),
        Binding("end,G", "last", "End", show=False, id="logs.end",
                tooltip="Jump to the last line and follow new ones"),
    ]

    class FollowChanged(Message):
        """Following started or stopped (the status bar shows it)."""

        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self, *, empty: str = "no log lines yet", id: str | None = None) -> None:
        super().__init__(id=id)
        self.index: LineIndex | None = None
        self.view: FilteredView | None = None
        self.empty_text = empty
        self.follow = True
        self.wrap = False
        self.timestamps = True
        self.top = 0
        self.cursor = 0
        self._layout: list[ScreenLine] | None = None
        self.highlight: re.Pattern[str] | None = None
        """What the text filter matches, marked in the message column."""

    # -- data -------------------------------------------------------------------------------

    def show(self, index: LineIndex | None, view: FilteredView | None) -> None:
        """Show every line of `index`, or only `view`'s rows; keeps follow/pause as it was."""
        self.index, self.view = index, view
        self.top = min(self.top, max(0, self.count - 1))
        self.cursor = min(self.cursor, max(0, self.count - 1))
        self.changed()

    @property
    def count(self) -> int:
        """Display rows: every line, or the filtered rows."""
        if self.view is not None:
            return len(self.view)
        return len(self.index) if self.index is not None else 0

    def line_of(self, row: int) -> int:
        """The index line shown at display row `row`."""
        return self.view.rows[row] if self.view is not None else row

    def row_of_line(self, line: int) -> int:
        return self.view.row_of(line) if self.view is not None else line

    @property
    def current_record(self) -> LogRecord | None:
        if self.index is None or not 0 <= self.cursor < self.count:
            return None
        return self.index.record(self.line_of(self.cursor))

    def changed(self) -> None:
        """Lines arrived or settings changed: lay out again on the next paint."""
        self._layout = None
        if self.follow:
            self.cursor = max(0, self.count - 1)
        self.refresh()

    def set_follow(self, follow: bool) -> None:
        if follow != self.follow:
            self.follow = follow
            self.post_message(self.FollowChanged(follow))
        self.changed()

    def move_to_row(self, row: int) -> None:
        """Put the cursor on `row` (pausing), scrolling it into view."""
        self.set_follow(False)
        self.cursor = max(0, min(row, self.count - 1))
        height = max(1, self.size.height)
        if self.cursor < self.top or self.cursor >= self.top + height:
            self.top = max(0, self.cursor - height // 2)
        self.changed()

    # -- layout and rendering ---------------------------------------------------------------

    def visible_lines(self) -> list[ScreenLine]:
        """What is on screen now (also what tests read)."""
        if self._layout is None:
            self._layout = self._lay_out()
        return self._layout

    def visible_text(self) -> list[str]:
        return ["".join(text for text, _ in line.cells) for line in self.visible_lines()]

    def _lay_out(self) -> list[ScreenLine]:
        height, width = self.size.height or 24, self.size.width or 80
        if self.index is None or self.count == 0:
            return []
        if self.follow:
            self.top = self._top_for_bottom(height, width)
        lines: list[ScreenLine] = []
        row = self.top
        while len(lines) < height and row < self.count:
            lines += self._row_lines(row, width)[: height - len(lines)]
            row += 1
        return lines

    def _top_for_bottom(self, height: int, width: int) -> int:
        """The top row that puts the last row at the bottom edge."""
        if not self.wrap:
            return max(0, self.count - height)
        row, used = self.count, 0
        while row > 0:
            used += len(self._row_lines(row - 1, width))
            if used > height:
                break
            row -= 1
        return min(row, self.count - 1)

    def _row_lines(self, row: int, width: int) -> list[ScreenLine]:
        assert self.index is not None
        cells = row_cells(self.index.record(self.line_of(row)), timestamps=self.timestamps)
        fixed = [(text + " ", style) for text, style in cells[:-1]]
        indent = sum(cell_len(text) for text, _ in fixed)
        message, style = cells[-1]
        room = max(8, width - indent)
        if not self.wrap or cell_len(message) <= room:
            return [ScreenLine(row, 0, (*fixed, *self._marked(message, style)))]
        parts = chop_cells(message, room)
        first = ScreenLine(row, 0, (*fixed, *self._marked(parts[0], style)))
        return [first] + [ScreenLine(row, n, ((" " * indent, ""), *self._marked(part, style)))
                          for n, part in enumerate(parts[1:], 1)]

    def _marked(self, text: str, style: str) -> list[Cell]:
        """Split `text` so the filter's matches get the match style."""
        if self.highlight is None:
            return [(text, style)]
        cells: list[Cell] = []
        done = 0
        for match in self.highlight.finditer(text):
            if match.end() == match.start():
                continue
            cells += [(text[done:match.start()], style), (match.group(), "logview--match")]
            done = match.end()
        cells.append((text[done:], style))
        return [cell for cell in cells if cell[0]]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        lines = self.visible_lines()
        if y >= len(lines):
            if y == 0 and self.count == 0:
                style = base + self.get_component_rich_style("logview--empty")
                return Strip([Segment(" " + self.empty_text, style)]).adjust_cell_length(width,
                                                                                       base)
            return Strip.blank(width, base)
        line = lines[y]
        overlay = self._overlay(line.row)
        segments = [Segment(text, self._style(base, component, overlay))
                    for text, component in line.cells]
        return Strip(segments).adjust_cell_length(width, base + overlay).crop(0, width)

    def _overlay(self, row: int) -> Style:
        style = Style()
        if self.view is not None and not self.view.is_match(self.line_of(row)):
            style += self.get_component_rich_style("logview--context")
        if row == self.cursor:
            style += self.get_component_rich_style("logview--cursor")
        return style

    def _style(self, base: Style, component: str, overlay: Style) -> Style:
        if component and component in self.COMPONENT_CLASSES:
            base = base + self.get_component_rich_style(component)
        return base + overlay

    def on_resize(self, event: events.Resize) -> None:
        self.changed()

    # -- moving -----------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if delta > 0 and self.cursor + delta >= self.count:
            self.set_follow(True)
            return
        self.move_to_row(self.cursor + delta)

    def action_page(self, delta: int) -> None:
        self.action_move(delta * max(1, self.size.height - 1))

    def action_first(self) -> None:
        self.top = 0
        self.move_to_row(0)

    def action_last(self) -> None:
        self.set_follow(True)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.set_follow(False)
        self.top = max(0, self.top - 3)
        self.cursor = min(self.cursor, self.top + max(1, self.size.height) - 1)
        self.changed()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if self.top + self.size.height >= self.count:
            self.set_follow(True)
            return
        self.top += 3
        self.cursor = max(self.cursor, self.top)
        self.changed()

    def on_click(self, event: events.Click) -> None:
        lines = self.visible_lines()
        if 0 <= event.y < len(lines):
            self.move_to_row(lines[event.y].row)

