"""A large registry fixture written straight into distribution's storage layout, in seconds.

Pushing 10,000 tags through the API takes minutes on this machine; writing the files the
registry itself would write takes seconds, and the real `docker-registry` then serves them.
Shape (defaults): 100 repositories x 100 tags; every 20th tag a multi-arch index of two
images (5 %); every 5th tag an alias of the tag before it (shared manifest digest); the second
half of the repositories holds the same images as the first half (digests shared across
repositories). Layers are described, not stored: manifest and config reads never touch them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST,
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.docker.distribution.manifest.v2+json"])


@dataclass
class Fixture:
    """What was written: tags per repository and the minimum cold request list."""

    root: Path
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    """config digest -> first repository holding it (one GET each, deduped by digest)."""
    children: dict[str, str] = field(default_factory=dict)
    """index child digest -> first repository holding it."""
    needs: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    """(repository, tag) -> what else a cold read of it needs: ("manifests"|"blobs", digest)."""

    @property
    def tag_count(self) -> int:
        return sum(len(t) for t in self.tags.values())

    def minimum_requests(self, repositories: list[str] | None = None) -> list[tuple[str, str]]:
        """(method, path) of a cold walk of `repositories` (default all) that sends nothing
        twice: the capacity mix."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for repo in repositories if repositories is not None else sorted(self.tags):
            for tag in self.tags[repo]:
                out.append(("GET", f"/v2/{repo}/manifests/{tag}"))
                for kind, digest in self.needs.get((repo, tag), []):
                    if digest not in seen:
                        seen.add(digest)
                        out.append(("GET", f"/v2/{repo}/{kind}/{digest}"))
        return out


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _small(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:6], 16)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class _Writer:
    def __init__(self, root: Path) -> None:
        self.v2 = root / "docker" / "registry" / "v2"
        self.written: set[str] = set()

    def blob(self, data: bytes) -> str:
        digest = _digest(data)
        if digest not in self.written:
            hexpart = digest[7:]
            path = self.v2 / "blobs" / "sha256" / hexpart[:2] / hexpart
            path.mkdir(parents=True, exist_ok=True)
            (path / "data").write_bytes(data)
            self.written.add(digest)
        return digest

    def link(self, path: Path, digest: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "link").write_text(digest)

    def repo(self, name: str) -> Path:
        return self.v2 / "repositories" / name

    def layer_link(self, repo: str, digest: str) -> None:
        self.link(self.repo(repo) / "_layers" / "sha256" / digest[7:], digest)

    def revision(self, repo: str, digest: str) -> None:
        self.link(self.repo(repo) / "_manifests" / "revisions" / "sha256" / digest[7:], digest)

    def tag(self, repo: str, tag: str, digest: str) -> None:
        # Reads need only `current`; the `index/` history matters to deletes, not here.
        self.link(self.repo(repo) / "_manifests" / "tags" / tag / "current", digest)


def _image(writer: _Writer, repo: str, key: str, arch: str) -> tuple[str, int]:
    config = _canonical({
        "architecture": arch, "os": "linux", "created": f"2026-0{1 + _small(key) % 9}-01T00:00:00Z",
        "config": {"Labels": {"key": key}}, "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(f"diff:{key}:{n}".encode()).hexdigest() for n in range(3)]},
    })
    config_digest = writer.blob(config)
    writer.layer_link(repo, config_digest)
    layers = [{"mediaType": OCI_LAYER, "size": 1_000_000 + n * 1000 + len(key),
               "digest": "sha256:" + hashlib.sha256(f"layer:{key}:{n}".encode()).hexdigest()}
              for n in range(3)]
    layers[0]["digest"] = "sha256:" + hashlib.sha256(b"shared-base-layer").hexdigest()
    manifest = _canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": layers,
                           "config": {"mediaType": OCI_CONFIG, "size": len(config),
                                      "digest": config_digest}})
    digest = writer.blob(manifest)
    writer.revision(repo, digest)
    return digest, len(manifest)


def write_fixture(root: Path, *, repositories: int = 100, tags: int = 100) -> Fixture:
    """Write the storage layout under `root`; the registry's rootdirectory is `root`."""
    writer = _Writer(root)
    fixture = Fixture(root)
    half = max(1, repositories // 2)
    for r in range(repositories):
        repo = f"bench/team{r % 10:02d}/app{r:03d}"
        group = r % half  # repositories r and r + half hold the same images
        fixture.tags[repo] = {}
        previous, prev_name = "", ""
        for t in range(tags):
            name = f"v{t // 10}.{t % 10}.0"
            key = f"g{group}-t{t}"
            if t % 20 == 0:
                kids = [_image(writer, repo, f"{key}-{arch}", arch) for arch in ("amd64", "arm64")]
                for child, _ in kids:
                    fixture.children.setdefault(child, repo)
                index = _canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                    {"mediaType": OCI_MANIFEST, "digest": d, "size": s,
                     "platform": {"os": "linux", "architecture": arch}}
                    for (d, s), arch in zip(kids, ("amd64", "arm64"), strict=True)]})
                digest = writer.blob(index)
                writer.revision(repo, digest)
                needs = []
                for child, _ in kids:
                    config = json.loads(_read(writer, child))["config"]["digest"]
                    fixture.configs.setdefault(config, repo)
                    needs += [("manifests", child), ("blobs", config)]
                fixture.needs[(repo, name)] = needs
            elif t % 5 == 1 and previous:
                digest = previous  # an alias: the same manifest under a second tag
                fixture.needs[(repo, name)] = fixture.needs.get((repo, prev_name), [])
            else:
                digest, _ = _image(writer, repo, key, "amd64")
                config = json.loads(_read(writer, digest))["config"]["digest"]
                fixture.configs.setdefault(config, repo)
                fixture.needs[(repo, name)] = [("blobs", config)]
            writer.tag(repo, name, digest)
            fixture.tags[repo][name] = digest
            previous, prev_name = digest, name
    return fixture


def _read(writer: _Writer, digest: str) -> bytes:
    hexpart = digest[7:]
    return (writer.v2 / "blobs" / "sha256" / hexpart[:2] / hexpart / "data").read_bytes()
