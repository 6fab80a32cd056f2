"""The scan service on the real lab registry: reports attached as the real tools attach them,
a reports directory, and the counts regtui shows checked against an independent count."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from regtui.config import ScanConfig, adhoc_registry, load_config
from regtui.errors import UsageError
from regtui.lab import Lab, start_lab
from regtui.registry.cache import ContentCache
from regtui.registry.factory import open_backend
from regtui.registry.models import TagRecord
from regtui.registry.scan_models import ScanState, Severity, SeverityCounts
from regtui.services.inventory import InventoryService
from regtui.services.scans import ScanService, TagScan, check_cve_id, most_dangerous, widest_cves
from tests.scan_fixtures import expected_counts
from tests.scan_lab import REPO, SARIF_COUNTS, ScanLab, merged_counts, seed_scan_lab

pytestmark = pytest.mark.lab
NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def scan_lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def scan_registry(scan_lab_dir: Path) -> Iterator[tuple[Lab, ScanLab]]:
    with start_lab(auth="none", dataset="minimal", prometheus=False) as lab:
        seeded = asyncio.run(seed_scan_lab(lab.url, scan_lab_dir))
        yield lab, seeded


@pytest.fixture
async def service(scan_registry: tuple[Lab, ScanLab], scan_lab_dir: Path,
                  tmp_path: Path) -> AsyncIterator[ScanService]:
    lab, _ = scan_registry
    registry = adhoc_registry(lab.url)
    backend = open_backend(registry, load_config(None), read_only=True,
                           cache=ContentCache(tmp_path / "cache"))
    inventory = InventoryService(backend)
    yield ScanService(inventory, ScanConfig(reports_dir=scan_lab_dir,
                                            fail_on=(("critical", 1),)), now=NOW)
    await inventory.aclose()


async def records_of(service: ScanService) -> list[TagRecord]:
    return [record async for record in service.inventory.walk()]


def counted(counts: SeverityCounts) -> dict[str, int]:
    return {"critical": counts.critical, "high": counts.high, "medium": counts.medium,
            "low": counts.low, "unknown": counts.unknown, "fixable": counts.fixable,
            "total": counts.total}


def by_tag(scans: list[TagScan]) -> dict[str, TagScan]:
    return {s.record.tag: s for s in scans if s.record.repository == REPO}


def without_distinct(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k != "distinct_cves"}


async def test_every_source_counts_what_its_report_holds(
        service: ScanService, scan_registry: tuple[Lab, ScanLab]) -> None:
    _, seeded = scan_registry
    scans = by_tag(await service.scan_tags(await records_of(service)))
    for tag in ("cosign-vuln", "attested", "from-dir", "clean"):
        assert scans[tag].state is ScanState.SCANNED, (tag, scans[tag].error)
        expected = without_distinct(expected_counts(seeded.documents[tag][0]))
        assert counted(scans[tag].counts) == expected, tag
    assert counted(scans["sarif"].counts) == SARIF_COUNTS
    assert scans["multi"].state is ScanState.SCANNED
    assert counted(scans["multi"].counts) == merged_counts(seeded.documents["multi"])
    assert [label for label, _ in scans["multi"].children] == ["linux/amd64", "linux/arm64"]
    assert scans["cosign-vuln"].report is not None
    assert scans["cosign-vuln"].report.format == "cosign-vuln"
    assert scans["attested"].report is not None
    assert scans["attested"].report.subject_digests == (seeded.digests["attested"],)
    assert scans["unscanned"].state is ScanState.NOT_SCANNED and not scans["unscanned"].error


async def test_bad_reports_get_a_clear_status_and_the_rest_works(
        service: ScanService, scan_registry: tuple[Lab, ScanLab]) -> None:
    _, seeded = scan_registry
    all_scans = await service.scan_tags(await records_of(service))
    scans = by_tag(all_scans)
    assert scans["corrupt"].state is ScanState.ERROR
    assert "not valid JSON (truncated?)" in scans["corrupt"].error
    problems = "\n".join(service.problems)
    assert f"report {seeded.unmatched_file} matches no image" in problems
    assert f"report {seeded.corrupt_file} is not valid JSON" in problems
    assert "sbom.json is a CycloneDX SBOM, not a vulnerability report" in problems
    # The lab's app image has an SLSA provenance attestation and an SBOM: not scanned, no error.
    app = [s for s in all_scans if s.record.repository == "app"]
    assert app and all(s.state is ScanState.NOT_SCANNED and not s.error for s in app)


async def test_cve_search_returns_exactly_the_tags_naming_it(
        service: ScanService, scan_registry: tuple[Lab, ScanLab]) -> None:
    _, seeded = scan_registry
    scans = await service.scan_tags(await records_of(service))
    for cve in ("CVE-2024-3094", "CVE-2023-4911", "CVE-2024-24790"):
        expected = set()
        for tag, documents in seeded.documents.items():
            for document in documents:
                for result in document.get("Results") or []:
                    for vuln in result.get("Vulnerabilities") or []:
                        if vuln["VulnerabilityID"] == cve:
                            expected.add((tag, vuln["PkgName"]))
        hits = await service.search_cve(scans, cve.lower())
        assert {(h.tag, h.package) for h in hits if h.repository == REPO} == expected, cve
        assert all(h.digest == seeded.digests[h.tag] for h in hits)


async def test_fail_on_stale_and_registry_wide_views(
        service: ScanService, scan_registry: tuple[Lab, ScanLab]) -> None:
    _, seeded = scan_registry
    scans = by_tag(await service.scan_tags(await records_of(service)))
    assert scans["cosign-vuln"].failing and not scans["clean"].failing
    assert not scans["cosign-vuln"].stale  # scanned 5 days before NOW
    worst = most_dangerous(scans.values(), 3)
    assert worst[0].counts.critical == max(s.counts.critical for s in scans.values())
    images: dict[str, int] = {}
    for documents in seeded.documents.values():  # one digest per tag here
        ids = {v["VulnerabilityID"] for d in documents for r in d.get("Results") or []
               if r.get("Class") in ("os-pkgs", "lang-pkgs")
               for v in r.get("Vulnerabilities") or []}
        for cve in ids:
            images[cve] = images.get(cve, 0) + 1
    spread = widest_cves(scans.values(), 1)[0]
    assert spread.images == max(images.values()) == images[spread.cve]
    assert spread.severity is Severity.CRITICAL  # CVE-2023-45853, in three images


async def test_reports_directory_is_reread_when_files_change(
        service: ScanService, scan_registry: tuple[Lab, ScanLab], scan_lab_dir: Path) -> None:
    _, seeded = scan_registry
    records = await records_of(service)
    before = by_tag(await service.scan_tags(records))["from-dir"]
    path = scan_lab_dir / "from-dir.json"
    document = json.loads(path.read_text())
    document["Results"][0]["Vulnerabilities"] = document["Results"][0]["Vulnerabilities"][:1]
    try:
        path.write_text(json.dumps(document))
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        after = by_tag(await service.scan_tags(records))["from-dir"]
        assert after.counts.total == 1 != before.counts.total
    finally:
        path.write_text(json.dumps(seeded.documents["from-dir"][0]))


def test_cve_ids_are_checked() -> None:
    assert check_cve_id(" CVE-2024-3094 ") == "CVE-2024-3094"
    for bad in ("", "x" * 101, "CVE-2024-3094; rm -rf /", "not-an-id"):
        with pytest.raises(UsageError):
            check_cve_id(bad)



@pytest.mark.parametrize("given", ["", "  "])
def test_cli_empty_cve_is_refused_not_a_full_listing(
        given: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--cve "$CVE"` with the variable unset must not quietly list every tag's scan."""
    code, out, err = run_cli(["scans", "--registry", "http://127.0.0.1:9", "--cve", given],
                             capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "not a vulnerability id" in err, err


# -- headless ------------------------------------------------------------------------------

FAKE_TRIVY = Path(__file__).parent / "fakes" / "fake-trivy"


def config_file(tmp_path: Path, lab: Lab, reports: Path, *, read_only: bool = False,
                extra: str = "") -> Path:
    path = tmp_path / "regtui.toml"
    path.write_text(
        f"read_only = {'true' if read_only else 'false'}\n"
        f'state_dir = "{tmp_path / "state"}"\ncache_dir = "{tmp_path / "cache"}"\n'
        f'[[registries]]\nname = "lab"\nurl = "{lab.url}"\n'
        f'[registries.scans]\nreports_dir = "{reports}"\n{extra}')
    return path


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from regtui.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_scans_jsonl_and_fail_on(scan_registry: tuple[Lab, ScanLab], scan_lab_dir: Path,
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab, seeded = scan_registry
    config = config_file(tmp_path, lab, scan_lab_dir)
    code, out, err = run_cli(["scans", "--config", str(config), "--repository", REPO], capsys)
    rows = {row["tag"]: row for row in map(json.loads, out.splitlines())}
    assert code == 1  # the corrupt referrer could not be read
    assert "corrupt" in err and "not valid JSON" in err
    counts = expected_counts(seeded.documents["cosign-vuln"][0])
    expected = without_distinct(counts)
    assert {k: rows["cosign-vuln"][k] for k in expected} == expected
    assert rows["cosign-vuln"]["cves"] == counts["distinct_cves"]
    assert rows["unscanned"]["cves"] is None
    assert rows["cosign-vuln"]["status"] == "scanned"
    assert rows["cosign-vuln"]["scanner"] == "Trivy v0.50.1"
    assert rows["unscanned"]["status"] == "not scanned" and rows["unscanned"]["total"] is None
    assert rows["corrupt"]["status"] == "error" and rows["corrupt"]["error"]
    code, _, err = run_cli(["scans", "--config", str(config), "--repository", REPO,
                            "--fail-on", "critical", "--format", "csv"], capsys)
    assert code == 4 and "reach --fail-on critical" in err


def test_cli_cve_search_csv_and_table(scan_registry: tuple[Lab, ScanLab], scan_lab_dir: Path,
                                      tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    lab, _seeded = scan_registry
    config = config_file(tmp_path, lab, scan_lab_dir)
    code, out, _ = run_cli(["scans", "--config", str(config), "--repository", REPO,
                            "--cve", "CVE-2023-4911", "--format", "json"], capsys)
    hits = json.loads(out)
    assert {(h["tag"], h["package"], h["fixed_version"]) for h in hits} == {
        ("cosign-vuln", "libc6", "2.36-9+deb12u3"), ("from-dir", "libc6", "2.36-9+deb12u3"),
        ("multi", "libc6", "2.36-9+deb12u3")}
    assert all(h["severity"] == "HIGH" for h in hits)
    code, out, _ = run_cli(["scans", "--config", str(config), "--repository", REPO,
                            "--format", "table"], capsys)
    assert out.splitlines()[0].split()[:3] == ["REPOSITORY", "TAG", "STATUS"]
    code, _, err = run_cli(["scans", "--config", str(config), "--cve", "x; rm"], capsys)
    assert code == 2 and "not a vulnerability id" in err


def test_cli_scan_is_a_write_action(scan_registry: tuple[Lab, ScanLab], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    lab, _seeded = scan_registry
    reports = tmp_path / "kept"
    extra = f'command = "{sys.executable} {FAKE_TRIVY} {{ref}}"\n'
    config = config_file(tmp_path, lab, reports, read_only=True, extra=extra)
    code, _, err = run_cli(["scan", "--config", str(config), f"{REPO}:unscanned"], capsys)
    assert code == 3 and "read-only" in err
    audit = (tmp_path / "state" / "audit.jsonl").read_text().splitlines()
    assert json.loads(audit[-1])["outcome"] == "refused: read-only"
    assert not reports.exists()

    code, _, err = run_cli(["scan", "--config", str(config), "--write",
                            f"lab/{REPO}:unscanned"], capsys)
    assert code == 0, err
    entry = json.loads((tmp_path / "state" / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["action"] == "scan" and entry["outcome"].startswith("ok: report kept")
    code, out, _ = run_cli(["scans", "--config", str(config), "--repository", REPO], capsys)
    rows = {row["tag"]: row for row in map(json.loads, out.splitlines())}
    assert rows["unscanned"]["status"] == "scanned"
    assert (rows["unscanned"]["critical"], rows["unscanned"]["high"]) == (1, 1)
    assert rows["unscanned"]["fixable"] == 1

    failing = config_file(tmp_path, lab, reports,
                          extra=f'command = "{sys.executable} {FAKE_TRIVY} --fail {{ref}}"\n')
    code, _, err = run_cli(["scan", "--config", str(failing), f"{REPO}:clean"], capsys)
    assert code == 1 and "exited 1: FATAL image scan error" in err
