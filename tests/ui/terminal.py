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


# What Textual itself writes: SGR and cursor-position CSIs, private modes, OSC 22 (pointer
# shape) and line feeds between lines. Anything else that is a control is a leak.
TEXTUAL_OWN = re.compile(r"\x1b\[[0-9;]*[mH]|\x1b\[\?[0-9;]*[hl]|\x1b\]22;[a-z-]*\x07|\n")
BIDI = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})


def raw_controls(stream: str) -> list[str]:
    """Control, C1 and bidi characters in `stream` that Textual did not write itself."""
    rest = TEXTUAL_OWN.sub("", stream)
    found = {f"U+{ord(c):04X}" for c in rest
             if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or ord(c) in BIDI}
    return sorted(found)


def leak_context(stream: str, width: int = 40) -> str:
    """The first leaked character with what surrounds it, for the failure message."""
    rest = TEXTUAL_OWN.sub("", stream)
    for i, c in enumerate(rest):
        if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or ord(c) in BIDI:
            return repr(rest[max(0, i - width): i + width])
    return ""


class PtyApp:
    """A process on a real pseudo-terminal: what it writes is drained (and kept), what the
    test writes arrives as a terminal delivers it, several keys in one `read` when written
    at once (a paste, or a slow SSH link's backlog)."""

    def __init__(self, argv: list[str], *, env: dict[str, str], size: tuple[int, int] = (120, 40),
                 cwd: str | None = None) -> None:
        import fcntl
        import os
        import struct
        import subprocess
        import termios
        import threading

        self.master, slave = os.openpty()
        columns, lines = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                        cwd=cwd, start_new_session=True, close_fds=True)
        os.close(slave)
        self.output = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        import os

        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return  # the process closed the terminal
            if not chunk:
                return
            self.output.extend(chunk)

    def write(self, data: bytes) -> None:
        """One write: the app's driver reads the whole burst at once."""
        import os

        assert os.write(self.master, data) == len(data)

    def close(self) -> None:
        import os
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except Exception:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        os.close(self.master)
