"""A persistent, content-addressed cache of manifests and config blobs.

Digests are immutable, so anything fetched by digest can be kept forever and re-verified on
read. A second inventory of an unchanged registry then downloads no manifest or config again.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Final

DIGEST_RE: Final = re.compile(r"^(sha256):([0-9a-f]{64})$|^(sha512):([0-9a-f]{128})$")
MAX_CACHED_BYTES: Final = 4 * 1024 * 1024
MEMORY_ENTRIES: Final = 2048


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    """`algorithm:hex` of the bytes, as registries name content."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def is_digest(value: str) -> bool:
    return DIGEST_RE.match(value) is not None


def verify_digest(digest: str, data: bytes) -> bool:
    """True when `data` hashes to `digest` (sha256 or sha512)."""
    if not is_digest(digest):
        return False
    algorithm = digest.split(":", 1)[0]
    return compute_digest(data, algorithm) == digest


class ContentCache:
    """Digest -> bytes, on disk under `root` (or memory only when root is None)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _path(self, digest: str) -> Path:
        assert self.root is not None
        algorithm, hexpart = digest.split(":", 1)
        return self.root / "blobs" / algorithm / hexpart[:2] / hexpart

    def get(self, digest: str) -> bytes | None:
        """The cached bytes, verified; a corrupt entry is dropped and counts as a miss."""
        if not is_digest(digest):
            return None
        data = self._memory.get(digest)
        if data is None and self.root is not None:
            data = self._read_disk(digest)
        if data is None:
            self.misses += 1
            return None
        self._remember(digest, data)
        self.hits += 1
        return data

    def _read_disk(self, digest: str) -> bytes | None:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if verify_digest(digest, data):
            return data
        path.unlink(missing_ok=True)
        return None

    def put(self, digest: str, data: bytes) -> None:
        """Store bytes that hash to `digest`; anything else is silently refused."""
        if len(data) > MAX_CACHED_BYTES or not verify_digest(digest, data):
            return
        self._remember(digest, data)
        if self.root is not None:
            self._write_disk(digest, data)

    def _write_disk(self, digest: str, data: bytes) -> None:
        path = self._path(digest)
        if path.exists():
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except OSError:
            # A cache that cannot be written costs speed, never correctness.
            return

    def _remember(self, digest: str, data: bytes) -> None:
        self._memory[digest] = data
        self._memory.move_to_end(digest)
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)
