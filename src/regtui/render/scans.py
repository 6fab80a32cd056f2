"""The scans pane as pure data: severity cells, rows sorted by risk, filters, findings grouped.

Every string from a report (ids, package names, titles, descriptions, links) goes through
`safe_text` here, bounded in length, before any widget sees it. Built for 50,000 findings:
rows are plain objects, cells are computed only for the rows on screen.
"""

from __future__ import annotations

import enum
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, NamedTuple, ParamSpec

from regtui.filter import TextFilter
from regtui.registry.scan_models import (
    SEVERITIES_WORST_FIRST,
    Finding,
    ScanState,
    Severity,
    SeverityCounts,
)
from regtui.render import formats
from regtui.render.columns import Column, Styled
from regtui.services.scans import (
    CveHit,
    ImageRisk,
    RegistryView,
    TagScan,
)
from regtui.text import Shown, safe_text

VULN_COLUMN: Final = Column("vulns", "VULNS", 14, priority=1)
SCAN_COLUMNS: Final = (
    Column("repository", "REPOSITORY", 18, priority=0, flex=True),
    Column("tag", "TAG", 14, priority=0),
    Column("critical", "C", 4, priority=0, align="right"),
    Column("high", "H", 4, priority=0, align="right"),
    Column("medium", "M", 4, priority=1, align="right"),
    Column("low", "L", 4, priority=1, align="right"),
    Column("unknown", "U", 4, priority=3, align="right"),
    Column("total", "TOTAL", 6, priority=2, align="right"),
    Column("fixable", "FIX", 5, priority=2, align="right"),
    Column("scanner", "SCANNER", 16, priority=4),
    Column("scanned", "SCANNED", 9, priority=3),
    Column("status", "STATUS", 12, priority=1),
)
FINDING_COLUMNS: Final = (
    Column("id", "VULNERABILITY", 18, priority=0),
    Column("severity", "SEV", 8, priority=0),
    Column("package", "PACKAGE", 18, priority=0),
    Column("installed", "INSTALLED", 14, priority=2),
    Column("fixed", "FIXED", 14, priority=1),
    Column("status", "STATUS", 12, priority=3),
    Column("cvss", "CVSS", 5, priority=2, align="right"),
    Column("title", "TITLE", 20, priority=4, flex=True),
    Column("link", "LINK", 30, priority=5),
)
HIT_COLUMNS: Final = (
    Column("repository", "REPOSITORY", 18, priority=0, flex=True),
    Column("tag", "TAG", 14, priority=0),
    Column("digest", "DIGEST", 12, priority=2),
    Column("package", "PACKAGE", 18, priority=0),
    Column("installed", "INSTALLED", 14, priority=1),
    Column("fixed", "FIXED", 14, priority=0),
    Column("severity", "SEV", 8, priority=1),
)
NO_FIX: Final = "no fix"
CELL_LIMIT: Final = 1000
P = ParamSpec("P")


def cells(build: Callable[P, Iterable[str]]) -> Callable[P, tuple[Shown, ...]]:
    """The one way a row becomes table cells: `build` yields our own words and `safe_text`
    results; anything not yet `Shown` is made literal and bounded on the way out."""

    @functools.wraps(build)
    def built(*args: P.args, **kwargs: P.kwargs) -> tuple[Shown, ...]:
        return tuple(cell if isinstance(cell, Shown) else Shown(cell, CELL_LIMIT)
                     for cell in build(*args, **kwargs))

    return built


def per_severity(counts: SeverityCounts, show: Callable[[int], str] = str) -> tuple[str, ...]:
    """One cell per severity, worst first (the C/H/M/L/U columns), each in its colour."""
    return tuple(severity_count(severity, counts.of(severity), show(counts.of(severity)))
                 for severity in SEVERITIES_WORST_FIRST)


SEVERITY_STYLES: Final = {s: f"vtable--severity-{s.name.lower()}" for s in Severity}
"""The table's style per severity; each is `color: $severity-...`, a theme variable."""


