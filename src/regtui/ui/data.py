"""What the dashboard knows, held in one place; workers fill it, screens read it.

The store is plain Python so the loaders can be awaited from workers and tested without
a terminal; handlers on the app own every mutation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from regtui.config import RegistryConfig
from regtui.registry.backend import Capabilities
from regtui.registry.models import (
    ImageConfig,
    Manifest,
    Referrer,
    RegistryInfo,
    RepositorySummary,
    TagRecord,
)
from regtui.registry.transport import GuardedTransport
from regtui.render.fleet import RegistryStatus
from regtui.render.scans import vuln_sort_key
from regtui.render.tags import TagTable
from regtui.services.scans import TagScan
from regtui.services.snapshot import SnapshotSummary
from regtui.text import Untrusted, untrusted

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RegistryService(Protocol):
    """What the UI needs from `regtui.services.inventory.InventoryService` (and test fakes).

    A service may also offer `health() -> Health` (limits, blob stores, caveats; no I/O);
    the app reads it where present, so fakes need not."""

    name: str
    url: str
    flavor: str
    read_only: bool

    @property
    def capabilities(self) -> Capabilities: ...

    async def ping(self) -> RegistryInfo: ...

    async def repository_names(self) -> list[Untrusted]: ...

    async def tag_records(self, repository: str) -> list[TagRecord]: ...

    async def tag_names(self, repository: str) -> Sequence[str]: ...

    async def manifest(self, repository: str, reference: str) -> Manifest: ...

    async def image_config(self, repository: str, config_digest: str) -> ImageConfig: ...

    async def referrers(self, repository: str, digest: str) -> list[Referrer]: ...

    async def aclose(self) -> None: ...


ServiceFactory = Callable[[RegistryConfig], RegistryService]


@dataclass
class RegistryData:
    """Everything loaded for one registry; data already shown stays when a refresh fails.

    Data can come from the snapshot (shown at start-up before the registry answered):
    `undecoded` repositories have totals but no records yet, `unconfirmed` ones have not
    been checked against the registry since. Totals are kept incrementally, so a summary
    costs O(1) however many repositories there are.
    """

    config: RegistryConfig
    status: RegistryStatus
    names: list[Untrusted] = field(default_factory=list)
    summaries: dict[str, RepositorySummary] = field(default_factory=dict)
    tables: dict[str, TagTable] = field(default_factory=dict)
    repo_errors: dict[str, str] = field(default_factory=dict)
    scans: dict[str, TagScan] = field(default_factory=dict)
    """Scan state by digest, for the tags pane's VULNS column (filled by the scans workers)."""
    failing: set[tuple[str, str]] = field(default_factory=set)
    """(repository, tag) reaching `fail_on`: the fleet row's count."""
    tag_errors: dict[str, int] = field(default_factory=dict)
    """Per repository: tags listed whose row carries an error instead of (all) data."""
    tag_sets: dict[str, frozenset[str]] = field(default_factory=dict)
    undecoded: set[str] = field(default_factory=set)
    unconfirmed: set[str] = field(default_factory=set)
    live_walk_done: bool = False
    requests: RateMeter = field(default_factory=lambda: RateMeter())
    _tags_total: int = 0
    _size_total: int = 0
    _errors_total: int = 0

    def set_scans(self, scans: Sequence[TagScan]) -> None:
        """Merge new scan states and give every tag table its VULNS sort keys."""
        self.scans.update((scan.record.digest, scan) for scan in scans)
        self.failing.update((s.record.repository, s.record.tag) for s in scans if s.failing)
        self.failing.difference_update((s.record.repository, s.record.tag) for s in scans
                                       if not s.failing)
        self.status.failing_tags = len(self.failing)
        keys = {digest: vuln_sort_key(scan) for digest, scan in self.scans.items()}
        for table in self.tables.values():
            table.set_scan_keys(keys)

    def set_summary(self, summary: RepositorySummary, *, decoded: bool = True) -> None:
        """Keep the summary and rebuild the tag table only when the tags changed."""
        old = self.summaries.get(summary.name)
        if old is not None:
            self._tags_total -= old.tag_count
            self._size_total -= old.size_bytes
        self.summaries[summary.name] = summary
        errors = sum(1 for tag in summary.tags if tag.error)
        self._errors_total += errors - self.tag_errors.get(summary.name, 0)
        self.tag_errors[summary.name] = errors
        self._tags_total += summary.tag_count
        self._size_total += summary.size_bytes
        if decoded:
            self.undecoded.discard(summary.name)
            self.tag_sets[summary.name] = frozenset(r.tag for r in summary.tags)
            if old is None or old.tags != summary.tags or summary.name not in self.tables:
                self.tables[summary.name] = TagTable(summary.tags)
                if self.scans:
                    self.tables[summary.name].set_scan_keys(
                        {digest: vuln_sort_key(scan) for digest, scan in self.scans.items()})
        else:
            self.undecoded.add(summary.name)
            self.tables.pop(summary.name, None)
        self.repo_errors.pop(summary.name, None)
        self._totals()

    def set_names(self, names: Sequence[Untrusted]) -> bool:
        """Forget repositories that disappeared from the catalog; False when none changed."""
        if list(names) == self.names:
            return False
        self.names = list(names)
        for gone in set(self.summaries) - set(names):
            old = self.summaries.pop(gone)
            self._tags_total -= old.tag_count
            self._size_total -= old.size_bytes
            self.tables.pop(gone, None)
            self._errors_total -= self.tag_errors.pop(gone, 0)
            self.tag_sets.pop(gone, None)
            self.undecoded.discard(gone)
            self.unconfirmed.discard(gone)
        for gone in set(self.repo_errors) - set(names):  # it may never have had a summary
            del self.repo_errors[gone]
        self.status.repositories = len(self.names)
        self._totals()
        return True

    def apply_snapshot(self, snapshot: SnapshotSummary) -> None:
        """Show the snapshot's totals at once; records follow as they are decoded."""
        self.set_names([untrusted(repo.name) for repo in snapshot.repositories])
        for repo in snapshot.repositories:
            if not repo.read:
                continue
            self.set_summary(RepositorySummary(
                self.config.name, untrusted(repo.name), repo.tag_count or 0, repo.size_bytes or 0,
                repo.last_push), decoded=False)
            if repo.tag_names is not None:
                self.tag_sets[repo.name] = repo.tag_names
            self.unconfirmed.add(repo.name)
        self.status.fetched_at = snapshot.taken_at
        self.status.from_snapshot = True

    def _totals(self) -> None:
        has = bool(self.summaries)
        self.status.tags = self._tags_total if has else None
        self.status.size_bytes = self._size_total if has else None
        self.status.tag_errors = self._errors_total  # kept incrementally: O(1) per summary

    def complete(self) -> bool:
        """Every repository read from the registry in this session: safe to plan against."""
        return (self.live_walk_done and not self.repo_errors and not self.status.tag_errors
                and not self.undecoded
                and not self.unconfirmed and not set(self.names) - set(self.summaries))


