"""Push vulnerability reports into a registry exactly as the real tools do, for the lab and tests.

- `trivy ... -f cosign-vuln | trivy referrer put` (and `-f sarif`): go-containerregistry's
  `mutate.Append(empty.Image, layer)` with the layer's media type as the config media type too,
  the subject's own manifest media type, `subject` = the image, the plugin's annotations, written
  by digest; on a registry without the Referrers API, ggcr then adds the manifest's descriptor
  (artifactType = the config media type) to the `sha256-<hex>` fallback index tag.
- `cosign attest --type vuln`: an OCI manifest tagged `sha256-<hex>.att` whose layers are DSSE
  envelopes with the `predicateType` annotation; a new attestation is appended to the layers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from regtui.errors import NotFoundError
from regtui.registry import mediatypes as mt
from regtui.registry.push import push_blob, push_manifest, sha256_digest

COSIGN_VULN_MEDIA: Final = "application/json"
SARIF_MEDIA: Final = "application/sarif+json"
VULN_PREDICATE: Final = "https://cosign.sigstore.dev/attestation/vuln/v1"
SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"


@dataclass(frozen=True)
class Subject:
    """The image a report is about: its manifest descriptor."""

    media_type: str
    digest: str
    size: int

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _empty_image_config(layer: bytes) -> bytes:
    """ggcr's empty.Image config after appending one (uncompressed) layer."""
    return _json({"architecture": "", "created": "0001-01-01T00:00:00Z", "os": "",
                  "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]},
                  "config": {}, "history": [{"created": "0001-01-01T00:00:00Z"}]})


async def _fetch_index(client: httpx.AsyncClient, base: str, repo: str, tag: str,
                       ) -> dict[str, Any]:
    response = await client.get(f"{base}/v2/{repo}/manifests/{tag}",
                                headers={"Accept": mt.OCI_INDEX})
    if response.status_code == 404:
        return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


async def _has_referrers_api(client: httpx.AsyncClient, base: str, repo: str,
                             digest: str) -> bool:
    response = await client.get(f"{base}/v2/{repo}/referrers/{digest}")
    return response.status_code == 200 and mt.OCI_INDEX in response.headers.get(
        "content-type", "")


async def put_trivy_referrer(client: httpx.AsyncClient, base: str, repo: str, subject: Subject,
                             report: bytes, *, media_type: str = COSIGN_VULN_MEDIA,
                             description: str = "Cosign Vulnerability Data",
                             created: datetime | None = None) -> str:
    """What `trivy referrer put` writes; returns the referrer manifest's digest."""
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = _empty_image_config(report)
    await push_blob(client, base, repo, config)
    await push_blob(client, base, repo, report)
    annotations = {"org.opencontainers.artifact.description": description,
                   "org.opencontainers.artifact.created": stamp, "created-by": "trivy"}
    layer_media = media_type
    manifest_media = subject.media_type
    manifest = {
        "schemaVersion": 2, "mediaType": manifest_media,
        "config": {"mediaType": media_type, "size": len(config),
                   "digest": sha256_digest(config)},
        "layers": [{"mediaType": layer_media, "size": len(report),
                    "digest": sha256_digest(report)}],
        "annotations": annotations, "subject": subject.descriptor(),
    }
    body = _json(manifest)
    digest = await push_manifest(client, base, repo, sha256_digest(body), body, manifest_media)
    if not await _has_referrers_api(client, base, repo, subject.digest):
        fallback = subject.digest.replace(":", "-", 1)
        index = await _fetch_index(client, base, repo, fallback)
        entries = [m for m in index.get("manifests") or [] if m.get("digest") != digest]
        entries.append({"mediaType": manifest_media, "size": len(body), "digest": digest,
                        "artifactType": media_type, "annotations": annotations})
        index["manifests"] = entries
        await push_manifest(client, base, repo, fallback, _json(index), mt.OCI_INDEX)
    return digest


async def cosign_attest_vuln(client: httpx.AsyncClient, base: str, repo: str, subject: Subject,
                             envelope: bytes, *, predicate_type: str = VULN_PREDICATE) -> str:
    """What `cosign attest --type vuln` writes: the envelope appended to the `.att` manifest."""
    tag = subject.digest.replace(":", "-", 1) + ".att"
    layers: list[dict[str, Any]] = []
    response = await client.get(f"{base}/v2/{repo}/manifests/{tag}",
                                headers={"Accept": mt.OCI_MANIFEST})
    if response.status_code == 200:
        layers = list(response.json().get("layers") or [])
    elif response.status_code != 404:
        raise NotFoundError(f"reading {repo}:{tag}: HTTP {response.status_code}")
    await push_blob(client, base, repo, envelope)
    layers.append({"mediaType": mt.DSSE_ENVELOPE, "size": len(envelope),
                   "digest": sha256_digest(envelope),
                   "annotations": {SIGNATURE_ANNOTATION: "", "predicateType": predicate_type}})
    config = _json({"architecture": "", "created": "0001-01-01T00:00:00Z", "os": "",
                    "rootfs": {"type": "layers",
                               "diff_ids": [layer["digest"] for layer in layers]},
                    "config": {}})
    await push_blob(client, base, repo, config)
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                "config": {"mediaType": mt.OCI_CONFIG, "size": len(config),
                           "digest": sha256_digest(config)},
                "layers": layers}
    return await push_manifest(client, base, repo, tag, _json(manifest), mt.OCI_MANIFEST)
