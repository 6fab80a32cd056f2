"""Harbor's scan API: overviews in the artifact list, full reports, Security Hub, allowlists.

Kept apart from `harbor.py` (content, quotas, GC) because it is its own surface: the artifact
list with `with_scan_overview=true` gives every artifact's summary of a repository in one paged
call (no N+1), `additions/vulnerabilities` the full report, Security Hub (Harbor >= 2.9) the
registry-wide views and a CVE search, and the CVE allowlists mark findings without hiding them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from regtui.errors import NotFoundError, ProtocolError
from regtui.registry.harbor import SCAN_MIME_TYPES, HarborBackend, repository_path
from regtui.registry.harbor_models import HarborInfo
from regtui.registry.scan_models import ScanReport, ScanState, Severity, SeverityCounts
from regtui.registry.scan_reports import (
    MAX_REPORT_BYTES,
    ReportError,
    parse_document,
    parse_time,
)
from regtui.text import Untrusted, untrusted

ACCEPT: Final = {"X-Accept-Vulnerabilities": SCAN_MIME_TYPES}
RUNNING: Final = frozenset({"pending", "running", "scheduled"})
FAILED: Final = frozenset({"error", "stopped"})
SECURITY_HUB_SINCE: Final = (2, 9)


@dataclass(frozen=True, slots=True)
class HarborArtifact:
    """One artifact of the artifact list: its tags and its last scan, if any."""

    digest: str
    tags: tuple[str, ...]
    scan: ScanReport | None


@dataclass(frozen=True, slots=True)
class HubHit:
    """One row of `/security/vul`: a CVE in a package of an artifact."""

    repository: Untrusted
    digest: Untrusted
    tags: tuple[Untrusted, ...]
    cve: Untrusted
    package: Untrusted
    version: Untrusted
    fixed_version: Untrusted
    severity: Severity
    cvss_score: float | None

    @property
    def vulnerability_id(self) -> str:
        return self.cve

    @property
    def fixable(self) -> bool:
        return bool(self.fixed_version.strip())


@dataclass(frozen=True, slots=True)
class HubArtifact:
    """One of Security Hub's "most dangerous artifacts" (critical, high, medium counts)."""

    repository: Untrusted
    digest: Untrusted
    counts: SeverityCounts


@dataclass(frozen=True, slots=True)
class HubSummary:
    """`/security/summary`: the whole registry's findings, in one call."""

    counts: SeverityCounts
    scanned: int
    artifacts: int
    dangerous: tuple[HubArtifact, ...]


def overview_report(overview: object, origin: str) -> ScanReport | None:
    """`scan_overview` (keyed by report MIME type) as a counts-only report; None if never
    scanned. Pending and Running scans are `running`, Error and Stopped are `error`."""
    if not overview:
        return None
    if not isinstance(overview, dict):
        raise ProtocolError(f"{origin}: scan_overview is not an object")
    summary = next((v for v in overview.values() if isinstance(v, dict)), None)
    if summary is None:
        raise ProtocolError(f"{origin}: scan_overview holds no report summary")
    status = str(summary.get("scan_status", "")).lower()
    state = (ScanState.RUNNING if status in RUNNING else ScanState.ERROR if status in FAILED
             else ScanState.SCANNED)
    numbers = summary.get("summary") or {}
    per = numbers.get("summary") or {} if isinstance(numbers, dict) else {}
    if not isinstance(per, dict) or not all(isinstance(v, int) for v in per.values()):
        raise ProtocolError(f"{origin}: scan_overview severity counts are not numbers")
    counted = [0, 0, 0, 0, 0]
    for name, value in per.items():
        if str(name).lower() != "none":
            counted[Severity.parse(name)] += value
    fixable = numbers.get("fixable") if isinstance(numbers, dict) else 0
    scanner: dict[str, Any] = summary.get("scanner") or {}
    if not isinstance(scanner, dict):
        scanner = {}
    percent = summary.get("complete_percent")
    return ScanReport(
        format="harbor-overview", scanner=str(scanner.get("name", "") or "Harbor")[:100],
        scanner_version=str(scanner.get("version", ""))[:100],
        scanned_at=parse_time(summary.get("end_time")) or parse_time(summary.get("start_time")),
        counts=SeverityCounts(critical=counted[4], high=counted[3], medium=counted[2],
                              low=counted[1], unknown=counted[0],
                              fixable=fixable if isinstance(fixable, int) else 0),
        has_findings=False, origin=origin, state=state,
        progress=percent if isinstance(percent, int) and not isinstance(percent, bool) else None)


