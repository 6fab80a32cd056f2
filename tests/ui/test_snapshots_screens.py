"""Snapshots at 80x24 and 160x48 of the screens, dialogs and states issue 15 lists that the
other snapshot files do not cover: the tags pane folded, the flat repository list, every
tag-detail tab (an index, a single-platform image, no referrers), the error line, read-only
mode, the delete-tag dialog (plain and typed), the audit log, GC history, retention (form,
plan, stale plan), GC dry run (after a collect), logs (following, paused, filtered), metrics
and the CVE search of the scans screen.

Fixed data: the fake registry of `tests/ui/fakes.py`, a private minimal lab (deterministic
seed: same digests and dates everywhere) for what reads a real registry (the retention plan,
a real `garbage-collect --dry-run`), and Prometheus with backfilled history for metrics. A
fixed clock wherever time is shown; the app's directories are relative (the test runs in
`tmp_path`) so no machine path appears on screen.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, RichLog, TabbedContent

from regtui.config import Config, GcConfig, load_config
from regtui.lab import Lab, start_lab
from regtui.services.audit import AuditEntry, AuditLog
from regtui.services.gc import GcRun
from regtui.services.impact import Target, plan_delete
from regtui.services.inventory import open_registry
from regtui.services.operations import OperationsService
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.confirm import DeleteConfirmScreen
from regtui.ui.screens.gc import GcScreen
from regtui.ui.screens.retention import RetentionScreen
from regtui.ui.widgets.log_view import LogView
from tests.fixtures.metrics import Backfilled, backfilled_prometheus
from tests.ui import test_logs_screen as logs
from tests.ui.conftest import AppMaker
from tests.ui.fakes import FakeData, fake_config, fake_factory, fixed_clock
from tests.ui.test_metrics_screen import host as metrics_host
from tests.ui.test_metrics_screen import make_service
from tests.ui.test_metrics_screen import settle as metrics_settle
from tests.ui.test_scans_screen import at_scans
from tests.ui.test_scans_screen import fake_app as scans_app
from tests.ui.test_snapshots import SIZES, Snap, app_of, settle

Scene = Callable[[Pilot[Any]], Awaitable[None]]
SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]


def widths_drawn(table: DataTable[Any]) -> bool:
    """Every auto-width column is as wide as its widest `Text` cell: the table has measured
    its rows (it does so when idle, which a loaded machine may reach only after the scene's
    last pause)."""
    return all(column.content_width >= max(
        (cell.cell_len for cell in table.get_column_at(i) if isinstance(cell, Text)), default=0)
        for i, column in enumerate(table.ordered_columns) if column.auto_width)


def drawn(scene: Scene) -> Scene:
    """`scene`, then until every DataTable on screen has measured its rows."""

    async def run(pilot: Pilot[Any]) -> None:
        await scene(pilot)
        for _ in range(200):
            if all(widths_drawn(t) for t in pilot.app.screen.query(DataTable)):
                break
            await pilot.pause(0.02)
        else:
            raise AssertionError("a table never measured its rows")
        await pilot.pause()

    return run


def fixed_app(config: Config, *, read_only: bool | None = None) -> RegtuiApp:
    return RegtuiApp(config, factory=fake_factory(), clock=fixed_clock, read_only=read_only)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in `tmp_path` with relative cache and state dirs: paths on screen are fixed."""
    monkeypatch.chdir(tmp_path)
    return Path(".")


# -- the fake registry: browsing ------------------------------------------------------------


async def at_tags_folded(pilot: Pilot[Any]) -> None:
    """library/alpine with 3.20's signature and SBOM folded under it; latest and 3.20 share
    a digest (=1)."""
    await settle(pilot)
    app_of(pilot).open_registry("lab", "library/alpine")
    await settle(pilot)
    await pilot.press("down", "down")
    await settle(pilot)


