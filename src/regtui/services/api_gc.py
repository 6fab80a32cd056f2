"""What Harbor's and Nexus's garbage collection share: a job started through an API, polled
until it ends, a history of runs, and a read-only guard before anything is sent.

The distribution collector is a command to spawn (`services.gc.GcRunner`); these are not.
A subclass says how to start and follow its vendor's job; this base keeps the polling
cadence, the limit on polls and the runs seen, so both follow their jobs the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Final

from regtui.registry.transport import Sleep
from regtui.services.gc import GcProgress, GcRun

POLL_SECONDS: Final = 2.0
MAX_POLLS: Final = 1800
"""An hour at the default interval; a job still running then is reported, not waited for."""
TAIL_LINES: Final = 200
LineSink = Callable[[str, GcProgress], None]


class ApiGc:
    """The state of a `GarbageCollector` that drives a vendor's GC job through its API."""

    untagged_deletes_index_children: bool = False
    """The vendor's job decides what is unused; an index's children stay with the index."""
    note: str = ""
    """One line the GC screen shows before anything runs (what the operator must know)."""

    def __init__(self, registry: str, *, read_only: bool, sleep: Sleep = asyncio.sleep,
                 poll_seconds: float = POLL_SECONDS, max_polls: int = MAX_POLLS) -> None:
        self.registry = registry
        self.read_only = read_only
        self._sleep = sleep
        self._poll_seconds = poll_seconds
        self._max_polls = max_polls
        self._history: list[GcRun] = []

    async def _polls(self, *, wait_first: bool = False) -> AsyncIterator[int]:
        """Poll numbers up to `max_polls`, `poll_seconds` apart (and before the first one
        when the job was only just started); the caller stops when its job has ended."""
        for number in range(self._max_polls):
            if number or wait_first:
                await self._sleep(self._poll_seconds)
            yield number

    def history(self) -> list[GcRun]:
        """The runs seen so far (the Protocol's `history` is sync)."""
        return list(self._history)
