"""The dashboard's refresh workers: a full walk, the quiet tiers, and the snapshot at start-up.

Why tiers: re-walking the whole registry every `refresh_interval` made an idle dashboard the
registry's heaviest client (335 requests/s). Now:
- the repository on screen is revalidated every `refresh_interval` (fast tier);
- the rest of the registry every `background_refresh_interval` (slow tier, minutes);
- both ask the cheapest signal first: Prometheus' manifest PUT/DELETE counter when
  configured (unchanged: nothing to do, no request to the registry), else the tag list,
  compared with what is known (unchanged: the repository is not resolved again);
- `r` and the first load with no snapshot walk everything (full).
Workers post messages; the app's handlers are the only code that changes the store. Every
walk writes the snapshot as it goes, from a writer thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from textual.message import Message

from regtui.config import Config, RegistryConfig
from regtui.errors import RegistryError
from regtui.registry.models import RegistryInfo, RepositorySummary, TagRecord
from regtui.services.changes import ManifestWrites
from regtui.services.inventory import summarize
from regtui.services.snapshot import SnapshotError, SnapshotReader, SnapshotWriter
from regtui.text import Untrusted, untrusted
from regtui.ui.data import RegistryService, Store

REPOSITORY_WINDOW = 4
"""Repositories resolved at once per registry; each service bounds its own requests too."""
BATCH_DELAY = 0.05
"""Seconds a walk gathers resolved repositories before handing them over together: per
message the app pays Textual's dispatch, which at 10,000 repositories was most of the CPU."""


@dataclass
class Pinged(Message):
    registry: str
    info: RegistryInfo


@dataclass
class NamesLoaded(Message):
    registry: str
    names: list[Untrusted]


@dataclass
class RepoLoaded(Message):
    registry: str
    summary: RepositorySummary


@dataclass
class ReposLoaded(Message):
    """Repositories resolved by a walk within `BATCH_DELAY`: one message, not one each."""

    registry: str
    summaries: list[RepositorySummary]


@dataclass
class RepoFailed(Message):
    registry: str
    repository: str
    error: RegistryError


@dataclass
class RepoConfirmed(Message):
    """Repositories whose tag lists match what is known: their data is current."""

    registry: str
    repositories: list[Untrusted]


@dataclass
class RefreshDone(Message):
    registry: str
    at: datetime
    walked: bool = True
    """False when the refresh found nothing to do (the live data is simply confirmed)."""


@dataclass
class SnapshotDamaged(Message):
    """A repository the snapshot holds could not be decoded: said once, the live walk reads it."""

    registry: str
    error: SnapshotError


@dataclass
class SnapshotDecoded(Message):
    """Records of repositories the snapshot had, decoded off the event loop."""

    registry: str
    summaries: list[RepositorySummary]


MAX_BACK_OFF_STEPS = 5
"""After this many failures in a row the wait stops growing: 31 refresh intervals."""


class RetrySchedule:
    """When each failing registry is tried again: the one source of "retrying in Ns".

    After n failures in a row the next attempt waits (2^n - 1) refresh intervals (at most
    31). The app arms a timer for exactly `retry_at`, so the countdown on screen is the
    time the retry really starts, not a guess at which periodic tick will pick it up.
    """

    def __init__(self, interval: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.monotonic = monotonic
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}

    def failed(self, registry: str) -> float:
        """One more failure in a row; returns the seconds until the retry."""
        failures = self._failures.get(registry, 0) + 1
        self._failures[registry] = failures
        delay = self.interval * float(2 ** min(failures, MAX_BACK_OFF_STEPS) - 1)
        self._retry_at[registry] = self.monotonic() + delay
        return delay

    def succeeded(self, registry: str) -> None:
        self._failures.pop(registry, None)
        self._retry_at.pop(registry, None)

    def failures(self, registry: str) -> int:
        return self._failures.get(registry, 0)

    def retry_in(self, registry: str) -> float | None:
        """Seconds until the scheduled retry (0: due now); None when nothing is failing."""
        at = self._retry_at.get(registry)
        return None if at is None else max(0.0, at - self.monotonic())

    def waiting(self, registry: str) -> bool:
        """Backing off: periodic refreshes leave the registry alone until the retry."""
        wait = self.retry_in(registry)
        return wait is not None and wait > 0

    def expire(self, registry: str) -> None:
        """The wait is over now (the retry timer fired)."""
        if registry in self._retry_at:
            self._retry_at[registry] = self.monotonic()


