"""A virtual table: renders only the visible rows through the Line API.

Textual's DataTable keeps every row as widgets' worth of state and is slow to filter at
100,000 rows by removing and re-adding them. Here the owner hands over a plain list of row
objects (already sorted and filtered by `regtui.render`) and a function that turns one row
into cell strings; cells are computed only for rows that scroll into view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from regtui.render.columns import Column, fit_columns
from regtui.text import ELLIPSIS, Shown


class Keyed(Protocol):
    """Anything with a stable `key`: tags, repositories, registries."""

    @property
    def key(self) -> str: ...


CellsFunc = Callable[[Any], tuple[Shown, ...]]
"""Cells are `Shown`: the table draws them as they are, so they must be sanitised already."""
StyleFunc = Callable[[Any], str]

CACHE_LIMIT = 4096


class VirtualTable(ScrollView, can_focus=True):
    """A keyboard-first table whose cost per keystroke does not grow with the row count."""

    DEFAULT_CSS = """
    VirtualTable { background: $surface; height: 1fr; overflow-x: hidden; }
    VirtualTable > .vtable--header { background: $panel; color: $text-accent; text-style: bold; }
    VirtualTable > .vtable--cursor {
        background: $block-cursor-blurred-background; color: $block-cursor-blurred-foreground;
    }
    VirtualTable:focus > .vtable--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    VirtualTable > .vtable--muted { color: $text-muted; }
    VirtualTable > .vtable--warning { color: $text-warning; }
    VirtualTable > .vtable--error { color: $text-error; }
    VirtualTable > .vtable--marked { background: $accent 30%; text-style: bold; }
    VirtualTable > .vtable--empty { color: $text-muted; text-style: italic; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vtable--header",
        "vtable--cursor",
        "vtable--muted",
        "vtable--warning",
        "vtable--error",
        "vtable--marked",
        "vtable--empty",
    }

    BINDINGS_TITLE = "Tables"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up", tooltip="Previous row"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down", tooltip="Next row"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page-up",
                tooltip="One screen up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page-down",
                tooltip="One screen down"),
        Binding("home,g", "first", "First", show=False, id="table.first", tooltip="First row"),
        Binding("end,G", "last", "Last", show=False, id="table.last", tooltip="Last row"),
        Binding("enter", "select", "Open", id="table.select", tooltip="Open the selected row"),
    ]

    cursor: reactive[int] = reactive(0, always_update=False, init=False, repaint=False)
    """No repaint of its own: `watch_cursor` redraws the two lines the cursor left and entered
    (a full repaint of a 10,000-row pane per keystroke was most of the keystroke)."""

    class RowMessage(Message):
        """A message about one row of one table."""

        def __init__(self, table: VirtualTable, row: Any) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> VirtualTable:
            return self.table

    class CursorMoved(RowMessage):
        """The highlighted row changed (high rate: only the latest one matters)."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, VirtualTable.CursorMoved) and message.table is self.table

    class Selected(RowMessage):
        """Enter or a double click on a row."""

    def __init__(self, columns: tuple[Column, ...], cells: CellsFunc, *,
                 style_of: StyleFunc | None = None, empty: str = "nothing to show",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns = columns
        self._cells_func = cells
        self._style_of = style_of
        self.empty_text = empty
        self.rows: Sequence[Any] = ()
        self._cache: dict[int, tuple[Any, tuple[Shown, ...]]] = {}
        self._fitted: list[tuple[Column, int]] = []
        self._painted: dict[int, tuple[object, ...]] = {}
        self._positions: dict[int, int] | None = None
        self._styles: dict[str, Style] = {}
        self.lines_rendered = 0
        self.cells_computed = 0
        """Data lines drawn so far: what tests and benchmarks count to see what a change cost."""

    # -- data -------------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[Any], keep: str | None = None) -> None:
        """Show `rows`, keeping the cursor on the row keyed `keep` (or the current one).

        Only lines that now read differently are redrawn: a refresh that changed nothing
        writes nothing to the terminal.
        """
        current = self.current if keep is None else None
        key = keep if keep is not None else self.current_key
        self.rows = rows
        self._positions = None
        size = Size(self.virtual_size.width or self.size.width, len(rows) + 1)
        if size != self.virtual_size:  # setting it, even unchanged, redraws everything
            self.virtual_size = size
        index = _index_of(rows, key, current) if key is not None else None
        self._set_cursor(index if index is not None else min(self.cursor, len(rows) - 1))
        self.repaint_changed()

    def set_columns(self, columns: tuple[Column, ...]) -> None:
        """Show another set of columns (the cells function must follow); a no-op if equal."""
        if columns == self.columns:
            return
        self.columns = columns
        self._fitted = []
        self._cache.clear()
        self._painted.clear()
        self.refresh()

    def invalidate(self) -> None:
        """Forget cached cells, e.g. when the clock moved and ages must be recomputed."""
        self._cache.clear()
        self.repaint_changed()

    def refresh_rows(self, rows: Sequence[Any]) -> None:
        """These row objects changed in place: recompute their cells, redraw them if shown."""
        if self._positions is None:
            self._positions = {id(row): index for index, row in enumerate(self.rows)}
        top = self.scroll_offset.y
        height = self._body_height()
        for row in rows:
            self._cache.pop(id(row), None)
            index = self._positions.get(id(row))
            if index is not None and top <= index < top + height:
                self._repaint_line(index - top + 1)

    def _body_height(self) -> int:
        return max(0, self.scrollable_content_region.height - 1)

    def repaint_changed(self) -> None:
        """Redraw each visible line whose content differs from what was last drawn."""
        if not self._painted:
            self.refresh()
            return
        for y in range(1, self._body_height() + 1):
            if self._painted.get(y) != self._signature(y):
                self._repaint_line(y)

    def _repaint_line(self, y: int) -> None:
        self._painted.pop(y, None)
        self.refresh(Region(0, y, self.size.width, 1))

    def _signature(self, y: int) -> tuple[object, ...]:
        """What line `y` would show: its cells, style and whether the cursor is on it."""
        index = self.scroll_offset.y + y - 1
        if index >= len(self.rows):
            return ("empty", self.empty_text) if index == 0 and not self.rows else ("blank",)
        row = self.rows[index]
        style = self._style_of(row) if self._style_of is not None else ""
        return (self.cells_of(row), style, index == self.cursor)

    @property
    def current(self) -> Any | None:
        """The row under the cursor, if any."""
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def current_key(self) -> str | None:
        row = self.current
        return None if row is None else str(row.key)

    def cells_of(self, row: Any) -> tuple[Shown, ...]:
        """Cells for `row`, computed once while it stays in the cache."""
        entry = self._cache.get(id(row))
        if entry is not None and entry[0] is row:
            return entry[1]
        if len(self._cache) > CACHE_LIMIT:
            self._cache.clear()
        cells = self._cells_func(row)
        self.cells_computed += 1
        self._cache[id(row)] = (row, cells)  # holding `row` keeps its id from being reused
        return cells

    # -- rendering --------------------------------------------------------------------------

    def _style(self, component: str) -> Style:
        """The widget's style ("") or a component's, computed once per style change: Textual
        recomputes them from the DOM on every call, which was most of a line's cost."""
        style = self._styles.get(component)
        if style is None:
            style = self.rich_style if not component else self.get_component_rich_style(component)
            self._styles[component] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()  # theme, CSS or :focus changed: styles are computed afresh

    def on_focus(self, event: events.Focus) -> None:
        self._styles.clear()

    def on_blur(self, event: events.Blur) -> None:
        self._styles.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._fitted = []
        self._painted.clear()
        self.virtual_size = Size(event.size.width, len(self.rows) + 1)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if not self._fitted or sum(w for _, w in self._fitted) > width:
            self._fitted = fit_columns(self.columns, width)
        if y > 0:
            self._painted[y] = self._signature(y)
            self.lines_rendered += 1
        if y == 0:
            labels = tuple(Shown(column.label) for column, _ in self._fitted)
            return self._strip(self._line(labels, all_columns=False), "vtable--header", width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self.rows):
            if index == 0 and not self.rows:
                return self._strip(" " + self.empty_text, "vtable--empty", width)
            return Strip.blank(width, self._style(""))
        row = self.rows[index]
        line = self._line(self.cells_of(row), all_columns=True)
        component = "vtable--cursor" if index == self.cursor else ""
        return self._strip(line, component, width, row)

    def _line(self, cells: tuple[Shown, ...], *, all_columns: bool) -> str:
        """Lay the cells out in the fitted columns, cutting long ones with an ellipsis."""
        parts = []
        for position, (column, width) in enumerate(self._fitted):
            index = self.columns.index(column) if all_columns else position
            parts.append(_fit(cells[index] if index < len(cells) else "", width, column.align))
        return " ".join(parts)

    def _strip(self, text: str, component: str, width: int, row: Any = None) -> Strip:
        style = self._style("")
        if row is not None and self._style_of is not None and (extra := self._style_of(row)):
            style = style + self._style(extra)
        if component:
            style = style + self._style(component)
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)

    # -- cursor -----------------------------------------------------------------------------

    def _set_cursor(self, index: int) -> None:
        index = max(0, min(index, len(self.rows) - 1))
        if index != self.cursor:
            self.cursor = index
        else:
            self.post_message(self.CursorMoved(self, self.current))
        self._scroll_to_cursor()

    def watch_cursor(self, old: int, new: int) -> None:
        self.post_message(self.CursorMoved(self, self.current))
        top = self.scroll_offset.y
        for index in (old, new):
            if top <= index < top + self._body_height():
                self._repaint_line(index - top + 1)

    def _scroll_to_cursor(self) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def action_cursor_up(self) -> None:
        self._set_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._set_cursor(self.cursor + 1)

    def action_page_up(self) -> None:
        self._set_cursor(self.cursor - self._page())

    def action_page_down(self) -> None:
        self._set_cursor(self.cursor + self._page())

    def action_first(self) -> None:
        self._set_cursor(0)

    def action_last(self) -> None:
        self._set_cursor(len(self.rows) - 1)

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.Selected(self, self.current))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return  # the border or the header line
        index = round(self.scroll_y) + offset.y - 1
        if index < len(self.rows):
            self._set_cursor(index)
            if event.chain >= 2:
                self.action_select()


def _index_of(rows: Sequence[Any], key: str, row_object: Any = None) -> int | None:
    """Where the row keyed `key` is now; the same object is found by identity, in C."""
    if row_object is not None:
        try:
            index = rows.index(row_object)
        except ValueError:
            pass
        else:
            if rows[index] is row_object:
                return index
    for index, row in enumerate(rows):
        if row.key == key:
            return index
    return None


def _fit(text: str, width: int, align: str) -> str:
    """Pad or cut `text` to exactly `width` cells."""
    length = cell_len(text)
    if length > width:
        text = chop_cells(text, max(0, width - 1))[0] + ELLIPSIS if width else ""
        length = cell_len(text)
    pad = " " * max(0, width - length)
    return pad + text if align == "right" else text + pad


__all__ = ["Column", "Keyed", "Style", "VirtualTable"]