class HarborScans:
    """The scan endpoints of one Harbor; every call goes through the backend's API client."""

    def __init__(self, backend: HarborBackend) -> None:
        self.backend = backend
        self._info: HarborInfo | None = None

    async def info(self) -> HarborInfo:
        if self._info is None:
            self._info = await self.backend.system_info()
        return self._info

    async def has_security_hub(self) -> bool:
        return (await self.info()).at_least(*SECURITY_HUB_SINCE)

    async def artifacts(self, repository: str) -> list[HarborArtifact]:
        """Every artifact of a repository with its scan overview, in one paged list."""
        path = f"{repository_path(repository)}/artifacts"
        what = f"artifacts with scan overview of {repository}"
        params = {"with_scan_overview": "true", "with_tag": "true"}
        found: list[HarborArtifact] = []
        async for item in self.backend._pages(path, what, params, extra_headers=ACCEPT):
            digest = item.get("digest")
            if not isinstance(digest, str):
                raise ProtocolError(f"{what} on registry {self.backend.name}: an artifact "
                                    "has no digest")
            tags = tuple(str(t.get("name")) for t in item.get("tags") or []
                         if isinstance(t, dict) and isinstance(t.get("name"), str))
            origin = f"harbor {repository}@{digest}"
            found.append(HarborArtifact(digest, tags,
                                        overview_report(item.get("scan_overview"), origin)))
        return found

    async def report(self, repository: str, digest: str) -> ScanReport | None:
        """The full report (`additions/vulnerabilities`); None when there is none."""
        path = (f"{repository_path(repository)}/artifacts/{quote(digest, safe='')}"
                "/additions/vulnerabilities")
        what = f"vulnerabilities of {repository}@{digest}"
        try:
            _, data = await self.backend._api_json(path, what=what, extra_headers=ACCEPT,
                                                   limit=MAX_REPORT_BYTES)
        except NotFoundError:
            return None
        if not data:
            return None
        try:
            return parse_document(data, f"harbor {repository}@{digest}")
        except ReportError as exc:
            raise ProtocolError(f"{what} on registry {self.backend.name}: {exc}") from None

    async def status(self, repository: str, digest: str) -> ScanReport | None:
        """One artifact's last scan (`GET .../artifacts/{digest}?with_scan_overview=true`):
        what a triggered scan is polled with; None while Harbor has no scan of it."""
        path = f"{repository_path(repository)}/artifacts/{quote(digest, safe='')}"
        what = f"scan status of {repository}@{digest}"
        _, data = await self.backend._api_json(path, what=what, extra_headers=ACCEPT,
                                               params={"with_scan_overview": "true",
                                                       "with_tag": "false"})
        if not isinstance(data, dict):
            raise ProtocolError(f"{what} on registry {self.backend.name}: not an object")
        return overview_report(data.get("scan_overview"), f"harbor {repository}@{digest}")

    async def trigger(self, repository: str, reference: str) -> None:
        """`POST .../scan`: Harbor answers 202 and the overview's status says the rest."""
        path = f"{repository_path(repository)}/artifacts/{quote(reference, safe='')}/scan"
        await self.backend._api("POST", path, what=f"starting a scan of {repository}@{reference}",
                                json_body={"scan_type": "vulnerability"}, ok_statuses=(202,))

    async def allowlist(self, project: str | None = None) -> frozenset[str]:
        """CVE ids allowlisted system-wide, or for one project (which may reuse the system's)."""
        if project is None:
            _, data = await self.backend._api_json("/system/CVEAllowlist",
                                                   what="Harbor system CVE allowlist")
            return _allowlist_ids(data)
        _, data = await self.backend._api_json(f"/projects/{quote(project, safe='')}",
                                               what=f"Harbor project {project}")
        if not isinstance(data, dict):
            raise ProtocolError(f"Harbor project {project} on registry {self.backend.name}: "
                                "not an object")
        metadata: dict[str, Any] = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            metadata = {}
        own = _allowlist_ids(data.get("cve_allowlist"))
        if str(metadata.get("reuse_sys_cve_allowlist", "true")).lower() == "true":
            return own | await self.allowlist()
        return own

    async def summary(self) -> HubSummary:
        """`/security/summary` with the dangerous artifacts (Harbor >= 2.9)."""
        params = {"with_dangerous_cve": "false", "with_dangerous_artifact": "true"}
        what = "Harbor security summary"
        _, data = await self.backend._api_json("/security/summary", what=what, params=params)
        if not isinstance(data, dict):
            raise ProtocolError(f"{what} on {self.backend.name}: not an object")
        dangerous = [_hub_artifact(item) for item in data.get("dangerous_artifacts") or []
                     if isinstance(item, dict)]
        return HubSummary(
            counts=SeverityCounts(critical=_count(data, "critical_cnt"),
                                  high=_count(data, "high_cnt"),
                                  medium=_count(data, "medium_cnt"),
                                  low=_count(data, "low_cnt"),
                                  unknown=_count(data, "unknown_cnt"),
                                  fixable=_count(data, "fixable_cnt")),
            scanned=_count(data, "scanned_cnt"), artifacts=_count(data, "total_artifact"),
            dangerous=tuple(dangerous))

    async def vulnerabilities(self, query: str, limit: int) -> tuple[list[HubHit], bool]:
        """`/security/vul?q=...`, at most `limit` rows; True when more were left unread."""
        rows: list[HubHit] = []
        async for item in self.backend._pages("/security/vul", f"Harbor vulnerabilities "
                                              f"{query}", {"q": query}):
            if len(rows) >= limit:  # the page read so far is all that was fetched
                return rows, True
            rows.append(_hub_hit(item))
        return rows, False

    async def search_cve(self, cve: str, limit: int) -> tuple[list[HubHit], bool]:
        """`/security/vul?q=cve_id=...`: the artifacts with the CVE, at most `limit` rows
        (a server's answer is bounded like any other); True when more were left unread."""
        params = {"q": f"cve_id={cve}", "with_tag": "true"}
        hits: list[HubHit] = []
        async for item in self.backend._pages("/security/vul", f"Harbor CVE search {cve}",
                                              params):
            if len(hits) >= limit:
                return hits, True
            hits.append(_hub_hit(item))
        return hits, False


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text(item: Mapping[str, Any], key: str, limit: int) -> Untrusted:
    """A Security Hub row's string, marked untrusted where it is parsed and bounded: up to
    HUB_ROWS rows are kept, and nothing from the server is kept at any length."""
    value = item.get(key)
    return untrusted(value[:limit] if isinstance(value, str) else "")


