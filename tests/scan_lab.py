"""Images with vulnerability reports attached every way the real tools attach them, in a real lab.

`seed_scan_lab(base, reports_dir)` pushes a few images into `scans/shop` and attaches:
`cosign-vuln` (trivy referrer put of a cosign vuln predicate), `sarif` (trivy referrer put of
SARIF), `attested` (cosign attest --type vuln, DSSE), `from-dir` and `clean` (Trivy JSON files in
the reports directory, matched by RepoDigests), `multi` (an index whose two children each have a
referrer), `corrupt` (a truncated referrer report) and `unscanned`. It returns, per tag, the
Trivy documents the reports hold, for the tests to count independently.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from regtui.lab.scan_push import SARIF_MEDIA, Subject, cosign_attest_vuln, put_trivy_referrer
from regtui.lab.seed import Seeder, SeedResult, canonical, simple
from regtui.registry import mediatypes as mt
from tests.scan_fixtures import LEVELS, cosign_vuln_predicate, dsse_envelope, load

REPO: Final = "scans/shop"
SARIF_COUNTS: Final = {"critical": 1, "high": 0, "medium": 2, "low": 0, "unknown": 0,
                       "fixable": 2, "total": 3}
"""What tests/fixtures/scans/trivy-alpine.sarif.json holds, counted by hand."""


@dataclass
class ScanLab:
    host: str
    digests: dict[str, str] = field(default_factory=dict)
    documents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """tag -> the Trivy reports attached (two for the index: one per child)."""
    unmatched_file: Path | None = None
    corrupt_file: Path | None = None


def with_digest(document: dict[str, Any], host: str, digest: str) -> dict[str, Any]:
    """The report as Trivy would write it for this image: RepoDigests name it."""
    copied = copy.deepcopy(document)
    copied.setdefault("Metadata", {})["RepoDigests"] = [f"{host}/{REPO}@{digest}"]
    copied["ArtifactName"] = f"{host}/{REPO}"
    return copied


def merged_counts(documents: list[dict[str, Any]]) -> dict[str, int]:
    """An index's counts: each (id, package, version, path) once across its children."""
    seen: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for document in documents:
        for result in document.get("Results") or []:
            if result.get("Class") not in ("os-pkgs", "lang-pkgs"):
                continue
            for vuln in result.get("Vulnerabilities") or []:
                key = (vuln["VulnerabilityID"], vuln.get("PkgName", ""),
                       vuln.get("InstalledVersion", ""), vuln.get("PkgPath", ""))
                seen.setdefault(key, vuln)
    counts = dict.fromkeys((level.lower() for level in LEVELS), 0)
    fixable = 0
    for vuln in seen.values():
        level = str(vuln.get("Severity") or "UNKNOWN").upper()
        counts[level.lower() if level in LEVELS else "unknown"] += 1
        fixable += 1 if (vuln.get("FixedVersion") or "").strip() else 0
    return {**counts, "fixable": fixable, "total": sum(counts.values())}


async def seed_scan_lab(base: str, reports_dir: Path) -> ScanLab:
    host = httpx.URL(base).netloc.decode()
    lab = ScanLab(host)
    reports_dir.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(timeout=30.0) as client:
        seeder = Seeder(client, base, SeedResult("scans"))
        pushed = {}
        for number, tag in enumerate(("cosign-vuln", "sarif", "attested", "from-dir", "clean",
                                      "unscanned", "corrupt"), start=900):
            pushed[tag] = await seeder.image(REPO, [tag], simple(REPO, number))
            lab.digests[tag] = pushed[tag].digest

        def subject(tag: str) -> Subject:
            image = pushed[tag]
            return Subject(image.media_type, image.digest, image.size)

        debian = with_digest(load("trivy-debian.json"), host, lab.digests["cosign-vuln"])
        await put_trivy_referrer(client, base, REPO, subject("cosign-vuln"),
                                 json.dumps(cosign_vuln_predicate(debian)).encode())
        lab.documents["cosign-vuln"] = [debian]

        await put_trivy_referrer(client, base, REPO, subject("sarif"),
                                 json.dumps(load("trivy-alpine.sarif.json")).encode(),
                                 media_type=SARIF_MEDIA, description="SARIF")

        mixed = with_digest(load("trivy-mixed.json"), host, lab.digests["attested"])
        envelope = dsse_envelope(cosign_vuln_predicate(mixed), f"{host}/{REPO}",
                                 lab.digests["attested"])
        await cosign_attest_vuln(client, base, REPO, subject("attested"),
                                 json.dumps(envelope).encode())
        lab.documents["attested"] = [mixed]

        from_dir = with_digest(load("trivy-debian.json"), host, lab.digests["from-dir"])
        from_dir["Results"][0]["Vulnerabilities"] = from_dir["Results"][0]["Vulnerabilities"][2:]
        (reports_dir / "from-dir.json").write_text(json.dumps(from_dir))
        lab.documents["from-dir"] = [from_dir]
        clean = with_digest(load("trivy-no-results.json"), host, lab.digests["clean"])
        (reports_dir / "clean.json").write_text(json.dumps(clean))
        lab.documents["clean"] = [clean]

        truncated = json.dumps(cosign_vuln_predicate(debian)).encode()[:300]
        await put_trivy_referrer(client, base, REPO, subject("corrupt"), truncated)

        children = []
        documents = []
        for offset, (arch, name) in enumerate((("amd64", "trivy-debian.json"),
                                              ("arm64", "trivy-mixed.json"))):
            child = await seeder.image(REPO, [None], simple(REPO, 950 + offset, arch=arch))
            document = with_digest(load(name), host, child.digest)
            await put_trivy_referrer(client, base, REPO,
                                     Subject(child.media_type, child.digest, child.size),
                                     json.dumps(cosign_vuln_predicate(document)).encode())
            documents.append(document)
            children.append({"mediaType": child.media_type, "digest": child.digest,
                             "size": child.size,
                             "platform": {"architecture": arch, "os": "linux"}})
        index = canonical({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                           "manifests": children})
        lab.digests["multi"] = (await seeder.manifest(REPO, "multi", index,
                                                      mt.OCI_INDEX)).digest
        lab.documents["multi"] = documents

    nowhere = with_digest(load("trivy-debian.json"), host, "sha256:" + "9" * 64)
    lab.unmatched_file = reports_dir / "nowhere.json"
    lab.unmatched_file.write_text(json.dumps(nowhere))
    lab.corrupt_file = reports_dir / "corrupt.json"
    lab.corrupt_file.write_text(json.dumps(nowhere)[:200])
    (reports_dir / "sbom.json").write_text('{"bomFormat": "CycloneDX", "specVersion": "1.5"}')
    return lab
