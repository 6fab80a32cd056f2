"""Harbor's scan API through the scans service, against the schema-checked Harbor double.

Overviews come from the artifact list (with X-Accept-Vulnerabilities naming both report MIME
types), full reports from the vulnerabilities addition, CVE search from Security Hub on Harbor
>= 2.9 and from the full reports before, allowlisted CVEs are marked, and a triggered scan
shows as running until it ends. Every answer the double sends is checked against the swagger.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from regtui.config import RegistryConfig
from regtui.errors import ReadOnlyError, RegistryError
from regtui.lab import Lab, start_lab
from regtui.registry.harbor import SCAN_MIME_TYPES
from regtui.registry.harbor_scans import HarborScans
from regtui.registry.scan_models import ScanState, Severity
from regtui.render.scans import overview_text
from regtui.services.audit import AuditLog
from regtui.services.inventory import InventoryService
from regtui.services.operations import OperationsService
from regtui.services.scans import ScanProgress, ScanService, ScanUnfinished, ScanWait, TagScan
from tests.doubles.harbor_double import PASSWORD, SCAN_MIMES, USERNAME, HarborDouble
from tests.test_harbor import backend_for

pytestmark = pytest.mark.lab

LEVELS = ("Critical", "High", "Medium", "Low", "Unknown")


def vulns(seed: int, count: int, shared: str = "CVE-2024-3094") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{
        "id": shared, "package": "liblzma5", "version": "5.6.0", "fix_version": "5.6.1",
        "severity": "Critical", "description": "xz backdoor", "links": ["https://x/1"],
        "preferred_cvss": {"score_v3": 10.0}}]
    for number in range(count):
        rows.append({"id": f"CVE-2023-{seed * 100 + number:05d}", "package": f"pkg{number % 3}",
                     "version": "1.0", "fix_version": "1.1" if number % 2 else "",
                     "severity": LEVELS[(seed + number) % 5]})
    return rows


@pytest.fixture(scope="module")
def harbor_scan_lab() -> Iterator[Lab]:
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        yield started


def digest_of(lab: Lab, repo: str, tag: str) -> str:
    response = httpx.head(f"{lab.url}/v2/{repo}/manifests/{tag}", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json"})
    return response.headers["docker-content-digest"]


@pytest.fixture
def reports(harbor_scan_lab: Lab) -> dict[str, list[dict[str, Any]]]:
    return {digest_of(harbor_scan_lab, "app", "stable"): vulns(1, 9),
            digest_of(harbor_scan_lab, "app", "1.2.2"): vulns(2, 4)}


def make_double(lab: Lab, reports: dict[str, list[dict[str, Any]]],
                version: str = "v2.15.2-080b0220") -> HarborDouble:
    return HarborDouble(lab.url, reports=reports, version=version,
                        system_allowlist=("CVE-2023-00101",),
                        project_allowlists={"lab": ("CVE-2024-3094",)})


@pytest.fixture
def harbor(harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]]
           ) -> Iterator[HarborDouble]:
    with make_double(harbor_scan_lab, reports) as double:
        yield double
        assert double.violations == [], "the double sent answers outside Harbor's spec"


def expected(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {**{level.lower(): sum(1 for r in rows if r["severity"] == level) for level in LEVELS},
            "fixable": sum(1 for r in rows if r.get("fix_version"))}


def counted(scan: TagScan) -> dict[str, int]:
    c = scan.counts
    return {"critical": c.critical, "high": c.high, "medium": c.medium, "low": c.low,
            "unknown": c.unknown, "fixable": c.fixable}


async def scans_of(double: HarborDouble, tmp_path: Path) -> tuple[ScanService, list[TagScan]]:
    inventory = InventoryService(backend_for(double, tmp_path), flavor="harbor")
    service = ScanService(inventory, use_referrers=False)
    records = [r async for r in inventory.walk(["lab/app", "library/base"])]
    return service, await service.scan_tags(records)


async def test_overviews_count_what_the_reports_hold(
        harbor: HarborDouble, reports: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    service, scans = await scans_of(harbor, tmp_path)
    try:
        by_digest = {s.record.digest: s for s in scans}
        for digest, rows in reports.items():
            assert by_digest[digest].state is ScanState.SCANNED
            assert counted(by_digest[digest]) == expected(rows)
            report = by_digest[digest].report
            assert report is not None and report.scanner_label == "Trivy v0.50.0"
        others = [s for s in scans if s.record.digest not in reports]
        assert others and all(s.state is ScanState.NOT_SCANNED for s in others)
        assert harbor.scan_accept and set(harbor.scan_accept) == {SCAN_MIME_TYPES}
        # One artifact list per repository, not one call per artifact.
        assert harbor.count("GET", "/api/v2.0/projects/lab/repositories/app/artifacts/") == 0
    finally:
        await service.inventory.aclose()


async def test_full_report_marks_allowlisted_findings(
        harbor: HarborDouble, reports: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    service, scans = await scans_of(harbor, tmp_path)
    try:
        scan = next(s for s in scans if s.record.tag == "stable")
        report = await service.full_report(scan)
        assert report is not None and report.format == "harbor"
        assert len(report.findings) == len(reports[scan.record.digest])
        marked = {f.vulnerability_id for f in report.findings if f.allowlisted}
        assert marked == {"CVE-2024-3094"}  # the project's own list; it does not reuse system's
        xz = next(f for f in report.findings if f.vulnerability_id == "CVE-2024-3094")
        assert (xz.cvss_score, xz.fixable, xz.references) == (10.0, True, ("https://x/1",))
    finally:
        await service.inventory.aclose()


@pytest.mark.parametrize("version", ["v2.15.2-080b0220", "v2.8.4"])
async def test_cve_search_security_hub_or_full_reports(
        harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]], tmp_path: Path,
        version: str) -> None:
    with make_double(harbor_scan_lab, reports, version) as double:
        service, scans = await scans_of(double, tmp_path)
        try:
            hits = await service.search_cve(scans, "CVE-2024-3094")
            tags = {s.record.tag for s in scans if s.record.digest in reports}
            assert {h.tag for h in hits} == tags
            assert all(h.package == "liblzma5" and h.severity is Severity.CRITICAL
                       and h.fixable and h.allowlisted for h in hits)
            hub = double.count("GET", "/api/v2.0/security/vul")
            assert hub == (1 if version.startswith("v2.15") else 0)
            assert not await service.search_cve(scans, "CVE-1999-0001")
        finally:
            await service.inventory.aclose()
        assert double.violations == []


async def test_security_summary_and_mime_negotiation(harbor: HarborDouble,
                                                     reports: dict[str, list[dict[str, Any]]],
                                                     tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path)
    try:
        summary = await HarborScans(backend).summary()
        rows = [r for found in reports.values() for r in found]
        counts = summary.counts
        assert counts.total == len(rows)
        assert (counts.critical, counts.fixable) == (expected(rows)["critical"],
                                                     expected(rows)["fixable"])
        assert summary.scanned == len(reports) and summary.artifacts >= len(reports)
        assert {a.digest: (a.counts.critical, a.counts.high, a.counts.medium)
                for a in summary.dangerous} == {
            digest: (expected(found)["critical"], expected(found)["high"],
                     expected(found)["medium"]) for digest, found in reports.items()}
        # A client asking for the older MIME type only gets the report keyed by it.
        digest = next(iter(reports))
        response = await backend.client.get(
            f"/api/v2.0/projects/lab/repositories/app/artifacts/{digest}"
            "/additions/vulnerabilities",
            headers={"X-Accept-Vulnerabilities": SCAN_MIMES[1]},
            auth=httpx.BasicAuth("admin", "Harbor12345"))
        assert list(response.json()) == [SCAN_MIMES[1]]
    finally:
        await backend.aclose()


@pytest.mark.parametrize("version,hub", [("v2.15.2-080b0220", True), ("v2.8.4", False),
                                         ("v2.15.2-080b0220", False)])
async def test_registry_wide_views_from_security_hub_without_a_call_per_artifact(
        harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]], tmp_path: Path,
        version: str, hub: bool) -> None:
    """Harbor >= 2.9 with the capability: totals, worst images and widest CVEs from the
    summary and two /security/vul queries; older Harbor, or the capability off: from the
    reports read, and never a report fetched per artifact for it."""
    with make_double(harbor_scan_lab, reports, version) as double:
        service, scans = await scans_of(double, tmp_path)
        if not hub:
            backend = service.inventory.backend
            backend.capabilities = replace(backend.capabilities, has_security_hub=False)
        try:
            before = double.count("GET")
            view = await service.registry_view(scans)
            calls = double.count("GET") - before
        finally:
            await service.inventory.aclose()
        assert double.violations == []
        additions = double.count("GET", "/api/v2.0/projects/lab/repositories/app/artifacts/")
        security = double.count("GET", "/api/v2.0/security/")
    rows = [r for found in reports.values() for r in found]
    assert additions == 0  # no N+1: nothing per artifact
    if version.startswith("v2.15") and hub:
        assert (view.source, security, calls) == ("Security Hub", 3, 4)  # + /systeminfo
        assert view.counts.total == len(rows) and view.scanned == len(reports)
        assert {r.digest for r in view.dangerous} == set(reports)
        tags = {s.record.digest: {s.record.tag for s in scans if s.record.digest == d}
                for d in reports for s in scans if s.record.digest == d}
        assert all(set(r.tags) == tags[r.digest] for r in view.dangerous)
        top = view.widest[0]
        assert (top.cve, top.images, top.severity, top.fixable) == (
            "CVE-2024-3094", 2, Severity.CRITICAL, True)
        assert not view.partial
    else:
        assert view.source == "reports read" and security == 0
        assert view.widest == ()  # overview-only reports name no CVE
        assert view.scanned == len(reports)
        assert view.counts.critical == sum(expected(r)["critical"] for r in reports.values())


async def test_security_hub_rows_are_bounded(harbor: HarborDouble, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("regtui.services.scans.HUB_ROWS", 2)
    service, scans = await scans_of(harbor, tmp_path)
    try:
        view = await service.registry_view(scans)
    finally:
        await service.inventory.aclose()
    assert view.partial and sum(c.images for c in view.widest) <= 2
    assert harbor.count("GET", "/api/v2.0/security/vul") == 1  # the first page was enough
    assert "(from the first 2 critical and high rows)" in overview_text(scans, [], view)


class FakeClock:
    """Time that moves only when the waiting code sleeps: timeouts without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def operations_for(double: HarborDouble, tmp_path: Path, audit: AuditLog, *,
                   read_only: bool = False) -> OperationsService:
    registry = RegistryConfig(name="harbor", url=double.url, flavor="harbor")
    return OperationsService(InventoryService(backend_for(double, tmp_path,
                                                          read_only=read_only),
                                              flavor="harbor"),
                             registry, read_only=read_only, audit=audit)


