"""A walk that fills the snapshot as it goes, and printing the snapshot back (`--cached`).

Kept apart from `snapshot` (storage only) and `inventory` (the request engine): this is the
glue between a walk's stream of records and one commit per repository.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

import humanize

from regtui.config import RegistryConfig
from regtui.registry.models import TagRecord
from regtui.services.export import FIELDS, write_records
from regtui.services.inventory import InventoryService
from regtui.services.snapshot import SnapshotError, SnapshotReader, SnapshotWriter, now
from regtui.text import Untrusted, untrusted

Progress = Callable[[int, int], None]


class WalkRecorder:
    """Buffers one repository's records and commits them when the walk moves on.

    `InventoryService.walk` yields every record of a repository before it reports that
    repository done (`on_done`, in completion order), so the buffer then holds exactly it.
    A repository that could not be read at all keeps what the snapshot had for it. Without
    a writer (a walk that left fields out) nothing is recorded: the snapshot keeps whole
    records only.
    """

    def __init__(self, service: InventoryService, writer: SnapshotWriter | None,
                 repositories: Sequence[str] | None, clock: Callable[[], datetime] = now
                 ) -> None:
        self.service = service
        self.writer = writer
        self.full = repositories is None
        self._names: list[Untrusted] = [untrusted(n) for n in repositories or ()]
        self._buffer: list[TagRecord] = []
        self._clock = clock

    async def names(self) -> list[Untrusted]:
        """The catalog (or the repositories asked for), recorded before any tag is read."""
        if self.full:
            self._names = await self.service.repository_names()
        if self.writer is not None:
            self.writer.begin_walk(self._names, self._clock(), full=self.full)
        return self._names

    async def records(self, walk: AsyncIterator[TagRecord]) -> AsyncIterator[TagRecord]:
        async for record in walk:
            self._buffer.append(record)
            yield record

    def done(self, repository: str) -> None:
        """`on_done` for the walk: commit what was buffered for `repository`."""
        records, self._buffer = self._buffer, []
        unreadable = any(p.repository == repository and p.tag is None
                         for p in self.service.problems)
        if not unreadable and self.writer is not None:
            self.writer.put_repository(repository, records, self._clock())

    def finish(self) -> None:
        """The walk reached its end: the snapshot is whole again."""
        if self.full and self.writer is not None:
            self.writer.finish_walk(self._clock())


async def _stream(reader: SnapshotReader, registry: str,
                  repositories: Sequence[str] | None) -> AsyncIterator[TagRecord]:
    for record in reader.walk(registry, repositories):
        yield record


async def print_cached(registry: RegistryConfig, cache_dir: Path, fmt: str,
                       repositories: Sequence[str] | None, out: TextIO,
                       fields: tuple[str, ...] = FIELDS) -> tuple[int, str]:
    """Write the snapshot's records; returns the count and a note on how old and whole it is."""
    reader = SnapshotReader.open(cache_dir, registry.url)
    if reader is None:
        raise SnapshotError(
            f"registry {registry.name}: no snapshot of {registry.url} under {cache_dir}; "
            "run `regtui inventory` (or open the dashboard) once while it is reachable")
    try:
        summary = reader.summary()
        count = await write_records(_stream(reader, registry.name, repositories), fmt, out,
                                    fields)
    finally:
        reader.close()
    taken = summary.taken_at
    note = (f"from the snapshot of {taken:%Y-%m-%d %H:%M:%S} UTC "
            f"({humanize.naturaltime(now() - taken)})"
            if taken else "from a snapshot with no finished walk")
    unread = summary.unread
    if not summary.complete:
        note += (f"; incomplete: the last walk did not finish"
                 f"{f', {len(unread)} repositories never read' if unread else ''}")
    return count, note