async def at_repos_flat(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("t")
    await settle(pilot)


def detail(downs: int, tab: str) -> Scene:
    """The tag `downs` rows below the first (folded list: multi, latest, 3.20, 3.19) on `tab`."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app_of(pilot).open_registry("lab", "library/alpine")
        await settle(pilot)
        await pilot.press(*["down"] * downs, "enter")
        await settle(pilot)
        pilot.app.screen.query_one(TabbedContent).active = f"tab-{tab}"
        await settle(pilot)

    return run


async def at_error_line(pilot: Pilot[Any]) -> None:
    """A jump to an unknown name: its error, newest, with the down mirror's counted."""
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("colon", *"nosuch/repo", "enter")
    await settle(pilot)


async def at_read_only_refusal(pilot: Pilot[Any]) -> None:
    """Read-only mode: ctrl+d on a tag says why nothing happens."""
    await at_tags_folded(pilot)
    await pilot.press("ctrl+d")
    await settle(pilot)


# -- the fake registry: dialogs and change screens ------------------------------------------


def delete_dialog(tag: str, typed: str = "") -> Scene:
    """The delete dialog for library/alpine:`tag`, planned from the data the pane shows."""

    async def run(pilot: Pilot[Any]) -> None:
        await at_tags_folded(pilot)
        records = [r for tags in FakeData().repos.values() for r in tags]
        reach = {r.digest: dict(r.reachable) for r in records}
        plan = plan_delete("lab", [Target("library/alpine", tag)], records, reach,
                           can_delete_tag=False)
        pilot.app.push_screen(DeleteConfirmScreen(plan))
        await settle(pilot)
        if typed:
            pilot.app.screen.query_one(Input).cursor_blink = False
            pilot.app.screen.query_one(Input).focus()
            await pilot.press(*typed)
            await settle(pilot)

    return run


def operations(app: RegtuiApp, *, read_only: bool = False) -> OperationsService:
    """Operations on the fake `lab` entry; building them sends no request."""
    registry = app.config.registries[0]
    inventory = open_registry(registry, app.config, read_only=read_only)
    return OperationsService(inventory, registry, read_only=read_only,
                             audit=AuditLog(app.config.state_dir / "audit.jsonl"),
                             clock=fixed_clock)


AUDIT = [
    ("2026-11-23T11:02:10Z", "delete", "library/alpine:3.18", "ok: manifest deleted"),
    ("2026-11-23T11:40:00Z", "gc --dry-run", "lab", "dry-run"),
    ("2026-11-23T11:41:30Z", "delete", "team/app:1.0", "refused: read-only"),
    ("2026-11-23T11:55:00Z", "delete", "team/app:1.1", "failed: 500 Internal Server Error"),
]


def write_audit(state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    with (state / "audit.jsonl").open("w") as handle:
        for time, action, target, outcome in AUDIT:
            entry = AuditEntry(time=time, user="ops", registry="lab", action=action,
                               target=target, digest="sha256:" + "ab" * 32,
                               command=f"regtui {action} {target}", outcome=outcome,
                               url="http://127.0.0.1:5000")
            handle.write(json.dumps(asdict(entry)) + "\n")


async def at_audit(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    write_audit(app_of(pilot).config.state_dir)
    await pilot.press("ctrl+a")
    await settle(pilot)


def gc_run(time: str, mode: str, code: int, marked: int, blobs: int, before: int,
           after: int) -> GcRun:
    return GcRun(time=time, registry="lab", mode=mode, command="docker-registry "
                 f"garbage-collect {'--dry-run ' if mode == 'dry-run' else ''}config.yml",
                 exit_code=code, progress={"blobs_marked": marked, "eligible_blobs": blobs,
                                           "eligible_manifests": 0},
                 bytes_before=before, bytes_after=after, log_tail=[],
                 url="http://127.0.0.1:5000")


async def at_gc_history(pilot: Pilot[Any]) -> None:
    """Three earlier runs, newest first; Dry run is the next thing to do."""
    await settle(pilot)
    app = app_of(pilot)
    runs = [gc_run("2026-11-20T09:00:00Z", "dry-run", 0, 120, 14, 31_000_000, 31_000_000),
            gc_run("2026-11-20T09:05:00Z", "collect", 0, 120, 14, 31_000_000, 27_500_000),
            gc_run("2026-11-23T11:30:00Z", "dry-run", 1, 0, 0, 27_500_000, 27_500_000)]
    app.config.state_dir.mkdir(parents=True, exist_ok=True)
    (app.config.state_dir / "gc-history.jsonl").write_text(
        "".join(json.dumps(asdict(run)) + "\n" for run in runs))
    app.push_screen(GcScreen(operations(app)))
    await settle(pilot)


async def at_retention_form(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    app = app_of(pilot)
    app.push_screen(RetentionScreen(operations(app), scope="team/app"))
    await settle(pilot)
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


SCENES: dict[str, Scene] = {
    "tags-folded": at_tags_folded, "repos-flat": at_repos_flat,
    "detail-layers": detail(2, "layers"), "detail-config": detail(2, "config"),
    "detail-referrers": detail(2, "referrers"), "detail-pull": detail(2, "pull"),
    "detail-single-platform": detail(2, "platforms"),
    "detail-index-manifest": detail(0, "manifest"),
    "detail-index-platforms": detail(0, "platforms"),
    "detail-no-referrers": detail(3, "referrers"),
    "error-line": at_error_line, "read-only": at_read_only_refusal,
    "delete-tag": delete_dialog("3.19"),
    "delete-tag-typed": delete_dialog("latest", typed="library/alpine"),
    "audit-log": at_audit, "gc-history": at_gc_history, "retention-form": at_retention_form,
}


def scene_config(scene: str, where: Path) -> Config:
    config = fake_config(where)
    if scene == "gc-history":
        lab, mirror = config.registries
        config = replace(config, registries=(replace(lab, gc=GcConfig(config="config.yml")),
                                             mirror))
    return config


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("scene", list(SCENES))
def test_snapshot(scene: str, size: tuple[int, int], snap_compare: Snap, here: Path) -> None:
    app = fixed_app(scene_config(scene, here), read_only=True if scene == "read-only" else None)
    assert snap_compare(app, terminal_size=size, run_before=drawn(SCENES[scene]))


# -- a real registry: the retention plan and garbage-collect --------------------------------


@pytest.fixture(scope="module")
def minimal_lab() -> Iterator[Lab]:
    """A private minimal lab: the same seed (digests, dates) on every machine."""
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture(scope="module")
def collected_lab() -> Iterator[Lab]:
    """A minimal lab after one real collect: a dry run finds nothing left to delete, so its
    output is all marking lines, which distribution prints in its walk's (sorted) order. The
    `blob eligible for deletion` lines come from a Go map, in a different order each run."""
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        subprocess.run(["docker-registry", "garbage-collect", str(started.config_file)],
                       check=True, capture_output=True, timeout=120)
        started.restart_registry()
        yield started


@dataclass
class LabOps:
    """Operations on the real lab, built once the app's relative state dir is known."""

    lab: Lab

    def __call__(self, app: RegtuiApp) -> OperationsService:
        path = Path("lab.toml")
        path.write_text(self.lab.regtui_config_toml(), encoding="utf-8")
        registry = load_config(path).registries[0]
        return OperationsService(open_registry(registry, app.config, read_only=False),
                                 registry, read_only=False,
                                 audit=AuditLog(app.config.state_dir / "audit.jsonl"),
                                 clock=fixed_clock)


async def until(pilot: Pilot[Any], done: Callable[[], bool]) -> None:
    for _ in range(600):
        await settle(pilot)
        if done():
            await settle(pilot)  # what the last worker posted (table widths) is drawn
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never got there")


def retention(stale: bool) -> Callable[[LabOps], Scene]:
    def scene(ops: LabOps) -> Scene:
        async def run(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            screen = RetentionScreen(ops(app_of(pilot)))
            pilot.app.push_screen(screen)
            await settle(pilot)
            for field in screen.query(Input):
                field.cursor_blink = False
            screen.query_one("#ret-match", Input).value = r"^\d"
            screen.query_one("#ret-keep", Input).value = "2"
            await settle(pilot)
            await pilot.click("#ret-dry")
            await until(pilot, lambda: screen.plan is not None)
            if stale:
                screen.query_one("#ret-keep", Input).value = "3"
                await settle(pilot)
        return run
    return scene


def gc_dry_run(ops: LabOps) -> Scene:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = GcScreen(ops(app_of(pilot)))
        pilot.app.push_screen(screen)
        await settle(pilot)
        await pilot.click("#gc-dry")
        log = screen.query_one(RichLog)

        def shown() -> bool:  # the run's summary written, and the log scrolled down to it
            return (screen.last_dry_run is not None and log.is_vertical_scroll_end
                    and not screen.query_one("#gc-dry", Button).disabled
                    and any("dry-run: exit" in line.text for line in log.lines))

        await until(pilot, shown)
    return run


LAB_SCENES: dict[str, Callable[[LabOps], Scene]] = {
    "retention-plan": retention(stale=False), "retention-stale-plan": retention(stale=True),
    "gc-dry-run": gc_dry_run,
}


@pytest.mark.lab
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("scene", list(LAB_SCENES))
def test_lab_snapshot(scene: str, size: tuple[int, int], snap_compare: Snap, here: Path,
                      request: pytest.FixtureRequest) -> None:
    lab = request.getfixturevalue("collected_lab" if scene.startswith("gc") else "minimal_lab")
    run = LAB_SCENES[scene](LabOps(lab))
    assert snap_compare(fixed_app(fake_config(here)), terminal_size=size, run_before=drawn(run))


# -- logs from a fixed file, metrics from backfilled history --------------------------------


def log_scene(keys: tuple[str, ...], filtered: bool = False) -> Scene:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        logs.write_log(Path("registry.log"), logs.SAMPLE)
        screen = logs.screen_for(logs.file_config(Path("registry.log")))
        pilot.app.push_screen(screen)
        await logs.until(pilot, lambda: screen.query_one(LogView).count == len(logs.SAMPLE))
        if keys:
            await pilot.press(*keys)
        if filtered:
            await logs.until(pilot, lambda: screen.view is not None and not screen.filtering)
        await pilot.pause()
    return run


LOG_SCENES: dict[str, Scene] = {
    "logs-following": log_scene(()),
    "logs-paused": log_scene(("f",)),
    "logs-filtered": log_scene(("slash", *"team-b", "enter"), filtered=True),
}


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("scene", list(LOG_SCENES))
def test_logs_snapshot(scene: str, size: tuple[int, int], snap_compare: Snap,
                       here: Path) -> None:
    assert snap_compare(fixed_app(fake_config(here)), terminal_size=size,
                        run_before=drawn(LOG_SCENES[scene]))


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    with backfilled_prometheus(tmp_path_factory.mktemp("prom")) as prom:
        yield prom


@pytest.mark.lab
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_metrics_snapshot(size: tuple[int, int], snap_compare: Snap,
                          backfilled: Backfilled) -> None:
    """The metrics screen from backfilled history at its fixed end time."""

    async def run(pilot: Pilot[Any]) -> None:
        await metrics_settle(pilot)

    assert snap_compare(metrics_host(make_service(backfilled.url)), terminal_size=size,
                        run_before=drawn(run))



# -- scans: the CVE search, over the fake registry and fixed Trivy reports -------------------


async def at_cve_search(pilot: Pilot[Any]) -> None:
    """`C` on the scans screen: every tag an advisory affects (latest and 3.20 share one)."""
    await at_scans(pilot)
    await pilot.press("C", *"cve-2023-4911", "enter")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_cve_search_snapshot(size: tuple[int, int], snap_compare: Snap, make_app: AppMaker,
                             tmp_path: Path) -> None:
    assert snap_compare(scans_app(make_app, tmp_path), terminal_size=size,
                        run_before=drawn(at_cve_search))
