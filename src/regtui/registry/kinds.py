"""Classify manifests and tags: image, index, signature, attestation, SBOM or other artifact.

Signatures, attestations and SBOMs are found two ways: the OCI 1.1 `subject`/`artifactType`
fields, and the tag schema cosign and older registries use (`sha256-<hex>.sig|.att|.sbom`,
and `sha256-<hex>` for the OCI referrers fallback index).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from regtui.registry import mediatypes as mt
from regtui.registry.models import ArtifactKind, Manifest

SUPPLEMENT_TAG_RE: Final = re.compile(r"^(sha256)-([0-9a-f]{64})(?:\.(sig|att|sbom))?$")
_SUFFIX_KIND: Final = {
    "sig": ArtifactKind.SIGNATURE,
    "att": ArtifactKind.ATTESTATION,
    "sbom": ArtifactKind.SBOM,
}
KNOWN_ARTIFACT_TYPES: Final[Mapping[str, ArtifactKind]] = MappingProxyType({
    # Signatures: cosign (simple signing payloads, OCI 1.1 artifacts), sigstore bundles
    # (cosign --new-bundle-format), Notation.
    mt.COSIGN_SIMPLESIGNING: ArtifactKind.SIGNATURE,
    "application/vnd.dev.cosign.artifact.sig.v1+json": ArtifactKind.SIGNATURE,
    "application/vnd.dev.sigstore.bundle+json": ArtifactKind.SIGNATURE,
    "application/vnd.dev.sigstore.bundle.v0.3+json": ArtifactKind.SIGNATURE,
    mt.NOTARY_SIGNATURE: ArtifactKind.SIGNATURE,
    "application/vnd.cncf.notary.v2.signature": ArtifactKind.SIGNATURE,
    "application/jose+json": ArtifactKind.SIGNATURE,
    "application/cose": ArtifactKind.SIGNATURE,
    # Attestations: in-toto statements and their DSSE envelopes (provenance, cosign attest,
    # BuildKit), and scan reports pushed as referrers (trivy referrer put, SARIF).
    mt.DSSE_ENVELOPE: ArtifactKind.ATTESTATION,
    mt.IN_TOTO: ArtifactKind.ATTESTATION,
    "application/vnd.dev.cosign.artifact.att.v1+json": ArtifactKind.ATTESTATION,
    "application/vnd.in-toto.provenance+dsse": ArtifactKind.ATTESTATION,
    "application/sarif+json": ArtifactKind.ATTESTATION,
    "application/vnd.cosign.vuln.v1+json": ArtifactKind.ATTESTATION,
    "application/vnd.security.vulnerability.report; version=1.1": ArtifactKind.ATTESTATION,
    # SBOMs: SPDX, CycloneDX, Syft, Harbor's.
    "application/spdx+json": ArtifactKind.SBOM,
    "text/spdx": ArtifactKind.SBOM,
    "text/spdx+json": ArtifactKind.SBOM,
    "application/vnd.cyclonedx+json": ArtifactKind.SBOM,
    "application/vnd.cyclonedx+xml": ArtifactKind.SBOM,
    "application/vnd.syft+json": ArtifactKind.SBOM,
    "application/vnd.goharbor.harbor.sbom.v1": ArtifactKind.SBOM,
    "application/vnd.dev.cosign.artifact.sbom.v1+json": ArtifactKind.SBOM,
})
"""Every artifact type regtui names, in one place: referrers, manifests and scans ask here."""
_FAMILIES: Final = (
    ("application/vnd.dev.sigstore.bundle", ArtifactKind.SIGNATURE),
    ("application/vnd.cncf.notary", ArtifactKind.SIGNATURE),
    ("application/vnd.in-toto", ArtifactKind.ATTESTATION),
    ("application/vnd.cyclonedx", ArtifactKind.SBOM),
    ("application/spdx", ArtifactKind.SBOM),
    ("text/spdx", ArtifactKind.SBOM),
)
"""Prefixes of versioned families (`bundle.v0.4+json`, `cyclonedx+json; version=1.6`)."""
_MARKERS: Final = (
    (("signature",), ArtifactKind.SIGNATURE),
    (("attestation", "provenance"), ArtifactKind.ATTESTATION),
    (("spdx", "cyclonedx", "syft", "sbom"), ArtifactKind.SBOM),
)
"""Last resort for types nobody registered: words that say what they are."""


def subject_of_tag(tag: str) -> tuple[str, ArtifactKind | None] | None:
    """`sha256-<hex>.sig` -> (`sha256:<hex>`, SIGNATURE); a bare `sha256-<hex>` -> kind None."""
    match = SUPPLEMENT_TAG_RE.match(tag)
    if match is None:
        return None
    algorithm, hexpart, suffix = match.groups()
    return f"{algorithm}:{hexpart}", _SUFFIX_KIND.get(suffix) if suffix else None


def kind_of_type(*types: str) -> ArtifactKind | None:
    """Kind named by an artifactType or media type: the table, then families, then words."""
    cleaned = [value.strip().lower() for value in types if value]
    for value in cleaned:
        if value in KNOWN_ARTIFACT_TYPES:
            return KNOWN_ARTIFACT_TYPES[value]
    for value in cleaned:
        for prefix, kind in _FAMILIES:
            if value.startswith(prefix):
                return kind
    for words, kind in _MARKERS:
        if any(word in value for value in cleaned for word in words):
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
