"""The tag detail screen as pure data: manifest text, layers, config, platforms, referrers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from regtui.registry.models import Descriptor, ImageConfig, Manifest, Referrer
from regtui.render import formats
from regtui.text import safe_text

MANIFEST_MAX = 200_000
VALUE_MAX = 500


def manifest_text(manifest: Manifest) -> str:
    """Pretty JSON of the manifest as the registry sent it; unparseable bodies shown raw."""
    raw = manifest.raw.decode("utf-8", errors="replace")
    try:
        text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        text = raw
    return safe_text(text, MANIFEST_MAX, multiline=True)


def layer_rows(manifest: Manifest) -> list[tuple[str, str, str]]:
    """(digest, size, media type) for the config and each layer."""
    rows = []
    if manifest.config is not None:
        rows.append(_descriptor_row(manifest.config, "config "))
    rows.extend(_descriptor_row(layer, "") for layer in manifest.layers)
    return rows


def _descriptor_row(descriptor: Descriptor, prefix: str) -> tuple[str, str, str]:
    return (
        prefix + formats.short_digest(descriptor.digest, 19),
        formats.size(descriptor.size),
        safe_text(descriptor.media_type, 80),
    )


def total_size(manifest: Manifest) -> int:
    """Config plus layers: what pulling this image manifest downloads."""
    config = manifest.config.size if manifest.config else 0
    return manifest.size + config + sum(layer.size for layer in manifest.layers)


@dataclass(frozen=True, slots=True)
class PlatformRow:
    platform: str
    digest: str
    size: str


def platform_rows(index: Manifest, sizes: dict[str, int]) -> list[PlatformRow]:
    """One row per child of an index; `sizes` maps child digest to its full image size."""
    rows = []
    for child in index.manifests:
        name = str(child.platform) if child.platform else "-"
        size = sizes.get(child.digest)
        rows.append(PlatformRow(safe_text(name, 40), formats.short_digest(child.digest, 19),
                                formats.size(size) if size is not None else "…"))
    return rows


def config_sections(config: ImageConfig) -> list[tuple[str, list[str]]]:
    """Titled blocks of plain lines: entrypoint, env, labels, history."""
    command = [*config.entrypoint, *config.cmd]
    return [
        ("Platform", [str(config.platform) if config.platform else "-"]),
        ("Entrypoint / Cmd", [_value(" ".join(command)) if command else "-"]),
        ("User / WorkingDir", [_value(f"{config.user or '-'}  {config.working_dir or '-'}")]),
        ("Env", [_value(item) for item in config.env] or ["-"]),
        ("Labels", [f"{_value(k, 80)}={_value(v)}" for k, v in sorted(config.labels.items())]
         or ["-"]),
        ("History", [_history(entry.created_by, entry.comment, entry.empty_layer)
                     for entry in config.history] or ["-"]),
    ]


def _value(value: str, limit: int = VALUE_MAX) -> str:
    return safe_text(value, limit)


def _history(created_by: str, comment: str, empty: bool) -> str:
    text = _value(created_by) + (f"  # {_value(comment, 120)}" if comment else "")
    return ("(empty) " if empty else "") + text


def referrer_rows(referrers: Sequence[Referrer]) -> list[tuple[str, str, str, str, str]]:
    """(kind, artifact type, digest, size, tag) for each referrer."""
    return [
        (ref.kind.value, safe_text(ref.artifact_type or ref.media_type, 60),
         formats.short_digest(ref.digest, 19), formats.size(ref.size),
         safe_text(ref.tag or "-", 80))
        for ref in referrers
    ]


def pull_references(host: str, repository: str, tag: str, digest: str) -> tuple[str, str]:
    """`docker pull` by tag and by digest, for copying to the clipboard."""
    return (f"docker pull {host}/{repository}:{tag}", f"docker pull {host}/{repository}@{digest}")