def _hub_artifact(item: Mapping[str, Any]) -> HubArtifact:
    return HubArtifact(_text(item, "repository_name", 300), _text(item, "digest", 100),
                       SeverityCounts(critical=_count(item, "critical_cnt"),
                                      high=_count(item, "high_cnt"),
                                      medium=_count(item, "medium_cnt")))


def _allowlist_ids(data: object) -> frozenset[str]:
    if not isinstance(data, dict):
        return frozenset()
    return frozenset(str(item.get("cve_id")) for item in data.get("items") or []
                     if isinstance(item, dict) and isinstance(item.get("cve_id"), str))


def _hub_hit(item: Mapping[str, Any]) -> HubHit:
    score = item.get("cvss_v3_score")
    tags = item.get("tags")
    return HubHit(
        repository=_text(item, "repository_name", 300), digest=_text(item, "digest", 100),
        tags=tuple(untrusted(t[:200]) for t in (tags if isinstance(tags, list) else ())[:100]
                   if isinstance(t, str)),
        cve=_text(item, "cve_id", 100), package=_text(item, "package", 300),
        version=_text(item, "version", 200), fixed_version=_text(item, "fixed_version", 200),
        severity=Severity.parse(item.get("severity")),
        cvss_score=float(score) if isinstance(score, int | float) and score else None)
