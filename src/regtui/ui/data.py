"""What the dashboard knows, held in one place; workers fill it, screens read it.

The store is plain Python so the loaders can be awaited from workers and tested without
a terminal; handlers on the app own every mutation.
"""

from __future__ import annotations

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
from regtui.render.fleet import RegistryStatus
from regtui.render.scans import vuln_sort_key
from regtui.render.tags import TagTable
from regtui.services.scans import TagScan

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RegistryService(Protocol):
    """What the UI needs from `regtui.services.inventory.InventoryService` (and test fakes)."""

    name: str
    url: str
    flavor: str
    read_only: bool

    @property
    def capabilities(self) -> Capabilities: ...

    async def ping(self) -> RegistryInfo: ...

    async def repository_names(self) -> list[str]: ...

    async def tag_records(self, repository: str) -> list[TagRecord]: ...

    async def manifest(self, repository: str, reference: str) -> Manifest: ...

    async def image_config(self, repository: str, config_digest: str) -> ImageConfig: ...

    async def referrers(self, repository: str, digest: str) -> list[Referrer]: ...

    async def aclose(self) -> None: ...


ServiceFactory = Callable[[RegistryConfig], RegistryService]


@dataclass
class RegistryData:
    """Everything loaded for one registry; data already shown stays when a refresh fails."""

    config: RegistryConfig
    status: RegistryStatus
    names: list[str] = field(default_factory=list)
    summaries: dict[str, RepositorySummary] = field(default_factory=dict)
    tables: dict[str, TagTable] = field(default_factory=dict)
    repo_errors: dict[str, str] = field(default_factory=dict)
    scans: dict[str, TagScan] = field(default_factory=dict)
    """Scan state by digest, for the tags pane's VULNS column (filled by the scans workers)."""
    failing: set[tuple[str, str]] = field(default_factory=set)
    """(repository, tag) reaching `fail_on`: the fleet row's count."""

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

    def set_summary(self, summary: RepositorySummary) -> None:
        """Keep the summary and rebuild the tag table only when the tags changed."""
        old = self.summaries.get(summary.name)
        self.summaries[summary.name] = summary
        if old is None or old.tags != summary.tags or summary.name not in self.tables:
            self.tables[summary.name] = TagTable(summary.tags)
            if self.scans:
                self.tables[summary.name].set_scan_keys(
                    {digest: vuln_sort_key(scan) for digest, scan in self.scans.items()})
        self.repo_errors.pop(summary.name, None)
        self._totals()

    def set_names(self, names: Sequence[str]) -> None:
        """Forget repositories that disappeared from the catalog."""
        self.names = list(names)
        for gone in set(self.summaries) - set(names):
            self.summaries.pop(gone, None)
            self.tables.pop(gone, None)
        self.status.repositories = len(self.names)
        self._totals()

    def _totals(self) -> None:
        values = list(self.summaries.values())
        self.status.tags = sum(s.tag_count for s in values) if values else None
        self.status.size_bytes = sum(s.size_bytes for s in values) if values else None


class Store:
    """Every registry's data by name, in config order."""

    def __init__(self, registries: Sequence[RegistryConfig]) -> None:
        self.registries: dict[str, RegistryData] = {
            reg.name: RegistryData(reg, RegistryStatus(reg.name, reg.url, reg.flavor))
            for reg in registries
        }

    def __getitem__(self, name: str) -> RegistryData:
        return self.registries[name]

    def statuses(self) -> list[RegistryStatus]:
        return [data.status for data in self.registries.values()]

    def repository_targets(self) -> list[str]:
        """`registry/repository` for every loaded name: suggestions for command mode."""
        return [f"{name}/{repo}" for name, data in self.registries.items() for repo in data.names]
