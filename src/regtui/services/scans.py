"""Scan findings for every tag, from every source, on one model: the scans pane and `regtui scans`.

Sources, per tag digest (an index: itself, and each child merged):
- reports attached in the registry, found through the Referrers API or its `sha256-<hex>` tag
  fallback (`trivy referrer put`, `cosign attest --type vuln`), recognised by content;
- Trivy JSON files in `[registries.scans] reports_dir`, matched by `Metadata.RepoDigests` and
  re-read only when a file changes, and reports kept from `regtui scan` runs;
- on Harbor, the scan overview of the artifact list (one paged call per repository), the full
  report on demand, Security Hub for a CVE search, and the CVE allowlists.
The newest report wins when several name the same digest. A report that cannot be read is an
`error` state with its one-line reason; the other tags are unaffected.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Protocol

from regtui.config import ScanConfig
from regtui.errors import RegistryError, UsageError
from regtui.registry import mediatypes as mt
from regtui.registry.backend import scan_api
from regtui.registry.harbor_scans import HarborArtifact, HarborScans, HubHit
from regtui.registry.kinds import kind_of_type
from regtui.registry.models import ArtifactKind, Manifest, TagRecord
from regtui.registry.scan_models import (
    Finding,
    ScanReport,
    ScanState,
    Severity,
    SeverityCounts,
    merge_reports,
)
from regtui.registry.scan_reports import MAX_REPORT_BYTES, ReportError, parse_report
from regtui.services.inventory import InventoryService, bounded_map
from regtui.text import safe_text

SKIP_LAYER_TYPES: Final = frozenset({mt.COSIGN_SIMPLESIGNING, mt.OCI_LAYER_TAR_GZIP,
                                     mt.DOCKER_LAYER, mt.OCI_EMPTY, mt.NOTARY_SIGNATURE})
VULN_HINTS: Final = ("vuln", "sarif", "trivy", "grype")
EMPTY: Final = SeverityCounts()
LARGE_REPORT: Final = 256 * 1024
"""Reports at least this big are parsed in a thread, so the screen keeps answering keys."""
CVE_ID_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789-_.:")


@dataclass(frozen=True, slots=True)
class Threshold:
    """`fail_on`: a tag fails when any (severity, count) pair is reached."""

    levels: tuple[tuple[Severity, int], ...] = ()

    @classmethod
    def from_config(cls, pairs: Iterable[tuple[str, int]]) -> Threshold:
        return cls(tuple((Severity.parse(name), count) for name, count in pairs))

    @classmethod
    def at_least(cls, severity: Severity) -> Threshold:
        return cls(tuple((s, 1) for s in Severity if s >= severity and s is not Severity.UNKNOWN))

    def reached(self, counts: SeverityCounts) -> bool:
        return any(counts.of(severity) >= count for severity, count in self.levels)

    def __bool__(self) -> bool:
        return bool(self.levels)


@dataclass(frozen=True, slots=True)
class TagScan:
    """One tag's scan state: the report (merged for an index), its children's, and markers."""

    record: TagRecord
    state: ScanState
    report: ScanReport | None = None
    children: tuple[tuple[str, ScanReport], ...] = ()
    error: str = ""
    stale: bool = False
    failing: bool = False

    @property
    def counts(self) -> SeverityCounts:
        return self.report.counts if self.report is not None else EMPTY

    @property
    def risk_key(self) -> tuple[int, ...]:
        return (*self.counts.risk_key, self.counts.fixable)


@dataclass(frozen=True, slots=True)
class CveHit:
    """One affected tag and package, the answer to "which images have CVE-X?"."""

    repository: str
    tag: str
    digest: str
    cve: str
    package: str
    installed_version: str
    fixed_version: str
    severity: Severity
    allowlisted: bool = False

    @property
    def fixable(self) -> bool:
        return bool(self.fixed_version.strip())


@dataclass
class _Entry:
    signature: tuple[int, int]
    report: ScanReport | None
    error: str = ""


@dataclass
class ReportsDirectory:
    """Trivy JSON files matched to images by `Metadata.RepoDigests`, re-read when they change.

    A file named `sha256-<hex>.json` (what `regtui scan` keeps) also matches that digest.
    """

    path: Path
    limit: int = MAX_REPORT_BYTES
    entries: dict[Path, _Entry] = field(default_factory=dict)
    by_digest: dict[str, list[tuple[str, ScanReport]]] = field(default_factory=dict)
    """digest -> (repository named in RepoDigests, or "" for any, report)."""

    def refresh(self) -> bool:
        """Re-read new and changed files, forget deleted ones; True when anything changed."""
        try:
            found = {Path(entry.path): entry.stat() for entry in os.scandir(self.path)
                     if entry.name.endswith(".json") and entry.is_file()}
        except FileNotFoundError:
            found = {}
        except OSError as exc:
            raise RegistryError(f"reports_dir {self.path}: {exc.strerror}") from exc
        changed = set(self.entries) - set(found)
        for gone in changed:
            del self.entries[gone]
        for path, stat in found.items():
            signature = (stat.st_mtime_ns, stat.st_size)
            known = self.entries.get(path)
            if known is not None and known.signature == signature:
                continue
            changed.add(path)
            self.entries[path] = self._read(path, signature)
        if changed or not self.by_digest:
            self._index()
        return bool(changed)

    def _read(self, path: Path, signature: tuple[int, int]) -> _Entry:
        if signature[1] > self.limit:
            return _Entry(signature, None, f"report {path} is {signature[1]} bytes, more than "
                          f"the {self.limit} regtui reads; not read")
        try:
            return _Entry(signature, parse_report(path.read_bytes(), str(path), limit=self.limit))
        except ReportError as exc:
            return _Entry(signature, None, str(exc))
        except OSError as exc:
            return _Entry(signature, None, f"report {path}: {exc.strerror}")

    def _index(self) -> None:
        index: dict[str, list[tuple[str, ScanReport]]] = defaultdict(list)
        for path, entry in self.entries.items():
            if entry.report is None:
                continue
            for repository, digest in _repo_digests(entry.report):
                index[digest].append((repository, entry.report))
            stem = path.name.removesuffix(".json")
            if stem.startswith("sha256-") and len(stem) == 71:
                index[stem.replace("-", ":", 1)].append(("", entry.report))
        self.by_digest = dict(index)

    def lookup(self, repository: str, digest: str) -> list[ScanReport]:
        return [report for named, report in self.by_digest.get(digest, [])
                if not named or named == repository or named.endswith("/" + repository)]

    def problems(self) -> list[str]:
        return [entry.error for entry in self.entries.values() if entry.error]

    def unmatched(self, known: set[str]) -> list[str]:
        """Reports naming no digest the registry has: said, not silently dropped."""
        lines = []
        for path, entry in sorted(self.entries.items()):
            report = entry.report
            if report is None:
                continue
            digests = {d for _, d in _repo_digests(report)}
            stem = path.name.removesuffix(".json").replace("-", ":", 1)
            if stem in known or digests & known:
                continue
            named = ", ".join(sorted(report.repo_digests)[:2]) or "no Metadata.RepoDigests"
            lines.append(f"report {path} matches no image in the registry ({named})")
        return lines


def _repo_digests(report: ScanReport) -> list[tuple[str, str]]:
    """`host/repo@sha256:...` -> (`repo`, `sha256:...`); the host is not compared (CI may use
    another name for the same registry), the repository and digest are."""
    pairs = []
    for reference in report.repo_digests:
        name, at, digest = reference.rpartition("@")
        if not at or not digest.startswith("sha256:"):
            continue
        first, slash, rest = name.partition("/")
        has_host = slash and ("." in first or ":" in first or first == "localhost")
        pairs.append((rest if has_host else name, digest))
    pairs.extend(("", digest) for digest in report.subject_digests)
    return pairs


class ScanService:
    """Findings for one registry's tags; the CLI and the TUI both come through here."""

    def __init__(self, inventory: InventoryService, settings: ScanConfig | None = None, *,
                 kept_dir: Path | None = None, now: datetime | None = None,
                 use_referrers: bool = True) -> None:
        self.inventory = inventory
        self.settings = settings or ScanConfig()
        self.threshold = Threshold.from_config(self.settings.fail_on)
        self.directories = [ReportsDirectory(p) for p in
                            dict.fromkeys(d for d in (self.settings.reports_dir, kept_dir) if d)]
        self.now = now
        self.use_referrers = use_referrers
        api = scan_api(inventory.backend)
        self.harbor = api.scans() if api is not None else None
        self.problems: list[str] = []
        self._referrer_cache: dict[tuple[str, str], tuple[list[ScanReport], list[str]]] = {}
        self._harbor_cache: dict[str, dict[str, HarborArtifact]] = {}
        self._allowlists: dict[str, frozenset[str]] = {}
        self._full: dict[tuple[str, str], ScanReport] = {}

    # -- reading every tag ---------------------------------------------------------------------

    def refresh_directories(self) -> bool:
        changed = False
        for directory in self.directories:
            changed = directory.refresh() or changed
        return changed

    def forget(self) -> None:
        """Drop what was read from the registry, so the next `scan_tags` reads it again."""
        self._referrer_cache.clear()
        self._harbor_cache.clear()
        self._full.clear()

    async def scan_tags(self, records: Sequence[TagRecord],
                        on_scan: Callable[[TagScan], None] | None = None) -> list[TagScan]:
        """Every image and index tag's scan state, in the order given (supplements left out).

        `on_scan` sees each tag as soon as it is known, so a pane can show the first rows
        while referrers of the others are still being read.
        """
        self.problems = []
        await asyncio.to_thread(self.refresh_directories)  # file reads and parses: off the loop
        for directory in self.directories:
            self.problems.extend(directory.problems())
        images = [r for r in records if not r.artifact_kind.is_supplement
                  and r.artifact_kind in (ArtifactKind.IMAGE, ArtifactKind.INDEX)]
        grouped: dict[str, list[str]] = defaultdict(list)
        for record in records:
            grouped[record.repository].append(record.tag)
        tags_by_repo = {repo: frozenset(tags) for repo, tags in grouped.items()}
        if self.harbor is not None:
            await self._load_harbor({r.repository for r in images})
        async def one(record: TagRecord) -> TagScan:
            scan = await self._scan_one(record, tags_by_repo[record.repository])
            if on_scan is not None:
                on_scan(scan)
            return scan

        # Twice the backend's limit, as for tags: while some wait on the network, others parse.
        scans = await bounded_map(images, one, self.inventory.concurrency * 2)
        known = {r.digest for r in records} | {c for r in records for c in r.children}
        for directory in self.directories:
            self.problems.extend(directory.unmatched(known))
        return scans

    async def _scan_one(self, record: TagRecord, tags: frozenset[str]) -> TagScan:
        errors: list[str] = []
        own = await self._reports_for(record.repository, record.digest, tags, errors)
        children: list[tuple[str, ScanReport]] = []
        for position, child in enumerate(record.children):
            found = await self._reports_for(record.repository, child, tags, errors)
            if found is not None:
                label = record.platforms[position] if position < len(record.platforms) else child
                children.append((label, found))
        report = own
        if children and (own is None or own.state is not ScanState.SCANNED):
            report = merge_reports([r for _, r in children], f"index {record.digest}") or own
        return self._tag_scan(record, report, tuple(children), errors)

    def _tag_scan(self, record: TagRecord, report: ScanReport | None,
                  children: tuple[tuple[str, ScanReport], ...], errors: list[str]) -> TagScan:
        if report is None:
            state = ScanState.ERROR if errors else ScanState.NOT_SCANNED
            return TagScan(record, state, None, children, "; ".join(errors))
        stale = self._stale(report, record)
        failing = report.state is ScanState.SCANNED and bool(self.threshold) and \
            self.threshold.reached(report.counts)
        return TagScan(record, report.state, report, children, "; ".join(errors), stale,
                       failing)

    def _stale(self, report: ScanReport, record: TagRecord) -> bool:
        if report.scanned_at is None or report.state is not ScanState.SCANNED:
            return False
        scanned = _aware(report.scanned_at)
        now = self.now or datetime.now(UTC)
        if now - scanned > timedelta(days=self.settings.stale_after_days):
            return True
        return record.created is not None and _aware(record.created) > scanned

    async def _reports_for(self, repository: str, digest: str, tags: frozenset[str],
                           errors: list[str]) -> ScanReport | None:
        candidates: list[ScanReport] = []
        for directory in self.directories:
            candidates.extend(directory.lookup(repository, digest))
        if self.harbor is not None:
            artifact = self._harbor_cache.get(repository, {}).get(digest)
            if artifact is not None and artifact.scan is not None:
                candidates.append(artifact.scan)
        if self.use_referrers:
            found, failed = await self._referrer_reports(repository, digest, tags)
            candidates.extend(found)
            errors.extend(failed)
        return _newest(candidates)

    # -- reports attached in the registry ------------------------------------------------------

    async def _referrer_reports(self, repository: str, digest: str,
                                tags: frozenset[str]) -> tuple[list[ScanReport], list[str]]:
        key = (repository, digest)
        if key not in self._referrer_cache:
            self._referrer_cache[key] = await self._read_referrers(repository, digest, tags)
        return self._referrer_cache[key]

    async def _read_referrers(self, repository: str, digest: str,
                              tags: frozenset[str]) -> tuple[list[ScanReport], list[str]]:
        backend = self.inventory.backend
        reports: list[ScanReport] = []
        errors: list[str] = []
        try:
            referrers = await backend.referrers(repository, digest, tags)
        except RegistryError as exc:
            return [], [f"referrers of {repository}@{digest[:19]}: {exc}"]
        for referrer in referrers:
            if referrer.kind in (ArtifactKind.SIGNATURE, ArtifactKind.SBOM) or kind_of_type(
                    referrer.artifact_type) is ArtifactKind.SBOM:
                continue
            try:
                manifest = await backend.manifest(repository, referrer.digest)
            except RegistryError as exc:
                errors.append(str(exc))
                continue
            if manifest.is_index:
                continue
            await self._read_layers(repository, manifest, reports, errors)
        return reports, errors

    async def _read_layers(self, repository: str, manifest: Manifest,
                           reports: list[ScanReport], errors: list[str]) -> None:
        backend = self.inventory.backend
        hinted = _looks_like_vuln(manifest)
        for layer in manifest.layers:
            if layer.media_type in SKIP_LAYER_TYPES or "json" not in layer.media_type:
                continue
            origin = f"referrer {repository}@{manifest.digest[:19]}"
            layer_hint = hinted or "vuln" in " ".join(layer.annotations.values()).lower()
            if layer.size > MAX_REPORT_BYTES:
                if layer_hint:
                    errors.append(f"report {origin} is {layer.size} bytes, more than the "
                                  f"{MAX_REPORT_BYTES} regtui reads; not read")
                continue
            try:
                data = await backend.blob(repository, layer.digest, limit=MAX_REPORT_BYTES,
                                          what=f"report layer {layer.digest[:19]}")
                parsed = (parse_report(data, origin) if len(data) < LARGE_REPORT
                          else await asyncio.to_thread(parse_report, data, origin))
                reports.append(replace(parsed, origin=origin))
            except ReportError as exc:
                if layer_hint or "not valid JSON" in str(exc):
                    errors.append(str(exc))
            except RegistryError as exc:
                errors.append(str(exc))

    # -- Harbor --------------------------------------------------------------------------------

    async def _load_harbor(self, repositories: Iterable[str]) -> None:
        assert self.harbor is not None
        harbor = self.harbor

        async def one(repository: str) -> None:
            if repository in self._harbor_cache:
                return
            try:
                artifacts = await harbor.artifacts(repository)
            except RegistryError as exc:
                self.problems.append(str(exc))
                artifacts = []
            self._harbor_cache[repository] = {a.digest: a for a in artifacts}

        await bounded_map(sorted(repositories), one, self.inventory.concurrency)

    async def allowlist(self, repository: str) -> frozenset[str]:
        if self.harbor is None:
            return frozenset()
        project = repository.partition("/")[0]
        if project not in self._allowlists:
            try:
                self._allowlists[project] = await self.harbor.allowlist(project)
            except RegistryError as exc:
                self.problems.append(str(exc))
                self._allowlists[project] = frozenset()
        return self._allowlists[project]

    async def full_report(self, scan: TagScan) -> ScanReport | None:
        """The findings of one tag, fetching Harbor's full report the first time it is asked."""
        report = scan.report
        if report is None:
            return None
        if not report.has_findings and self.harbor is not None:
            key = (scan.record.repository, scan.record.digest)
            if key not in self._full:
                fetched = await self.harbor.report(*key)
                if fetched is None:
                    return report
                self._full[key] = fetched
            report = self._full[key]
        allowed = await self.allowlist(scan.record.repository)
        if allowed:
            marked = tuple(f._replace(allowlisted=True) if f.vulnerability_id in allowed else f
                           for f in report.findings)
            report = replace(report, findings=marked)
        return report

    # -- registry-wide -------------------------------------------------------------------------

    async def _hub(self) -> HarborScans | None:
        """Security Hub, when the backend's capabilities offer it and the server is new
        enough; otherwise views and searches are built from the reports read."""
        if self.harbor is None or not self.inventory.capabilities.has_security_hub:
            return None
        try:
            return self.harbor if await self.harbor.has_security_hub() else None
        except RegistryError as exc:
            self.problems.append(str(exc))
            return None

    async def registry_view(self, scans: Sequence[TagScan], limit: int = 5) -> RegistryView:
        """Totals, the most dangerous images and the CVEs affecting the most images.

        From Security Hub in a few calls (the summary, then Critical and High rows, at most
        HUB_ROWS of them) where the registry has it, so an overview-only Harbor needs no
        report per artifact; elsewhere from the reports read.
        """
        hub = await self._hub()
        if hub is None:
            return await self._local_view(scans, limit)
        try:
            summary = await hub.summary()
            rows: list[HubHit] = []
            partial = False
            for severity in ("Critical", "High"):
                found, more = await hub.vulnerabilities(f"severity={severity}",
                                                        HUB_ROWS - len(rows))
                rows.extend(found)
                partial = partial or more
                if len(rows) >= HUB_ROWS:
                    partial = True
                    break
        except RegistryError as exc:
            self.problems.append(str(exc))
            return await self._local_view(scans, limit)
        tags: dict[tuple[str, str], list[str]] = defaultdict(list)
        for scan in scans:
            tags[(scan.record.repository, scan.record.digest)].append(scan.record.tag)
        dangerous = sorted(summary.dangerous, key=lambda a: a.counts.risk_key, reverse=True)
        return RegistryView(
            source="Security Hub", counts=summary.counts, scanned=summary.scanned,
            images=summary.artifacts,
            dangerous=tuple(ImageRisk(a.repository, a.digest,
                                      tuple(tags.get((a.repository, a.digest), ())), a.counts)
                            for a in dangerous[:limit]),
            widest=tuple(_spread(((h.digest, h) for h in rows), limit)),
            partial=partial, rows=len(rows))

    @staticmethod
    async def _local_view(scans: Sequence[TagScan], limit: int) -> RegistryView:
        """Walking 100,000 findings takes a while on a busy machine: then in a thread."""
        findings = sum(len(s.report.findings) for s in scans if s.report is not None)
        if findings < LARGE_VIEW:
            return local_view(scans, limit)
        return await asyncio.to_thread(local_view, scans, limit)

    # -- searching -----------------------------------------------------------------------------

    async def search_cve(self, scans: Sequence[TagScan], cve: str) -> list[CveHit]:
        """Every tag and package whose report names `cve`, from what has been read.

        On Harbor >= 2.9 one Security Hub query answers it; elsewhere (and for overview-only
        Harbor scans on older versions) the full reports are read, a few at a time.
        """
        wanted = check_cve_id(cve).upper()
        hub = await self._hub()
        if hub is not None:
            return await self._hub_search(hub, scans, wanted)
        reports = await bounded_map(scans, self.full_report, self.inventory.concurrency)
        hits: list[CveHit] = []
        for scan, report in zip(scans, reports, strict=True):
            if report is None:
                continue
            hits.extend(_hits(scan.record, report.findings, wanted))
        return sorted(hits, key=lambda h: (-h.severity, h.repository, h.tag, h.package))

    async def _hub_search(self, hub: HarborScans, scans: Sequence[TagScan],
                          cve: str) -> list[CveHit]:
        by_digest: dict[tuple[str, str], list[TagRecord]] = defaultdict(list)
        for scan in scans:
            by_digest[(scan.record.repository, scan.record.digest)].append(scan.record)
        hits: list[CveHit] = []
        found, more = await hub.search_cve(cve, CVE_HUB_ROWS)
        if more:
            self.problems.append(f"Harbor CVE search {cve}: only the first {CVE_HUB_ROWS:,} "
                                 "Security Hub rows were read; narrow the search in Harbor")
        for hit in found:
            allowed = cve in await self.allowlist(hit.repository)
            records = by_digest.get((hit.repository, hit.digest))
            tags: list[str] = [r.tag for r in records] if records else list(hit.tags) or [""]
            hits.extend(CveHit(hit.repository, tag, hit.digest, hit.cve or cve, hit.package,
                               hit.version, hit.fixed_version, hit.severity, allowed)
                        for tag in tags)
        return sorted(hits, key=lambda h: (-h.severity, h.repository, h.tag, h.package))


