"""The Harbor backend and Harbor GC, against a schema-checked Harbor double over the real lab.

The double (tests/doubles/harbor_double.py) serves Harbor's management API from what it reads
in the real registry and forwards `/v2/` to it, so manifests and blobs are real; every JSON
answer it sends is validated against Harbor's own swagger file, and a fixture fails any test
during which the double had to send something the spec does not allow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from regtui.config import AuthConfig, Config, RegistryConfig
from regtui.errors import (
    AuthError,
    NotFoundError,
    ProtocolError,
    ReadOnlyError,
    RegistryError,
    UsageError,
)
from regtui.lab import Lab, start_lab
from regtui.registry.auth import Credentials, RegistryAuth
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import DistributionBackend
from regtui.registry.factory import open_backend
from regtui.registry.harbor import HarborBackend, repository_path
from regtui.registry.harbor_models import Quota
from regtui.registry.models import TagRecord
from regtui.registry.transport import build_client
from regtui.services.audit import AuditLog
from regtui.services.gc import GcProgress
from regtui.services.harbor_gc import HarborGc
from regtui.services.impact import Strategy, Target
from regtui.services.inventory import InventoryService
from regtui.services.operations import OperationsService
from regtui.services.retention import RetentionPolicy
from tests.doubles.harbor_double import PASSWORD, USERNAME, HarborDouble, harbor_name
from tests.doubles.subset import SpecViolation, harbor_spec

pytestmark = pytest.mark.lab

APP = "lab/app"
NESTED = "a.b/c-d/e_f/g"
TEAM_A_LIMIT = 50_000_000
SCAN = {"Critical": 2, "High": 3, "Low": 7, "fixable": 4}


@pytest.fixture(scope="module")
def harbor_lab() -> Iterator[Lab]:
    """A private minimal lab: the double only reads it, never changes it."""
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture(scope="module")
def app_digest(harbor_lab: Lab) -> str:
    response = httpx.head(f"{harbor_lab.url}/v2/app/manifests/stable",
                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    return response.headers["docker-content-digest"]


@pytest.fixture
def harbor(harbor_lab: Lab, app_digest: str) -> Iterator[HarborDouble]:
    """A fresh double per test (tag deletes and GC change its model); fails on schema drift."""
    with HarborDouble(harbor_lab.url, hard_limits={"team-a": TEAM_A_LIMIT},
                      scans={app_digest: SCAN}) as double:
        yield double
        assert double.violations == [], "the double sent answers outside Harbor's spec"


def backend_for(double: HarborDouble, tmp_path: Path, *, read_only: bool = False,
                password: str = PASSWORD, page_size: int = 100,
                anonymous: bool = False) -> HarborBackend:
    registry = RegistryConfig(name="harbor", url=double.url, flavor="harbor")
    credentials = None if anonymous else Credentials(USERNAME, password)
    client = build_client(name="harbor", url=double.url, host=registry.host,
                          read_only=read_only, auth=RegistryAuth(registry, lambda: credentials),
                          retries=0)
    return HarborBackend(name="harbor", url=double.url, client=client,
                         cache=ContentCache(tmp_path / "cache"), credentials=lambda: credentials,
                         page_size=page_size)


async def walk(service: InventoryService) -> dict[tuple[str, str], TagRecord]:
    try:
        return {(r.repository, r.tag): r async for r in service.walk()}
    finally:
        await service.aclose()


def comparable(record: TagRecord) -> tuple[object, ...]:
    return (record.digest, record.media_type, record.size_bytes, record.platforms,
            record.created, record.artifact_kind, record.subject_digest, record.reachable)


# -- reading --------------------------------------------------------------------------------------

async def test_inventory_over_harbor_matches_the_registry_read_directly(
        harbor: HarborDouble, harbor_lab: Lab, tmp_path: Path) -> None:
    direct_client = build_client(name="lab", url=harbor_lab.url, host="lab", read_only=True)
    direct = await walk(InventoryService(DistributionBackend(
        name="lab", url=harbor_lab.url, client=direct_client,
        cache=ContentCache(tmp_path / "direct"))))
    service = InventoryService(backend_for(harbor, tmp_path), flavor="harbor")
    over_harbor = await walk(service)
    assert service.problems == []
    expected = {(harbor_name(repo), tag): comparable(r) for (repo, tag), r in direct.items()}
    assert len(expected) > 20
    assert {key: comparable(r) for key, r in over_harbor.items()} == expected
    # `/v2` went through Harbor's token service; the management API took Basic directly.
    assert harbor.count("GET", "/service/token") >= 1 and all(harbor.tokens.values())


async def test_repositories_come_from_projects_across_pages(harbor: HarborDouble,
                                                            tmp_path: Path) -> None:
    wide = backend_for(harbor, tmp_path)
    names = [name async for name in wide.repositories()]
    before = harbor.count("GET", "/api/v2.0/projects")
    narrow = backend_for(harbor, tmp_path, page_size=2)
    assert [name async for name in narrow.repositories()] == names
    assert harbor.count("GET", "/api/v2.0/projects") - before >= 6  # 5 projects at 2 a page
    assert NESTED in names and APP in names and "team-a/releases" in names
    assert all("/" in name for name in names)
    assert harbor.count("GET", "/v2/_catalog") == 0  # needs Harbor admin: never used
    await wide.aclose()
    await narrow.aclose()


async def test_quotas_report_used_bytes_per_project_and_limits(
        harbor: HarborDouble, harbor_lab: Lab, tmp_path: Path) -> None:
    client = build_client(name="lab", url=harbor_lab.url, host="lab", read_only=True)
    records = await walk(InventoryService(DistributionBackend(
        name="lab", url=harbor_lab.url, client=client, cache=ContentCache(tmp_path / "d"))))
    expected: dict[str, dict[str, int]] = {}
    for (repo, _), record in records.items():
        expected.setdefault(harbor_name(repo).split("/")[0], {}).update(record.reachable)
    backend = backend_for(harbor, tmp_path)
    quotas: dict[str, Quota] = {q.project: q for q in await backend.quotas()}
    await backend.aclose()
    assert {p: q.used_bytes for p, q in quotas.items()} == {
        p: sum(blobs.values()) for p, blobs in expected.items()}
    assert quotas["team-a"].limit_bytes == TEAM_A_LIMIT
    assert quotas["team-a"].used_fraction == quotas["team-a"].used_bytes / TEAM_A_LIMIT
    assert quotas["library"].limit_bytes is None  # Harbor's -1: unlimited


async def test_scan_overview_gives_severity_counts(harbor: HarborDouble, app_digest: str,
                                                   tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path)
    scan = await backend.scan_overview(APP, app_digest)
    other = await backend.head_manifest(APP, "1.2.2")
    unscanned = await backend.scan_overview(APP, other.digest)
    await backend.aclose()
    assert scan is not None and unscanned is None
    assert dict(scan.counts) == {"Critical": 2, "High": 3, "Low": 7}
    assert (scan.total, scan.fixable, scan.severity, scan.status) == (12, 4, "Critical",
                                                                      "Success")


async def test_system_info_reports_the_version(harbor: HarborDouble, tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path)
    info = await backend.system_info()
    await backend.aclose()
    assert info.version.startswith("v2.")
    assert info.external_url == harbor.url


async def test_factory_opens_harbor_flavor_with_configured_credentials(
        harbor: HarborDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARBOR_TEST_PASSWORD", PASSWORD)
    registry = RegistryConfig(name="h", url=harbor.url, flavor="harbor", auth=AuthConfig(
        username=USERNAME, password_env="HARBOR_TEST_PASSWORD", docker_config=False))
    backend = open_backend(registry, Config(cache_dir=tmp_path), read_only=True)
    assert isinstance(backend, HarborBackend)
    assert backend.capabilities.can_delete_tag and backend.capabilities.has_quota
    names = [name async for name in backend.repositories()]
    await backend.aclose()
    assert APP in names


# -- changing -------------------------------------------------------------------------------------

async def test_delete_tag_removes_only_that_tag(harbor: HarborDouble, app_digest: str,
                                                tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path)
    assert (await backend.head_manifest(APP, "stable")).digest == app_digest
    await backend.delete_tag(APP, "stable")
    tags = await backend.tags(APP)
    assert "stable" not in tags and "1.2.3" in tags
    with pytest.raises(NotFoundError):
        await backend.head_manifest(APP, "stable")
    assert (await backend.head_manifest(APP, "1.2.3")).digest == app_digest
    assert (await backend.manifest(APP, app_digest)).digest == app_digest
    await backend.aclose()
    assert harbor.count("DELETE", "/api/v2.0/projects/lab/repositories/app/artifacts/stable/"
                                  "tags/stable") == 1
    assert harbor.count("DELETE", "/v2/") == 0


async def test_delete_tag_in_a_nested_repository_double_encodes(harbor: HarborDouble,
                                                                tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path)
    await backend.delete_tag(NESTED, "1")
    assert await backend.tags(NESTED) == []
    await backend.aclose()
    assert repository_path(NESTED) == "/projects/a.b/repositories/c-d%252Fe_f%252Fg"
    single = httpx.delete(f"{harbor.url}/api/v2.0/projects/a.b/repositories/c-d%2Fe_f%2Fg/"
                          "artifacts/1/tags/1", auth=(USERNAME, PASSWORD))
    assert single.status_code == 404  # what Harbor does with a name encoded only once


async def test_read_only_refuses_tag_delete_and_gc_before_sending(
        harbor: HarborDouble, tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path, read_only=True)
    before = harbor.count()
    with pytest.raises(ReadOnlyError, match="read-only"):
        await backend.delete_tag(APP, "stable")
    with pytest.raises(ReadOnlyError, match="read-only"):
        await HarborGc(backend, read_only=True).run(dry_run=True)
    with pytest.raises(ReadOnlyError, match="before sending"):  # the transport's own lock
        await HarborGc(backend, read_only=False).run(dry_run=False)
    await backend.aclose()
    assert harbor.count() == before
    assert harbor.count("DELETE") == harbor.count("POST") == 0


# -- garbage collection ---------------------------------------------------------------------------

async def test_gc_dry_run_streams_log_lines_and_lands_in_history(
        harbor: HarborDouble, tmp_path: Path) -> None:
    naps: list[float] = []

    async def sleep(seconds: float) -> None:
        naps.append(seconds)

    seen: list[tuple[str, int]] = []

    def on_line(line: str, progress: GcProgress) -> None:
        seen.append((line, len(naps)))

    backend = backend_for(harbor, tmp_path)
    gc = HarborGc(backend, read_only=False, sleep=sleep, poll_seconds=1.5)
    run = await gc.run(dry_run=True, delete_untagged=True, on_line=on_line)
    history = await gc.refresh_history()
    await backend.aclose()
    assert naps == [1.5]  # Pending, then Running (lines), then Success (more lines)
    assert [line for line, _ in seen] == run.log_tail == harbor.gc_runs[0].log  # each once
    assert len({poll for _, poll in seen}) == 2, "lines arrived over more than one poll"
    assert any("start to run gc in job." in line for line, _ in seen)
    assert run.exit_code == 0 and run.mode == "dry-run"
    job_id = run.progress["job_id"]
    assert [h.progress["job_id"] for h in history] == [job_id]
    assert history[0].mode == "dry-run" and history[0].exit_code == 0
    assert gc.history() == history
    assert harbor.gc_runs[0].dry_run and harbor.gc_runs[0].delete_untagged


async def test_gc_real_run_drops_untagged_artifacts_dry_run_does_not(
        harbor: HarborDouble, app_digest: str, tmp_path: Path) -> None:
    async def no_sleep(seconds: float) -> None:
        return

    backend = backend_for(harbor, tmp_path)
    gc = HarborGc(backend, read_only=False, sleep=no_sleep)
    await backend.delete_tag(APP, "stable")
    await backend.delete_tag(APP, "1.2.3")
    dry = await gc.run(dry_run=True, delete_untagged=True)
    assert (await backend.head_manifest(APP, app_digest)).digest == app_digest
    real = await gc.run(dry_run=False, delete_untagged=True)
    with pytest.raises(NotFoundError):
        await backend.head_manifest(APP, app_digest)
    assert (await backend.head_manifest(APP, "1.2.2")).size > 0  # tagged content stays
    history = await gc.refresh_history()
    await backend.aclose()
    assert any(app_digest in line for line in real.log_tail)
    assert any(app_digest in line for line in dry.log_tail)
    assert [h.mode for h in history] == ["delete-untagged", "dry-run"]  # newest first


async def test_gc_that_never_ends_is_reported_in_one_line(harbor: HarborDouble,
                                                          tmp_path: Path) -> None:
    async def no_sleep(seconds: float) -> None:
        return

    backend = backend_for(harbor, tmp_path)
    gc = HarborGc(backend, read_only=False, sleep=no_sleep, max_polls=1)
    with pytest.raises(RegistryError, match=r"has not finished after 1 polls") as caught:
        await gc.run(dry_run=True)
    await backend.aclose()
    assert "\n" not in str(caught.value) and "/api/v2.0/system/gc/" in str(caught.value)


# -- errors and drift -----------------------------------------------------------------------------

async def test_wrong_password_is_one_line_naming_registry_and_url(
        harbor: HarborDouble, tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path, password="wrong")
    with pytest.raises(AuthError) as caught:
        _ = [name async for name in backend.repositories()]
    await backend.aclose()
    message = str(caught.value)
    assert "\n" not in message
    assert "harbor" in message and f"{harbor.url}/api/v2.0/projects" in message
    assert "401" in message and "UNAUTHORIZED" in message


async def test_unknown_project_is_a_one_line_not_found(harbor: HarborDouble,
                                                       tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path)
    with pytest.raises(NotFoundError) as caught:
        await backend.delete_tag("nope/app", "latest")
    await backend.aclose()
    message = str(caught.value)
    assert "\n" not in message and "404" in message and "project nope not found" in message
    assert f"{harbor.url}/api/v2.0/projects/nope/repositories/app" in message


async def test_schema_drift_in_the_double_is_caught(harbor: HarborDouble,
                                                    tmp_path: Path) -> None:
    template = "/projects/{project_name}/repositories"
    harbor.corrupt[template] = lambda rows: [{**r, "artifact_count": str(r["artifact_count"])}
                                             for r in rows]
    backend = backend_for(harbor, tmp_path)
    with pytest.raises(RegistryError, match="HTTP 500"):
        _ = [name async for name in backend.repositories()]
    assert harbor.violations and "artifact_count" in harbor.violations[0]
    assert "is not of type 'integer'" in harbor.violations[0]
    harbor.violations.clear()
    harbor.corrupt[template] = lambda rows: [{**r, "repo_name": r["name"]} for r in rows]
    with pytest.raises(RegistryError, match="HTTP 500"):
        _ = [name async for name in backend.repositories()]
    await backend.aclose()
    assert "'repo_name' was unexpected" in harbor.violations[0]
    harbor.violations.clear()


def test_schema_checker_knows_harbor_shapes() -> None:
    schemas = harbor_spec()
    schemas.validate("GET", "/quotas", 200, [{"id": 1, "ref": {"name": "p"},
                                             "hard": {"storage": -1}, "used": {"storage": 5}}])
    with pytest.raises(SpecViolation, match="used/storage"):
        schemas.validate("GET", "/quotas", 200, [{"used": {"storage": "5"}}])
    with pytest.raises(SpecViolation, match="date-time"):
        schemas.validate("GET", "/system/gc/{gc_id}", 200, {"creation_time": "yesterday"})
    with pytest.raises(SpecViolation, match="not declared"):
        schemas.validate("GET", "/systeminfo", 404, {})


async def test_missing_credentials_are_named_in_the_error(harbor: HarborDouble,
                                                          tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path, anonymous=True)
    with pytest.raises(AuthError, match="no credentials are configured") as caught:
        await backend.quotas()
    await backend.aclose()
    assert "/api/v2.0/quotas" in str(caught.value)
    assert "podman login or skopeo login" in str(caught.value)  # not only docker's


def test_cli_inventory_reads_a_harbor_flavor_registry(harbor: HarborDouble,
                                                      tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[[registries]]\nname = "h"\nurl = "{harbor.url}"\nflavor = "harbor"\n'
                      f'[registries.auth]\nusername = "{USERNAME}"\n'
                      'password_env = "HARBOR_TEST_PASSWORD"\n')
    env = {**os.environ, "HARBOR_TEST_PASSWORD": PASSWORD}
    result = subprocess.run([sys.executable, "-m", "regtui", "inventory", "--config",
                             str(config), "--format", "jsonl"], capture_output=True, text=True,
                            timeout=120, env=env, check=False)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(r["repository"], r["tag"]) for r in rows} >= {(APP, "stable"), (NESTED, "1")}
    assert all("/" in r["repository"] for r in rows)


@pytest.mark.parametrize("version", ["v2.0.5-1a2b3c", ""])
async def test_gc_dry_run_is_refused_where_harbor_would_collect_for_real(
        harbor_lab: Lab, tmp_path: Path, version: str) -> None:
    with HarborDouble(harbor_lab.url, version=version) as old:
        backend = backend_for(old, tmp_path)
        with pytest.raises(UsageError, match=r"GC dry run needs Harbor v2\.1") as caught:
            await HarborGc(backend, read_only=False).run(dry_run=True)
        await backend.aclose()
        assert old.count("POST") == 0 and old.violations == []
        assert (version or "an unknown version") in str(caught.value)


async def test_a_server_that_ignores_page_is_refused_not_looped(harbor: HarborDouble,
                                                                tmp_path: Path) -> None:
    first = {"project_id": 1, "name": "lab"}
    harbor.corrupt["/projects"] = lambda rows: [first]  # every page the same, total still 5
    backend = backend_for(harbor, tmp_path, page_size=1)
    with pytest.raises(ProtocolError, match="page 2 repeats page 1"):
        _ = [name async for name in backend.repositories()]
    await backend.aclose()
    assert harbor.count("GET", "/api/v2.0/projects") == 2


async def test_anonymous_listing_nothing_says_to_log_in(harbor: HarborDouble,
                                                        tmp_path: Path) -> None:
    backend = backend_for(harbor, tmp_path, anonymous=True)
    with pytest.raises(AuthError, match=r"shows no project to anonymous callers") as caught:
        _ = [name async for name in backend.repositories()]
    await backend.aclose()
    assert "\n" not in str(caught.value) and harbor.count("GET", "/api/v2.0/projects") == 1
    assert str(caught.value).endswith("docker login, podman login or skopeo login")


# -- through the operations service, as the CLI and the TUI use it --------------------------------

def harbor_operations(double: HarborDouble, tmp_path: Path) -> OperationsService:
    registry = RegistryConfig(name="harbor", url=double.url, flavor="harbor")
    backend = backend_for(double, tmp_path)
    return OperationsService(InventoryService(backend, flavor="harbor", read_only=False),
                             registry, read_only=False, audit=AuditLog(tmp_path / "audit.jsonl"))


async def test_operations_delete_a_shared_tag_with_harbors_tag_api(
        harbor: HarborDouble, app_digest: str, tmp_path: Path) -> None:
    ops = harbor_operations(harbor, tmp_path)
    try:
        plan = await ops.plan([Target(APP, "stable")])
        assert plan.impacts[0].strategy is Strategy.BY_TAG
        assert plan.impacts[0].siblings == ("1.2.3",)
        [result] = await ops.delete(plan, assume_yes=True)
        assert result.outcome == "ok: tag deleted"
        assert (await ops.inventory.backend.head_manifest(APP, "1.2.3")).digest == app_digest
    finally:
        await ops.inventory.aclose()
    assert harbor.count("DELETE", "/v2/") == 0
    assert [e.outcome for e in ops.audit.entries()] == ["ok: tag deleted"]


async def test_operations_run_harbor_gc_through_its_api(harbor: HarborDouble,
                                                        tmp_path: Path) -> None:
    ops = harbor_operations(harbor, tmp_path)
    lines: list[str] = []
    try:
        assert isinstance(ops.gc_runner(), HarborGc)
        run = await ops.collect_garbage(dry_run=True, on_line=lambda line, _: lines.append(line))
    finally:
        await ops.inventory.aclose()
    assert run.exit_code == 0 and lines
    assert [e.action for e in ops.audit.entries()] == ["gc --dry-run"]


async def test_storage_report_and_pane_show_harbor_quotas(harbor: HarborDouble,
                                                          tmp_path: Path) -> None:
    from textual.app import App
    from textual.widgets import Static

    from regtui.services.storage import storage_report
    from regtui.ui.screens.storage import StorageScreen

    service = InventoryService(backend_for(harbor, tmp_path), flavor="harbor")
    report = await storage_report(service)
    limited = [q for q in report.quotas if q.project == "team-a"]
    assert limited and limited[0].limit_bytes == TEAM_A_LIMIT
    assert {q.project for q in report.quotas} >= {"lab", "team-a"}

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(StorageScreen(service, None))

    app = Host()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = str(app.screen.query_one("#storage-quotas", Static).render())
        assert "/ 47.7 MiB  team-a" in text and "░" in text and "/ unlimited" in text
    await service.aclose()


def test_requests_outside_the_spec_are_violations(harbor: HarborDouble) -> None:
    """The double checks what it receives too: an undeclared parameter, a wrong type."""
    auth = (USERNAME, PASSWORD)
    bad = httpx.get(f"{harbor.url}/api/v2.0/projects", params={"pagesize": "5"}, auth=auth)
    assert bad.status_code == 400 and "undeclared query parameter 'pagesize'" in bad.text
    wrong = httpx.get(f"{harbor.url}/api/v2.0/quotas", params={"page": "one"}, auth=auth)
    assert wrong.status_code == 400 and "page='one' is not an integer" in wrong.text
    flag = httpx.get(f"{harbor.url}/api/v2.0/projects", params={"with_detail": "no"}, auth=auth)
    assert flag.status_code == 400 and "with_detail='no' is not true or false" in flag.text
    assert len(harbor.violations) == 3
    good = httpx.get(f"{harbor.url}/api/v2.0/projects", params={"page_size": "5"}, auth=auth)
    assert good.status_code == 200
    harbor.violations.clear()


async def test_retention_ages_a_tag_by_its_harbor_push_time(harbor: HarborDouble,
                                                            tmp_path: Path) -> None:
    """`stable` was built in 2024 but pushed yesterday: --older-than 30d keeps it."""
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    harbor.push_times[(APP, "stable")] = yesterday.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    ops = harbor_operations(harbor, tmp_path)
    try:
        chosen, _ = await ops.retention_plan(RetentionPolicy(older_than=timedelta(days=30)),
                                             now=now, repositories=[APP])
        records = {str(r.tag): r for r in await ops.records() if r.repository == APP}
    finally:
        await ops.inventory.aclose()
    assert records["stable"].created is not None and records["stable"].created < now - timedelta(
        days=30), "the image itself is old"
    assert records["stable"].pushed_at is not None
    assert abs(records["stable"].pushed_at - yesterday) < timedelta(seconds=1)
    assert records["1.2.2"].pushed_at == datetime(2024, 3, 1, 12, tzinfo=UTC)  # STAMP
    assert {r.tag for r in chosen} == {"1.2.2", "1.2.3"}
    assert harbor.count("GET", f"/api/v2.0{repository_path(APP)}/artifacts") >= 1
