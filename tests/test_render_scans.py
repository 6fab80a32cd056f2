"""The scans pane's pure rendering: cells, per-severity columns, repository totals, styles.

No widget and no registry: rows are built from models here and checked cell by cell.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from regtui.registry.models import ArtifactKind, TagRecord
from regtui.registry.scan_models import Finding, ScanReport, ScanState, Severity, SeverityCounts
from regtui.render.columns import Styled
from regtui.render.scans import (
    CELL_LIMIT,
    SEVERITY_STYLES,
    FindingRow,
    HitRow,
    RepoScanRow,
    ScanFilter,
    ScanRow,
    cells,
    finding_cells,
    hit_cells,
    overview_text,
    per_severity,
    platforms_line,
    repo_row_cells,
    repository_rows,
    scan_cell,
    scan_row_cells,
    severity_cell,
)
from regtui.services.scans import CveHit, ImageRisk, TagScan, local_view
from regtui.text import Shown, Untrusted
from regtui.ui.widgets.vtable import VirtualTable, _placed

NOW = datetime(2026, 12, 1, tzinfo=UTC)
COUNTS = SeverityCounts(critical=2, high=1, medium=4, low=9, unknown=3, fixable=5)


def record(repository: str, tag: str, digest: str) -> TagRecord:
    return TagRecord("lab", Untrusted(repository), Untrusted(tag), digest, Untrusted("m"), 1,
                     (), NOW, ArtifactKind.IMAGE)


def tag_scan(repository: str, tag: str, digest: str, counts: SeverityCounts = COUNTS,
             state: ScanState = ScanState.SCANNED) -> TagScan:
    report = ScanReport(format="trivy", scanner="Trivy", scanner_version="0.50.1",
                        scanned_at=NOW, counts=counts, state=state)
    return TagScan(record(repository, tag, digest), state, report)


def test_one_helper_makes_every_cell_literal_and_bounded() -> None:
    @cells
    def raw(value: str) -> tuple[str, ...]:
        return (value, Shown("ours"))

    hostile, ours = raw("\x1b[31mred\x1b[0m" + "x" * 5000)
    assert isinstance(hostile, Shown) and "\x1b" not in hostile
    assert len(hostile) <= CELL_LIMIT and ours == "ours"
    finding = Finding("CVE-1\x07", "pkg\u202e", "1", "", Severity.HIGH, title="t\x1b")
    scan = ScanRow("a:b", tag_scan("a\x00", "b", "sha256:a"))
    hit = HitRow("k", CveHit("r\x1b", "t", "sha256:a", "CVE-1", "p\x07", "1", "", Severity.LOW))
    for built in (finding_cells(FindingRow("f", finding)), scan_row_cells(scan, NOW),
                  hit_cells(hit), repo_row_cells(RepoScanRow("r\x1b", COUNTS, 1, 1, 0))):
        assert all(isinstance(cell, Shown) for cell in built)
        assert not any(c in cell for cell in built for c in "\x00\x07\x1b\u202e")


def test_per_severity_columns_worst_first() -> None:
    assert per_severity(COUNTS) == ("2", "1", "4", "9", "3")
    assert per_severity(SeverityCounts(critical=1234), "{:,}".format)[0] == "1,234"
    cells_ = scan_row_cells(ScanRow("a:b", tag_scan("a", "b", "sha256:a")), NOW)
    assert cells_[2:9] == ("2", "1", "4", "9", "3", "19", "5")
    unscanned = tag_scan("a", "c", "sha256:c", state=ScanState.ERROR)
    assert scan_row_cells(ScanRow("a:c", unscanned), NOW)[2:9] == ("-",) * 7


def test_repository_rows_count_each_image_once() -> None:
    scans = [tag_scan("app", "1", "sha256:a"), tag_scan("app", "latest", "sha256:a"),
             tag_scan("app", "2", "sha256:b", SeverityCounts(high=2, fixable=1)),
             tag_scan("db", "1", "sha256:c", SeverityCounts(low=1))]
    rows = {row.key: row for row in repository_rows(scans, ScanFilter())}
    assert (rows["app"].images, rows["app"].scanned) == (2, 2)
    assert rows["app"].counts == SeverityCounts(critical=2, high=3, medium=4, low=9, unknown=3,
                                                fixable=6)
    assert repo_row_cells(rows["app"])[3:8] == ("2", "3", "4", "9", "3")
    assert list(rows) == ["app", "db"]


def test_severity_parts_are_styled_by_theme_classes_only() -> None:
    cell = severity_cell(SeverityCounts(critical=2, high=1, medium=4, low=9))
    assert cell == "2C 1H 4M 9L"
    assert [(cell[a:b], style) for a, b, style in cell.spans] == [
        ("2C", "vtable--severity-critical"), ("1H", "vtable--severity-high"),
        ("4M", "vtable--severity-medium"), ("9L", "vtable--severity-low")]
    assert severity_cell(SeverityCounts()) == "clean" and not severity_cell(
        SeverityCounts()).spans
    stale = scan_cell(replace(tag_scan("a", "b", "sha256:a", SeverityCounts(unknown=3)),
                              stale=True))
    assert stale == "3U ⌛" and isinstance(stale, Styled)
    assert [(stale[a:b], s) for a, b, s in stale.spans] == [("3U", "vtable--severity-unknown")]
    counts = scan_row_cells(ScanRow("a:b", tag_scan("a", "b", "sha256:a",
                                                    SeverityCounts(high=1))), NOW)[2:7]
    assert [c.spans if isinstance(c, Styled) else None for c in counts] == [
        (), ((0, 1, "vtable--severity-high"),), (), (), ()]
    # Every class is a table style defined from the theme's variable: no colour is literal.
    css = " ".join(VirtualTable.DEFAULT_CSS.split())
    for severity, name in SEVERITY_STYLES.items():
        assert name in VirtualTable.COMPONENT_CLASSES
        assert f".{name} {{ color: $severity-{severity.name.lower()}; }}" in css


def test_a_cut_styled_cell_keeps_spans_inside_what_is_shown() -> None:
    cut = Styled([("12C", "a"), ("3H", "b")], max_len=5)
    assert cut == "12C …" and cut.spans == ((0, 3, "a"),)
    middle = Styled([("12C", "a"), ("34H", "b")], max_len=6)
    assert middle == "12C 3…" and middle.spans == ((0, 3, "a"), (4, 5, "b"))
    assert _placed(middle, 4, 10, "left") == [(10, 13, "a")]  # "12C…" in four cells
    assert _placed(Styled([("1", "a")]), 4, 10, "right") == [(13, 14, "a")]


def test_local_view_counts_each_image_once_and_names_its_tags() -> None:
    scans = [tag_scan("app", "1", "sha256:a"), tag_scan("app", "latest", "sha256:a"),
             tag_scan("app", "2", "sha256:b", SeverityCounts(high=2)),
             tag_scan("app", "clean", "sha256:c", SeverityCounts())]
    view = local_view(scans)
    assert (view.source, view.scanned, view.images) == ("reports read", 3, 3)
    assert view.counts.critical == 2 and view.counts.high == 3  # sha256:a once
    assert [(r.digest, r.tags) for r in view.dangerous] == [("sha256:a", ("1", "latest")),
                                                             ("sha256:b", ("2",))]
    text = overview_text(scans, [], view)
    assert "Most dangerous: app:1 +1 2C 1H 4M 9L 3U · app:2 2H" in text
    assert "Security Hub" not in text
    hub = replace(view, source="Security Hub", scanned=7, images=9,
                  dangerous=(ImageRisk("app", "sha256:" + "d" * 64, (), COUNTS),))
    text = overview_text(scans, [], hub)
    assert "Security Hub: 7 of 9 artifacts scanned · 2C 3H 4M 9L 3U · 5 fixable" in text
    assert "Most dangerous: app@" in text


def test_a_findings_row_shows_its_link_literally() -> None:
    finding = Finding("CVE-2024-3094", "xz", "5.6.0", "5.6.1", Severity.CRITICAL,
                      primary_url="https://avd.aquasec.com/nvd/cve-2024-3094\x1b]8;;",
                      references=("https://nvd.nist.gov/x",))
    assert finding_cells(FindingRow("f", finding))[-1] == (
        "https://avd.aquasec.com/nvd/cve-2024-3094␛]8;;")
    bare = finding._replace(primary_url="")
    assert finding_cells(FindingRow("f", bare))[-1] == "https://nvd.nist.gov/x"
    assert len(finding_cells(FindingRow("g", None, "xz (1)"))) == len(
        finding_cells(FindingRow("f", finding)))


def test_an_index_drill_down_names_each_platforms_counts() -> None:
    amd = tag_scan("app", "multi", "sha256:a", SeverityCounts(critical=1, high=2)).report
    arm = tag_scan("app", "multi", "sha256:b", SeverityCounts(high=2)).report
    assert amd is not None and arm is not None
    index = replace(tag_scan("app", "multi", "sha256:i", SeverityCounts(critical=1, high=3)),
                    children=(("linux/amd64", amd), ("linux/arm\x1b64", arm)))
    assert platforms_line(index) == "per platform: linux/amd64 1C 2H · linux/arm␛64 2H"
    assert platforms_line(tag_scan("app", "1", "sha256:c")) == ""
