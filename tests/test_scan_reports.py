"""Parsing vulnerability reports: Trivy JSON v2, SARIF, cosign vuln, DSSE, Harbor, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from regtui.config import ScanConfig, load_config
from regtui.errors import ConfigError
from regtui.registry.scan_models import ScanState, Severity, SeverityCounts, merge_reports
from regtui.registry.scan_reports import ReportError, parse_report
from regtui.services.scans import Threshold
from tests.scan_fixtures import (
    cosign_vuln_predicate,
    dsse_envelope,
    expected_counts,
    load,
    synthetic_report,
)


def counts_dict(counts: SeverityCounts) -> dict[str, int]:
    return {"critical": counts.critical, "high": counts.high, "medium": counts.medium,
            "low": counts.low, "unknown": counts.unknown, "fixable": counts.fixable,
            "total": counts.total, "distinct_cves": counts.distinct_cves}


def raw(document: object) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize("name", ["trivy-debian.json", "trivy-mixed.json",
                                  "trivy-no-results.json", "trivy-secrets-only.json"])
def test_trivy_counts_match_an_independent_count(name: str) -> None:
    document = load(name)
    report = parse_report(raw(document), name)
    assert counts_dict(report.counts) == expected_counts(document)
    assert report.format == "trivy"
    assert report.state is ScanState.SCANNED


def test_trivy_fields_statuses_and_scores() -> None:
    report = parse_report(raw(load("trivy-debian.json")), "debian")
    assert report.scanner_label == "Trivy 0.50.1"
    assert report.scanned_at == datetime(2026, 11, 20, 8, 15, 42, 123456, tzinfo=UTC)
    assert report.repo_digests == (
        "registry.example:5000/shop/api@sha256:" + "1" * 64,)
    by_package = {f.package: f for f in report.findings}
    xz = by_package["liblzma5"]
    assert (xz.vulnerability_id, xz.severity, xz.fixable, xz.cvss_score) == (
        "CVE-2024-3094", Severity.CRITICAL, True, 10.0)
    assert len(xz.references) == 2
    assert by_package["libc6"].cvss_score == 7.4  # the severity source (redhat) wins
    assert by_package["zlib1g"].cvss_score == 6.8  # only a v2 score
    assert by_package["zlib1g"].status == "will_not_fix" and not by_package["zlib1g"].fixable
    assert {f.status for f in report.findings} >= {"fixed", "affected", "end_of_life",
                                                   "fix_deferred", "will_not_fix"}
    # The same CVE in two packages counts twice, once as a distinct CVE.
    assert report.counts.critical == 3 and report.counts.distinct_cves == 7


def test_trivy_odd_severities_statuses_and_nulls() -> None:
    report = parse_report(raw(load("trivy-mixed.json")), "mixed")
    by_id = {f.vulnerability_id: f for f in report.findings}
    assert by_id["GHSA-qppj-fm5r-hxr3"].severity is Severity.UNKNOWN
    assert by_id["CVE-2023-39325"].severity is Severity.UNKNOWN  # "SEVERE" is not a level
    assert by_id["CVE-2024-0000"].severity is Severity.UNKNOWN  # missing
    assert by_id["CVE-2024-0000"].status == "unknown"  # "bogus_status"
    assert by_id["CVE-2024-24790"].cvss_score == 9.8
    assert report.repo_digests == ()  # RepoDigests: null
    # The secret and the misconfiguration are not vulnerability findings.
    assert len(report.findings) == 4


def test_sarif_severity_from_tags_or_security_severity() -> None:
    report = parse_report(raw(load("trivy-alpine.sarif.json")), "sarif")
    assert report.format == "sarif" and report.scanner_label == "Trivy 0.50.1"
    assert report.scanned_at == datetime(2026, 11, 19, 7, tzinfo=UTC)
    found = sorted((f.vulnerability_id, f.package, f.installed_version, f.fixed_version,
                    f.severity) for f in report.findings)
    assert found == [
        ("CVE-2024-2511", "libcrypto3", "3.1.4-r5", "3.1.4-r6", Severity.MEDIUM),
        ("CVE-2024-2511", "libssl3", "3.1.4-r5", "3.1.4-r6", Severity.MEDIUM),
        # No severity tag and no message fields: 9.1 maps to critical; package from location.
        ("CVE-2024-5535", "libssl3", "3.1.4-r5", "", Severity.CRITICAL),
    ]  # the misconfiguration rule is left out
    assert report.counts.fixable == 2 and report.counts.distinct_cves == 2


def test_cosign_vuln_predicate_and_dsse_envelope() -> None:
    document = load("trivy-debian.json")
    predicate = cosign_vuln_predicate(document, finished="2026-11-20T09:00:00Z")
    report = parse_report(raw(predicate), "predicate")
    assert report.format == "cosign-vuln"
    assert report.scanner_label == "Trivy v0.50.1"
    assert report.scanned_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert counts_dict(report.counts) == expected_counts(document)

    digest = "sha256:" + "ab" * 32
    envelope = dsse_envelope(predicate, "127.0.0.1:5000/shop/api", digest)
    attested = parse_report(raw(envelope), "attestation")
    assert attested.subject_digests == (digest,)
    assert counts_dict(attested.counts) == expected_counts(document)


def test_harbor_vulnerabilities_addition() -> None:
    mime = "application/vnd.security.vulnerability.report; version=1.1"
    addition = {mime: {
        "generated_at": "2026-11-01T10:00:00Z",
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.0"},
        "severity": "High",
        "vulnerabilities": [
            {"id": "CVE-2024-1", "package": "openssl", "version": "3.0", "fix_version": "3.1",
             "severity": "High", "links": ["https://example/1"],
             "preferred_cvss": {"score_v3": 7.5}},
            {"id": "CVE-2024-2", "package": "zlib", "version": "1", "fix_version": "",
             "severity": "Negligible"},
        ]}}
    report = parse_report(raw(addition), "harbor")
    assert report.format == "harbor" and report.scanner_label == "Trivy v0.50.0"
    assert (report.counts.high, report.counts.low, report.counts.fixable) == (1, 1, 1)
    assert report.findings[0].cvss_score == 7.5


def test_index_children_merge_each_finding_once() -> None:
    amd = parse_report(raw(load("trivy-debian.json")), "amd64")
    arm = parse_report(raw(load("trivy-mixed.json")), "arm64")
    merged = merge_reports([amd, amd, arm], "index")
    assert merged is not None
    assert merged.counts.total == amd.counts.total + arm.counts.total


@pytest.mark.parametrize(("data", "says"), [
    (b'{"SchemaVersion": 2, "Results": [{"Class": "os-pkgs", "Vuln', "not valid JSON (truncated?)"),
    (b"\xff\xfe\x00junk", "not UTF-8"),
    (b'{"bomFormat": "CycloneDX", "specVersion": "1.5"}', "CycloneDX SBOM"),
    (b'{"spdxVersion": "SPDX-2.3"}', "SPDX SBOM"),
    (b"[1, 2]", "JSON list"),
    (b'{"SchemaVersion": 1, "Results": []}', "schema version 1"),
    (raw(dsse_envelope({}, "x", "sha256:" + "0" * 64, "https://slsa.dev/provenance/v0.2")),
     "in-toto statement of https://slsa.dev/provenance/v0.2"),
    (b'{"payloadType": "application/vnd.in-toto+json", "payload": "!!"}', "not base64"),
])
def test_bad_reports_say_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_report(data, "tests/bad.json")
    message = str(caught.value)
    assert says in message and "tests/bad.json" in message and "\n" not in message


def test_oversized_report_is_refused_before_parsing() -> None:
    with pytest.raises(ReportError, match="more than the 1000 regtui reads"):
        parse_report(b" " * 1001, "big.json", limit=1000)


def test_untrusted_text_is_kept_bounded() -> None:
    document: dict[str, Any] = load("trivy-debian.json")
    vuln = document["Results"][0]["Vulnerabilities"][0]
    vuln["Description"] = "\x1b[31m" + "A" * 100_000
    vuln["References"] = [f"https://x/{i}" for i in range(1000)]
    report = parse_report(raw(document), "hostile")
    finding = report.findings[0]
    assert len(finding.description) <= 4096 and len(finding.references) == 50


def test_fifty_thousand_findings() -> None:
    document = synthetic_report(50_000)
    report = parse_report(raw(document), "synthetic")
    assert counts_dict(report.counts) == expected_counts(document)


# -- [registries.scans] ----------------------------------------------------------------------

def scans_config(tmp_path: Path, body: str) -> ScanConfig | None:
    path = tmp_path / "c.toml"
    path.write_text(f'[[registries]]\nname = "r"\nurl = "http://127.0.0.1:5000"\n'
                    f"[registries.scans]\n{body}\n")
    return load_config(path, env={}).registries[0].scans


def test_scans_config_fail_on_and_errors(tmp_path: Path) -> None:
    config = scans_config(tmp_path, 'reports_dir = "~/reports"\nfail_on = "high"\n'
                                    'command = "trivy image -f json {ref}"')
    assert config is not None and config.reports_dir == Path("~/reports").expanduser()
    assert config.fail_on == (("critical", 1), ("high", 1))
    counts = scans_config(tmp_path, "fail_on = { critical = 1, medium = 20 }")
    assert counts is not None and counts.fail_on == (("critical", 1), ("medium", 20))
    threshold = Threshold.from_config(counts.fail_on)
    assert threshold.reached(SeverityCounts(medium=20)) and not threshold.reached(
        SeverityCounts(medium=19, high=5))
    for body, says in (('fail_on = "severe"', "expected one of critical"),
                       ('command = "trivy image"', "needs {ref}"),
                       ("fail_on = { urgent = 1 }", "urgent"),
                       ("colour = 1", "colour")):
        with pytest.raises(ConfigError, match=says):
            scans_config(tmp_path, body)