class Host(Protocol):
    """What the workers need from the app."""

    config: Config
    store: Store

    def service(self, registry: str) -> RegistryService: ...

    def post_message(self, message: Message) -> bool: ...

    def clock(self) -> datetime: ...


class Refresher:
    """Runs the walks for the app; one snapshot writer and one change signal per registry."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._writers: dict[str, SnapshotWriter] = {}
        self._signals: dict[str, ManifestWrites] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._batches: dict[str, list[RepositorySummary]] = {}
        """(registry, tier) -> the manifest write counter when that tier last walked."""

    def writer(self, registry: str) -> SnapshotWriter:
        if registry not in self._writers:
            config = self.host.store[registry].config
            self._writers[registry] = SnapshotWriter.for_registry(self.host.config.cache_dir,
                                                                  config.url)
        return self._writers[registry]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        for signal in self._signals.values():
            signal.close()

    def _post(self, message: Message) -> None:
        self.host.post_message(message)

    # -- the change signal -------------------------------------------------------------------

    async def _writes(self, registry: RegistryConfig) -> float | None:
        """Prometheus' count of manifest PUTs and DELETEs so far; None when not known."""
        if registry.prometheus is None:
            return None
        signal = self._signals.get(registry.name)
        if signal is None:
            signal = self._signals[registry.name] = ManifestWrites(registry)
        return await asyncio.to_thread(signal.total)

    def _unchanged(self, registry: str, tier: str, writes: float | None) -> bool:
        return writes is not None and self._seen.get((registry, tier)) == writes

    def _moved(self, registry: str, tier: str, writes: float | None) -> bool:
        """Manifests were written since this tier's last walk: a tag may point elsewhere now
        with the same tag list, so every tag is resolved again (HEADs, from the cache)."""
        seen = self._seen.get((registry, tier))
        return writes is not None and seen is not None and seen != writes

    def _remember(self, registry: str, tier: str, writes: float | None) -> None:
        if writes is not None:
            self._seen[(registry, tier)] = writes

    # -- walks -------------------------------------------------------------------------------

    async def full(self, registry: str, first: str | None) -> None:
        """Every repository resolved again: `r`, and the first load without a snapshot."""
        config = self.host.store[registry].config
        writes = await self._writes(config)
        service = self.host.service(registry)
        self._post(Pinged(registry, await service.ping()))
        names = await service.repository_names()
        self._post(NamesLoaded(registry, names))
        writer = self.writer(registry)
        writer.begin_walk(names, self.host.clock())
        window = asyncio.Semaphore(REPOSITORY_WINDOW)
        order = sorted(names, key=lambda name: name != first)
        await asyncio.gather(*(self.load(registry, repo, window, batch=True)
                               for repo in order))
        self.flush(registry)
        at = self.host.clock()
        writer.finish_walk(at)
        for tier in ("slow", "fast"):
            self._remember(registry, tier, writes)
        self._post(RefreshDone(registry, at))

    async def background(self, registry: str) -> None:
        """The slow tier: catalog and tag lists; only what changed is resolved again."""
        data = self.host.store[registry]
        writes = await self._writes(data.config)
        if self._unchanged(registry, "slow", writes):
            self._post(RefreshDone(registry, self.host.clock(), walked=False))
            return
        resolve_all = self._moved(registry, "slow", writes)
        service = self.host.service(registry)
        if not data.status.api_version:
            self._post(Pinged(registry, await service.ping()))
        names = await service.repository_names()
        self._post(NamesLoaded(registry, names))
        writer = self.writer(registry)
        writer.begin_walk(names, self.host.clock())
        window = asyncio.Semaphore(REPOSITORY_WINDOW)
        checks = [self._check(registry, repo, window, resolve_all, batch=True)
                  for repo in names]
        same = [repo for repo, unchanged in zip(names, await asyncio.gather(*checks),
                                                strict=True) if unchanged]
        self.flush(registry)
        at = self.host.clock()
        if same:
            writer.confirm(same, at)
            self._post(RepoConfirmed(registry, same))
        writer.finish_walk(at)
        self._remember(registry, "slow", writes)
        self._post(RefreshDone(registry, at))

    async def repository(self, registry: str, repository: str) -> None:
        """The fast tier: the repository on screen, by the same cheap signals."""
        data = self.host.store[registry]
        writes = await self._writes(data.config)
        if self._unchanged(registry, "fast", writes):
            return
        window = asyncio.Semaphore(1)
        resolve_all = self._moved(registry, "fast", writes)
        if await self._check(registry, repository, window, resolve_all=resolve_all):
            self._post(RepoConfirmed(registry, [untrusted(repository)]))
        self._remember(registry, "fast", writes)

    async def _check(self, registry: str, repository: str, window: asyncio.Semaphore,
                     resolve_all: bool, batch: bool = False) -> bool:
        """True when the tag list matches what is known; else the repository is resolved."""
        data = self.host.store[registry]
        if not resolve_all and repository in data.tag_sets and repository not in data.repo_errors:
            async with window:
                try:
                    tags = await self.host.service(registry).tag_names(repository)
                except RegistryError as error:
                    self._post(RepoFailed(registry, repository, error))
                    return False
            if frozenset(tags) == data.tag_sets.get(repository):
                return True
        await self.load(registry, repository, window, batch=batch)
        return False

    async def load(self, registry: str, repository: str, window: asyncio.Semaphore, *,
                   batch: bool = False) -> None:
        """Resolve one repository's tags, post them and commit them to the snapshot.

        In a walk (`batch`) the summary joins the others that arrive within `BATCH_DELAY`.
        """
        service = self.host.service(registry)
        async with window:
            try:
                records = await service.tag_records(repository)
            except RegistryError as error:
                self._post(RepoFailed(registry, repository, error))
                return
        self.writer(registry).put_repository(repository, records, self.host.clock())
        summary = summarize(registry, repository, records)
        if not batch:
            self._post(RepoLoaded(registry, summary))
            return
        pending = self._batches.setdefault(registry, [])
        pending.append(summary)
        if len(pending) == 1:
            asyncio.get_running_loop().call_later(BATCH_DELAY, self.flush, registry)

    def flush(self, registry: str) -> None:
        """Hand over the repositories gathered so far (also before a walk reports done)."""
        pending = self._batches.pop(registry, [])
        if pending:
            self._post(ReposLoaded(registry, pending))

    # -- the snapshot at start-up ------------------------------------------------------------

    def decode(self, registry: str, reader: SnapshotReader, order: Sequence[str],
               cancelled: Callable[[], bool]) -> None:
        """Thread worker: every repository's records from the snapshot, a batch at a time."""
        batch: list[RepositorySummary] = []
        damaged = False
        try:
            for name in order:
                if cancelled():
                    return
                try:
                    records: list[TagRecord] | None = reader.records(registry, name)
                except SnapshotError as error:  # one damaged repository: the rest still shows
                    if not damaged:
                        self._post(SnapshotDamaged(registry, error))
                    damaged = True
                    continue
                if records is None:
                    continue  # in the catalog, never read: the live walk will read it
                batch.append(summarize(registry, name, records))
                if sum(s.tag_count for s in batch) >= 2_000:
                    self._post(SnapshotDecoded(registry, batch))
                    batch = []
            if batch:
                self._post(SnapshotDecoded(registry, batch))
        finally:
            reader.close()