class RateMeter:
    """regtui's own requests per second to one registry, from the transport's counter.

    Sampled on a coarse clock; the rate is over the last `window` seconds, rounded so the
    fleet's cell changes only when the rate really does.
    """

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, at: float, sent: int) -> None:
        self._samples.append((at, sent))
        while len(self._samples) > 2 and at - self._samples[1][0] >= self.window:
            self._samples.popleft()

    @property
    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None


def requests_sent(service: object) -> int | None:
    """The request counter of a service's transport (`GuardedTransport.requests_sent`).

    Prefers a `requests_sent` the service exposes itself; None for services without one
    (test fakes), so the fleet shows `-` rather than a made-up rate.
    """
    own = getattr(service, "requests_sent", None)
    if isinstance(own, int):
        return own
    client = getattr(getattr(service, "backend", None), "client", None)
    transport = getattr(client, "_transport", None)
    return transport.requests_sent if isinstance(transport, GuardedTransport) else None


class Store:
    """Every registry's data by name, in config order."""

    def __init__(self, registries: Sequence[RegistryConfig]) -> None:
        self.registries: dict[str, RegistryData] = {
            reg.name: RegistryData(reg, RegistryStatus(reg.name, reg.url, reg.flavor,
                                                       alias=reg.alias))
            for reg in registries
        }

    def __getitem__(self, name: str) -> RegistryData:
        return self.registries[name]

    def statuses(self) -> list[RegistryStatus]:
        return [data.status for data in self.registries.values()]

    def repository_targets(self) -> list[str]:
        """`registry/repository` for every loaded name: suggestions for command mode."""
        return [f"{name}/{repo}" for name, data in self.registries.items() for repo in data.names]
