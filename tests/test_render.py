"""Unit tests of the pure render layer: safe text, filters, sort keys, rows and cells."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from regtui.filter import FilterError, parse_filter
from regtui.registry.models import ArtifactKind, RepositorySummary, TagRecord
from regtui.render import formats
from regtui.render.columns import Column, fit_columns
from regtui.render.detail import activity_lines
from regtui.render.fleet import RegistryStatus, fleet_cells, status_word
from regtui.render.repos import RepoSort, flat_rows, repo_cells, tree_rows
from regtui.render.sorting import version_key
from regtui.render.tags import (
    TagSort,
    TagTable,
    activity_cells,
    group_tags,
    marks,
    tag_cells,
)
from regtui.text import Untrusted as U
from regtui.text import safe_text

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def record(tag: str, digest: str = DIGEST_A, *, size: int = 1024, days: int = 1,
           kind: ArtifactKind = ArtifactKind.IMAGE, subject: str | None = None) -> TagRecord:
    return TagRecord("lab", U("app"), U(tag), digest, U("m"), size, (U("linux/amd64"),),
                     NOW - timedelta(days=days), kind, subject)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\x1b[31mred", "␛[31mred"),
        ("bell\x07", "bell␇"),
        ("a\nb\tc", "a␊b␉c"),
        ("csi\x9b2J", "csi\\x9b2J"),
        ("rtl\u202eoverride", "rtl\\u202eoverride"),
        ("[bold red]x[/]", "[bold red]x[/]"),
    ],
)
def test_safe_text_makes_controls_visible(raw: str, expected: str) -> None:
    assert safe_text(raw) == expected


def test_safe_text_cuts_long_values_with_ellipsis() -> None:
    out = safe_text("x" * 10_000, 50)
    assert len(out) == 50 and out.endswith("…")
    assert safe_text("short", 50) == "short"


def test_safe_text_multiline_keeps_newlines_only() -> None:
    assert safe_text("a\nb\x1b", 100, multiline=True) == "a\nb␛"


def test_filter_substring_is_case_insensitive_and_invertible() -> None:
    items = ["Alpha", "beta", "gamma"]
    assert parse_filter("ALP").apply(items, str.lower) == ["Alpha"]
    assert parse_filter("!a").apply(items, str.lower) == []
    assert parse_filter("!alp").apply(items, str.lower) == ["beta", "gamma"]
    assert parse_filter("").apply(items, str.lower) == items
    assert parse_filter("!").apply(items, str.lower) == items


def test_filter_regex_and_inverted_regex() -> None:
    items = ["v1.2", "v10.0", "latest"]
    assert parse_filter("~^v1\\.").apply(items, str.lower) == ["v1.2"]
    assert parse_filter("!~^v").apply(items, str.lower) == ["latest"]
    assert parse_filter("1.2").apply(["112", "1.2"], str.lower) == ["1.2"]


def test_bad_regex_names_the_pattern() -> None:
    with pytest.raises(FilterError, match=r"bad regular expression in filter '\['"):
        parse_filter("~[")


def test_version_key_orders_like_versions() -> None:
    tags = ["1.10", "latest", "1.9", "v1.0.0", "1.0.0-rc1", "1.0.0-rc10", "1.0.0-rc2", "2"]
    assert sorted(tags, key=version_key) == [
        "1.0.0-rc1", "1.0.0-rc2", "1.0.0-rc10", "v1.0.0", "1.9", "1.10", "2", "latest"]


def test_signature_is_folded_under_its_image_with_markers() -> None:
    sig_tag = "sha256-" + "a" * 64 + ".sig"
    records = [
        record("1.0"),
        record("latest"),
        record(sig_tag, DIGEST_B, kind=ArtifactKind.SIGNATURE, subject=DIGEST_A),
        record("sbom", "sha256:" + "c" * 64, kind=ArtifactKind.SBOM, subject=DIGEST_A),
    ]
    rows = group_tags(records)
    assert [row.key for row in rows] == ["1.0", "latest"]
    assert [child.tag for child in rows[0].children] == ["sbom", sig_tag]
    assert rows[1].children == ()
    assert marks(rows[0]) == "SB =1" and marks(rows[1]) == "SB =1"


def test_schema_tag_without_subject_field_is_still_folded() -> None:
    sig_tag = "sha256-" + "a" * 64 + ".att"
    rows = group_tags([record("1.0"), record(sig_tag, DIGEST_B, kind=ArtifactKind.ATTESTATION)])
    assert [row.key for row in rows] == ["1.0"]
    assert marks(rows[0]) == "A"


def test_orphan_signature_stays_visible() -> None:
    orphan = record("sha256-" + "f" * 64 + ".sig", DIGEST_B, kind=ArtifactKind.SIGNATURE)
    assert [row.key for row in group_tags([record("1.0"), orphan])] == ["1.0", orphan.tag]


def test_tag_table_sorts_all_rows_and_filters_and_expands() -> None:
    sig = record("sha256-" + "a" * 64 + ".sig", DIGEST_B, kind=ArtifactKind.SIGNATURE)
    table = TagTable([record("1.10", size=5, days=3), record("1.9", DIGEST_B, size=50, days=1),
                      record("1.2", "sha256:" + "d" * 64, size=7, days=2), sig])
    empty = parse_filter("")

    def keys(query: str, sort: TagSort, reverse: bool) -> list[str]:
        return [r.key for r in table.visible(parse_filter(query), sort, reverse, set())]

    assert keys("", TagSort.NAME, False) == ["1.2", "1.9", "1.10"]
    assert keys("", TagSort.SIZE, True) == ["1.9", "1.2", "1.10"]
    assert keys("", TagSort.DATE, True) == ["1.9", "1.2", "1.10"]
    assert keys("1.1", TagSort.NAME, False) == ["1.10"]
    assert keys("!1.1", TagSort.NAME, False) == ["1.2", "1.9"]
    assert keys("~^1\\.[29]$", TagSort.NAME, True) == ["1.9", "1.2"]
    assert keys("dddd", TagSort.NAME, False) == ["1.2"]  # the digest is searched too
    expanded = table.visible(empty, TagSort.NAME, False, {"1.10"})
    assert [r.depth for r in expanded] == [0, 0, 0, 1]
    assert expanded[3].record is sig


def test_tag_cells_show_humanized_values() -> None:
    row = group_tags([record("1.0", size=3 * 1024 * 1024, days=2)])[0]
    cells = tag_cells(row, NOW)
    assert cells[0].strip() == "1.0"
    assert cells[1] == "a" * 12
    assert cells[2] == "3.0 MiB"
    assert cells[3] == "linux/amd64"
    assert cells[4] == "2 days ago"


def test_activity_cells_and_lines_show_the_registrys_own_times() -> None:
    base = record("1.0", days=30)
    hub = replace(base, pushed_at=NOW - timedelta(days=3), pulled_at=NOW - timedelta(hours=5),
                  status=U("active\x1b[2J"))
    assert activity_cells(hub, NOW) == ("3 days ago", "5 hours ago", "active␛[2J")
    assert activity_cells(base, NOW) == ("-", "-", "-")
    assert hub.push_time == NOW - timedelta(days=3) and base.push_time == base.created
    lines = dict(activity_lines(hub, NOW))
    assert lines["Last pulled"] == "2026-01-02 07:00:00 UTC (5 hours ago)"
    assert lines["Status"] == "active␛[2J"
    assert dict(activity_lines(base, NOW))["Last pulled"] == "never (or not recorded)"


def test_tag_cells_make_hostile_names_literal() -> None:
    row = group_tags([record("[bold]x[/]\x1b[2J")])[0]
    assert tag_cells(row, NOW)[0].strip() == "[bold]x[/]␛[2J"


def summary(name: str, tags: int, size: int, days: int) -> RepositorySummary:
    return RepositorySummary("lab", U(name), tags, size, NOW - timedelta(days=days))


def test_repo_tree_folds_namespaces_with_totals() -> None:
    names = ["a.b/c-d/e_f/g", "a.b/c-d/h", "z"]
    sums = {"a.b/c-d/e_f/g": summary("a.b/c-d/e_f/g", 2, 10, 5), "a.b/c-d/h": summary("h", 3, 5, 1)}
    rows = tree_rows(names, sums, parse_filter(""), set())
    assert [r.key for r in rows] == ["ns:a.b", "ns:a.b/c-d", "a.b/c-d/h", "ns:a.b/c-d/e_f",
                                     "a.b/c-d/e_f/g", "z"]
    folded = tree_rows(names, sums, parse_filter(""), {"a.b/c-d"})
    assert [r.key for r in folded] == ["ns:a.b", "ns:a.b/c-d", "z"]
    assert (folded[1].tag_count, folded[1].size_bytes) == (5, 15)
    assert repo_cells(folded[1], NOW)[0] == "  ▸ c-d/"
    assert repo_cells(folded[2], NOW)[1] == "…"


def test_repo_tree_filter_shows_matches_with_parents() -> None:
    rows = tree_rows(["a/x", "a/y", "b/x"], {}, parse_filter("y"), {"a"})
    assert [r.key for r in rows] == ["ns:a", "a/y"]


def test_flat_repos_sort_by_size() -> None:
    sums = {"a": summary("a", 1, 30, 1), "b": summary("b", 1, 20, 1)}
    rows = flat_rows(["a", "b"], sums, parse_filter(""), RepoSort.SIZE)
    assert [r.key for r in rows] == ["b", "a"]


def test_fit_columns_drops_low_priority_and_flexes() -> None:
    cols = (Column("a", "A", 10, 0, flex=True), Column("b", "B", 10, 1), Column("c", "C", 10, 2))
    assert [(c.key, w) for c, w in fit_columns(cols, 25)] == [("a", 14), ("b", 10)]
    assert [(c.key, w) for c, w in fit_columns(cols, 40)] == [("a", 18), ("b", 10), ("c", 10)]
    no_flex = (Column("a", "A", 10, 0), Column("b", "B", 10, 1), Column("c", "C", 10, 2, flex=True))
    assert [(c.key, w) for c, w in fit_columns(no_flex, 25)] == [("a", 14), ("b", 10)]


def test_fleet_cells_and_status() -> None:
    from regtui.render.fleet import CELL_KEYS

    def cells_of(status: RegistryStatus, now: datetime = NOW, **kw: object) -> dict[str, str]:
        return dict(zip(CELL_KEYS, fleet_cells(status, now, **kw), strict=True))  # type: ignore[arg-type]

    status = RegistryStatus("lab", "http://x", "distribution", reachable=True,
                            api_version="registry/2.0", repositories=3, tags=1200,
                            size_bytes=2048, fetched_at=NOW - timedelta(seconds=30))
    cells = cells_of(status)
    assert [cells[k] for k in ("name", "status", "mode", "api", "repos", "tags", "size")] == [
        "lab", "up", "writable", "distribution registry/2.0", "3", "1,200", "2.0 KiB"]
    assert cells_of(status, read_only=True)["mode"] == "read-only"
    assert cells["age"] == "just now"  # ages tick by the minute, so idle screens stay still
    assert cells_of(status, NOW + timedelta(seconds=150))["age"] == "3 minutes ago"
    assert cells["rate"] == "-"  # no request rate measured yet
    status.request_rate = 0.34
    assert cells_of(status)["rate"] == "0.3"
    shown = RegistryStatus("lab", "http://x", "distribution", from_snapshot=True)
    assert status_word(shown) == "snapshot"  # shown before the registry answered
    status.error = "registry lab at http://x: connection refused"
    assert status_word(status) == "stale"
    assert cells_of(status, retry_in=41.2)["error"] == (
        f"{status.error} (data kept), retrying in 42s")
    down = RegistryStatus("hub", "http://y", "distribution", reachable=False, error="refused")
    assert cells_of(down, retry_in=3599.5)["error"] == "unreachable: refused, retrying in 60m"
    down.loading = True
    assert cells_of(down, retry_in=0)["error"] == "unreachable: refused, retrying now"


def test_formats_handle_unknowns() -> None:
    assert formats.size(None) == "-" and formats.age(None, NOW) == "-"
    assert formats.age(datetime(2026, 1, 1, 12), NOW) == "a day ago"


def test_folded_schema_tags_are_shortened_keeping_the_suffix() -> None:
    sig = "sha256-" + "a" * 64 + ".sig"
    table = TagTable([record("1.0"), record(sig, DIGEST_B, kind=ArtifactKind.SIGNATURE)])
    child = table.visible(parse_filter(""), TagSort.NAME, False, {"1.0"})[1]
    assert tag_cells(child, NOW)[0] == "  └ sha256-aaaaaaaaaaaa….sig"
    assert tag_cells(child, NOW)[5] == "sig"


def test_fleet_gauges_and_the_columns_they_bring() -> None:
    from regtui.registry.models import Gauge
    from regtui.render.fleet import FLEET_COLUMNS, fleet_columns, fleet_row, gauge_text

    status = RegistryStatus("hub", "https://registry-1.docker.io", "dockerhub")
    assert "limits" not in [c.key for c in fleet_columns([status])]
    status.gauges = (Gauge("pulls", 8, 100, detail="per 6h", warn=True),
                     Gauge("store default", 3 * 1024**3, 10 * 1024**3, unit="bytes"),
                     Gauge("pulls", None, None, detail="no limit"))
    status.notes = ("repositories: configured list",)
    assert fleet_columns([status]) == FLEET_COLUMNS and status.warns
    assert [gauge_text(g) for g in status.gauges] == [
        "! pulls 8/100 per 6h", "store default 3.0 GiB/10.0 GiB", "pulls no limit"]
    row = dict(zip([c.key for c in FLEET_COLUMNS], fleet_row(status, NOW, FLEET_COLUMNS),
                   strict=True))
    assert row["limits"].startswith("! pulls 8/100 per 6h · store default")
    assert row["notes"] == "repositories: configured list" and row["error"] == "-"