def severity_parts(counts: SeverityCounts) -> list[tuple[str, str]]:
    """`2C`, `1H`... (unknown as U), zeros left out, each with its severity's style."""
    return [(f"{counts.of(s)}{s.letter}", SEVERITY_STYLES[s]) for s in SEVERITIES_WORST_FIRST
            if counts.of(s)]


def severity_cell(counts: SeverityCounts) -> Styled:
    """`2C 1H 4M 9L`, each part in its severity's colour; `clean` when nothing was found."""
    return Styled(severity_parts(counts) or [("clean", "")])


def scan_cell(scan: TagScan | None) -> Shown:
    """The tags pane's VULNS cell: coloured counts, or what is known instead of counts."""
    if scan is None:
        return Shown("")
    if scan.state is ScanState.NOT_SCANNED:
        return Shown("not scanned")
    if scan.state is ScanState.ERROR:
        return Shown("scan failed")
    if scan.state is ScanState.RUNNING:
        progress = scan.report.progress if scan.report else None
        return Shown(f"scanning {progress}%" if progress is not None else "scanning")
    parts = severity_parts(scan.counts) or [("clean", "")]
    return Styled([*parts, ("⌛", "")] if scan.stale else parts)


def severity_count(severity: Severity, count: int, shown: str | None = None) -> Styled:
    """A C/H/M/L/U column's cell: coloured when there is something to count."""
    return Styled([(str(count) if shown is None else shown,
                    SEVERITY_STYLES[severity] if count else "")])


def scan_style(scan: TagScan | None) -> str:
    """Theme classes: failing `fail_on`, or a critical, is an error; a high a warning."""
    if scan is None or scan.report is None:
        return "vtable--error" if scan is not None and scan.state is ScanState.ERROR else ""
    if scan.failing or scan.counts.critical:
        return "vtable--error"
    if scan.counts.high:
        return "vtable--warning"
    if scan.stale:
        return "vtable--muted"
    return ""


def vuln_sort_key(scan: TagScan | None) -> tuple[int, ...]:
    """Worst first when sorted in reverse, like k9s's VS column; unscanned tags last."""
    if scan is None or scan.report is None:
        return (-1,)
    return scan.risk_key


@dataclass(frozen=True, slots=True)
class ScanRow:
    key: str
    scan: TagScan


class StatusFilter(enum.StrEnum):
    ALL = "all"
    SCANNED = "scanned"
    NOT_SCANNED = "not scanned"
    PROBLEMS = "failed/stale"


@dataclass(frozen=True, slots=True)
class ScanFilter:
    """The scans pane's filters: a minimum severity, fixable only, a status, and text."""

    severity: Severity | None = None
    fixable_only: bool = False
    status: StatusFilter = StatusFilter.ALL
    text: TextFilter = field(default_factory=TextFilter)

    def keeps(self, scan: TagScan) -> bool:
        counts = scan.counts
        if self.severity is not None and not counts.reaches(self.severity):
            return False
        if self.fixable_only and not counts.fixable:
            return False
        if self.status is StatusFilter.SCANNED and scan.state is not ScanState.SCANNED:
            return False
        if self.status is StatusFilter.NOT_SCANNED and scan.state is not ScanState.NOT_SCANNED:
            return False
        return not (self.status is StatusFilter.PROBLEMS
                    and scan.state is not ScanState.ERROR and not scan.stale)

    def describe(self) -> str:
        parts = []
        if self.severity is not None:
            parts.append(f">= {self.severity.name.lower()}")
        if self.fixable_only:
            parts.append("fixable")
        if self.status is not StatusFilter.ALL:
            parts.append(self.status.value)
        if not self.text.is_empty:
            parts.append(f"text {safe_text(self.text.query, 30)}")
        return ", ".join(parts) or "none"


def scan_rows(scans: Iterable[TagScan], scan_filter: ScanFilter) -> list[ScanRow]:
    """Sorted by risk, worst first; unscanned and failed tags after every scanned one."""
    kept = [s for s in scans if scan_filter.keeps(s)]
    if not scan_filter.text.is_empty:
        hays = [f"{s.record.repository}:{s.record.tag}\n{s.record.digest}".lower()
                for s in kept]
        kept = scan_filter.text.select(kept, hays)
    kept.sort(key=lambda s: (s.record.repository, s.record.tag))
    kept.sort(key=lambda s: (s.report is not None, *s.risk_key), reverse=True)
    return [ScanRow(f"{s.record.repository}:{s.record.tag}", s) for s in kept]


