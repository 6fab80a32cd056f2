"""Hostile manifest and config bodies: each becomes a one-line ProtocolError, never a crash."""

from __future__ import annotations

import json

import pytest

from regtui.errors import ProtocolError
from regtui.registry.parse import parse_config, parse_manifest, parse_time, schema1_config

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("body", [
    {"schemaVersion": 1, "fsLayers": 5},
    {"schemaVersion": 2, "layers": {"x": 1}},
    {"schemaVersion": 2, "layers": [{"digest": DIGEST, "size": -1}]},
    {"schemaVersion": 2, "layers": [{"digest": "sha256:x/../../../other/manifests/y", "size": 1}]},
    {"schemaVersion": 2, "manifests": [{"digest": 5, "size": 1}]},
    {"schemaVersion": 2, "config": "not an object"},
    {"schemaVersion": 2, "subject": []},
])
def test_malformed_manifests_are_protocol_errors(body: object) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_manifest(json.dumps(body).encode(), digest=DIGEST, content_type="", what="m")
    assert "\n" not in str(info.value)


def test_schema1_with_history_as_object_has_no_config() -> None:
    raw = json.dumps({"schemaVersion": 1, "fsLayers": [], "history": {"0": {}}}).encode()
    manifest = parse_manifest(raw, digest=DIGEST, content_type="", what="m")
    assert manifest.is_schema1
    assert schema1_config(manifest) is None


@pytest.mark.parametrize("body", [
    {"history": {"a": 1}, "config": {"Labels": ["x"]}},
    {"config": {"Env": 5, "Labels": {"k": {"nested": True}}}},
    {"created": 12, "os": ["linux"]},
])
def test_odd_configs_are_tolerated_as_docker_does(body: object) -> None:
    config = parse_config(json.dumps(body).encode(), digest=DIGEST, what="c")
    assert config.digest == DIGEST


def test_non_object_json_is_refused() -> None:
    with pytest.raises(ProtocolError, match="expected a JSON object"):
        parse_config(b"[1, 2]", digest=DIGEST, what="c")


@pytest.mark.parametrize(("text", "year"), [
    ("2024-03-01T12:00:00.123456789Z", 2024), ("2024-03-01T12:00:00Z", 2024),
    ("1970-01-01T00:00:00Z", None), ("yesterday", None), ("", None),
])
def test_parse_time(text: str, year: int | None) -> None:
    parsed = parse_time(text)
    assert (parsed.year if parsed else None) == year
