"""Parse manifest and config bytes into models. Pure functions; the input is untrusted.

Every string taken from the body becomes an `Untrusted` here, once (`_str`, `_str_map`,
`_str_tuple`), so it reaches the screen only through `Shown`.

Anything malformed becomes a `ProtocolError` naming what was wrong; odd but harmless values
(a label that is not a string, a missing field) are tolerated the way docker tolerates them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from regtui.errors import ProtocolError
from regtui.registry import mediatypes as mt
from regtui.registry.cache import is_digest
from regtui.registry.models import (
    Annotations,
    Descriptor,
    HistoryEntry,
    ImageConfig,
    Manifest,
    Platform,
)
from regtui.text import EMPTY, Untrusted, untrusted


def load_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object or raise a one-line ProtocolError naming `what`."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{what}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def _str(value: object) -> Untrusted:
    return untrusted(value) if isinstance(value, str) else EMPTY


def _any_str(value: object) -> Untrusted:
    """A string as it came; any other JSON value as its JSON text (docker shows it so)."""
    return untrusted(value if isinstance(value, str) else json.dumps(value))


def _str_map(value: object) -> Annotations:
    if not isinstance(value, dict):
        return MappingProxyType({})
    return MappingProxyType({untrusted(str(k)): _any_str(v) for k, v in value.items()})


def _str_tuple(value: object) -> tuple[Untrusted, ...]:
    if isinstance(value, str):
        return (untrusted(value),)
    if isinstance(value, list):
        return tuple(_any_str(v) for v in value)
    return ()


def parse_platform(value: object) -> Platform | None:
    if not isinstance(value, dict):
        return None
    os_name, arch = _str(value.get("os")), _str(value.get("architecture"))
    if not os_name and not arch:
        return None
    return Platform(os_name, arch, _str(value.get("variant")))


def parse_descriptor(value: object, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: descriptor is not an object")
    digest, size = value.get("digest"), value.get("size", 0)
    if not isinstance(digest, str) or not is_digest(digest):
        shown = digest[:80] if isinstance(digest, str) else type(digest).__name__
        raise ProtocolError(f"{what}: descriptor has no valid digest ({shown!r})")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ProtocolError(f"{what}: descriptor {digest} has an invalid size {size!r}")
    return Descriptor(
        media_type=_str(value.get("mediaType")),
        digest=digest,
        size=size,
        platform=parse_platform(value.get("platform")),
        annotations=_str_map(value.get("annotations")),
        artifact_type=_str(value.get("artifactType")),
    )


def _descriptors(value: object, what: str) -> tuple[Descriptor, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ProtocolError(f"{what}: expected a list")
    return tuple(parse_descriptor(item, what) for item in value)


def parse_manifest(data: bytes, *, digest: str, content_type: str, what: str) -> Manifest:
    """Parse any manifest kind; the body's own mediaType wins over the Content-Type header."""
    try:
        return _parse_manifest(data, digest, content_type, what)
    except (TypeError, KeyError, AttributeError, ValueError, IndexError) as exc:
        raise ProtocolError(f"{what}: malformed manifest ({type(exc).__name__}: {exc})") from exc


def _parse_manifest(data: bytes, digest: str, content_type: str, what: str) -> Manifest:
    body = load_json_object(data, what)
    media_type = _str(body.get("mediaType")) or untrusted(_guess_media_type(body, content_type))
    if body.get("schemaVersion") == 1 or media_type in mt.SCHEMA1_TYPES:
        return _parse_schema1(body, data, digest, what)
    subject = body.get("subject")
    return Manifest(
        digest=digest,
        media_type=media_type,
        size=len(data),
        raw=data,
        config=parse_descriptor(body["config"], f"{what} config") if "config" in body else None,
        layers=_descriptors(body.get("layers"), f"{what} layers"),
        manifests=_descriptors(body.get("manifests"), f"{what} manifests"),
        subject=parse_descriptor(subject, f"{what} subject") if subject is not None else None,
        artifact_type=_str(body.get("artifactType")),
        annotations=_str_map(body.get("annotations")),
    )


