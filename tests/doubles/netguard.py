"""Proof that nothing leaves loopback: every socket connect and name lookup, seen and vetted.

A Python audit hook (`socket.connect`, `socket.getaddrinfo`) records what this process tries
and refuses, with `PermissionError`, any connect to an address outside 127.0.0.0/8 and ::1.
So a test of "never connect to 169.254.169.254" cannot send that traffic even when the code
under test is broken: it fails on the record instead. Audit hooks cannot be removed, so the
hook is installed once and only watches while a `NetGuard` is active.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class NetGuard:
    connects: list[tuple[str, int]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def outside_loopback(self) -> list[str]:
        """Every address tried that was not loopback (each was refused)."""
        return list(self.refused)


_active: list[NetGuard] = []
_installed = False


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _active:
        return
    guard = _active[-1]
    if event == "socket.getaddrinfo":
        guard.lookups.append(str(args[0]))
    elif event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and len(address) >= 2:
            host, port = str(address[0]), int(address[1])
            guard.connects.append((host, port))
            if not _loopback(host):
                guard.refused.append(f"{host}:{port}")
                raise PermissionError(f"netguard: connect to {host}:{port} refused (not loopback)")


@contextmanager
def net_guard() -> Iterator[NetGuard]:
    """Watch (and fence in) this process's network use for the `with` block."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    guard = NetGuard()
    _active.append(guard)
    try:
        yield guard
    finally:
        _active.remove(guard)
