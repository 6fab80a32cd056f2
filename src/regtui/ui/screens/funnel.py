"""The base of every regtui screen: a worker that fails is never silent.

`Worker.StateChanged` goes to the worker's screen and does not bubble, so a screen that does
not handle it swallows the failure ("reading the registry…" forever). Every screen derives
from `FunnelScreen`, which hands the change to the app's one handler (the error line) and
shows the failure on the screen itself.
"""

from __future__ import annotations

from typing import Any, TypeVar

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from regtui.errors import RegtuiError
from regtui.text import safe_text

ResultType = TypeVar("ResultType")


def failure_text(error: BaseException | None) -> str:
    """One line: regtui errors as written, anything else with its type."""
    if isinstance(error, RegtuiError):
        return str(error)
    return f"{type(error).__name__}: {error}" if error is not None else "unknown error"


class FunnelScreen(Screen[ResultType]):
    """Forwards worker state changes to the app and shows failures here."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        handler = getattr(self.app, "worker_changed", None)
        if callable(handler):
            handler(event.worker, event.state)
        if event.state is WorkerState.ERROR:
            self.worker_failed(event.worker, safe_text(failure_text(event.worker.error), 400))

    def worker_failed(self, worker: Worker[Any], message: str) -> None:
        """Screens without the error line get a toast; override to show it in place too."""
        self.notify(message, title=f"{worker.name or 'worker'} failed", severity="error",
                    markup=False, timeout=20)
