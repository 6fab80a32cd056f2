"""One table of artifact types: referrers in an index and manifests are named the same way."""

from __future__ import annotations

import json

import pytest

from regtui.registry import mediatypes as mt
from regtui.registry.kinds import KNOWN_ARTIFACT_TYPES, classify_manifest, kind_of_type
from regtui.registry.models import ArtifactKind
from regtui.registry.parse import parse_manifest

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("artifact_type", "kind"), [
    ("application/vnd.dev.cosign.artifact.sig.v1+json", ArtifactKind.SIGNATURE),
    ("application/vnd.dev.sigstore.bundle+json", ArtifactKind.SIGNATURE),
    ("application/vnd.dev.sigstore.bundle.v0.3+json", ArtifactKind.SIGNATURE),
    ("application/vnd.dev.sigstore.bundle.v0.4+json", ArtifactKind.SIGNATURE),
    ("application/vnd.cncf.notary.signature", ArtifactKind.SIGNATURE),
    ("application/vnd.dsse.envelope.v1+json", ArtifactKind.ATTESTATION),
    ("application/vnd.in-toto+json", ArtifactKind.ATTESTATION),
    ("application/sarif+json", ArtifactKind.ATTESTATION),
    ("application/spdx+json", ArtifactKind.SBOM),
    ("application/vnd.cyclonedx+json", ArtifactKind.SBOM),
    ("application/vnd.cyclonedx+json; version=1.6", ArtifactKind.SBOM),
    ("application/vnd.syft+json", ArtifactKind.SBOM),
    ("application/vnd.example.unknown+json", None),
])
def test_artifact_types_by_the_table(artifact_type: str, kind: ArtifactKind | None) -> None:
    assert kind_of_type(artifact_type) is kind


def test_the_table_names_each_type_once_in_lower_case() -> None:
    assert all(key == key.lower().strip() for key in KNOWN_ARTIFACT_TYPES)


def _referrers_index(*artifact_types: str) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": DIGEST, "size": 1, "artifactType": t}
        for t in artifact_types]}).encode()


def test_a_referrers_index_of_cosign_bundles_is_a_signature() -> None:
    """The tag-schema fallback (`sha256-<hex>`) names the index by what it lists."""
    index = parse_manifest(_referrers_index("application/vnd.dev.sigstore.bundle.v0.3+json",
                                            "application/vnd.dev.cosign.artifact.sig.v1+json"),
                           digest=DIGEST, content_type="", what="index")
    assert classify_manifest(index, "sha256-" + "b" * 64) is ArtifactKind.SIGNATURE


def test_an_oci_1_1_cosign_signature_manifest_is_a_signature() -> None:
    body = json.dumps({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": mt.OCI_EMPTY, "digest": DIGEST, "size": 2},
        "layers": [{"mediaType": mt.COSIGN_SIMPLESIGNING, "digest": DIGEST, "size": 3}],
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": DIGEST, "size": 4}}).encode()
    manifest = parse_manifest(body, digest=DIGEST, content_type="", what="m")
    assert classify_manifest(manifest, "some-tag") is ArtifactKind.SIGNATURE