def _guess_media_type(body: dict[str, Any], content_type: str) -> str:
    header = content_type.split(";", 1)[0].strip()
    if header in mt.MANIFEST_TYPES:
        return header
    return mt.OCI_INDEX if "manifests" in body else mt.OCI_MANIFEST


def _parse_schema1(body: dict[str, Any], data: bytes, digest: str, what: str) -> Manifest:
    """Schema1 is shown read-only: layers without sizes, platform from the manifest itself."""
    layers = tuple(
        Descriptor(untrusted(mt.DOCKER_LAYER), _str(item.get("blobSum")), 0)
        for item in body.get("fsLayers") or []
        if isinstance(item, dict)
    )
    return Manifest(
        digest=digest,
        media_type=untrusted(mt.DOCKER_SCHEMA1_SIGNED if "signatures" in body
                             else mt.DOCKER_SCHEMA1),
        size=len(data),
        raw=data,
        layers=layers,
        schema_version=1,
    )


def schema1_config(manifest: Manifest) -> ImageConfig | None:
    """Schema1 carries its config as the first history entry's v1Compatibility JSON."""
    body = load_json_object(manifest.raw, "schema1 manifest")
    history = body.get("history")
    if not isinstance(history, list) or not history or not isinstance(history[0], dict):
        return None
    v1 = history[0].get("v1Compatibility")
    if not isinstance(v1, str):
        return None
    config = parse_config(v1.encode(), digest=manifest.digest, what="schema1 v1Compatibility")
    platform = Platform(_str(body.get("os")) or untrusted("linux"), _str(body.get("architecture")))
    return replace(config, platform=platform)


def api_json(raw: bytes, where: str) -> Any:
    """A vendor API's answer body as JSON, None when it is empty (a 204, say); a body that
    is not JSON is a ProtocolError naming `where`."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ProtocolError(f"{where}: answer is not JSON") from None


def page_objects(data: object, key: str, where: str) -> list[dict[str, Any]]:
    """The objects in a JSON page's `key` list (Hub's `results`, Nexus's `items`), anything
    else in the list skipped; a page without that list is a ProtocolError naming `where`."""
    found = data.get(key) if isinstance(data, dict) else None
    if not isinstance(found, list):
        raise ProtocolError(f"{where}: no {key!r} list")
    return [item for item in found if isinstance(item, dict)]


def parse_time(value: object) -> datetime | None:
    """RFC 3339 with nanoseconds (Go writes 9 digits), always timezone-aware; else None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}" if digits else head + rest[digits:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Reproducible builds write the epoch: kept (retention needs a value), shown as such.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_config(data: bytes, *, digest: str, what: str) -> ImageConfig:
    try:
        return _parse_config(data, digest, what)
    except (TypeError, KeyError, AttributeError, ValueError, IndexError) as exc:
        raise ProtocolError(f"{what}: malformed config ({type(exc).__name__}: {exc})") from exc


def _parse_config(data: bytes, digest: str, what: str) -> ImageConfig:
    body = load_json_object(data, what)
    inner = body.get("config") or body.get("container_config") or {}
    if not isinstance(inner, dict):
        inner = {}
    return ImageConfig(
        digest=digest,
        created=parse_time(body.get("created")),
        platform=parse_platform(body),
        labels=_str_map(inner.get("Labels")),
        env=_str_tuple(inner.get("Env")),
        entrypoint=_str_tuple(inner.get("Entrypoint")),
        cmd=_str_tuple(inner.get("Cmd")),
        user=_str(inner.get("User")),
        working_dir=_str(inner.get("WorkingDir")),
        history=_history(body.get("history")),
        created_text=_created_text(body.get("created")),
    )


def _created_text(value: object) -> str:
    """The image's own `created` string, when it parses as a time at all."""
    return value.strip()[:64] if isinstance(value, str) and parse_time(value) else ""


def _history(value: object) -> tuple[HistoryEntry, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        HistoryEntry(
            created=parse_time(item.get("created")),
            created_by=_str(item.get("created_by")),
            comment=_str(item.get("comment")),
            empty_layer=item.get("empty_layer") is True,
        )
        for item in value
        if isinstance(item, dict)
    )