def _hits(record: TagRecord, findings: Iterable[Finding], cve: str) -> list[CveHit]:
    seen: set[tuple[str, str]] = set()
    hits = []
    for finding in findings:
        if finding.vulnerability_id.upper() != cve:
            continue
        key = (finding.package, finding.installed_version)
        if key in seen:
            continue
        seen.add(key)
        hits.append(CveHit(record.repository, record.tag, record.digest, cve, finding.package,
                           finding.installed_version, finding.fixed_version, finding.severity,
                           finding.allowlisted))
    return hits


def check_cve_id(value: str) -> str:
    """A vulnerability id as scanners write them (CVE-, GHSA-, TEMP-...), or a one-line error."""
    text = value.strip()
    if not text or len(text) > 100 or not set(text) <= CVE_ID_CHARS or not any(
            c.isdigit() for c in text):
        raise UsageError(f"{safe_text(text, 60)!r} is not a vulnerability id "
                         "(e.g. CVE-2024-3094)")
    return text


def _looks_like_vuln(manifest: Manifest) -> bool:
    texts = [manifest.artifact_type, manifest.config.media_type if manifest.config else "",
             *manifest.annotations.values(), *(layer.media_type for layer in manifest.layers)]
    return any(hint in text.lower() for text in texts for hint in VULN_HINTS)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _newest(reports: list[ScanReport]) -> ScanReport | None:
    if not reports:
        return None
    oldest = datetime.min.replace(tzinfo=UTC)
    return max(reports, key=lambda r: (r.state is ScanState.SCANNED or r.state is
                                       ScanState.RUNNING,
                                       _aware(r.scanned_at) if r.scanned_at else oldest))


