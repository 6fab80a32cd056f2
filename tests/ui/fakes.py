"""A fixed, in-memory registry service for snapshot and hostile-text tests.

Pilot tests use the real lab; snapshots need data that never changes (fixed clock, fixed
digests), and the hostile-text test needs strings no real registry would accept as names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from regtui.config import Config, RegistryConfig
from regtui.errors import NotFoundError, RegistryError
from regtui.registry.backend import Capabilities
from regtui.registry.mediatypes import DOCKER_LAYER, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from regtui.registry.models import (
    ArtifactKind,
    Descriptor,
    HistoryEntry,
    ImageConfig,
    Manifest,
    Platform,
    Referrer,
    RegistryInfo,
    TagRecord,
)
from regtui.text import Untrusted as U

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

HOSTILE = (
    "[bold red]x[/]",
    "[link=https://evil.example]click[/link]",
    "\x1b[2J\x1b]0;pwned\x07title",
    "bell\x07and\x1b[31mred",
    "@click=app.quit",
)
BIG_LABEL = "L" * 10_240


def fixed_clock() -> datetime:
    return NOW


def digest_of(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


@dataclass
class FakeImage:
    """One image manifest with its config."""

    seed: str
    days: int
    platform: Platform = field(default_factory=lambda: Platform(U("linux"), U("amd64")))
    labels: dict[str, str] = field(default_factory=dict)
    history: tuple[str, ...] = ("ADD rootfs.tar /",)
    layers: tuple[int, ...] = (3_000_000, 1_500)

    @property
    def config_digest(self) -> str:
        return digest_of(self.seed + "-config")

    def manifest(self) -> Manifest:
        layers = tuple(Descriptor(U(DOCKER_LAYER), digest_of(f"{self.seed}-layer{i}"), size)
                       for i, size in enumerate(self.layers))
        config = Descriptor(U(OCI_CONFIG), self.config_digest, 1_234)
        raw = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": d.media_type, "digest": d.digest, "size": d.size}
                       for d in layers],
            "annotations": {"org.example.note": HOSTILE[0] if "hostile" in self.seed else "ok"},
        }).encode()
        return Manifest(digest_of(self.seed), U(OCI_MANIFEST), len(raw), raw, config, layers)

    def config(self) -> ImageConfig:
        history = tuple(HistoryEntry(NOW - timedelta(days=self.days), U(line))
                        for line in self.history)
        return ImageConfig(self.config_digest, NOW - timedelta(days=self.days), self.platform,
                           labels={U(k): U(v) for k, v in self.labels.items()},
                           env=(U("PATH=/usr/bin"),), entrypoint=(U("/app"),),
                           history=history)


def _record(repo: str, tag: str, image: FakeImage, *, platforms: tuple[str, ...] | None = None,
            kind: ArtifactKind = ArtifactKind.IMAGE, subject: str | None = None,
            digest: str | None = None, media_type: str = OCI_MANIFEST) -> TagRecord:
    manifest = image.manifest()
    size = sum(layer.size for layer in manifest.layers) + 1_234
    return TagRecord("lab", U(repo), U(tag), digest or manifest.digest, U(media_type), size,
                     tuple(U(p) for p in platforms or (str(image.platform),)),
                     NOW - timedelta(days=image.days),
                     kind, subject, ((manifest.digest, size),))


class FakeData:
    """The fixed content of the fake `lab` registry."""

    def __init__(self) -> None:
        base = FakeImage("alpine-3.20", days=3)
        self.images: dict[str, FakeImage] = {}
        self.indexes: dict[str, Manifest] = {}
        self.repos: dict[str, list[TagRecord]] = {}
        old, hostile = FakeImage("alpine-3.19", days=40), FakeImage(
            "hostile", days=1, labels={"evil": HOSTILE[0], "esc": HOSTILE[2], "big": BIG_LABEL},
            history=(HOSTILE[3], HOSTILE[1]))
        amd, arm = FakeImage("multi-amd64", days=2), FakeImage(
            "multi-arm64", days=2, platform=Platform(U("linux"), U("arm64"), U("v8")))
        sig, sbom = FakeImage("sig", days=3), FakeImage("sbom", days=3)
        for image in (base, old, hostile, amd, arm, sig, sbom):
            self.images[image.manifest().digest] = image
        index = self._index("multi", (amd, arm))
        sig_tag = "sha256-" + base.manifest().digest.split(":")[1] + ".sig"
        self.repos["library/alpine"] = [
            _record("library/alpine", "3.20", base), _record("library/alpine", "latest", base),
            _record("library/alpine", "3.19", old),
            _record("library/alpine", sig_tag, sig, kind=ArtifactKind.SIGNATURE,
                    subject=base.manifest().digest),
            _record("library/alpine", "sbom-3.20", sbom, kind=ArtifactKind.SBOM,
                    subject=base.manifest().digest),
            _record("library/alpine", "multi", amd, platforms=("linux/amd64", "linux/arm64/v8"),
                    digest=index.digest, media_type=OCI_INDEX),
        ]
        self.repos["a.b/c-d/e_f/g"] = [_record("a.b/c-d/e_f/g", "1.0", old)]
        self.repos["team/app"] = [_record("team/app", f"1.{i}", base) for i in range(12)]
        self.repos["evil/" + HOSTILE[0]] = [_record("evil", HOSTILE[1], hostile)]
        self.repos["evil/hostile"] = [_record("evil/hostile", tag, hostile) for tag in HOSTILE]

    def _index(self, seed: str, children: tuple[FakeImage, ...]) -> Manifest:
        manifests = tuple(Descriptor(U(OCI_MANIFEST), c.manifest().digest, c.manifest().size,
                                     platform=c.platform) for c in children)
        raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d.digest, "size": d.size,
             "platform": {"os": d.platform.os, "architecture": d.platform.architecture}}
            for d in manifests if d.platform]}).encode()
        index = Manifest(digest_of(seed), U(OCI_INDEX), len(raw), raw, manifests=manifests)
        self.indexes[index.digest] = index
        return index


class FakeService:
    """Answers like `InventoryService` from `FakeData`; `down=True` fails like a dead host."""

    flavor = "distribution"
    read_only = True

    def __init__(self, registry: RegistryConfig, data: FakeData | None = None, *,
                 down: bool = False) -> None:
        self.name, self.url = registry.name, registry.url
        self.data = data or FakeData()
        self.down = down
        self.tag_lists = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    def _check(self) -> None:
        if self.down:
            raise RegistryError(f"registry {self.name} at {self.url}/v2/: connection refused")

    async def ping(self) -> RegistryInfo:
        self._check()
        return RegistryInfo(self.url, U("registry/2.0"))

    async def repository_names(self) -> list[U]:
        self._check()
        return [U(name) for name in sorted(self.data.repos)]

    async def tag_records(self, repository: str) -> list[TagRecord]:
        self._check()
        return list(self.data.repos[repository])

    async def tag_names(self, repository: str) -> list[str]:
        self._check()
        self.tag_lists += 1
        return sorted({r.tag for r in self.data.repos[repository]})

    async def manifest(self, repository: str, reference: str) -> Manifest:
        if reference in self.data.indexes:
            return self.data.indexes[reference]
        if reference in self.data.images:
            return self.data.images[reference].manifest()
        raise NotFoundError(f"{self.url}/v2/{repository}/manifests/{reference}: 404")

    async def image_config(self, repository: str, config_digest: str) -> ImageConfig:
        for image in self.data.images.values():
            if image.config_digest == config_digest:
                return image.config()
        raise NotFoundError(f"{self.url}/v2/{repository}/blobs/{config_digest}: 404")

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        sig = self.data.images.get(digest_of("sig"))
        if digest != digest_of("alpine-3.20") or sig is None:
            return []
        return [Referrer(digest_of("sig"), U(OCI_MANIFEST), U("application/vnd.dev.cosign.sig"),
                         ArtifactKind.SIGNATURE, 512, U("sha256-" + digest.split(":")[1] + ".sig"))]

    async def aclose(self) -> None:
        return None


def fake_config(tmp: Path, *, keymap: dict[str, str] | None = None,
                theme: str = "textual-dark", lab_theme: str | None = None) -> Config:
    """Two registries: `lab` (fake data) and `mirror` (down), with a long refresh interval."""
    registries = (RegistryConfig("lab", "http://127.0.0.1:5000", theme=lab_theme),
                  RegistryConfig("mirror", "http://127.0.0.1:5999"))
    return Config(registries=registries, refresh_interval=3600, keymap=keymap or {}, theme=theme,
                  cache_dir=tmp / "cache", state_dir=tmp / "state")


def fake_factory(data: FakeData | None = None) -> Callable[[RegistryConfig], FakeService]:
    shared = data or FakeData()

    def make(registry: RegistryConfig) -> FakeService:
        return FakeService(registry, shared, down=registry.name == "mirror")

    return make
