"""Hostile manifest and config bodies: each becomes a one-line ProtocolError, never a crash."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from regtui.errors import ProtocolError
from regtui.registry.jws import manifest_digest_content
from regtui.registry.parse import (
    parse_config,
    parse_manifest,
    parse_time,
    schema1_config,
)
from regtui.render.formats import age

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
    ("1970-01-01T00:00:00Z", 1970), ("yesterday", None), ("", None),
])
def test_parse_time(text: str, year: int | None) -> None:
    parsed = parse_time(text)
    assert (parsed.year if parsed else None) == year


def test_created_keeps_the_image_s_own_string() -> None:
    """buildah writes nanoseconds: the string is kept, the parsed time only sorts."""
    text = "2026-12-01T16:37:21.290912299Z"
    config = parse_config(json.dumps({"created": text, "os": "linux",
                                      "architecture": "amd64"}).encode(), digest=DIGEST, what="c")
    assert config.created_text == text
    assert config.created is not None and config.created.microsecond == 290912


def test_the_epoch_is_kept_and_shown_as_a_reproducible_build() -> None:
    config = parse_config(b'{"created": "1970-01-01T00:00:00Z"}', digest=DIGEST, what="c")
    assert config.created is not None and config.created.timestamp() == 0
    assert config.created_text == "1970-01-01T00:00:00Z"
    assert age(config.created, datetime(2026, 1, 1, tzinfo=UTC)) == "epoch (reproducible build)"


def _signed_schema1(payload: dict[str, object]) -> bytes:
    """A prettyjws manifest as libtrust writes it: the payload, then the signatures."""
    pretty = json.dumps(payload, indent=3).encode()
    head = pretty[:-2]  # up to the final newline and brace, which become formatTail
    header = {"formatLength": len(head), "formatTail": _b64(pretty[len(head):])}
    signature = {"header": {"alg": "ES256"}, "signature": "c2ln",
                 "protected": _b64(json.dumps(header).encode())}
    return head + b',\n   "signatures": ' + json.dumps([signature]).encode() + b"\n}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_signed_schema1_is_named_by_its_payload() -> None:
    payload = {"schemaVersion": 1, "name": "r", "tag": "1", "architecture": "amd64",
               "fsLayers": [], "history": []}
    signed = _signed_schema1(payload)
    assert json.loads(signed)["signatures"], "still one JSON document"
    content = manifest_digest_content(signed)
    assert content == json.dumps(payload, indent=3).encode()
    assert manifest_digest_content(b'{"schemaVersion": 2}') == b'{"schemaVersion": 2}'
    broken = signed.replace(b'"protected": "', b'"protected": "!!')
    assert manifest_digest_content(broken) == broken, "unreadable JWS: the body as served"
