"""Docker Hub's audit log (`/v2/auditlogs/{account}`) as a source for the logs screen.

Hub keeps who pushed and deleted which tag (`repo.tag.push`, `repo.tag.delete`, ...) for
organisations whose token may read it. The feed turns events into one text line each,
oldest first, and remembers the newest one seen, so each poll adds only what is new. The
logs screen polls from a thread; `fetch` runs the request on the app's event loop, where
the backend's client lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from regtui.errors import RegistryError
from regtui.registry.backend import AuditLogApi
from regtui.services.logs import PolledSource
from regtui.text import safe_text

FETCH_TIMEOUT: Final = 120.0
POLL_SECONDS: Final = 30.0


def audit_line(event: Mapping[str, Any]) -> str:
    """`<timestamp> <action> <name>[:tag] by <actor> <digest>`: untrusted text made safe."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    tag = str(data.get("tag", "")) if data else ""
    digest = str(data.get("digest", "")) if data else ""
    name = str(event.get("name", "")) + (f":{tag}" if tag else "")
    parts = [str(event.get("timestamp", "")), str(event.get("action", "")), name,
             f"by {event.get('actor', '?')}", digest]
    return safe_text(" ".join(part for part in parts if part), 600)


class HubAuditFeed:
    """New audit events of one account, as lines, poll after poll."""

    def __init__(self, backend: AuditLogApi, account: str,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.backend = backend
        self.account = account
        self.loop = loop
        self._newest = ""
        self._seen_at_newest: set[str] = set()

    async def new_lines(self) -> list[str]:
        since = _parse(self._newest)
        events = await self.backend.audit_log(self.account, since=since)
        fresh: list[str] = []
        for event in reversed(events):  # Hub lists newest first
            stamp = str(event.get("timestamp", ""))
            line = audit_line(event)
            if stamp < self._newest or (stamp == self._newest and line in self._seen_at_newest):
                continue
            if stamp > self._newest:
                self._newest, self._seen_at_newest = stamp, set()
            self._seen_at_newest.add(line)
            fresh.append(line)
        return fresh

    def fetch(self) -> list[str]:
        """For `PolledSource`, called from the logs screen's thread."""
        if self.loop is None:
            raise RegistryError(f"Hub audit log of {self.account}: no event loop to run on")
        future = asyncio.run_coroutine_threadsafe(self.new_lines(), self.loop)
        try:
            return future.result(timeout=FETCH_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise RegistryError(f"Hub audit log of {self.account}: no answer in "
                                f"{FETCH_TIMEOUT:g} s") from None


def hub_audit_source(backend: AuditLogApi, account: str, loop: asyncio.AbstractEventLoop,
                     *, interval: float = POLL_SECONDS) -> PolledSource:
    feed = HubAuditFeed(backend, account, loop)
    return PolledSource(f"Docker Hub audit log ({account})", feed.fetch, interval=interval)


def _parse(stamp: str) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
