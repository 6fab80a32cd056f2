"""`sync_rows` widens a column when a cell is updated to a wider value (a size that replaces
its "…" placeholder must not be cut to "2.9")."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from regtui.text import Shown
from regtui.ui.widgets.tables import sync_rows


class Table(App[None]):
    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable()
        table.add_column("SIZE", key="size")
        yield table


async def test_an_updated_cell_widens_its_column() -> None:
    app = Table()
    async with app.run_test() as pilot:
        table = app.query_one(DataTable)
        sync_rows(table, [("amd64", (Shown("…"),))])
        await pilot.pause()
        sync_rows(table, [("amd64", (Shown("2.9 MiB"),))])
        await pilot.pause()
        assert table.columns["size"].content_width == len("2.9 MiB")  # type: ignore[index]
        assert "2.9 MiB" in "".join(s.text for s in table.render_lines(table.region)[1:2])