async def test_scan_trigger_without_waiting_shows_progress_in_the_pane(
        harbor: HarborDouble, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    refused = operations_for(harbor, tmp_path, audit, read_only=True)
    with pytest.raises(ReadOnlyError):
        await refused.scan("lab/app", "1.2.2")
    await refused.inventory.aclose()
    assert harbor.count("POST") == 0

    operations = operations_for(harbor, tmp_path, audit)
    try:
        outcome = await operations.scan("lab/app", "1.2.2", wait=ScanWait(seconds=0))
        assert outcome.startswith("ok: Harbor scan started")
        assert harbor.count("POST", "/api/v2.0/projects/lab/repositories/app/artifacts/") == 1
        states = []
        for _ in range(3):
            service = ScanService(operations.inventory, use_referrers=False)
            records = [r async for r in operations.inventory.walk(["lab/app"])]
            latest = next(s for s in await service.scan_tags(records) if s.record.tag == "1.2.2")
            states.append((latest.state, latest.report.progress if latest.report else None))
        assert states[:2] == [(ScanState.RUNNING, 0), (ScanState.RUNNING, 50)]
        assert states[2][0] is not ScanState.RUNNING
    finally:
        await operations.inventory.aclose()
    outcomes = [(e.action, e.outcome) for e in audit.entries()]
    assert outcomes[0] == ("scan", "refused: read-only")
    assert outcomes[1][0] == "scan" and outcomes[1][1].startswith("ok:")


async def test_scan_waits_until_harbor_says_it_ended(
        harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    stable = digest_of(harbor_scan_lab, "app", "stable")
    audit = AuditLog(tmp_path / "audit.jsonl")
    clock = FakeClock()
    seen: list[ScanProgress] = []
    with HarborDouble(harbor_scan_lab.url, reports={stable: reports[stable]}) as double:
        operations = operations_for(double, tmp_path, audit)
        try:
            outcome = await operations.scan("lab/app", "stable", wait=ScanWait(
                seconds=60, poll_seconds=2, on_progress=seen.append, sleep=clock.sleep,
                clock=clock))
            clean = await operations.scan("lab/app", "1.2.2", wait=ScanWait(
                seconds=60, poll_seconds=2, sleep=clock.sleep, clock=clock))
        finally:
            await operations.inventory.aclose()
        polls = double.count("GET", "/api/v2.0/projects/lab/repositories/app/artifacts/sha")
        assert double.violations == []
    counts = expected(reports[stable])
    assert outcome == (f"ok: scan finished: {counts['critical']}C {counts['high']}H "
                       f"{counts['medium']}M {counts['low']}L {counts['unknown']}U, "
                       f"{counts['fixable']} fixable (Trivy v0.50.0)")
    assert [(p.state, p.percent) for p in seen] == [("running", 0), ("running", 50)]
    assert clean == "ok: scan finished: clean, 0 fixable (Trivy v0.50.0)"
    assert polls == 6 and clock.sleeps == [2.0] * 4  # 3 polls each, 2 sleeps between
    assert [e.outcome for e in audit.entries()] == [outcome, clean]


@pytest.mark.parametrize("ending", ["Error", "hang"])
async def test_a_failed_or_endless_scan_is_said_and_audited(
        harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]], tmp_path: Path,
        ending: str) -> None:
    digest = digest_of(harbor_scan_lab, "app", "stable")
    audit = AuditLog(tmp_path / "audit.jsonl")
    clock = FakeClock()
    with HarborDouble(harbor_scan_lab.url, reports=reports,
                      scan_outcomes={digest: ending}) as double:
        operations = operations_for(double, tmp_path, audit)
        try:
            wanted = RegistryError if ending == "Error" else ScanUnfinished
            with pytest.raises(wanted) as caught:
                await operations.scan("lab/app", "stable", wait=ScanWait(
                    seconds=30, poll_seconds=5, sleep=clock.sleep, clock=clock))
        finally:
            await operations.inventory.aclose()
        assert double.violations == []
    [entry] = audit.entries()
    if ending == "Error":
        assert "ended in an error" in str(caught.value) and clock.now == 10
        assert entry.outcome.startswith("failed: Harbor's scan of lab/app@sha256:")
    else:
        assert "still running at 50% after 30 s" in str(caught.value) and clock.now == 30
        assert entry.outcome.startswith("unfinished: ")


