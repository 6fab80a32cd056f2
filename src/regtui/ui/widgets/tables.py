"""Keep a DataTable in step with new rows by key: update, add, remove; never clear and refill."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from regtui.text import Shown


def sync_rows(table: DataTable[Text], rows: Sequence[tuple[str, Sequence[Shown]]]) -> None:
    """Make `table` show `rows` ((key, cells) in order) touching only what changed.

    Cells are `Text` built from `Shown` strings (sanitised, never markup): a `str` cell would
    be parsed as markup.
    """
    wanted = {key for key, _ in rows}
    with table.app.batch_update():
        for row_key in [key for key in table.rows if key.value not in wanted]:
            table.remove_row(row_key)
        columns = list(table.columns)
        for key, cells in rows:
            texts = [Text(cell) for cell in cells]
            try:
                table.get_row(key)
            except RowDoesNotExist:
                table.add_row(*texts, key=key)
                continue
            for column, text in zip(columns, texts, strict=False):
                if table.get_cell(key, column) != text:  # a wider value widens its column
                    table.update_cell(key, column, text, update_width=True)


class MeasuredTable(DataTable[Text]):
    """A DataTable that redraws once it has measured new rows.

    Textual (8.2.8) measures auto-width columns when the table is idle, and its cell and row
    render caches are keyed without the column widths: rows drawn in between (rows a worker
    added, say) can stay cut to the old width, e.g. a GC history row reading "2026". Seen in
    the gc-dry-run snapshot about every other run under load; not reproduced in isolation.
    Bumping the update count (part of every cache key) after measuring drops those renders.
    """

    async def _on_idle(self, event: events.Idle) -> None:
        measuring = self._require_update_dimensions or bool(self._updated_cells)
        await super()._on_idle(event)
        if measuring:
            self._update_count += 1
            self.refresh()
