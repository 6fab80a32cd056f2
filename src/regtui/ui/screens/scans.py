"""The scans screen (`V`, `:scans`): every tag's findings worst first, the registry-wide views,
a tag's drill-down, and the CVE search an operator is asked for during an incident.

Widgets do no I/O: workers ask the scan service, rows come from `regtui.render.scans`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from regtui.errors import RegtuiError
from regtui.filter import TextFilter, parse_filter
from regtui.registry.models import TagRecord
from regtui.registry.scan_models import ScanReport, Severity
from regtui.render.clipboard import Grammar
from regtui.render.formats import plural, short_digest
from regtui.render.scans import (
    FINDING_COLUMNS,
    HIT_COLUMNS,
    REPO_SCAN_COLUMNS,
    SCAN_COLUMNS,
    FindingRow,
    GroupBy,
    HitRow,
    RepoScanRow,
    ScanFilter,
    ScanRow,
    StatusFilter,
    finding_cells,
    finding_detail,
    finding_rows,
    finding_style,
    hit_cells,
    hit_rows,
    hits_summary,
    overview_text,
    platforms_line,
    repo_row_cells,
    repo_row_style,
    repository_rows,
    row_style,
    scan_row_cells,
    scan_rows,
    severity_cell,
)
from regtui.services.scans import (
    CveHit,
    RegistryView,
    ScanProgress,
    ScanWait,
    TagScan,
    check_cve_id,
)
from regtui.text import Shown, safe_text
from regtui.ui.screens.base import BaseScreen
from regtui.ui.widgets.vtable import VirtualTable

LARGE_DRILL_DOWN = 5000
"""More findings than this are grouped in a thread."""
SEVERITY_STEPS: tuple[Severity | None, ...] = (None, Severity.CRITICAL, Severity.HIGH,
                                               Severity.MEDIUM, Severity.LOW)


class ScanSource(Protocol):
    """What the screens need from `regtui.services.scans.ScanService`."""

    problems: list[str]

    async def scan_tags(self, records: Sequence[TagRecord],
                        on_scan: Callable[[TagScan], None] | None = None) -> list[TagScan]: ...

    async def full_report(self, scan: TagScan) -> ScanReport | None: ...

    async def search_cve(self, scans: Sequence[TagScan], cve: str) -> list[CveHit]: ...

    async def registry_view(self, scans: Sequence[TagScan], limit: int = 5) -> RegistryView: ...

    def forget(self) -> None: ...


class ScansScreen(BaseScreen):
    """Per tag: C/H/M/L/U, total, fixable, scanner, time, status; sorted by risk."""

    DEFAULT_CSS = """
    ScansScreen #scans-overview { height: auto; max-height: 6; color: $text-muted; }
    ScansScreen #cve-input { display: none; }
    ScansScreen #cve-input.-visible { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "cycle_severity", "Severity", id="scans.severity",
                tooltip="Show only tags with a finding this severe or worse (cycles)"),
        Binding("f", "toggle_fixable", "Fixable", id="scans.fixable",
                tooltip="Show only tags with at least one fixable finding"),
        Binding("x", "cycle_status", "Status", id="scans.status",
                tooltip="All, scanned, not scanned, failed or stale (cycles)"),
        Binding("R", "toggle_repositories", "By repo", id="scans.repositories",
                tooltip="One row per repository (each image once), or per tag; Enter on a "
                        "repository shows its tags"),
        Binding("C", "cve_search", "CVE search", id="scans.cve",
                tooltip="Which images have this CVE? Tags, digests, packages, fixes"),
        Binding("ctrl+t", "trigger_scan", "Scan now", id="scans.trigger", show=False,
                tooltip="Scan the selected tag (Harbor's API or the configured command); "
                        "audited, not offered in read-only mode"),
    ]

    def __init__(self, registry: str, source: ScanSource,
                 records: Sequence[TagRecord] | None = None) -> None:
        super().__init__()
        self.registry = registry
        self.source = source
        self.records = list(records) if records is not None else None
        self.scans: list[TagScan] = []
        self.scan_filter = ScanFilter()
        self.by_repository = False
        self.scanning = ""
        """What a scan started here is doing (`ctrl+t`), shown under the table."""
        self.view: RegistryView | None = None
        """Registry-wide totals, worst images, widest CVEs: Security Hub's where it has one."""

    def compose_body(self) -> ComposeResult:
        yield Static(Text("reading scan reports…"), id="scans-overview")
        yield Input(placeholder="CVE id, e.g. CVE-2024-3094 (Enter to search, Esc to close)",
                    id="cve-input")
        yield VirtualTable(SCAN_COLUMNS, self._cells, style_of=_style, id="scans",
                           empty="reading scan reports…")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_title(f"Scans · {self.registry}")
        self.query_one("#scans").focus()
        self.load()

    def _cells(self, row: ScanRow | RepoScanRow) -> tuple[Shown, ...]:
        if isinstance(row, RepoScanRow):
            return repo_row_cells(row)
        return scan_row_cells(row, self.rapp.clock())

    def read_only_mode(self) -> bool:
        return self.rapp.registry_read_only(self.registry) if \
            self.registry in self.rapp.store.registries else self.rapp.read_only

    # -- data --------------------------------------------------------------------------------

    @work(exclusive=True, group="scans", exit_on_error=False)
    async def load(self) -> None:
        records = self.records
        if records is None:
            records = self.rapp.complete_records(self.registry) if \
                self.registry in self.rapp.store.registries else None
        if records is None:
            service = self.rapp.service(self.registry)
            names = await service.repository_names()
            records = [r for name in names for r in await service.tag_records(name)]
        seen: list[TagScan] = []

        def arrived(scan: TagScan) -> None:
            """Show the first rows at once, then every 200: the rest may wait on referrers."""
            seen.append(scan)
            if len(seen) in (20, 100) or len(seen) % 200 == 0:
                self.scans = list(seen)
                self.show(partial=len(records))

        self.scans = await self.source.scan_tags(records, arrived)
        self.view = None
        if self.registry in self.rapp.store.registries:  # the VULNS columns need not wait
            self.rapp.store[self.registry].set_scans(self.scans)
            self.rapp.scans_changed(self.registry)
        self.show()
        self.view = await self.source.registry_view(self.scans)
        self.show()

    def _filter(self) -> ScanFilter:
        return ScanFilter(self.scan_filter.severity, self.scan_filter.fixable_only,
                          self.scan_filter.status, self.filters.get("scans", TextFilter()))

    def show(self, partial: int | None = None) -> None:
        scan_filter = self._filter()
        table = self.query_one("#scans", VirtualTable)
        rows: Sequence[ScanRow | RepoScanRow]
        if self.by_repository:
            rows = repository_rows(self.scans, scan_filter)
            table.set_columns(REPO_SCAN_COLUMNS)
        else:
            rows = scan_rows(self.scans, scan_filter)
            table.set_columns(SCAN_COLUMNS)
        table.set_rows(rows)
        table.empty_text = "no tag matches the filters" if self.scans else "no images"
        reading = f" · reading {len(self.scans):,} of {partial:,}…" if partial else ""
        tags = plural(len(self.scans), "tag")
        shown = (f"{plural(len(rows), 'repository', 'repositories')} · {tags}"
                 if self.by_repository else f"{len(rows):,}/{tags}")
        table.border_title = Text(f"{shown}{reading}")
        self._show_subtitle()
        table.invalidate()
        self.query_one("#scans-overview", Static).update(
            Text(overview_text(self.scans, self.source.problems, self.view)))

    def refresh_data(self) -> None:
        self.load()

    def action_refresh(self) -> None:
        self.source.forget()
        self.load()

    def apply_filter(self, table_id: str, text_filter: TextFilter) -> None:
        self.show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A scan is a change (audited): not bound at all in read-only mode."""
        if action == "trigger_scan":
            return not self.read_only_mode()
        return True

    def action_trigger_scan(self) -> None:
        row = self.query_one("#scans", VirtualTable).current
        if self.read_only_mode() or not isinstance(row, ScanRow):
            return
        if self.scanning:  # a second trigger would cancel the first one's wait
            self.notify(safe_text(f"a scan is running ({self.scanning}): wait for it to end",
                                  300), severity="warning", markup=False)
            return
        self.scanning = safe_text(f"{row.scan.record.reference}: requested", 120)
        self.trigger(row.scan.record)

    @work(exclusive=True, group="scan-trigger", exit_on_error=False)
    async def trigger(self, record: TagRecord) -> None:
        """Through the operations service (read-only check, audit), waiting for the scan to
        end with its progress under the table; then read again. A failure or a scan still
        running when the wait ends is the error line (and audited)."""
        operations = self.rapp.operations(self.registry)

        def progress(step: ScanProgress) -> None:
            self.scanning = safe_text(step.describe(), 120)
            self._show_subtitle()

        self.notify(safe_text(f"{record.reference}: scan requested", 300), markup=False)
        try:
            outcome = await operations.scan(record.repository, record.tag,
                                            wait=ScanWait(on_progress=progress))
            self.notify(safe_text(f"{record.reference}: {outcome}", 300), markup=False)
        finally:
            self.scanning = ""
            self.source.forget()
            self.load()

    def _show_subtitle(self) -> None:
        table = self.query_one("#scans", VirtualTable)
        scanning = f"scanning {self.scanning} · " if self.scanning else ""
        table.border_subtitle = Text(f"{scanning}filters: {self._filter().describe()}")

    # -- filters -----------------------------------------------------------------------------

    def action_cycle_severity(self) -> None:
        step = SEVERITY_STEPS.index(self.scan_filter.severity)
        severity = SEVERITY_STEPS[(step + 1) % len(SEVERITY_STEPS)]
        self.scan_filter = ScanFilter(severity, self.scan_filter.fixable_only,
                                      self.scan_filter.status)
        self.show()

    def action_toggle_fixable(self) -> None:
        self.scan_filter = ScanFilter(self.scan_filter.severity,
                                      not self.scan_filter.fixable_only, self.scan_filter.status)
        self.show()

    def action_cycle_status(self) -> None:
        order = list(StatusFilter)
        status = order[(order.index(self.scan_filter.status) + 1) % len(order)]
        self.scan_filter = ScanFilter(self.scan_filter.severity, self.scan_filter.fixable_only,
                                      status)
        self.show()

    # -- drill-down and CVE search -----------------------------------------------------------

    def action_toggle_repositories(self) -> None:
        self.by_repository = not self.by_repository
        self.show()

    @on(VirtualTable.Selected, "#scans")
    def _selected(self, event: VirtualTable.Selected) -> None:
        if isinstance(event.row, RepoScanRow):  # its tags: the tag view filtered to it
            self.by_repository = False
            self.filters["scans"] = parse_filter("~^" + re.escape(event.row.key.lower()) + ":")
            self.show()
        elif isinstance(event.row, ScanRow):
            self.app.push_screen(ScanDetailScreen(self.registry, self.source, event.row.scan))

    def action_cve_search(self) -> None:
        box = self.query_one("#cve-input", Input)
        box.add_class("-visible")
        box.focus()

    @on(Input.Submitted, "#cve-input")
    def _cve_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#cve-input", Input)
        box.remove_class("-visible")
        self.query_one("#scans").focus()
        try:
            cve = check_cve_id(event.value)
        except RegtuiError as error:
            self.rapp.report_error(error)
            return
        self.app.push_screen(CveScreen(self.registry, self.source, self.scans, cve))

    def action_back(self) -> None:
        box = self.query_one("#cve-input", Input)
        if box.has_class("-visible"):
            box.remove_class("-visible")
            self.query_one("#scans").focus()
            return
        super().action_back()


class ScanDetailScreen(BaseScreen):
    """One tag's findings grouped by package or CVE; Enter shows description and links."""

    DEFAULT_CSS = """
    ScanDetailScreen #finding-detail { height: auto; max-height: 12; border: round $panel; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "toggle_group", "Group by", id="findings.group-by",
                tooltip="Group findings by package or by CVE"),
        Binding("c", "copy_id", "Copy id", id="findings.copy-id",
                tooltip="Copy the selected finding's CVE id to the clipboard"),
    ]

    def __init__(self, registry: str, source: ScanSource, scan: TagScan) -> None:
        super().__init__()
        self.registry = registry
        self.source = source
        self.scan = scan
        self.report: ScanReport | None = scan.report
        self.group_by = GroupBy.PACKAGE

    def compose_body(self) -> ComposeResult:
        yield VirtualTable(FINDING_COLUMNS, finding_cells, style_of=finding_style,
                           id="findings", empty="reading the report…")
        platforms = platforms_line(self.scan)
        yield Static(Text((f"{platforms}\n" if platforms else "") +
                          "Enter: description and references · b: group by package or CVE · "
                          "c: copy id"), id="finding-detail")

    def on_mount(self) -> None:
        super().on_mount()
        record = self.scan.record
        report = self.scan.report
        label = report.scanner_label if report else "not scanned"
        self.set_title(f"{record.repository}:{record.tag} · {short_digest(record.digest)} · "
                       f"{severity_cell(self.scan.counts)} · {label}")
        self.query_one("#findings").focus()
        self.load()

    @work(exclusive=True, group="scan-detail", exit_on_error=False)
    async def load(self) -> None:
        self.report = await self.source.full_report(self.scan)
        self.show()

    def show(self) -> None:
        self.build_rows(self.group_by, self.filters.get("findings"))

    @work(exclusive=True, group="finding-rows", exit_on_error=False)
    async def build_rows(self, group_by: GroupBy, text_filter: TextFilter | None) -> None:
        """Grouping 50,000 findings takes a moment: in a thread, the latest request wins."""
        findings = self.report.findings if self.report is not None else ()
        if len(findings) > LARGE_DRILL_DOWN:
            rows = await asyncio.to_thread(finding_rows, findings, group_by, text_filter)
        else:
            rows = finding_rows(findings, group_by, text_filter)
        table = self.query_one("#findings", VirtualTable)
        table.set_rows(rows)
        table.empty_text = (self.scan.error and safe_text(self.scan.error, 300)) or (
            "no findings" if self.report is not None else "not scanned")
        cves = len({finding.vulnerability_id for finding in findings})
        table.border_title = Text(f"{len(findings):,} findings · {cves:,} CVEs · "
                                  f"by {group_by.value}")
        table.invalidate()

    def apply_filter(self, table_id: str, text_filter: TextFilter) -> None:
        self.show()

    def refresh_data(self) -> None:
        """Reports change only when rescanned: `r` on the scans screen reads them again."""

    def action_toggle_group(self) -> None:
        self.group_by = GroupBy.CVE if self.group_by is GroupBy.PACKAGE else GroupBy.PACKAGE
        self.show()

    def _current(self) -> FindingRow | None:
        row = self.query_one("#findings", VirtualTable).current
        return row if isinstance(row, FindingRow) else None

    @on(VirtualTable.Selected, "#findings")
    def _selected(self, event: VirtualTable.Selected) -> None:
        row = event.row
        if isinstance(row, FindingRow) and row.finding is not None:
            self.query_one("#finding-detail", Static).update(Text(finding_detail(row.finding)))

    def action_copy_id(self) -> None:
        row = self._current()
        if row is not None and row.finding is not None:
            self.rapp.copy_checked(row.finding.vulnerability_id, Grammar.VULNERABILITY_ID)


class CveScreen(BaseScreen):
    """Which images have this CVE: tags, digests, packages and whether a fix exists."""

    DEFAULT_CSS = """
    CveScreen #cve-summary { height: auto; }
    """

    def __init__(self, registry: str, source: ScanSource, scans: Sequence[TagScan],
                 cve: str) -> None:
        super().__init__()
        self.registry = registry
        self.source = source
        self.scans = list(scans)
        self.cve = cve
        self.hits: list[CveHit] = []

    def compose_body(self) -> ComposeResult:
        yield Static(Text(f"searching {safe_text(self.cve, 40)}…"), id="cve-summary")
        yield VirtualTable(HIT_COLUMNS, hit_cells, id="hits", empty="searching…")

    def on_mount(self) -> None:
        super().on_mount()
        self.set_title(f"{self.cve} · {self.registry}")
        self.query_one("#hits").focus()
        self.search()

    @work(exclusive=True, group="cve-search", exit_on_error=False)
    async def search(self) -> None:
        self.hits = await self.source.search_cve(self.scans, self.cve)
        self.show()

    def show(self) -> None:
        table = self.query_one("#hits", VirtualTable)
        rows = hit_rows(self.hits)
        text_filter = self.filters.get("hits")
        if text_filter is not None and not text_filter.is_empty:
            rows = text_filter.apply(rows, lambda r: f"{r.hit.repository}:{r.hit.tag}\n"
                                                     f"{r.hit.package}".lower())
        table.set_rows(rows)
        table.empty_text = f"no image read so far has {self.cve}"
        table.invalidate()
        self.query_one("#cve-summary", Static).update(Text(hits_summary(self.cve, self.hits)))

    def apply_filter(self, table_id: str, text_filter: TextFilter) -> None:
        self.show()

    def refresh_data(self) -> None:
        """A search answers from what was read; run it again from the scans screen."""

    def selected_hit(self) -> HitRow | None:
        row = self.query_one("#hits", VirtualTable).current
        return row if isinstance(row, HitRow) else None


def _style(row: ScanRow | RepoScanRow) -> str:
    return repo_row_style(row) if isinstance(row, RepoScanRow) else row_style(row)