# -- registry-wide views -------------------------------------------------------------------


def most_dangerous(scans: Iterable[TagScan], limit: int = 10) -> list[TagScan]:
    """Scanned tags, worst first: criticals, then highs... then fixable."""
    scanned = [s for s in scans if s.report is not None and s.state is ScanState.SCANNED]
    return sorted(scanned, key=lambda s: s.risk_key, reverse=True)[:limit]


@dataclass(frozen=True, slots=True)
class CveSpread:
    cve: str
    severity: Severity
    images: int
    fixable: bool


def widest_cves(scans: Iterable[TagScan], limit: int = 10) -> list[CveSpread]:
    """CVEs affecting the most distinct images (digests), from the findings read."""
    return _spread(((scan.record.digest, finding) for scan in scans if scan.report is not None
                    for finding in scan.report.findings), limit)


class _Vulnerability(Protocol):
    @property
    def vulnerability_id(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def fixable(self) -> bool: ...


def _spread(found: Iterable[tuple[str, _Vulnerability]], limit: int) -> list[CveSpread]:
    images: dict[str, set[str]] = defaultdict(set)
    worst: dict[str, Severity] = {}
    fixable: Counter[str] = Counter()
    for digest, finding in found:
        cve = finding.vulnerability_id
        images[cve].add(digest)
        worst[cve] = max(worst.get(cve, Severity.UNKNOWN), finding.severity)
        fixable[cve] += finding.fixable
    ranked = sorted(images, key=lambda c: (len(images[c]), worst[c], c), reverse=True)
    return [CveSpread(c, worst[c], len(images[c]), fixable[c] > 0) for c in ranked[:limit]]


LARGE_VIEW: Final = 20_000
"""Findings from which the registry-wide view is built in a thread."""
HUB_ROWS: Final = 2000
"""Security Hub rows read for the widest CVEs (20 pages); the view says when there were more."""
CVE_HUB_ROWS: Final = 10_000
"""Rows of one CVE search kept from Security Hub: a server's answer is bounded."""


@dataclass(frozen=True, slots=True)
class ImageRisk:
    """One image (digest) of a repository, its tags among those read, and its counts."""

    repository: str
    digest: str
    tags: tuple[str, ...]
    counts: SeverityCounts


@dataclass(frozen=True, slots=True)
class RegistryView:
    """The registry-wide lines of the scans screen: totals, worst images, widest CVEs."""

    source: str
    """`Security Hub`, or `reports read` when built from the tags' reports."""
    counts: SeverityCounts
    scanned: int
    images: int
    dangerous: tuple[ImageRisk, ...]
    widest: tuple[CveSpread, ...]
    partial: bool = False
    """The widest CVEs come from the first `rows` critical and high rows only."""
    rows: int = 0
    """Security Hub rows the widest CVEs were counted from."""


def local_view(scans: Sequence[TagScan], limit: int = 5) -> RegistryView:
    """The view from the reports read: each image (digest) once, worst first."""
    per_image: dict[tuple[str, str], list[TagScan]] = defaultdict(list)
    for scan in scans:
        per_image[(scan.record.repository, scan.record.digest)].append(scan)
    risks = [ImageRisk(repository, digest, tuple(s.record.tag for s in found), found[0].counts)
             for (repository, digest), found in per_image.items()
             if found[0].report is not None and found[0].state is ScanState.SCANNED]
    risks.sort(key=lambda r: (r.repository, r.tags))
    risks.sort(key=lambda r: (*r.counts.risk_key, r.counts.fixable), reverse=True)
    per = [0, 0, 0, 0, 0]
    for risk in risks:
        for severity in Severity:
            per[severity] += risk.counts.of(severity)
    counts = SeverityCounts(critical=per[4], high=per[3], medium=per[2], low=per[1],
                            unknown=per[0], fixable=sum(r.counts.fixable for r in risks))
    first_per_image = [found[0] for found in per_image.values()]
    found_any = [risk for risk in risks if risk.counts.total]  # a clean image is no danger
    return RegistryView("reports read", counts, len(risks), len(per_image),
                        tuple(found_any[:limit]), tuple(widest_cves(first_per_image, limit)))


# -- triggering a scan (only through OperationsService.scan) --------------------------------

MAX_COMMAND_SECONDS: Final = 900.0


def kept_reports_dir(state_dir: Path, registry: str) -> Path:
    """Where reports from `regtui scan` runs are kept, one `sha256-<hex>.json` per image."""
    return state_dir / "scan-reports" / "".join(c if c.isalnum() or c in "-_." else "_"
                                                for c in registry)


def command_for(template: str, reference: str) -> list[str]:
    """The configured template with `{ref}` filled in as one argument; no shell involved."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise UsageError(f"[registries.scans] command {template!r}: {exc}") from None
    return [word.replace("{ref}", reference) for word in words]


async def run_scan_command(template: str, reference: str, digest: str, keep_in: Path, *,
                           timeout: float = MAX_COMMAND_SECONDS) -> Path:
    """Run the scan command, check its output is a report, keep it; returns the file."""
    argv = command_for(template, reference)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise RegistryError(f"scan command {argv[0]!r} could not start: {exc.strerror}") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RegistryError(f"scan command {argv[0]!r} ran longer than "
                            f"{timeout:.0f} s and was stopped") from None
    if process.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        last = safe_text(lines[-1] if lines else "(no message)", 200)
        raise RegistryError(f"scan command {argv[0]!r} exited {process.returncode}: {last}")
    try:
        parse_report(out, f"output of scan command {argv[0]!r}")
    except ReportError as exc:
        raise RegistryError(str(exc)) from None
    keep_in.mkdir(parents=True, exist_ok=True)
    target = keep_in / f"{digest.replace(':', '-', 1)}.json"
    partial = target.with_suffix(".json.partial")
    partial.write_bytes(out)
    partial.replace(target)
    return target


SCAN_WAIT_SECONDS: Final = 600.0
"""How long `regtui scan` (and the TUI's scan) waits for Harbor's scan to end by default."""
POLL_SECONDS: Final = 2.0
CLOCK_SKEW: Final = timedelta(minutes=5)
"""A finished scan this much older than the trigger is the previous one, not ours."""


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """What a waiting scan is doing, for a progress line or a status bar."""

    reference: str
    state: str
    """`started`, `running`, or `command` (the configured scan command runs)."""
    percent: int | None = None
    elapsed: float = 0.0

    def describe(self) -> str:
        percent = f" {self.percent}%" if self.percent is not None else ""
        return f"{self.reference}: {self.state}{percent} ({self.elapsed:.0f} s)"


ProgressSink = Callable[[ScanProgress], None]


class ScanUnfinished(RegistryError):
    """The scan was started but did not end within the wait: not a failure of the scan."""


@dataclass(frozen=True, slots=True)
class ScanWait:
    """How to wait for a triggered scan; `seconds = 0` only starts it."""

    seconds: float = SCAN_WAIT_SECONDS
    poll_seconds: float = POLL_SECONDS
    on_progress: ProgressSink | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic


async def trigger_scan(inventory: InventoryService, command: str, repository: str,
                       reference: str, keep_in: Path, wait: ScanWait | None = None) -> str:
    """Start a scan of one tag or digest and wait for it; returns the audit outcome.

    Raises RegistryError when the scan could not start or ended in an error, and
    ScanUnfinished when it was still running when the wait ran out.
    """
    wait = wait or ScanWait()
    backend = inventory.backend
    head = await backend.head_manifest(repository, reference)
    api = scan_api(backend)
    label = f"{repository}@{head.digest[:19]}"
    if api is not None:
        harbor = api.scans()
        triggered = datetime.now(UTC)
        await harbor.trigger(repository, head.digest)
        if wait.seconds <= 0:
            return f"ok: Harbor scan started for {head.digest}"
        report = await _wait_for_harbor(harbor, repository, head.digest, label, triggered, wait)
        return (f"ok: scan finished: {_counts_text(report.counts)} "
                f"({safe_text(report.scanner_label, 60)})")
    if not command:
        raise UsageError(f"registry {inventory.name} has no scan API and no "
                         "[registries.scans] command to run")
    if wait.on_progress is not None:
        wait.on_progress(ScanProgress(label, "command"))
    host = backend.url.split("://", 1)[-1].rstrip("/")
    limit = wait.seconds if wait.seconds > 0 else MAX_COMMAND_SECONDS
    path = await run_scan_command(command, f"{host}/{repository}@{head.digest}", head.digest,
                                  keep_in, timeout=min(limit, MAX_COMMAND_SECONDS))
    return f"ok: report kept in {path}"


async def _wait_for_harbor(harbor: HarborScans, repository: str, digest: str, label: str,
                           triggered: datetime, wait: ScanWait) -> ScanReport:
    """Poll the artifact's scan overview until Harbor says the scan ended, or time runs out.

    Right after the trigger the overview may still show the previous scan: an ended scan
    (finished or failed) counts only once this one was seen running, or when it ended after
    the trigger.
    """
    started = wait.clock()
    seen_running = False
    last: ScanProgress | None = None
    while True:
        report = await harbor.status(repository, digest)
        elapsed = wait.clock() - started
        ours = report is not None and (seen_running or _ended_after(report, triggered))
        if ours and report is not None and report.state is ScanState.ERROR:
            raise RegistryError(f"Harbor's scan of {label} ended in an error (see the scan "
                                "log in Harbor)")
        if ours and report is not None and report.state is ScanState.SCANNED:
            return report
        running = report is not None and report.state is ScanState.RUNNING
        seen_running = seen_running or running
        progress = ScanProgress(label, "running" if running else "started",
                                report.progress if running and report else None, elapsed)
        if wait.on_progress is not None and (last is None or (progress.state, progress.percent)
                                             != (last.state, last.percent)):
            wait.on_progress(progress)
        last = progress
        if elapsed >= wait.seconds:
            where = f" at {progress.percent}%" if progress.percent is not None else ""
            raise ScanUnfinished(f"Harbor's scan of {label} was still {progress.state}{where} "
                                 f"after {wait.seconds:g} s; Harbor goes on with it "
                                 "(`regtui scans` shows the result)")
        await wait.sleep(wait.poll_seconds)


def _ended_after(report: ScanReport, triggered: datetime) -> bool:
    return report.scanned_at is not None and _aware(report.scanned_at) >= triggered - CLOCK_SKEW


def _counts_text(counts: SeverityCounts) -> str:
    parts = [f"{counts.of(s)}{s.letter}" for s in sorted(Severity, reverse=True) if counts.of(s)]
    return (" ".join(parts) if parts else "clean") + f", {counts.fixable} fixable"