@cells
def scan_row_cells(row: ScanRow, now: datetime) -> tuple[str, ...]:
    scan = row.scan
    counts = scan.counts
    report = scan.report
    known = report is not None and scan.state is ScanState.SCANNED
    status = scan_cell(scan) if scan.state is not ScanState.SCANNED else (
        "stale" if scan.stale else "scanned")
    return (
        safe_text(scan.record.repository, 120), safe_text(scan.record.tag, 80),
        *(per_severity(counts) if known else ("-",) * len(SEVERITIES_WORST_FIRST)),
        *((str(counts.total), str(counts.fixable)) if known else ("-", "-")),
        safe_text(report.scanner_label, 40) if report else "",
        formats.age(report.scanned_at, now) if report and report.scanned_at else "",
        status,
    )


def row_style(row: ScanRow) -> str:
    return scan_style(row.scan)


def overview_text(scans: Sequence[TagScan], problems: Sequence[str],
                  view: RegistryView | None = None, limit: int = 5) -> str:
    """The registry-wide lines above the table: totals, the worst images, the widest CVEs
    (from Security Hub where the service got them there, else from the reports read).

    Without a view (still reading) only the first line: the view walks every finding, so
    it is built once per read by the service, not on each filter key."""
    scanned = [s for s in scans if s.report is not None and s.state is ScanState.SCANNED]
    failing = sum(1 for s in scans if s.failing)
    lines = [f"{len(scanned)} of {len(scans)} images scanned · "
             f"{sum(1 for s in scans if s.state is ScanState.ERROR)} unreadable · "
             f"{sum(1 for s in scans if s.stale)} stale · {failing} over fail_on"]
    if view is None:
        view = RegistryView("reports read", SeverityCounts(), 0, 0, (), ())
    if view.source != "reports read":
        lines.append(f"{safe_text(view.source, 30)}: {view.scanned:,} of {view.images:,} "
                     f"artifacts scanned · {severity_cell(view.counts)} · "
                     f"{view.counts.fixable:,} fixable")
    if view.dangerous:
        lines.append("Most dangerous: " + " · ".join(
            f"{_image_name(risk)} {severity_cell(risk.counts)}"
            for risk in view.dangerous[:limit]))
    if view.widest:
        lines.append("Widest CVEs: " + " · ".join(
            f"{safe_text(c.cve, 30)} ({c.severity.name.lower()}, {c.images} "
            f"image{'' if c.images == 1 else 's'}"
            f"{', fix' if c.fixable else ''})" for c in view.widest[:limit])
            + (f" (from the first {view.rows:,} critical and high rows)" if view.partial
               else ""))
    if problems:
        lines.append(f"{len(problems)} report problems; first: {safe_text(problems[0], 200)}")
    return "\n".join(lines)


def _image_name(risk: ImageRisk) -> str:
    """`repo:tag`, `+n` more tags of the same image; `repo@sha256:…` when no tag was read."""
    if not risk.tags:
        return f"{safe_text(risk.repository, 50)}@{formats.short_digest(risk.digest)}"
    more = f" +{len(risk.tags) - 1}" if len(risk.tags) > 1 else ""
    return f"{safe_text(risk.repository, 50)}:{safe_text(risk.tags[0], 40)}{more}"


# -- one tag's findings --------------------------------------------------------------------


class GroupBy(enum.StrEnum):
    PACKAGE = "package"
    CVE = "cve"


class FindingRow(NamedTuple):
    """One line of the drill-down (a named tuple: 50,000 of them are built per report)."""

    key: str
    finding: Finding | None
    header: str = ""
    """For a group line: the package or CVE and how many findings follow."""


