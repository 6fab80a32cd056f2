"""What the app would write to a real terminal, recorded under the pilot.

`run_test` uses Textual's headless driver, which drops every byte. `recording_terminal`
swaps in a driver that keeps them (and says it is not headless, so the app renders to it), so
tests can assert on the exact escape sequences and OSC 52 clipboard payloads sent.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from textual.app import App
from textual.drivers import headless_driver

OSC_52 = re.compile(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07")


class RecordingDriver(headless_driver.HeadlessDriver):
    """A headless driver that keeps everything written to it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.written: list[str] = []

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        self.written.append(data)

    def flush(self) -> None:
        return None


def written(app: App[Any]) -> str:
    """Every byte the app sent to its terminal so far."""
    driver = app._driver
    assert isinstance(driver, RecordingDriver), "use the recording_terminal fixture"
    return "".join(driver.written)


def clipboard_payloads(app: App[Any]) -> list[str]:
    """The texts sent to the terminal's clipboard (OSC 52), decoded."""
    return [base64.b64decode(m).decode() for m in OSC_52.findall(written(app))]


@pytest.fixture
def recording_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Apps run with `run_test` in this test write to a `RecordingDriver`."""
    monkeypatch.setattr(headless_driver, "HeadlessDriver", RecordingDriver)
    yield
