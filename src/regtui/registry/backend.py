"""The one Protocol every registry flavor implements, with capability flags.

The UI asks a backend what it can do and shows only those actions (k9s offers delete only
where a resource's verbs allow it). Adding a flavor is a new module and a line in `FLAVORS`.
What only some flavors offer (a tag-delete API, quotas, a GC job API) is an optional protocol
below; services ask `tag_delete_api(backend)` etc. and never test for a concrete class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from regtui.registry.harbor_models import GcJob, HarborInfo, Quota
from regtui.registry.models import (
    Health,
    ImageConfig,
    Manifest,
    Referrer,
    RegistryInfo,
    TagActivity,
)
from regtui.registry.nexus_models import BlobStore, NexusRepository, NexusTask
from regtui.text import Untrusted

if TYPE_CHECKING:  # harbor_scans imports the Harbor backend, which imports this module
    from regtui.registry.harbor_scans import HarborScans


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do; the UI binds only what is true here."""

    has_catalog: bool = True
    can_delete_manifest: bool = True
    can_delete_tag: bool = False
    can_gc: bool = False
    has_referrers_api: bool = False
    has_scans: bool = False
    has_quota: bool = False
    gc_tasks: bool = False
    """GC is the vendor's scheduled tasks run on demand (Nexus), not a command or a job."""
    tag_activity: bool = False
    """The tag listing says when each tag was last pulled and whether it is active (Hub):
    the tags pane and the tag detail show it."""


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """What a HEAD (or a GET) on a manifest reference tells without parsing the body."""

    digest: str
    media_type: str
    size: int


