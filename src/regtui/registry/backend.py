"""The one Protocol every registry flavor implements, with capability flags.

The UI asks a backend what it can do and shows only those actions (k9s offers delete only
where a resource's verbs allow it). Adding a flavor is a new module and a line in `FLAVORS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from regtui.registry.models import Health, ImageConfig, Manifest, Referrer, RegistryInfo


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
    tag_api: bool = False
    """Tags are removed one at a time by the vendor API (`delete_tag`); siblings stay."""
    gc_tasks: bool = False
    """GC is the vendor's scheduled tasks, run on demand (Nexus), not a command."""


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

    async def ping(self) -> RegistryInfo: ...

    def repositories(self) -> AsyncIterator[str]:
        """Every repository name, all catalog pages, in the registry's order."""
        ...

    async def tags(self, repository: str) -> list[str]:
        """Every tag of a repository; `[]` when the registry answers `"tags": null`."""
        ...

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead: ...

    async def manifest(self, repository: str, reference: str) -> Manifest:
        """GET a manifest by tag or digest; by digest it comes from the cache when present."""
        ...

    async def image_config(self, repository: str, descriptor_digest: str) -> ImageConfig: ...

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        """Referrers API when offered, else the `sha256-<hex>.*` tag schema fallback."""
        ...

    def health(self) -> Health:
        """Limits and caveats learnt while reading; no I/O."""
        ...

    async def aclose(self) -> None: ...
