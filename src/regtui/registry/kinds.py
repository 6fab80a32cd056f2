"""Classify manifests and tags: image, index, signature, attestation, SBOM or other artifact.

Signatures, attestations and SBOMs are found two ways: the OCI 1.1 `subject`/`artifactType`
fields, and the tag schema cosign and older registries use (`sha256-<hex>.sig|.att|.sbom`,
and `sha256-<hex>` for the OCI referrers fallback index).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from regtui.registry import mediatypes as mt
from regtui.registry.models import ArtifactKind, Manifest

SUPPLEMENT_TAG_RE: Final = re.compile(r"^(sha256)-([0-9a-f]{64})(?:\.(sig|att|sbom))?$")
_SUFFIX_KIND: Final = {
    "sig": ArtifactKind.SIGNATURE,
    "att": ArtifactKind.ATTESTATION,
    "sbom": ArtifactKind.SBOM,
}
_SIGNATURE_MARKERS: Final = (mt.COSIGN_SIMPLESIGNING, mt.NOTARY_SIGNATURE, "signature")
_ATTESTATION_MARKERS: Final = (mt.DSSE_ENVELOPE, "in-toto", "attestation", "provenance")
_SBOM_MARKERS: Final = ("spdx", "cyclonedx", "syft", "sbom")


def subject_of_tag(tag: str) -> tuple[str, ArtifactKind | None] | None:
    """`sha256-<hex>.sig` -> (`sha256:<hex>`, SIGNATURE); a bare `sha256-<hex>` -> kind None."""
    match = SUPPLEMENT_TAG_RE.match(tag)
    if match is None:
        return None
    algorithm, hexpart, suffix = match.groups()
    return f"{algorithm}:{hexpart}", _SUFFIX_KIND.get(suffix) if suffix else None


def kind_of_type(*types: str) -> ArtifactKind | None:
    """Kind named by an artifactType or media type, if it names one."""
    for markers, kind in (
        (_SIGNATURE_MARKERS, ArtifactKind.SIGNATURE),
        (_ATTESTATION_MARKERS, ArtifactKind.ATTESTATION),
        (_SBOM_MARKERS, ArtifactKind.SBOM),
    ):
        if any(marker in value.lower() for value in types for marker in markers):
            return kind
    return None


def classify_manifest(manifest: Manifest, tag: str = "") -> ArtifactKind:
    """What an operator would call this manifest."""
    tagged = subject_of_tag(tag) if tag else None
    if tagged is not None and tagged[1] is not None:
        return tagged[1]
    if manifest.is_index:
        if tagged is not None:
            return _referrers_index_kind(manifest)
        return ArtifactKind.INDEX
    config_type = manifest.config.media_type if manifest.config else ""
    if config_type in mt.IMAGE_CONFIG_TYPES and not manifest.artifact_type:
        return ArtifactKind.IMAGE
    if manifest.is_schema1:
        return ArtifactKind.IMAGE
    named = kind_of_type(manifest.artifact_type, config_type,
                         *(layer.media_type for layer in manifest.layers))
    return named or ArtifactKind.ARTIFACT


def _referrers_index_kind(index: Manifest) -> ArtifactKind:
    """The OCI 1.1 fallback tag points at an index of referrers: name it by what it lists."""
    kinds = set(referrer_kinds(d.artifact_type or d.media_type for d in index.manifests))
    return kinds.pop() if len(kinds) == 1 else ArtifactKind.ARTIFACT


def referrer_kinds(types: Iterable[str]) -> list[ArtifactKind]:
    return [kind_of_type(value) or ArtifactKind.ARTIFACT for value in types]
