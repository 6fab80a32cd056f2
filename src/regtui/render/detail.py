"""The tag detail screen as pure data: manifest text, layers, config, platforms, referrers.

Every function returns `Shown` text: whatever a registry put in a field reaches the screen
with its control characters visible (the Config tab once printed `os` raw).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from regtui.registry.models import Descriptor, ImageConfig, Manifest, Referrer, TagRecord
from regtui.render import formats
from regtui.text import Shown, Untrusted, safe_text

MANIFEST_MAX = 200_000
VALUE_MAX = 500


def manifest_text(manifest: Manifest) -> Shown:
    """Pretty JSON of the manifest as the registry sent it; unparseable bodies shown raw."""
    raw = manifest.raw.decode("utf-8", errors="replace")
    try:
        text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        text = raw
    return safe_text(text, MANIFEST_MAX, multiline=True)


def layer_rows(manifest: Manifest) -> list[tuple[Shown, Shown, Shown]]:
    """(digest, size, media type) for the config and each layer."""
    rows = []
    if manifest.config is not None:
        rows.append(_descriptor_row(manifest.config, "config "))
    rows.extend(_descriptor_row(layer, "") for layer in manifest.layers)
    return rows


def _descriptor_row(descriptor: Descriptor, prefix: str) -> tuple[Shown, Shown, Shown]:
    return (
        Shown(prefix + formats.short_digest(descriptor.digest, 19)),
        Shown(formats.size(descriptor.size)),
        safe_text(descriptor.media_type, 80),
    )


def total_size(manifest: Manifest) -> int:
    """Config plus layers: what pulling this image manifest downloads."""
    config = manifest.config.size if manifest.config else 0
    return manifest.size + config + sum(layer.size for layer in manifest.layers)


@dataclass(frozen=True, slots=True)
class PlatformRow:
    platform: Shown
    digest: Shown
    size: Shown


def platform_rows(index: Manifest, sizes: dict[str, int]) -> list[PlatformRow]:
    """One row per child of an index; `sizes` maps child digest to its full image size."""
    rows = []
    for child in index.manifests:
        name = child.platform.text if child.platform else "-"
        size = sizes.get(child.digest)
        rows.append(PlatformRow(safe_text(name, 40), Shown(formats.short_digest(child.digest, 19)),
                                Shown(formats.size(size) if size is not None else "…")))
    return rows


NONE: Final = Shown("-")

NO_PLATFORMS: Final = Shown("single-platform image: no platforms list "
                            "(only an index or manifest list has one)")
EMPTY_INDEX: Final = Shown("empty index: it lists no platforms")
INDEX_LAYERS: Final = Shown("an index has no layers of its own: each platform's image has "
                            "them (see Platforms)")
NO_LAYERS: Final = Shown("no layers: this manifest names no config and no layer blobs")
NO_REFERRERS: Final = Shown("no referrers: no signatures, attestations or SBOMs point at "
                            "this image")


def platforms_note(manifest: Manifest) -> Shown | None:
    """Why the Platforms tab is empty, or None when it has rows: an empty tab says why."""
    if not manifest.is_index:
        return NO_PLATFORMS
    return None if manifest.manifests else EMPTY_INDEX


def layers_note(manifest: Manifest) -> Shown | None:
    """Why the Layers tab is empty, or None when it has rows."""
    if manifest.is_index:
        return INDEX_LAYERS
    return None if layer_rows(manifest) else NO_LAYERS


def referrers_note(referrers: Sequence[Referrer]) -> Shown | None:
    """Why the Referrers tab is empty, or None when it has rows."""
    return None if referrers else NO_REFERRERS


def config_sections(config: ImageConfig) -> list[tuple[str, list[Shown]]]:
    """Titled blocks of plain lines: platform, entrypoint, env, labels, history."""
    command = Untrusted(" ".join([*config.entrypoint, *config.cmd]))
    return [
        ("Platform", [_value(config.platform.text, 120) if config.platform else NONE]),
        ("Entrypoint / Cmd", [_value(command) if command else NONE]),
        ("User / WorkingDir", [_pair(config.user or "-", "  ", config.working_dir or "-")]),
        ("Env", [_value(item) for item in config.env] or [NONE]),
        ("Labels", [_pair(k, "=", v, 80) for k, v in sorted(config.labels.items())] or [NONE]),
        ("History", [_history(entry.created_by, entry.comment, entry.empty_layer)
                     for entry in config.history] or [NONE]),
    ]


def _value(value: Untrusted, limit: int = VALUE_MAX) -> Shown:
    return safe_text(value, limit)


def _pair(first: str, separator: str, second: str, first_limit: int = VALUE_MAX) -> Shown:
    """Two untrusted values side by side, each cut on its own."""
    text = f"{safe_text(first, first_limit)}{separator}{safe_text(second, VALUE_MAX)}"
    return Shown(text, first_limit + len(separator) + VALUE_MAX)


def _history(created_by: Untrusted, comment: Untrusted, empty: bool) -> Shown:
    text = _value(created_by) + (f"  # {_value(comment, 120)}" if comment else "")
    return Shown(("(empty) " if empty else "") + text, VALUE_MAX + 140)


def referrer_rows(referrers: Sequence[Referrer]) -> list[tuple[Shown, ...]]:
    """(kind, artifact type, digest, size, tag) for each referrer."""
    return [
        (Shown(ref.kind.value), safe_text(ref.artifact_type or ref.media_type, 60),
         Shown(formats.short_digest(ref.digest, 19)), Shown(formats.size(ref.size)),
         safe_text(ref.tag or "-", 80))
        for ref in referrers
    ]


def activity_lines(record: TagRecord, now: datetime) -> list[tuple[str, Shown]]:
    """What the registry's tag listing says of the tag's use (Docker Hub): push and pull
    times, exact and as an age, and its active/inactive status."""
    def when(value: datetime | None) -> Shown:
        if value is None:
            return Shown("never (or not recorded)")
        exact = value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        return Shown(f"{exact} ({formats.age(value, now)})", 80)

    return [("Last pushed", when(record.pushed_at)), ("Last pulled", when(record.pulled_at)),
            ("Status", safe_text(record.status, 40) or NONE)]


def pull_references(host: str, repository: Untrusted, tag: Untrusted, digest: str
                    ) -> tuple[str, str]:
    """`docker pull` by tag and by digest, raw: the clipboard checks them, `Shown` shows them."""
    return (f"docker pull {host}/{repository}:{tag}", f"docker pull {host}/{repository}@{digest}")
