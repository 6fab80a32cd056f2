"""Child processes that can never outlive the lab: own process group, parent-death signal.

A crashed test or a killed pytest must not leave a registry or Prometheus behind, so every
child gets `PR_SET_PDEATHSIG(SIGKILL)` and its own process group (killed as a whole on stop).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from regtui.errors import RegtuiError

PR_SET_PDEATHSIG = 1

# PDEATHSIG fires when the *thread* that forked exits, so children are always spawned from
# this one long-lived thread; a lab restarted from a short-lived worker thread survives it.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regtui-lab-spawner")

INSTALL_HINTS = {
    "docker-registry": "run `make test` (it installs it) or `apt-get install -y docker-registry`",
    "prometheus": "run `make test` (it installs it) or `apt-get install -y prometheus`",
    "htpasswd": "run `make test` (it installs it) or `apt-get install -y apache2-utils`",
}


class LabError(RegtuiError):
    """The lab could not start or seed: a binary is missing or a process failed."""


def require_binary(name: str) -> str:
    """Fail loudly, with the way to install it, when a lab binary is missing."""
    path = shutil.which(name)
    if path is None:
        hint = INSTALL_HINTS.get(name, f"install {name}")
        raise LabError(f"{name} not found: {hint}")
    return path


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGKILL it when we die."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, joined with ` | ` so an error stays on one line."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


@dataclass
class Child:
    """One running lab process and the log it writes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_file: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the whole group, SIGKILL it if it lingers, and reap the child."""
        if self.alive():
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        _signal_group(self.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _popen(argv: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            close_fds=True,
        )


def spawn(name: str, argv: list[str], log_file: Path) -> Child:
    """Start `argv` with all its output appended to `log_file`."""
    popen = _SPAWNER.submit(_popen, argv, log_file).result()
    return Child(name, popen, log_file)


def wait_ready(
    child: Child, url: str, ok: Callable[[httpx.Response], bool], timeout: float
) -> None:
    """Poll `url` until `ok` says ready; a dead child or a timeout raises with the log tail."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if not child.alive():
                raise LabError(
                    f"{child.name} exited with {child.popen.returncode} before answering {url}; "
                    f"log {child.log_file}: {tail(child.log_file)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if ok(client.get(url)):
                    return
            time.sleep(0.05)
    child.stop()
    raise LabError(
        f"{child.name} did not answer {url} within {timeout:.0f}s; "
        f"log {child.log_file}: {tail(child.log_file)}"
    )


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on now and not handed out before in this process.

    The child binds it a moment later; remembering handed-out ports keeps two labs (or the
    registry and its debug server) from ever being given the same one.
    """
    import socket

    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
