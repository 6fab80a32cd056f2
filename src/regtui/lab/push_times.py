"""The seeded lab's push times: each tag's `current/link` mtime set to its image's `created`.

registry:2 keeps a tag's push time only as that file's mtime, which regtui reads where
`[registries.gc] config` names the layout. Seeding writes every link within a second, in
an order that varies run to run; a lab whose tags were "pushed" when they were built (as a
CI pipeline pushes a fresh build) gives the same retention plan on every machine.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SEED_PUSH: datetime = datetime(2024, 3, 2, tzinfo=UTC)
"""The push time of a tag whose image has no `created` (an index, an artifact)."""


def settle_push_times(storage_dir: Path) -> int:
    """Set every tag link's mtime to its image's created time; the number of links set."""
    v2 = storage_dir / "docker" / "registry" / "v2"
    links = sorted((v2 / "repositories").glob("**/_manifests/tags/*/current/link"))
    for link in links:
        when = _created(v2, link.read_text(encoding="ascii").strip()) or SEED_PUSH
        stamp = when.timestamp()
        os.utime(link, (stamp, stamp))
    return len(links)


def _blob(v2: Path, digest: str) -> Any:
    algorithm, _, hexdigest = digest.partition(":")
    path = v2 / "blobs" / algorithm / hexdigest[:2] / hexdigest / "data"
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _created(v2: Path, digest: str) -> datetime | None:
    manifest = _blob(v2, digest)
    config = manifest.get("config") if isinstance(manifest, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        return None
    document = _blob(v2, config["digest"])
    created = document.get("created") if isinstance(document, dict) else None
    try:
        when = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        return None
    if when is None or when.year < 1980:  # a reproducible build's epoch: no mtime that old
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
