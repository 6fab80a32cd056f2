"""Plain, frozen model objects: what every backend returns and every service consumes.

They carry no I/O and no Textual; a registry's answers are parsed into these once, at the edge.
Every string a registry chose (names, tags, media types, platform, labels, env, history,
annotations) is an `Untrusted`, so it can reach the screen only through `Shown`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from regtui.text import EMPTY, Untrusted

Annotations = Mapping[Untrusted, Untrusted]
_EMPTY: Annotations = MappingProxyType({})


class ArtifactKind(enum.StrEnum):
    """What a tag or manifest is, as an operator would name it."""

    IMAGE = "image"
    INDEX = "index"
    SIGNATURE = "signature"
    ATTESTATION = "attestation"
    SBOM = "sbom"
    ARTIFACT = "artifact"

    @property
    def is_supplement(self) -> bool:
        """Signatures, attestations and SBOMs belong to another image rather than stand alone."""
        return self in (ArtifactKind.SIGNATURE, ArtifactKind.ATTESTATION, ArtifactKind.SBOM)


@dataclass(frozen=True, slots=True)
class Platform:
    """`os/architecture[/variant]`, as docker and the OCI image spec write it."""

    os: Untrusted
    architecture: Untrusted
    variant: Untrusted = EMPTY

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> Untrusted:
        """`os/architecture[/variant]`, still untrusted: its parts came from the registry."""
        base = f"{self.os}/{self.architecture}"
        return Untrusted(f"{base}/{self.variant}" if self.variant else base)

    @property
    def is_unknown(self) -> bool:
        """BuildKit stores attestation manifests in an index under `unknown/unknown`."""
        return self.os == "unknown" and self.architecture == "unknown"


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor: a pointer to a blob or manifest by digest."""

    media_type: Untrusted
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Annotations = field(default_factory=lambda: _EMPTY)
    artifact_type: Untrusted = EMPTY


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed manifest (image manifest, index/list, or read-only schema1)."""

    digest: str
    media_type: Untrusted
    size: int
    raw: bytes
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: Untrusted = EMPTY
    annotations: Annotations = field(default_factory=lambda: _EMPTY)
    schema_version: int = 2

    @property
    def is_index(self) -> bool:
        from regtui.registry.mediatypes import INDEX_TYPES

        return self.media_type in INDEX_TYPES

    @property
    def is_schema1(self) -> bool:
        return self.schema_version == 1


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of an image's build history."""

    created: datetime | None
    created_by: Untrusted
    comment: Untrusted = EMPTY
    empty_layer: bool = False


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image config blob an operator looks at."""

    digest: str
    created: datetime | None
    platform: Platform | None
    labels: Annotations = field(default_factory=lambda: _EMPTY)
    env: tuple[Untrusted, ...] = ()
    entrypoint: tuple[Untrusted, ...] = ()
    cmd: tuple[Untrusted, ...] = ()
    user: Untrusted = EMPTY
    working_dir: Untrusted = EMPTY
    history: tuple[HistoryEntry, ...] = ()
    created_text: str = ""
    """`created` exactly as the image has it (buildah writes nanoseconds; `created` is cut
    to microseconds and is for sorting only)."""


@dataclass(frozen=True, slots=True)
class Referrer:
    """A manifest whose `subject` is another one: a signature, attestation or SBOM."""

    digest: str
    media_type: Untrusted
    artifact_type: Untrusted
    kind: ArtifactKind
    size: int
    tag: Untrusted | None = None
    """Set when found through the `sha256-<hex>.<suffix>` tag schema rather than the API."""


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    """What a `/v2/` ping told us."""

    url: str
    api_version: Untrusted
    """The `Docker-Distribution-API-Version` header, e.g. `registry/2.0`; empty if absent."""
    reachable: bool = True
    auth_scheme: Untrusted = EMPTY


@dataclass(frozen=True, slots=True)
class Gauge:
    """One limited resource of a registry: pulls left in a window, blob store space used.

    `value` of `total` (None: no known limit); `warn` is the backend's judgement, so the
    renderer never needs to know what the numbers mean.
    """

    label: str
    value: int | None
    """None: nothing to count (e.g. no pull limit applies)."""
    total: int | None
    unit: str = "count"
    """`count` or `bytes`: how the renderer formats the numbers."""
    detail: str = ""
    """A short qualifier shown after the numbers, e.g. `per 6h` or `3,021 blobs`."""
    warn: bool = False


@dataclass(frozen=True, slots=True)
class Health:
    """What a backend learnt as a side effect of reading: limits, storage, caveats.

    Taken without I/O after a refresh; backends without any answer the empty default.
    """

    gauges: tuple[Gauge, ...] = ()
    notes: tuple[str, ...] = ()
    """One-line facts an operator should know, e.g. where the repository list came from."""


@dataclass(frozen=True, slots=True)
class TagActivity:
    """What a registry's tag API says about a tag's use, without touching its manifest."""

    pushed_at: datetime | None
    pulled_at: datetime | None
    status: Untrusted = EMPTY


@dataclass(frozen=True, slots=True)
class TagRecord:
    """One tag, fully resolved: the unit of `regtui inventory` and of the tags pane."""

    registry: str
    repository: Untrusted
    tag: Untrusted
    digest: str
    media_type: Untrusted
    size_bytes: int
    platforms: tuple[Untrusted, ...]
    created: datetime | None
    artifact_kind: ArtifactKind
    subject_digest: str | None = None
    """For signature/attestation/SBOM tags: the digest of the image they belong to."""
    reachable: tuple[tuple[str, int], ...] = ()
    """Every distinct (digest, size) reachable from the tag; the tag's size is their sum."""
    children: tuple[str, ...] = ()
    """For an index: the digests of the manifests it lists."""
    error: str = ""
    """Why the tag could not be fully read (one line), empty when it could."""
    unreadable: bool = False
    """Only the name is known: the record stands for a listed tag that could not be read."""
    created_text: str = ""
    """`created` exactly as the image config has it; empty when unknown."""
    pushed_at: datetime | None = None
    """When the registry says the tag was pushed, where it keeps that (not registry:2)."""
    pulled_at: datetime | None = None
    """When the registry says the tag was last pulled, where it keeps that (Docker Hub)."""
    status: Untrusted = EMPTY
    """The registry's own word on the tag's activity (Docker Hub: `active`/`inactive`)."""

    @property
    def reference(self) -> Untrusted:
        return Untrusted(f"{self.repository}:{self.tag}")

    @property
    def push_time(self) -> datetime | None:
        """When the tag was pushed: the registry's push time where it keeps one, else the
        image's created time (all registry:2 has, and what `docker push` of a fresh build
        comes close to)."""
        return self.pushed_at or self.created


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    """A repository as listed in the repositories pane."""

    registry: str
    name: Untrusted
    tag_count: int
    size_bytes: int
    last_push: datetime | None
    tags: tuple[TagRecord, ...] = ()
