"""The real dashboard on whatever terminal it is started in, reporting what it shows.

`python -m tests.ui.pty_app CONFIG STATE` runs `RegtuiApp` with Textual's own driver (a pty,
in `tests/ui/terminal.py`'s `PtyApp`) and rewrites STATE ten times a second with what the
operator would see: the screen stack, the focused widget, the bars' text, the rows shown.
Nothing here feeds the app: every key comes through the pty, as from a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from regtui.config import load_config
from regtui.ui.app import RegtuiApp
from regtui.ui.widgets.vtable import VirtualTable


def state(app: RegtuiApp) -> dict[str, Any]:
    screen = app.screen
    tables = {table.id: [str(row.key) for row in table.rows]
              for table in screen.query(VirtualTable) if table.id}
    bars = {bar_id: str(getattr(widget, "value", "")) for bar_id in ("filter-bar", "command-bar")
            for widget in screen.query(f"#{bar_id}")}
    return {
        "stack": [type(s).__name__ for s in app.screen_stack],
        "registry": getattr(screen, "registry", None),
        "repository": getattr(screen, "repository", None),
        "tree_mode": getattr(screen, "tree_mode", None),
        "focused": screen.focused.id if screen.focused is not None else None,
        "bars": bars,
        "tables": tables,
        "names": list(app.store["lab"].names) if "lab" in app.store.registries else [],
        "loaded": app.store["lab"].status.fetched_at is not None
        if "lab" in app.store.registries else False,
        "error": app.error_text,
    }


class ReportingApp(RegtuiApp):
    CSS_PATH = str(Path(sys.modules[RegtuiApp.__module__].__file__ or "").parent / "regtui.tcss")
    """Textual resolves a relative CSS_PATH beside the subclass: point it at the app's own."""

    def __init__(self, config_path: Path, state_path: Path) -> None:
        super().__init__(load_config(config_path), read_only=True)
        self.state_path = state_path

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(0.1, self._report)

    def _report(self) -> None:
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state(self)), encoding="utf-8")
        os.replace(temporary, self.state_path)


if __name__ == "__main__":
    ReportingApp(Path(sys.argv[1]), Path(sys.argv[2])).run()
