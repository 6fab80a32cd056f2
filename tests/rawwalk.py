"""An independent, deliberately plain walk of a registry with raw HTTP calls.

Tests compare regtui's inventory against this, record by record. It shares no code with
regtui's backend (only httpx and the standard library), so a bug there cannot hide here.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import httpx

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
IMAGE_CONFIGS = {"application/vnd.oci.image.config.v1+json",
                 "application/vnd.docker.container.image.v1+json"}
SUPPLEMENT = re.compile(r"^sha256-([0-9a-f]{64})(\.(sig|att|sbom))?$")


def paged(client: httpx.Client, path: str, key: str) -> list[str]:
    out: list[str] = []
    url: str | None = f"{path}?n=50"
    while url:
        response = client.get(url)
        response.raise_for_status()
        out.extend(response.json().get(key) or [])
        link = response.headers.get("link")
        url = re.match(r"<([^>]+)>", link).group(1) if link else None  # type: ignore[union-attr]
    return out


def _manifest(client: httpx.Client, repo: str, ref: str) -> tuple[str, bytes, dict[str, Any]]:
    response = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
    response.raise_for_status()
    body = response.content
    return "sha256:" + hashlib.sha256(body).hexdigest(), body, json.loads(body)


def _config(client: httpx.Client, repo: str, digest: str) -> dict[str, Any]:
    response = client.get(f"/v2/{repo}/blobs/{digest}", follow_redirects=True)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _platform(value: dict[str, Any]) -> str:
    text = f"{value.get('os')}/{value.get('architecture')}"
    return f"{text}/{value['variant']}" if value.get("variant") else text


def _walk_manifest(client: httpx.Client, repo: str, digest: str, body: bytes,
                   doc: dict[str, Any], blobs: dict[str, int]) -> tuple[list[str], str | None]:
    """Adds every reachable digest to `blobs`; returns (platforms, newest created)."""
    blobs[digest] = len(body)
    if "manifests" in doc:
        platforms: list[str] = []
        created: list[str] = []
        for child in doc["manifests"]:
            cdigest, cbody, cdoc = _manifest(client, repo, child["digest"])
            cplat, ccreated = _walk_manifest(client, repo, cdigest, cbody, cdoc, blobs)
            declared = child.get("platform")
            if declared and declared.get("os") != "unknown":
                platforms.append(_platform(declared))
            elif not declared:
                platforms.extend(cplat)
            if ccreated:
                created.append(ccreated)
        return list(dict.fromkeys(platforms)), max(created) if created else None
    config = doc.get("config") or {}
    if config:
        blobs[config["digest"]] = config["size"]
    for layer in doc.get("layers") or []:
        blobs[layer["digest"]] = layer["size"]
    if config.get("mediaType") in IMAGE_CONFIGS:
        blob = _config(client, repo, config["digest"])
        has_platform = blob.get("os") or blob.get("architecture")
        return ([_platform(blob)] if has_platform else []), blob.get("created")
    return [], None


def _kind(tag: str, doc: dict[str, Any]) -> str:
    match = SUPPLEMENT.match(tag)
    if match and match.group(3):
        return {"sig": "signature", "att": "attestation", "sbom": "sbom"}[match.group(3)]
    if "manifests" in doc:
        if match:
            types = {m.get("artifactType", "") for m in doc["manifests"]}
            return "sbom" if all("spdx" in t or "cyclonedx" in t for t in types) else "artifact"
        return "index"
    if (doc.get("config") or {}).get("mediaType") in IMAGE_CONFIGS and not doc.get("artifactType"):
        return "image"
    artifact = doc.get("artifactType", "")
    if "spdx" in artifact or "cyclonedx" in artifact:
        return "sbom"
    return "artifact"


def raw_inventory(url: str,
                  auth: httpx.Auth | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(repository, tag) -> the fields regtui's inventory must report."""
    records: dict[tuple[str, str], dict[str, Any]] = {}
    with httpx.Client(base_url=url, auth=auth, timeout=30) as client:
        for repo in paged(client, "/v2/_catalog", "repositories"):
            for tag in paged(client, f"/v2/{repo}/tags/list", "tags"):
                digest, body, doc = _manifest(client, repo, tag)
                blobs: dict[str, int] = {}
                platforms, created = _walk_manifest(client, repo, digest, body, doc, blobs)
                records[(repo, tag)] = {
                    "digest": digest,
                    "size_bytes": sum(blobs.values()),
                    "platforms": platforms,
                    "created": created,
                    "artifact_kind": _kind(tag, doc),
                    "blobs": blobs,
                }
    return records