async def test_the_previous_scan_shown_before_harbor_starts_is_not_taken_for_ours(
        harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """Harbor may show the last scan (here a failed one) for a poll or two after the trigger:
    regtui waits until this scan runs and ends, and does not stop at the old result."""
    stable = digest_of(harbor_scan_lab, "app", "stable")
    audit = AuditLog(tmp_path / "audit.jsonl")
    clock = FakeClock()
    seen: list[ScanProgress] = []
    with HarborDouble(harbor_scan_lab.url, reports={stable: reports[stable]},
                      scan_outcomes={stable: "Error"}) as double:
        operations = operations_for(double, tmp_path, audit)
        wait = ScanWait(seconds=60, poll_seconds=2, on_progress=seen.append,
                        sleep=clock.sleep, clock=clock)
        try:
            with pytest.raises(RegistryError, match="ended in an error"):
                await operations.scan("lab/app", "stable", wait=wait)
            double.scan_outcomes.clear()
            double.scan_lag = 2
            seen.clear()
            outcome = await operations.scan("lab/app", "stable", wait=wait)
        finally:
            await operations.inventory.aclose()
        assert double.violations == []
    assert outcome.startswith("ok: scan finished:")
    assert [(p.state, p.percent) for p in seen] == [("started", None), ("running", 0),
                                                    ("running", 50)]
    assert [e.outcome.split(":")[0] for e in audit.entries()] == ["failed", "ok"]


async def test_stopping_while_waiting_is_audited(
        harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """Ctrl-C (a cancelled task) while Harbor scans: the audit says the wait was stopped."""
    stable = digest_of(harbor_scan_lab, "app", "stable")
    audit = AuditLog(tmp_path / "audit.jsonl")
    seen: list[ScanProgress] = []
    with HarborDouble(harbor_scan_lab.url, reports=reports,
                      scan_outcomes={stable: "hang"}) as double:
        operations = operations_for(double, tmp_path, audit)
        task = asyncio.ensure_future(operations.scan("lab/app", "stable", wait=ScanWait(
            seconds=600, poll_seconds=0.05, on_progress=seen.append)))
        try:
            for _ in range(200):
                await asyncio.sleep(0.05)
                if any(p.percent == 50 for p in seen):
                    break
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await operations.inventory.aclose()
        assert double.count("POST") == 1
    [entry] = audit.entries()
    assert entry.outcome == "interrupted: stopped while starting the scan or waiting for it"


def test_cli_scan_waits_and_exits_by_outcome(
        harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from regtui.cli import main

    stable = digest_of(harbor_scan_lab, "app", "stable")
    monkeypatch.setenv("HARBOR_SCAN_PASSWORD", PASSWORD)
    with HarborDouble(harbor_scan_lab.url, reports=reports,
                      scan_outcomes={stable: "hang"}) as double:
        config = tmp_path / "config.toml"
        config.write_text(f'state_dir = "{tmp_path / "state"}"\n'
                          f'[[registries]]\nname = "h"\nurl = "{double.url}"\n'
                          f'flavor = "harbor"\n[registries.auth]\nusername = "{USERNAME}"\n'
                          'password_env = "HARBOR_SCAN_PASSWORD"\n')
        code = main(["scan", "--config", str(config), "--read-only", "lab/app:1.2.2"])
        assert code == 3 and "read-only" in capsys.readouterr().err
        code = main(["scan", "--config", str(config), "--write", "lab/app:1.2.2"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert "running 0%" in err and "running 50%" in err and "ok: scan finished:" in err
        code = main(["scan", "--config", str(config), "--write", "--timeout", "0.3",
                     "lab/app:stable"])
        err = capsys.readouterr().err
        assert code == 1 and "still running at 50% after 0.3 s" in err
        code = main(["scan", "--config", str(config), "--write", "--timeout", "soon",
                     "lab/app:stable"])
        assert code == 2 and "not a number of seconds" in capsys.readouterr().err
        assert double.violations == []
    outcomes = [json.loads(line)["outcome"].split(":")[0] for line in
                (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    assert outcomes == ["refused", "ok", "unfinished"]


def test_security_hub_rows_are_untrusted_and_bounded_where_parsed() -> None:
    """Security Hub's rows and dangerous artifacts are the server's words: every string is
    `Untrusted` from the parser on, and none is kept at whatever length it came."""
    from regtui.registry.harbor_scans import _hub_artifact, _hub_hit
    from regtui.text import Untrusted

    hostile = "\x1b]8;;http://evil\x07" + "A" * 100_000
    hit = _hub_hit({"repository_name": hostile, "digest": hostile, "cve_id": hostile,
                    "package": hostile, "version": hostile, "fixed_version": hostile,
                    "tags": [hostile] * 5000, "severity": "Critical"})
    texts = [hit.repository, hit.digest, hit.cve, hit.package, hit.version,
             hit.fixed_version, *hit.tags]
    assert all(type(text) is Untrusted for text in texts)
    assert max(len(text) for text in texts) <= 300 and len(hit.tags) <= 100
    artifact = _hub_artifact({"repository_name": hostile, "digest": 7})
    assert type(artifact.repository) is Untrusted and len(artifact.repository) <= 300
    assert artifact.digest == "" and type(artifact.digest) is Untrusted


async def test_a_security_hub_cve_search_is_bounded_and_says_so(
        harbor_scan_lab: Lab, reports: dict[str, list[dict[str, Any]]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that answers with more rows than kept: the first ones, and a line saying so."""
    import regtui.services.scans as scans_module

    with make_double(harbor_scan_lab, reports, "v2.15.2-080b0220") as double:
        service, scans = await scans_of(double, tmp_path)
        try:
            every = await service.search_cve(scans, "CVE-2024-3094")
            assert len({h.digest for h in every}) > 1, "the fixture names the CVE twice or more"
            monkeypatch.setattr(scans_module, "CVE_HUB_ROWS", 1)
            service.problems.clear()
            bounded = await service.search_cve(scans, "CVE-2024-3094")
            assert len({h.digest for h in bounded}) == 1
            assert any("only the first 1 " in p and "CVE-2024-3094" in p
                       for p in service.problems), service.problems
        finally:
            await service.inventory.aclose()
        assert double.violations == []