def finding_rows(findings: Sequence[Finding], group_by: GroupBy,
                 text_filter: TextFilter | None = None) -> list[FindingRow]:
    """Grouped by package or CVE, worst group first, findings worst first inside each."""
    chosen = list(findings)
    if text_filter is not None and not text_filter.is_empty:
        hays = [f"{f.vulnerability_id}\n{f.package}\n{f.title}".lower() for f in chosen]
        chosen = text_filter.select(chosen, hays)
    by_package = group_by is GroupBy.PACKAGE
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in sorted(chosen, key=_worst_first):
        groups[finding.package if by_package else finding.vulnerability_id].append(finding)
    ordered = sorted(groups.items(), key=lambda item: (
        -int(item[1][0].severity), -len(item[1]), item[0]))
    rows: list[FindingRow] = []
    append = rows.append
    for name, members in ordered:
        append(FindingRow(f"g:{name}", None, f"{name} ({len(members)})"))
        for index, finding in enumerate(members):
            append(FindingRow(f"f:{name}:{index}", finding))
    return rows


def _worst_first(finding: Finding) -> tuple[int, float, str]:
    return (-int(finding.severity), -(finding.cvss_score or 0.0), finding.vulnerability_id)


@cells
def finding_cells(row: FindingRow) -> tuple[str, ...]:
    finding = row.finding
    if finding is None:
        return (f"▾ {safe_text(row.header, 120)}", "", "", "", "", "", "", "", "")
    mark = " (allowlisted)" if finding.allowlisted else ""
    return (
        f"  {safe_text(finding.vulnerability_id, 40)}", severity_name(finding.severity),
        safe_text(finding.package, 80), safe_text(finding.installed_version, 60),
        safe_text(finding.fixed_version, 60) or NO_FIX, safe_text(finding.status, 20),
        f"{finding.cvss_score:.1f}" if finding.cvss_score is not None else "",
        safe_text(finding.title, 200) + mark,
        safe_text(finding.primary_url or next(iter(finding.references), ""), 200),
    )


def severity_name(severity: Severity) -> Styled:
    return Styled([(severity.name.lower(), SEVERITY_STYLES[severity])])


def finding_style(row: FindingRow) -> str:
    finding = row.finding
    if finding is None:
        return "vtable--muted"
    if finding.allowlisted:
        return "vtable--muted"
    if finding.severity is Severity.CRITICAL:
        return "vtable--error"
    return "vtable--warning" if finding.severity is Severity.HIGH else ""


def platforms_line(scan: TagScan) -> str:
    """A multi-arch index's findings per child (the table shows them merged, each once)."""
    if not scan.children:
        return ""
    return "per platform: " + " · ".join(
        f"{safe_text(label, 40)} {severity_cell(report.counts)}" for label, report in
        scan.children)


def finding_detail(finding: Finding) -> str:
    """Enter on a finding: everything the report says about it, literally, bounded."""
    lines = [
        f"{safe_text(finding.vulnerability_id, 60)} · {finding.severity.name.lower()}"
        + (f" · CVSS {finding.cvss_score:.1f}" if finding.cvss_score is not None else "")
        + (" · allowlisted" if finding.allowlisted else ""),
        f"package {safe_text(finding.package, 120)} {safe_text(finding.installed_version, 60)}"
        f" → {safe_text(finding.fixed_version, 80) or NO_FIX} ({safe_text(finding.status, 20)})",
    ]
    if finding.target:
        lines.append(f"in {safe_text(finding.target, 200)}")
    if finding.title:
        lines.append(safe_text(finding.title, 300))
    if finding.description:
        lines.append(safe_text(finding.description, 2000, multiline=True))
    links = [finding.primary_url, *finding.references] if finding.primary_url else list(
        finding.references)
    lines.extend(f"  {safe_text(link, 200)}" for link in dict.fromkeys(links) if link)
    return "\n".join(lines)


# -- CVE search results --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HitRow:
    key: str
    hit: CveHit


def hit_rows(hits: Sequence[CveHit]) -> list[HitRow]:
    return [HitRow(f"{h.repository}:{h.tag}:{h.package}:{i}", h) for i, h in enumerate(hits)]


