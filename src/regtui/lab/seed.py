"""Deterministic seed data for the lab, pushed through `regtui.registry.push`.

Same bytes and same digests on every machine: blob bytes come from a sha256 counter stream,
`created` times are fixed, and JSON is serialized with sorted keys and no spaces. Other tests
compute their expectations from raw HTTP; `SeedResult` is for the lab's own sanity checks and
for the demo only.

Catalog facts for distribution 2.8.2 (see `regtui.lab.registry` for the checked details):
without `n`, `/v2/_catalog` answers 100 names and a `Link` header; `n` is capped at 1000.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from regtui.registry import mediatypes as mt
from regtui.registry.push import delete_manifest, push_blob, push_manifest, sha256_digest

CREATED = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
SPDX = "application/spdx+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CONCURRENCY = 8

# Repository names the lab's own tests and the demo look at.
APP = "app"
RELEASES = "team-a/releases"
MULTIARCH = "multiarch"
HOSTILE = "hostile"
GONE = "gone"
NESTED = "a.b/c-d/e_f/g"
BASE = "library/base"


@dataclass(frozen=True)
class DatasetShape:
    """How big a data set is: total repositories and tags in the many-tags repository."""

    repositories: int
    tags: int


DATASETS = {
    "minimal": DatasetShape(repositories=9, tags=12),
    "default": DatasetShape(repositories=120, tags=300),
    "large": DatasetShape(repositories=600, tags=5000),
}


@dataclass
class SeedResult:
    """What was seeded, for the lab's own tests and the demo (not for other tests)."""

    dataset: str
    repositories: set[str] = field(default_factory=set)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    untagged: dict[str, list[str]] = field(default_factory=dict)
    null_tags_repository: str = GONE
    shared_digest_tags: tuple[str, str, str] = (APP, "1.2.3", "stable")
    untagged_image: str = ""
    """An image manifest in `APP` pushed by digest only (the SBOM referrer is untagged too)."""

    def record(self, repo: str, tag: str | None, digest: str) -> None:
        self.repositories.add(repo)
        if tag is None:
            self.untagged.setdefault(repo, []).append(digest)
        else:
            self.tags.setdefault(repo, {})[tag] = digest


