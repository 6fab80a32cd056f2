"""Plain, frozen models of vulnerability scan findings, whatever tool or registry they came from.

Trivy JSON, SARIF, cosign vuln attestations and Harbor's reports are all parsed into these once,
at the edge; services count and search them, render shows them. No I/O, no Textual.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple


class Severity(enum.IntEnum):
    """Trivy's five severities, ordered so that `max()` is the worst."""

    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def letter(self) -> str:
        return "U" if self is Severity.UNKNOWN else self.name[0]

    @classmethod
    def parse(cls, value: object) -> Severity:
        """Case-insensitive; Harbor's `Negligible` is below low; anything else is unknown."""
        found = _BY_NAME.get(value) if isinstance(value, str) else None  # the common case
        if found is not None:
            return found
        if not isinstance(value, str):
            return cls.UNKNOWN
        return _BY_NAME.get(value.strip().upper(), cls.UNKNOWN)


_BY_NAME: Final[dict[str, Severity]] = {
    **{s.name: s for s in Severity}, **{s.name.capitalize(): s for s in Severity},
    "NEGLIGIBLE": Severity.LOW, "Negligible": Severity.LOW}


SEVERITIES_WORST_FIRST: Final = tuple(sorted(Severity, reverse=True))
STATUSES: Final = ("fixed", "affected", "will_not_fix", "fix_deferred", "end_of_life",
                   "under_investigation", "not_affected", "unknown")
"""Trivy's vulnerability statuses; anything else (or none) is `unknown`."""


_STATUS_SET: Final = frozenset(STATUSES)


def parse_status(value: object) -> str:
    if type(value) is str and value in _STATUS_SET:  # the common case: as Trivy writes it
        return value
    text = value.strip().lower() if isinstance(value, str) else ""
    return text if text in _STATUS_SET else "unknown"


class ScanState(enum.StrEnum):
    """What regtui knows about a tag's scan; the `status` of `regtui scans`."""

    SCANNED = "scanned"
    NOT_SCANNED = "not scanned"
    ERROR = "error"
    RUNNING = "running"


class Finding(NamedTuple):
    """One vulnerability in one package: Trivy counts each such entry once.

    A named tuple rather than a frozen dataclass: as immutable, and five times cheaper to
    build, which matters for a report of 50,000 findings.
    """

    vulnerability_id: str
    package: str
    installed_version: str
    fixed_version: str
    severity: Severity
    status: str = "unknown"
    cvss_score: float | None = None
    title: str = ""
    description: str = ""
    primary_url: str = ""
    references: tuple[str, ...] = ()
    target: str = ""
    package_path: str = ""
    allowlisted: bool = False

    @property
    def fixable(self) -> bool:
        """A non-empty fixed version, the rule Trivy's summary, Harbor and k9s all use."""
        return bool(self.fixed_version.strip())

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """Equal for the same finding seen in two children of an index."""
        return (self.vulnerability_id, self.package, self.installed_version, self.package_path)


@dataclass(frozen=True, slots=True)
class SeverityCounts:
    """Findings per severity, with the totals Trivy's and Harbor's summaries show."""

    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    unknown: int = 0
    fixable: int = 0
    distinct_cves: int = 0

    @property
    def total(self) -> int:
        return self.critical + self.high + self.medium + self.low + self.unknown

    def of(self, severity: Severity) -> int:
        return int(getattr(self, severity.name.lower()))

    @property
    def worst(self) -> Severity | None:
        """The worst severity with at least one finding; None for a clean report."""
        return next((s for s in SEVERITIES_WORST_FIRST if self.of(s)), None)

    @property
    def risk_key(self) -> tuple[int, ...]:
        """Sorts worst-first when reversed: criticals, then highs, and so on."""
        return tuple(self.of(s) for s in SEVERITIES_WORST_FIRST)

    def reaches(self, threshold: Severity) -> bool:
        return any(self.of(s) for s in Severity if s >= threshold and s is not Severity.UNKNOWN)

    @classmethod
    def of_findings(cls, findings: Iterable[Finding], *,
                    skip_allowlisted: bool = False) -> SeverityCounts:
        per = [0, 0, 0, 0, 0]
        fixable = 0
        ids: set[str] = set()
        for finding in findings:
            if skip_allowlisted and finding.allowlisted:
                continue
            per[finding.severity] += 1
            fixable += finding.fixable
            ids.add(finding.vulnerability_id)
        return cls(critical=per[4], high=per[3], medium=per[2], low=per[1], unknown=per[0],
                   fixable=fixable, distinct_cves=len(ids))


@dataclass(frozen=True, slots=True)
class ScanReport:
    """One scan of one artifact: who scanned, when, and what was found.

    `findings` is empty when only a summary is known (Harbor's scan overview); `counts` then
    comes from that summary instead of from the findings.
    """

    format: str
    """`trivy`, `sarif`, `cosign-vuln`, `harbor` or `harbor-overview`."""
    scanner: str
    scanner_version: str
    scanned_at: datetime | None
    counts: SeverityCounts
    findings: tuple[Finding, ...] = ()
    has_findings: bool = True
    """False when only counts are known (an overview); the drill-down must fetch the rest."""
    artifact_name: str = ""
    repo_digests: tuple[str, ...] = ()
    """`host/repo@sha256:...` as Trivy writes them in `Metadata.RepoDigests`."""
    subject_digests: tuple[str, ...] = ()
    """Digests named by an in-toto statement's subjects."""
    origin: str = ""
    """Where it was read from: a file path, `referrer sha256:...`, `harbor`."""
    state: ScanState = ScanState.SCANNED
    progress: int | None = None
    """Harbor's `complete_percent` while a scan runs."""

    @property
    def scanner_label(self) -> str:
        return f"{self.scanner} {self.scanner_version}".strip()


def merge_reports(reports: Iterable[ScanReport], origin: str) -> ScanReport | None:
    """An index's report from its children's: each finding once, however many platforms."""
    reports = [r for r in reports if r.state is ScanState.SCANNED]
    if not reports:
        return None
    if len(reports) == 1:
        return reports[0]
    seen: dict[tuple[str, str, str, str], Finding] = {}
    for report in reports:
        for finding in report.findings:
            seen.setdefault(finding.identity, finding)
    findings = tuple(seen.values())
    partial = any(not r.has_findings for r in reports)
    counts = (SeverityCounts.of_findings(findings) if not partial
              else max((r.counts for r in reports), key=lambda c: c.risk_key))
    times = [r.scanned_at for r in reports if r.scanned_at is not None]
    first = reports[0]
    return ScanReport(format=first.format, scanner=first.scanner,
                      scanner_version=first.scanner_version,
                      scanned_at=min(times) if times else None, counts=counts,
                      findings=findings, has_findings=not partial,
                      artifact_name=first.artifact_name, origin=origin)