class RegistryBackend(Protocol):
    """Read access to one registry. Every method may raise `regtui.errors.RegistryError`."""

    name: str
    url: str
    capabilities: Capabilities
    client: httpx.AsyncClient
    """The one shared transport (auth, retries, read-only guard); the operations service
    writes through it."""

    async def ping(self) -> RegistryInfo: ...

    def repositories(self) -> AsyncIterator[Untrusted]:
        """Every repository name, all catalog pages, in the registry's order."""
        ...

    async def tags(self, repository: str) -> list[Untrusted]:
        """Every tag of a repository; `[]` when the registry answers `"tags": null`."""
        ...

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead: ...

    async def manifest(self, repository: str, reference: str) -> Manifest:
        """GET a manifest by tag or digest; by digest it comes from the cache when present."""
        ...

    async def image_config(self, repository: str, descriptor_digest: str) -> ImageConfig: ...

    async def blob(self, repository: str, digest: str, *, limit: int, what: str) -> bytes:
        """A small blob (a config, a report layer), at most `limit` bytes, digest-verified."""
        ...

    async def config_of(self, repository: str, manifest: Manifest) -> ImageConfig | None:
        """The image config of an image manifest; None for indexes and config-less artifacts."""
        ...

    async def referrers(self, repository: str, digest: str,
                        tags: Collection[str] | None = None) -> list[Referrer]:
        """Referrers API when offered, else the `sha256-<hex>.*` tag schema fallback
        (over `tags`, the repository's tags, when the caller has them)."""
        ...

    def health(self) -> Health:
        """Limits and caveats learnt while reading; no I/O."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class TagResolver(Protocol):
    """A backend that resolves a tag in the fewest requests, using what it read last time."""

    async def resolve_tag(self, repository: str, tag: str, hint: str | None = None) -> Manifest:
        """One GET by tag, or a HEAD when `hint` (the tag's last digest) is cached."""
        ...

    def tag_hints(self, repository: str) -> dict[str, str]:
        """tag -> digest as last read; {} when nothing is known."""
        ...

    def remember_tags(self, repository: str, tags: dict[str, str]) -> None:
        """Replace the repository's hints with what was just read."""
        ...


def tag_resolver(backend: RegistryBackend) -> TagResolver | None:
    """The backend's cache-aware tag resolution, when it has one."""
    return backend if isinstance(backend, TagResolver) else None


@runtime_checkable
class TagDeleteApi(Protocol):
    """A registry API that removes one tag and keeps the manifest (Harbor's tag API)."""

    async def delete_tag(self, repository: str, tag: str) -> None: ...


@runtime_checkable
class QuotaApi(Protocol):
    """A registry that reports storage quotas per project."""

    async def quotas(self) -> list[Quota]: ...


@runtime_checkable
class GcJobApi(Protocol):
    """Garbage collection as an API job to start and watch (Harbor), not a command to run."""

    name: str
    url: str

    @property
    def gc_path(self) -> str:
        """Where the GC jobs live (`<gc_path>/schedule`, `<gc_path>/<id>`), quoted in the
        audit log, the confirmation and errors."""
        ...

    async def system_info(self) -> HarborInfo: ...

    async def start_gc(self, *, dry_run: bool, delete_untagged: bool) -> int: ...

    async def gc_job(self, job_id: int) -> GcJob: ...

    async def gc_jobs(self) -> list[GcJob]: ...

    async def gc_log(self, job_id: int) -> str: ...


@runtime_checkable
class GcTaskApi(Protocol):
    """Garbage collection as the vendor's own scheduled tasks, run on demand (Nexus)."""

    name: str
    url: str

    async def docker_repositories(self) -> Mapping[str, NexusRepository]: ...

    async def tasks(self, task_type: str) -> list[NexusTask]: ...

    async def task(self, task_id: str) -> NexusTask: ...

    async def run_task(self, task_id: str) -> None: ...

    async def refresh_blob_stores(self) -> list[BlobStore]: ...


def gc_task_api(backend: RegistryBackend) -> GcTaskApi | None:
    """The backend's GC tasks, when its capabilities say it collects through them."""
    if backend.capabilities.gc_tasks and isinstance(backend, GcTaskApi):
        return backend
    return None


@runtime_checkable
class AuditLogApi(Protocol):
    """A registry that keeps its own audit log of pushes and deletes (Docker Hub)."""

    async def audit_log(self, account: str, *, since: datetime | None = None,
                        pages: int = 10) -> list[dict[str, Any]]: ...


@runtime_checkable
class PushTimes(Protocol):
    """A registry whose tag listing says when each tag was pushed (Docker Hub, Nexus, Harbor)."""

    def pushed_at(self, repository: str, tag: str) -> datetime | None:
        """From the last tag listing of `repository`; no I/O."""
        ...


def push_times(backend: RegistryBackend) -> PushTimes | None:
    return backend if isinstance(backend, PushTimes) else None


@runtime_checkable
class TagActivityApi(Protocol):
    """A registry whose tag listing says when each tag was pushed and pulled (Docker Hub)."""

    def tag_activity(self, repository: str, tag: str) -> TagActivity | None:
        """From the last tag listing of `repository`; no I/O; None when it did not list it."""
        ...


def tag_activity_api(backend: RegistryBackend) -> TagActivityApi | None:
    """The backend's tag activity, when its capabilities say its tag listing carries it."""
    if backend.capabilities.tag_activity and isinstance(backend, TagActivityApi):
        return backend
    return None


def audit_log_api(backend: RegistryBackend) -> AuditLogApi | None:
    return backend if isinstance(backend, AuditLogApi) else None


@runtime_checkable
class ScanApi(Protocol):
    """A registry that scans images itself and serves the reports (Harbor)."""

    def scans(self) -> HarborScans: ...


def scan_api(backend: RegistryBackend) -> ScanApi | None:
    """The backend's own scanner, when its capabilities say it has one."""
    if backend.capabilities.has_scans and isinstance(backend, ScanApi):
        return backend
    return None


def tag_delete_api(backend: RegistryBackend) -> TagDeleteApi | None:
    """The backend's own tag delete, when its capabilities say it has one."""
    if backend.capabilities.can_delete_tag and isinstance(backend, TagDeleteApi):
        return backend
    return None


def quota_api(backend: RegistryBackend) -> QuotaApi | None:
    """The backend's quota report, when its capabilities say it has one."""
    if backend.capabilities.has_quota and isinstance(backend, QuotaApi):
        return backend
    return None


def gc_job_api(backend: RegistryBackend) -> GcJobApi | None:
    """The backend's GC job API, when it collects garbage through one."""
    if backend.capabilities.can_gc and isinstance(backend, GcJobApi):
        return backend
    return None