@cells
def hit_cells(row: HitRow) -> tuple[str, ...]:
    hit = row.hit
    return (safe_text(hit.repository, 120), safe_text(hit.tag, 80),
            formats.short_digest(hit.digest), safe_text(hit.package, 80),
            safe_text(hit.installed_version, 60), safe_text(hit.fixed_version, 60) or NO_FIX,
            Styled([(hit.severity.name.lower(), SEVERITY_STYLES[hit.severity]),
                    ("(allowlisted)", "")]) if hit.allowlisted else severity_name(hit.severity))


def hits_summary(cve: str, hits: Sequence[CveHit]) -> str:
    tags = {(h.repository, h.tag) for h in hits}
    fixable = sum(1 for h in hits if h.fixable)
    return (f"{safe_text(cve, 40)}: {formats.plural(len(tags), 'tag')} in "
            f"{formats.plural(len({h.repository for h in hits}), 'repository', 'repositories')}, "
            f"{formats.plural(len(hits), 'package')}, "
            f"{fixable} with a fix")


# -- per repository ------------------------------------------------------------------------

REPO_SCAN_COLUMNS: Final = (
    Column("repository", "REPOSITORY", 24, priority=0, flex=True),
    Column("images", "IMAGES", 7, priority=1, align="right"),
    Column("scanned", "SCANNED", 8, priority=2, align="right"),
    Column("critical", "C", 5, priority=0, align="right"),
    Column("high", "H", 5, priority=0, align="right"),
    Column("medium", "M", 5, priority=1, align="right"),
    Column("low", "L", 5, priority=1, align="right"),
    Column("unknown", "U", 5, priority=3, align="right"),
    Column("fixable", "FIX", 6, priority=2, align="right"),
    Column("failing", "FAILING", 8, priority=1, align="right"),
)


@dataclass(frozen=True, slots=True)
class RepoScanRow:
    """One repository: its images' findings, each image (digest) counted once."""

    key: str
    counts: SeverityCounts
    images: int
    scanned: int
    failing: int


def repository_rows(scans: Iterable[TagScan], scan_filter: ScanFilter) -> list[RepoScanRow]:
    """Per repository, worst first; tags sharing a digest are one image."""
    per_repo: dict[str, dict[str, TagScan]] = defaultdict(dict)
    failing: dict[str, int] = defaultdict(int)
    for scan in scans:
        if not scan_filter.keeps(scan):
            continue
        per_repo[scan.record.repository].setdefault(scan.record.digest, scan)
        failing[scan.record.repository] += scan.failing
    rows = []
    for repository, images in per_repo.items():
        if not scan_filter.text.is_empty and not scan_filter.text.matches(repository.lower()):
            continue
        scanned = [s for s in images.values() if s.report is not None
                   and s.state is ScanState.SCANNED]
        rows.append(RepoScanRow(repository, _summed(s.counts for s in scanned), len(images),
                                len(scanned),
                                failing[repository]))
    rows.sort(key=lambda r: r.key)
    rows.sort(key=lambda r: (r.failing, *r.counts.risk_key), reverse=True)
    return rows


@cells
def repo_row_cells(row: RepoScanRow) -> tuple[str, ...]:
    return (safe_text(row.key, 120), f"{row.images:,}", f"{row.scanned:,}",
            *per_severity(row.counts, "{:,}".format),
            f"{row.counts.fixable:,}", f"{row.failing:,}" if row.failing else "-")


def repo_row_style(row: RepoScanRow) -> str:
    if row.failing or row.counts.critical:
        return "vtable--error"
    return "vtable--warning" if row.counts.high else ""


def _summed(all_counts: Iterable[SeverityCounts]) -> SeverityCounts:
    per = [0, 0, 0, 0, 0]
    fixable = 0
    for counts in all_counts:
        for severity in Severity:
            per[severity] += counts.of(severity)
        fixable += counts.fixable
    return SeverityCounts(critical=per[4], high=per[3], medium=per[2], low=per[1],
                          unknown=per[0], fixable=fixable)
