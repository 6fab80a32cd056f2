"""Scan report fixtures for tests: the project's own files, wrappers the real tools would write,
and an independent count of what a Trivy report holds (so a test never trusts the parser)."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any, Final

FIXTURES: Final = Path(__file__).parent / "fixtures" / "scans"
LEVELS: Final = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
VULN_PREDICATE: Final = "https://cosign.sigstore.dev/attestation/vuln/v1"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def expected_counts(report: dict[str, Any]) -> dict[str, int]:
    """Trivy's summary rule, written out plainly: every Vulnerabilities entry of an os-pkgs or
    lang-pkgs result counts once; a severity outside the five is unknown."""
    counts: Counter[str] = Counter()
    ids: set[str] = set()
    for result in report.get("Results") or []:
        if result.get("Class") not in ("os-pkgs", "lang-pkgs"):
            continue
        for vuln in result.get("Vulnerabilities") or []:
            level = str(vuln.get("Severity") or "UNKNOWN").upper()
            counts[level.lower() if level in LEVELS else "unknown"] += 1
            counts["fixable"] += 1 if (vuln.get("FixedVersion") or "").strip() else 0
            ids.add(vuln["VulnerabilityID"])
    total = sum(counts[level.lower()] for level in LEVELS)
    return {**{level.lower(): counts[level.lower()] for level in LEVELS},
            "fixable": counts["fixable"], "total": total, "distinct_cves": len(ids)}


def cosign_vuln_predicate(report: dict[str, Any], version: str = "v0.50.1",
                          finished: str = "2026-11-20T08:16:00Z") -> dict[str, Any]:
    """What `trivy image --format cosign-vuln` writes around its JSON report."""
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {"uri": f"pkg:github/aquasecurity/trivy@{version}", "version": version,
                    "db": {"uri": "", "version": ""}, "result": report},
        "metadata": {"scanStartedOn": "2026-11-20T08:15:00Z", "scanFinishedOn": finished},
    }


def dsse_envelope(predicate: dict[str, Any], subject_name: str, subject_digest: str,
                  predicate_type: str = VULN_PREDICATE) -> dict[str, Any]:
    """The envelope `cosign attest --type vuln` stores as a layer of the `.att` manifest."""
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": subject_name,
                     "digest": {"sha256": subject_digest.removeprefix("sha256:")}}],
        "predicate": predicate,
    }
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return {"payloadType": "application/vnd.in-toto+json", "payload": payload,
            "signatures": [{"keyid": "", "sig": base64.b64encode(b"not-a-real-sig").decode()}]}


def synthetic_report(findings: int, *, seed: int = 12, repo_digest: str = "",
                     cve_pool: int = 5000) -> dict[str, Any]:
    """A large Trivy report with the shapes of a real one (two results, every severity)."""
    rng = random.Random(seed)
    per_result: list[list[dict[str, Any]]] = [[], []]
    for number in range(findings):
        level = rng.choice(LEVELS)
        fixed = f"1.{number % 7}.{number % 11}" if rng.random() < 0.6 else ""
        per_result[number % 2].append({
            "VulnerabilityID": f"CVE-20{20 + number % 6}-{rng.randrange(cve_pool):05d}",
            "PkgName": f"pkg-{number % 997}", "InstalledVersion": f"0.{number % 13}.1",
            "FixedVersion": fixed, "Status": "fixed" if fixed else "affected",
            "Severity": level, "Title": f"synthetic finding {number}",
            "CVSS": {"nvd": {"V3Score": round(rng.uniform(0, 10), 1)}},
        })
    return {
        "SchemaVersion": 2, "Trivy": {"Version": "0.50.1"},
        "CreatedAt": "2026-11-20T00:00:00Z", "ArtifactName": "synthetic",
        "ArtifactType": "container_image",
        "Metadata": {"RepoDigests": [repo_digest] if repo_digest else []},
        "Results": [
            {"Target": "synthetic (debian 12)", "Class": "os-pkgs", "Type": "debian",
             "Vulnerabilities": per_result[0]},
            {"Target": "app/requirements.txt", "Class": "lang-pkgs", "Type": "pip",
             "Vulnerabilities": per_result[1]},
        ],
    }