def canonical(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, ASCII escapes for control chars."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=4096)
def blob_bytes(label: str, size: int) -> bytes:
    """`size` pseudo-random bytes that depend only on `label` (a sha256 counter stream)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data), **extra}


@dataclass(frozen=True)
class ImageSpec:
    """One image to build: its layers by (label, size), platform, time and config text."""

    layers: tuple[tuple[str, int], ...]
    created: datetime = CREATED
    oci: bool = True
    arch: str = "amd64"
    variant: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    history: tuple[str, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


def image_config(spec: ImageSpec) -> bytes:
    """A real-looking OCI/Docker image config with diff_ids matching the layers."""
    commands = spec.history or tuple(f"COPY layer-{i} /" for i in range(len(spec.layers)))
    history: list[dict[str, Any]] = [
        {"created": timestamp(spec.created - timedelta(minutes=len(commands) - i)), "created_by": c}
        for i, c in enumerate(commands)
    ]
    history.append(
        {"created": timestamp(spec.created), "created_by": 'CMD ["serve"]', "empty_layer": True}
    )
    config: dict[str, Any] = {
        "created": timestamp(spec.created),
        "architecture": spec.arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_ENV=lab"],
            "Entrypoint": ["/usr/local/bin/app"],
            "Cmd": ["serve"],
            "Labels": dict(spec.labels),
            "User": "app",
            "WorkingDir": "/srv",
        },
        "rootfs": {"type": "layers", "diff_ids": [_diff_id(lbl, n) for lbl, n in spec.layers]},
        "history": history,
    }
    if spec.variant:
        config["variant"] = spec.variant
    return canonical(config)


@functools.lru_cache(maxsize=4096)
def _diff_id(label: str, size: int) -> str:
    return sha256_digest(b"uncompressed:" + blob_bytes(label, size))


def image_manifest(spec: ImageSpec, config: bytes) -> tuple[bytes, str]:
    """A schema2 or OCI image manifest body and its media type."""
    media, config_type, layer_type = (
        (mt.OCI_MANIFEST, mt.OCI_CONFIG, mt.OCI_LAYER_TAR_GZIP)
        if spec.oci
        else (mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG, mt.DOCKER_LAYER)
    )
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media,
        "config": descriptor(config_type, config),
        "layers": [descriptor(layer_type, blob_bytes(lbl, n)) for lbl, n in spec.layers],
    }
    if spec.annotations and spec.oci:
        manifest["annotations"] = dict(spec.annotations)
    return canonical(manifest), media


@dataclass(frozen=True)
class Pushed:
    """A manifest that is now in the registry."""

    digest: str
    media_type: str
    size: int


class Seeder:
    """Pushes images with bounded concurrency, mounting blobs another repository has."""

    def __init__(self, client: httpx.AsyncClient, base: str, result: SeedResult) -> None:
        self.client = client
        self.base = base
        self.result = result
        self.limit = asyncio.Semaphore(CONCURRENCY)
        self.homes: dict[str, str] = {}
        self.pushing: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def blob(self, repo: str, data: bytes) -> None:
        """Push once per repository; images sharing a blob all wait for the one upload."""
        key = (repo, sha256_digest(data))
        task = self.pushing.get(key)
        if task is None:
            task = asyncio.ensure_future(self._upload(repo, key[1], data))
            self.pushing[key] = task
        await task

    async def _upload(self, repo: str, digest: str, data: bytes) -> None:
        """The registry starts empty, so skip the HEAD probe; mount when a home is known."""
        home = self.homes.get(digest)
        async with self.limit:
            await push_blob(
                self.client, self.base, repo, data, mount_from=home, assume_missing=True
            )
        self.homes.setdefault(digest, repo)

    async def manifest(
        self, repo: str, reference: str | None, body: bytes, media_type: str
    ) -> Pushed:
        ref = reference or sha256_digest(body)
        async with self.limit:
            digest = await push_manifest(self.client, self.base, repo, ref, body, media_type)
        self.result.record(repo, reference, digest)
        return Pushed(digest, media_type, len(body))

    async def image(self, repo: str, tags: Iterable[str | None], spec: ImageSpec) -> Pushed:
        """Push the blobs, then the manifest under every tag (None: by digest only)."""
        config = image_config(spec)
        blobs = [config, *(blob_bytes(lbl, n) for lbl, n in spec.layers)]
        await asyncio.gather(*(self.blob(repo, b) for b in blobs))
        body, media = image_manifest(spec, config)
        pushed = [await self.manifest(repo, tag, body, media) for tag in tags]
        return pushed[0]

    async def delete(self, repo: str, digest: str) -> None:
        async with self.limit:
            await delete_manifest(self.client, self.base, repo, digest)
        tags = self.result.tags.get(repo, {})
        for tag in [t for t, d in tags.items() if d == digest]:
            del tags[tag]


BASE_LAYER = ("base-os", 48 * 1024)


def simple(name: str, index: int, oci: bool = True, **kw: Any) -> ImageSpec:
    """A two-layer image on the shared base layer, sized and dated by its index."""
    size = 512 + (index * 7919) % 65536
    return ImageSpec(
        layers=(BASE_LAYER, (f"{name}:{index}", size)),
        created=CREATED + timedelta(hours=index, minutes=(index * 37) % 60),
        oci=oci,
        labels=(
            ("org.opencontainers.image.title", name),
            ("org.opencontainers.image.version", str(index)),
        ),
        **kw,
    )


POOL = 40


def pool_layer(k: int) -> tuple[str, int]:
    """One of a few shared layers, so big data sets cost a mount, not an upload, per layer."""
    k %= POOL
    return (f"pool:{k}", 512 + (k * 7919) % 65536)


def pooled(name: str, index: int, oci: bool = True) -> ImageSpec:
    """An image of one or two pooled layers on the base: varied sizes, few distinct blobs."""
    extra = (pool_layer(index * 7 + 3),) if index % 4 else ()
    spec = simple(name, index, oci)
    return ImageSpec(
        layers=(BASE_LAYER, pool_layer(index), *extra),
        created=spec.created,
        oci=oci,
        labels=spec.labels,
    )


def version_tags(count: int) -> list[str]:
    """`1.0.0`, `1.0.1`, ... `3.9.9` for 300: version-like names in push order."""
    return [f"{1 + i // 100}.{(i // 10) % 10}.{i % 10}" for i in range(count)]


async def seed_releases(seeder: Seeder, count: int) -> None:
    """One repository with hundreds (or thousands) of tags of varied size and age, + latest."""
    names = version_tags(count)

    async def one(i: int, tag: str) -> None:
        tags: list[str | None] = [tag, "latest"] if i == count - 1 else [tag]
        await seeder.image(RELEASES, tags, pooled(RELEASES, i, oci=i % 3 != 0))

    await gather_all(one(i, tag) for i, tag in enumerate(names))


async def gather_all(coros: Iterable[Awaitable[None]]) -> None:
    await asyncio.gather(*coros)


async def seed_app(seeder: Seeder) -> None:
    """Shared-digest tags, an older Docker image, an untagged manifest and supplements."""
    image = await seeder.image(APP, ["1.2.3", "stable"], simple(APP, 3))
    await seeder.image(APP, ["1.2.2"], simple(APP, 2, oci=False))
    untagged = await seeder.image(APP, [None], simple(APP, 99))
    seeder.result.untagged_image = untagged.digest
    await seed_signature(seeder, APP, image)
    await seed_attestation(seeder, APP, image)
    await seed_sbom(seeder, APP, image)


def subject_tag(digest: str, suffix: str = "") -> str:
    """`sha256-<hex>[.suffix]`: cosign's and OCI 1.1's tag schema."""
    return digest.replace(":", "-") + (f".{suffix}" if suffix else "")


async def push_artifact(
    seeder: Seeder,
    repo: str,
    tag: str | None,
    config: bytes,
    layers: list[tuple[bytes, dict[str, Any]]],
    extra: dict[str, Any],
) -> Pushed:
    """An OCI manifest whose layers are given as (bytes, descriptor) pairs."""
    await asyncio.gather(*(seeder.blob(repo, b) for b in [config, *(b for b, _ in layers)]))
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": descriptor(extra.pop("configMediaType", mt.OCI_CONFIG), config),
        "layers": [d for _, d in layers],
        **extra,
    }
    return await seeder.manifest(repo, tag, canonical(manifest), mt.OCI_MANIFEST)


async def seed_signature(seeder: Seeder, repo: str, image: Pushed) -> None:
    payload = canonical(
        {
            "critical": {
                "identity": {"docker-reference": f"regtui-lab/{repo}"},
                "image": {"docker-manifest-digest": image.digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    )
    signature = base64.b64encode(blob_bytes(f"sig:{image.digest}", 71)).decode()
    layer = descriptor(
        mt.COSIGN_SIMPLESIGNING, payload, annotations={COSIGN_SIGNATURE_ANNOTATION: signature}
    )
    config = canonical(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(payload)]},
        }
    )
    await push_artifact(
        seeder, repo, subject_tag(image.digest, "sig"), config, [(payload, layer)], {}
    )


async def seed_attestation(seeder: Seeder, repo: str, image: Pushed) -> None:
    statement = canonical(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{"name": f"regtui-lab/{repo}", "digest": {"sha256": image.digest[7:]}}],
            "predicate": {"builder": {"id": "https://example.invalid/lab-builder"}},
        }
    )
    envelope = canonical(
        {
            "payloadType": mt.IN_TOTO,
            "payload": base64.b64encode(statement).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(blob_bytes("att", 71)).decode()}],
        }
    )
    layer = descriptor(
        mt.DSSE_ENVELOPE,
        envelope,
        annotations={"predicateType": "https://slsa.dev/provenance/v0.2"},
    )
    config = canonical(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(envelope)]},
        }
    )
    await push_artifact(
        seeder, repo, subject_tag(image.digest, "att"), config, [(envelope, layer)], {}
    )


async def seed_sbom(seeder: Seeder, repo: str, image: Pushed) -> None:
    """An SBOM referrer (artifactType + subject) and the OCI 1.1 referrers tag index for it."""
    sbom = canonical(
        {
            "spdxVersion": "SPDX-2.3",
            "name": f"regtui-lab/{repo}",
            "SPDXID": "SPDXRef-DOCUMENT",
            "packages": [],
        }
    )
    annotations = {"org.opencontainers.image.created": timestamp(CREATED)}
    subject = {"mediaType": image.media_type, "digest": image.digest, "size": image.size}
    referrer = await push_artifact(
        seeder,
        repo,
        None,
        b"{}",
        [(sbom, descriptor(SPDX, sbom))],
        {
            "configMediaType": mt.OCI_EMPTY,
            "artifactType": SPDX,
            "subject": subject,
            "annotations": annotations,
        },
    )
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": referrer.digest,
                "size": referrer.size,
                "artifactType": SPDX,
                "annotations": annotations,
            }
        ],
    }
    await seeder.manifest(repo, subject_tag(image.digest), canonical(index), mt.OCI_INDEX)


PLATFORMS = (("amd64", ""), ("arm64", "v8"), ("arm", "v7"))


async def seed_multiarch(seeder: Seeder) -> None:
    """An OCI index for three platforms and a Docker manifest list; children share a base."""
    for oci, tag, platforms in ((True, "1.0", PLATFORMS), (False, "docker-list", PLATFORMS[:2])):
        children = []
        for i, (arch, variant) in enumerate(platforms):
            spec = simple(
                MULTIARCH, 200 + i + (0 if oci else 10), oci=oci, arch=arch, variant=variant
            )
            child = await seeder.image(MULTIARCH, [None], spec)
            platform = {"architecture": arch, "os": "linux"}
            if variant:
                platform["variant"] = variant
            children.append(
                {
                    "mediaType": child.media_type,
                    "digest": child.digest,
                    "size": child.size,
                    "platform": platform,
                }
            )
        media = mt.OCI_INDEX if oci else mt.DOCKER_LIST
        body = canonical({"schemaVersion": 2, "mediaType": media, "manifests": children})
        await seeder.manifest(MULTIARCH, tag, body, media)


HOSTILE_TEXT = {
    "markup.bold": "[bold red]x[/]",
    "markup.link": "[link=http://evil]y[/]",
    "ansi.red": "\x1b[31mred\x1b[0m",
    "bell": "ding\x07dong",
    "osc52": "\x1b]52;c;cmVndHVpLWxhYi1wd25lZA==\x07",
    "huge": "A" * 10240,
}


async def seed_hostile(seeder: Seeder) -> None:
    """An image whose labels and history would break a UI that trusts registry text."""
    spec = ImageSpec(
        layers=(BASE_LAYER, ("hostile", 2048)),
        labels=tuple(HOSTILE_TEXT.items()),
        history=("RUN echo [bold red]x[/] \x1b[31m\x07", "COPY \x1b]52;c;ZXZpbA==\x07 /"),
    )
    await seeder.image(HOSTILE, ["latest"], spec)


async def seed_gone(seeder: Seeder) -> None:
    """A repository whose only tag was deleted: 2.8 then answers `"tags": null`."""
    image = await seeder.image(GONE, ["old"], simple(GONE, 1))
    await seeder.delete(GONE, image.digest)


def filler_names(count: int) -> list[str]:
    """Namespaced names (`team-a/`, `team-b/`, `library/`) padding the catalog to size."""
    spaces = ("team-a/svc", "team-b/svc", "library/img")
    return [f"{spaces[i % 3]}-{i:03d}" for i in range(count)]


async def seed_fillers(seeder: Seeder, count: int) -> None:
    async def one(i: int, name: str) -> None:
        await seeder.image(name, ["latest", f"v{i % 5}.0"], pooled(name, i, oci=i % 2 == 0))

    await gather_all(one(i, name) for i, name in enumerate(filler_names(count)))


FIXED_REPOSITORIES = 7  # base, app, releases, multiarch, hostile, gone, nested


async def seed(client: httpx.AsyncClient, base: str, dataset: str = "default") -> SeedResult:
    """Seed `dataset` into the registry at `base` (auth off) and say what was pushed."""
    shape = DATASETS[dataset]
    result = SeedResult(dataset)
    seeder = Seeder(client, base, result)
    await seeder.image(BASE, ["latest"], ImageSpec(layers=(BASE_LAYER,), oci=False))
    fillers = max(shape.repositories - FIXED_REPOSITORIES, 0)
    await asyncio.gather(
        seed_app(seeder),
        seed_releases(seeder, shape.tags),
        seed_multiarch(seeder),
        seed_hostile(seeder),
        seed_gone(seeder),
        seeder.image(NESTED, ["1"], simple(NESTED, 7)),
        seed_fillers(seeder, fillers),
    )
    return result


def run_seed(base: str, dataset: str) -> SeedResult:
    """Synchronous entry: its own event loop in its own thread, so callers may have one."""

    async def main() -> SeedResult:
        limits = httpx.Limits(max_connections=CONCURRENCY * 2)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
            return await seed(client, base, dataset)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="regtui-lab-seed") as pool:
        return pool.submit(asyncio.run, main()).result()
