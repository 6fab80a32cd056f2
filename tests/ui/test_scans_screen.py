"""The scans screen, its drill-down, the CVE search and the tags pane's VULNS column.

Pilot tests run on the real lab with reports attached the way the real tools attach them;
snapshots use the fixed fake registry with a reports directory of the project's fixtures
(matched by RepoDigests through the real scans service), at 80x24 and 160x48.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.color import Color
from textual.pilot import Pilot

from regtui.config import (
    AuthConfig,
    Config,
    RegistryConfig,
    ScanConfig,
    adhoc_registry,
    load_config,
)
from regtui.lab import Lab, start_lab
from regtui.registry.factory import open_backend
from regtui.registry.scan_models import ScanState, Severity
from regtui.render.scans import FindingRow, HitRow, RepoScanRow, ScanRow, scan_cell
from regtui.render.tags import TagRow
from regtui.services.inventory import InventoryService
from regtui.services.scans import ScanService
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.screens.scans import CveScreen, ScanDetailScreen, ScansScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests.doubles.harbor_double import PASSWORD as HARBOR_PASSWORD
from tests.doubles.harbor_double import USERNAME as HARBOR_USER
from tests.doubles.harbor_double import HarborDouble
from tests.scan_fixtures import expected_counts, load, synthetic_report
from tests.scan_lab import REPO, ScanLab, seed_scan_lab
from tests.ui.conftest import AppMaker
from tests.ui.fakes import HOSTILE, NOW, digest_of
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import SIZES, Snap, settle

# -- on the real lab -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def scan_ui_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, ScanLab, Path]]:
    reports = tmp_path_factory.mktemp("ui-reports")
    with start_lab(auth="none", dataset="minimal", prometheus=False) as lab:
        yield lab, asyncio.run(seed_scan_lab(lab.url, reports)), reports


def lab_app(lab: Lab, reports: Path, tmp_path: Path) -> RegtuiApp:
    path = tmp_path / "config.toml"
    path.write_text(lab.regtui_config_toml() + f'[registries.scans]\nreports_dir = "{reports}"\n'
                    'fail_on = "critical"\n', encoding="utf-8")
    return RegtuiApp(load_config(path), read_only=True)


def rows_of(app: RegtuiApp, table: str) -> list[Any]:
    return list(app.screen.query_one(f"#{table}", VirtualTable).rows)


@pytest.mark.lab
async def test_tags_pane_scans_screen_drill_down_and_cve_search(
        scan_ui_lab: tuple[Lab, ScanLab, Path], tmp_path: Path) -> None:
    lab, seeded, reports = scan_ui_lab
    app = lab_app(lab, reports, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.open_registry("lab", REPO)
        await settle(pilot)
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        table = app.screen.query_one("#tags", VirtualTable)
        assert table.columns[-1].key == "vulns"
        debian = expected_counts(seeded.documents["cosign-vuln"][0])
        cell = f"{debian['critical']}C {debian['high']}H {debian['medium']}M {debian['low']}L"
        text = screen_text(app)
        assert cell in text and "not scanned" in text and "scan failed" in text

        await pilot.press("W")  # worst first
        keys = [row.key for row in rows_of(app, "tags") if isinstance(row, TagRow)]
        risks = [app.store["lab"].scans[seeded.digests[k]].risk_key for k in keys
                 if k in seeded.digests]
        assert risks == sorted(risks, reverse=True)

        await pilot.press("V")
        await settle(pilot)
        assert isinstance(app.screen, ScansScreen)
        rows = [r for r in rows_of(app, "scans") if isinstance(r, ScanRow)]
        shop = {str(r.scan.record.tag): r.scan for r in rows
                if r.scan.record.repository == REPO}
        assert shop["cosign-vuln"].counts.critical == debian["critical"]
        assert shop["cosign-vuln"].failing  # fail_on = "critical"
        scanned = [r.scan.risk_key for r in rows if r.scan.report is not None]
        assert scanned == sorted(scanned, reverse=True)
        assert "Most dangerous:" in screen_text(app) and "Widest CVEs:" in screen_text(app)

        await pilot.press("s")  # critical or worse only
        await settle(pilot)
        kept = [r.scan for r in rows_of(app, "scans")]
        assert kept and all(s.counts.critical for s in kept)
        await pilot.press("s", "s", "s", "s")  # back to all

        table = app.screen.query_one("#scans", VirtualTable)
        table.set_rows(table.rows, keep=f"{REPO}:cosign-vuln")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ScanDetailScreen)
        findings = [r.finding for r in rows_of(app, "findings") if isinstance(r, FindingRow)
                    and r.finding is not None]
        assert len(findings) == debian["total"]
        await pilot.press("b")  # by CVE
        headers = [r.header for r in rows_of(app, "findings") if r.finding is None]
        assert headers[0] == "CVE-2024-3094 (2)"  # the worst group first: two packages
        await pilot.press("down", "enter")
        await settle(pilot)
        assert "Malicious code was discovered" in screen_text(app)
        await pilot.press("c")
        assert app.clipboard == "CVE-2024-3094"

        await pilot.press("escape")
        await settle(pilot)
        table = app.screen.query_one("#scans", VirtualTable)
        table.set_rows(table.rows, keep=f"{REPO}:multi")  # an index: each child's counts
        await pilot.press("enter")
        await settle(pilot)
        children = [expected_counts(document) for document in seeded.documents["multi"]]
        line = "per platform: " + " · ".join(
            f"{platform} " + " ".join(f"{c[name]}{name[0].upper()}" for name in
                                      ("critical", "high", "medium", "low") if c[name])
            for platform, c in zip(("linux/amd64", "linux/arm64"), children, strict=True))
        assert line in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("C", *"cve-2023-4911", "enter")
        await settle(pilot)
        assert isinstance(app.screen, CveScreen)
        hits = [r.hit for r in rows_of(app, "hits") if isinstance(r, HitRow)]
        assert {(h.tag, h.package) for h in hits} == {
            ("cosign-vuln", "libc6"), ("from-dir", "libc6"), ("multi", "libc6")}
        assert "3 tags in 1 repository" in screen_text(app)


@pytest.mark.lab
async def test_command_mode_opens_scans(scan_ui_lab: tuple[Lab, ScanLab, Path],
                                        tmp_path: Path) -> None:
    lab, _, reports = scan_ui_lab
    app = lab_app(lab, reports, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"scans", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ScansScreen)
        await pilot.press("C", *"x; rm", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ScansScreen) and "not a vulnerability id" in (
            app.error_text)


# -- snapshots over the fake registry ----------------------------------------------------


def hostile_report(digest: str) -> dict[str, Any]:
    report = copy.deepcopy(load("trivy-mixed.json"))
    vulns = report["Results"][1]["Vulnerabilities"]
    vulns[0]["PkgName"] = HOSTILE[0]
    vulns[0]["Title"] = HOSTILE[2]
    vulns[1]["PkgName"] = HOSTILE[3]
    report["Metadata"]["RepoDigests"] = [f"127.0.0.1:5000/evil/hostile@{digest}"]
    return report


def write_fake_reports(directory: Path, *, broken: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, repo, seed in (("trivy-debian.json", "library/alpine", "alpine-3.20"),
                             ("trivy-mixed.json", "library/alpine", "alpine-3.19"),
                             ("trivy-no-results.json", "a.b/c-d/e_f/g", "alpine-3.19")):
        report = load(name)
        report.setdefault("Metadata", {})["RepoDigests"] = [
            f"127.0.0.1:5000/{repo}@{digest_of(seed)}"]
        (directory / f"{seed}-{repo.replace('/', '_')}.json").write_text(json.dumps(report))
    (directory / "hostile.json").write_text(json.dumps(hostile_report(digest_of("hostile"))))
    if broken:  # its message names the (per-run) path: kept out of the snapshots
        (directory / "broken.json").write_text('{"SchemaVersion": 2, "Results": [')


def fake_app(make_app: AppMaker, tmp_path: Path, *, broken: bool = False) -> RegtuiApp:
    app = make_app()
    reports = tmp_path / "fake-reports"
    write_fake_reports(reports, broken=broken)
    backend = open_backend(adhoc_registry("http://127.0.0.1:9"), app.config, read_only=True)
    app.scan_services["lab"] = ScanService(
        InventoryService(backend), ScanConfig(reports_dir=reports, fail_on=(("critical", 1),)),
        now=NOW, use_referrers=False)
    return app


async def at_scans(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    assert isinstance(pilot.app, RegtuiApp)
    pilot.app.open_registry("lab")
    await settle(pilot)
    await pilot.press("V")
    await settle(pilot)


async def at_scan_detail(pilot: Pilot[Any]) -> None:
    await at_scans(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("down", "enter")
    await settle(pilot)


async def at_tags_vulns(pilot: Pilot[Any]) -> None:
    await at_scans(pilot)  # reads the reports; the tags pane shows them from the store
    await pilot.press("escape")
    await settle(pilot)
    assert isinstance(pilot.app, RegtuiApp)
    pilot.app.open_registry("lab", "library/alpine")
    await settle(pilot)
    await pilot.press("W")
    await settle(pilot)


async def at_hostile_detail(pilot: Pilot[Any]) -> None:
    await at_scans(pilot)
    table = pilot.app.screen.query_one("#scans", VirtualTable)
    table.set_rows(table.rows, keep=f"evil/hostile:{HOSTILE[0]}")
    await pilot.press("enter")
    await settle(pilot)


SCENES: dict[str, Callable[[Pilot[Any]], Awaitable[None]]] = {
    "scans": at_scans, "scan_detail": at_scan_detail, "tags_vulns": at_tags_vulns,
    "hostile_detail": at_hostile_detail,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(SCENES))
def test_scans_snapshot(scene: str, size: tuple[int, int], snap_compare: Snap,
                        make_app: AppMaker, tmp_path: Path) -> None:
    assert snap_compare(fake_app(make_app, tmp_path), terminal_size=size,
                        run_before=SCENES[scene])


def coloured_parts(table: VirtualTable, y: int) -> dict[str, str]:
    """Each non-blank segment of one drawn line -> its colour, as hex."""
    return {segment.text.strip(): segment.style.color.triplet.hex
            for segment in table.render_line(y)._segments
            if segment.text.strip() and segment.style and segment.style.color
            and segment.style.color.triplet}


async def test_vulns_cell_parts_take_the_themes_severity_colours(make_app: AppMaker,
                                                                 tmp_path: Path) -> None:
    """`3C 1H 1M 3L`: each part in its own theme variable's colour, in every theme; the
    cursor row keeps the cursor's colours."""
    app = fake_app(make_app, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await at_tags_vulns(pilot)
        table = app.screen.query_one("#tags", VirtualTable)
        line = 1 + next(i for i, row in enumerate(table.rows)
                        if isinstance(row, TagRow) and row.record.tag == "latest")
        assert table.cursor != line - 1
        for theme in ("regtui-dusk", "regtui-paper"):
            app.theme = theme
            await settle(pilot)
            wanted = {part: Color.parse(app.theme_variables[f"severity-{name}"]).hex.lower()
                      for part, name in (("3C", "critical"), ("1H", "high"), ("1M", "medium"),
                                         ("3L", "low"))}
            drawn = coloured_parts(table, line)
            assert {part: drawn.get(part) for part in wanted} == wanted, theme
        table.cursor = line - 1
        await settle(pilot)
        assert not {"3C", "1H"} & set(coloured_parts(table, line))  # one segment, one style


async def test_filter_keys_do_not_walk_every_finding_again(
        make_app: AppMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry-wide lines walk every finding: once per read, not on each key."""
    import regtui.services.scans as scans_module

    walks: list[int] = []
    real = scans_module.widest_cves

    def counted(*args: Any, **kwargs: Any) -> Any:
        walks.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(scans_module, "widest_cves", counted)
    app = fake_app(make_app, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await at_scans(pilot)
        assert len(walks) == 1 and "Widest CVEs" in screen_text(app)
        await pilot.press("f", "f", "s", "x", "R", "R")
        await settle(pilot)
        assert len(walks) == 1 and "Widest CVEs" in screen_text(app)


async def test_fake_scans_states_and_literal_text(make_app: AppMaker, tmp_path: Path) -> None:
    app = fake_app(make_app, tmp_path, broken=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await at_scans(pilot)
        rows = {r.key: r.scan for r in rows_of(app, "scans")}
        assert rows["library/alpine:3.20"].state is ScanState.SCANNED
        assert rows["library/alpine:3.20"].failing
        assert rows["team/app:1.0"].state is ScanState.NOT_SCANNED  # RepoDigests name alpine
        assert scan_cell(rows["library/alpine:3.19"]) == "1C 3U"
        assert Severity.CRITICAL.letter == "C"
        text = screen_text(app)
        assert "report problems" in text and "broken.json is not valid JSON" in text
        critical = {"trivy-debian.json": expected_counts(load("trivy-debian.json"))["critical"],
                    "trivy-mixed.json": expected_counts(load("trivy-mixed.json"))["critical"]}
        assert all(critical.values())  # so with fail_on = critical, these tags all fail:
        failing = {"library/alpine:3.20", "library/alpine:latest", "library/alpine:3.19",
                   *(f"evil/hostile:{tag}" for tag in HOSTILE)}
        assert {key for key, scan in rows.items() if scan.failing} == failing
        assert app.store["lab"].status.failing_tags == len(failing)

        await pilot.press("R")  # per repository: tags sharing a digest are one image
        await settle(pilot)
        repos = {r.key: r for r in rows_of(app, "scans") if isinstance(r, RepoScanRow)}
        alpine = repos["library/alpine"]
        debian, mixed = (expected_counts(load(n)) for n in ("trivy-debian.json",
                                                            "trivy-mixed.json"))
        assert (alpine.counts.critical, alpine.counts.unknown, alpine.counts.fixable) == (
            debian["critical"] + mixed["critical"], debian["unknown"] + mixed["unknown"],
            debian["fixable"] + mixed["fixable"])
        assert (alpine.images, alpine.scanned, alpine.failing) == (3, 2, 3)
        table = app.screen.query_one("#scans", VirtualTable)
        table.set_rows(table.rows, keep="library/alpine")
        await pilot.press("enter")
        await settle(pilot)
        shown = rows_of(app, "scans")
        assert shown and all(isinstance(r, ScanRow) and r.scan.record.repository ==
                             "library/alpine" for r in shown)
        await pilot.press("escape")  # clears that filter
        await pilot.press("colon", *"fleet", "enter")
        await settle(pilot)
        assert f"{len(failing)} tags over fail_on" in screen_text(app)
        await at_hostile_detail(pilot)
        text = screen_text(app)
        assert "[bold red]x[/]" in text and "␛[2J" in text  # literal, escapes made visible


@pytest.mark.lab
async def test_scan_now_goes_through_operations_and_is_audited(
        scan_ui_lab: tuple[Lab, ScanLab, Path], tmp_path: Path) -> None:
    lab, _, _ = scan_ui_lab
    kept = tmp_path / "kept"
    fake = Path(__file__).parent.parent / "fakes" / "fake-trivy"
    path = tmp_path / "config.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n' + lab.regtui_config_toml() +
                    f'[registries.scans]\nreports_dir = "{kept}"\n'
                    f'command = "{sys.executable} {fake} {{ref}}"\n', encoding="utf-8")
    for read_only in (True, False):
        app = RegtuiApp(load_config(path), read_only=read_only)
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            app.open_scans("lab")
            await settle(pilot)
            table = app.screen.query_one("#scans", VirtualTable)
            table.set_rows(table.rows, keep=f"{REPO}:unscanned")
            await pilot.press("ctrl+t")
            await settle(pilot)
            await settle(pilot)
            rows = {r.key: r.scan for r in rows_of(app, "scans")}
            state = rows[f"{REPO}:unscanned"].state
            assert state is (ScanState.NOT_SCANNED if read_only else ScanState.SCANNED)
    entries = (tmp_path / "state" / "audit.jsonl").read_text().splitlines()
    assert len(entries) == 1 and json.loads(entries[0])["action"] == "scan"
    assert json.loads(entries[0])["outcome"].startswith("ok: report kept")


async def test_fifty_thousand_findings_drill_down(make_app: AppMaker, tmp_path: Path) -> None:
    app = fake_app(make_app, tmp_path)
    document = synthetic_report(50_000, repo_digest=f"127.0.0.1:5000/team/app@"
                                                    f"{digest_of('alpine-3.20')}")
    (tmp_path / "fake-reports" / "big.json").write_text(json.dumps(document))
    async with app.run_test(size=(80, 24)) as pilot:
        await at_scans(pilot)
        table = app.screen.query_one("#scans", VirtualTable)
        table.set_rows(table.rows, keep="team/app:1.0")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ScanDetailScreen)
        findings = [r for r in rows_of(app, "findings") if r.finding is not None]
        assert len(findings) == expected_counts(document)["total"]
        await pilot.press("b", "pagedown", "pagedown")  # regroup by CVE, scroll
        await settle(pilot)
        headers = [r for r in rows_of(app, "findings") if r.finding is None]
        assert len(headers) == expected_counts(document)["distinct_cves"]
        title = str(app.screen.query_one("#findings", VirtualTable).border_title)
        assert f"{expected_counts(document)['distinct_cves']:,} CVEs" in title
        await pilot.press("slash", *"pkg-7", "enter")
        await settle(pilot)
        shown = [r.finding for r in rows_of(app, "findings") if r.finding is not None]
        assert shown and all("pkg-7" in f.package for f in shown)


def harbor_app(double: HarborDouble, tmp_path: Path) -> RegtuiApp:
    """A writable app over the Harbor double (HARBOR_UI_PASSWORD set by the test)."""
    registry = RegistryConfig("harbor", double.url, flavor="harbor", auth=AuthConfig(
        username=HARBOR_USER, password_env="HARBOR_UI_PASSWORD"))
    return RegtuiApp(Config(registries=(registry,), refresh_interval=3600,
                            cache_dir=tmp_path / "cache", state_dir=tmp_path / "state"),
                     read_only=False)


@pytest.mark.lab
async def test_scan_now_on_harbor_waits_with_progress_under_the_table(
        scan_ui_lab: tuple[Lab, ScanLab, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ctrl+t on Harbor: the scan API, its progress under the table until Harbor says it
    ended, the outcome notified and audited, the row read again."""
    lab, _, _ = scan_ui_lab
    monkeypatch.setenv("HARBOR_UI_PASSWORD", HARBOR_PASSWORD)
    with HarborDouble(lab.url) as double:
        app = harbor_app(double, tmp_path)
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            app.open_scans("harbor")
            await settle(pilot)
            overview = screen_text(app)
            table = app.screen.query_one("#scans", VirtualTable)
            key = f"{REPO}:unscanned"
            table.set_rows(table.rows, keep=key)
            await pilot.press("ctrl+t")
            subtitles: list[str] = []
            for _ in range(100):
                await pilot.pause(0.1)
                subtitles.append(str(table.border_subtitle))
                if any("scan finished" in str(n.message) for n in app._notifications):
                    break
            await settle(pilot)
            rows = {r.key: r.scan for r in rows_of(app, "scans")}
        assert double.violations == []
    assert "Security Hub: 0 of " in overview  # Harbor >= 2.9: the registry-wide line
    assert any("scanning" in s and "running 50%" in s for s in subtitles), subtitles
    assert "scanning" not in str(table.border_subtitle)
    assert rows[key].state is ScanState.SCANNED and rows[key].counts.total == 0
    [entry] = [json.loads(line) for line in
               (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    assert entry["action"] == "scan" and entry["outcome"].startswith("ok: scan finished: clean")


@pytest.mark.lab
async def test_a_second_scan_trigger_while_one_waits_is_refused_not_interrupting(
        scan_ui_lab: tuple[Lab, ScanLab, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ctrl+t twice: the first wait goes on (audited ok), the second is refused with a word;
    an exclusive worker used to cancel the first and audit it as interrupted."""
    lab, _, _ = scan_ui_lab
    monkeypatch.setenv("HARBOR_UI_PASSWORD", HARBOR_PASSWORD)
    with HarborDouble(lab.url) as double:
        app = harbor_app(double, tmp_path)
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            app.open_scans("harbor")
            await settle(pilot)
            table = app.screen.query_one("#scans", VirtualTable)
            table.set_rows(table.rows, keep=f"{REPO}:unscanned")
            await pilot.press("ctrl+t", "ctrl+t")
            for _ in range(100):
                await pilot.pause(0.1)
                if any("scan finished" in str(n.message) for n in app._notifications):
                    break
            await settle(pilot)
            notes = [str(n.message) for n in app._notifications]
        assert double.violations == []
    assert any("a scan is running" in note for note in notes), notes
    entries = [json.loads(line) for line in
               (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    assert [e["outcome"].split(":")[0] for e in entries] == ["ok"], entries
