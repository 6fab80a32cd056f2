"""The Nexus backend and Nexus GC against a spec-checked Nexus double over the real lab.

The double (tests/doubles/nexus_double.py) serves `/service/rest/v1` from what it reads in
the real registry and names that registry as the hosted repository's docker connector, so
regtui reads real manifests through the connector exactly as it would from Nexus; every
request and answer of the REST API is checked against the project's subset of the Nexus
spec, and the fixture fails any test that broke it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from regtui.config import AuthConfig, Config, RegistryConfig
from regtui.errors import ReadOnlyError, UsageError
from regtui.lab import Lab, start_lab
from regtui.registry.factory import open_backend
from regtui.registry.models import TagRecord
from regtui.registry.nexus import NexusBackend
from regtui.services.audit import AuditLog
from regtui.services.gc import GcProgress
from regtui.services.impact import Strategy, Target
from regtui.services.inventory import InventoryService
from regtui.services.nexus_gc import NexusGc
from regtui.services.operations import OperationsService
from regtui.services.storage import storage_report
from tests.doubles.nexus_double import HOSTED, PASSWORD, USERNAME, NexusDouble

pytestmark = pytest.mark.lab

RELEASES = f"{HOSTED}/team-a/releases"


@pytest.fixture(scope="module")
def nexus_lab() -> Iterator[Lab]:
    """A private minimal lab: the double only reads it, never changes it."""
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture
def nexus(nexus_lab: Lab) -> Iterator[NexusDouble]:
    with NexusDouble(nexus_lab.url, page_size=4) as double:
        yield double
        assert double.violations == [], "the double saw requests or answers outside the spec"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_PASSWORD", PASSWORD)


def registry_for(nexus: NexusDouble) -> RegistryConfig:
    return RegistryConfig(name="nexus", url=nexus.url, flavor="nexus", retries=0,
                          auth=AuthConfig(username=USERNAME, password_env="NEXUS_PASSWORD"))


def backend_for(nexus: NexusDouble, tmp_path: Path, *, read_only: bool = True) -> NexusBackend:
    backend = open_backend(registry_for(nexus), Config(cache_dir=tmp_path / "cache"),
                           read_only=read_only)
    assert isinstance(backend, NexusBackend)
    return backend


def operations_for(nexus: NexusDouble, tmp_path: Path, *,
                   read_only: bool = False) -> OperationsService:
    registry = registry_for(nexus)
    backend = open_backend(registry, Config(cache_dir=tmp_path / "cache"), read_only=read_only)
    inventory = InventoryService(backend, flavor="nexus", read_only=read_only)
    return OperationsService(inventory, registry, read_only=read_only,
                             audit=AuditLog(tmp_path / "audit.jsonl"))


async def no_sleep(_: float) -> None:
    return None


# -- reading ---------------------------------------------------------------------------------------

async def test_images_come_from_components_across_continuation_pages(
        nexus: NexusDouble, nexus_lab: Lab, tmp_path: Path) -> None:
    backend = backend_for(nexus, tmp_path)
    try:
        names = [name async for name in backend.repositories()]
        tags = await backend.tags(RELEASES)
    finally:
        await backend.aclose()
    images = sorted({c.name for c in nexus.components.values()})
    assert names == [f"{HOSTED}/{image}" for image in images]
    assert tags == sorted(c.version for c in nexus.components.values()
                          if c.name == "team-a/releases")
    pages = [q for m, p, q in nexus.recorder.requests if p.endswith("/v1/components")]
    expected_pages = -(-len(nexus.components) // 4)
    assert len(pages) == expected_pages > 3
    assert "continuationToken" not in pages[0]
    assert all("continuationToken" in q for q in pages[1:])
    assert "group docker-group: its members are listed on their own" in backend.health().notes
    assert all(agent.startswith("regtui/") for agent in nexus.user_agents)


async def test_manifests_come_through_the_docker_connector(nexus: NexusDouble, nexus_lab: Lab,
                                                           tmp_path: Path) -> None:
    service = InventoryService(backend_for(nexus, tmp_path), flavor="nexus")
    try:
        records = await service.tag_records(RELEASES)
    finally:
        await service.aclose()
    direct = httpx.head(f"{nexus_lab.url}/v2/team-a/releases/manifests/1.0.0",
                        headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                                           "application/vnd.docker.distribution.manifest.v2+json"})
    by_tag: dict[str, TagRecord] = {r.tag: r for r in records}
    assert by_tag["1.0.0"].digest == direct.headers["docker-content-digest"]
    assert by_tag["1.0.0"].size_bytes > 0 and service.problems == []
    assert by_tag["1.0.0"].pushed_at == datetime(2026, 11, 20, 10, tzinfo=UTC)  # blobCreated
    assert nexus.recorder.count(contains="/v2/") == 0  # manifests never went to the REST port


async def test_browser_user_agent_is_what_nexus_refuses(nexus: NexusDouble) -> None:
    answer = httpx.get(f"{nexus.url}/service/rest/v1/status",
                       headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert answer.status_code == 403 and "CSRF" in answer.text


async def test_blob_store_usage_and_quota(nexus_lab: Lab, tmp_path: Path) -> None:
    with NexusDouble(nexus_lab.url, soft_limit=1000, available=5000) as nexus:
        backend = backend_for(nexus, tmp_path)
        try:
            await backend.ping()
        finally:
            await backend.aclose()
        assert nexus.violations == []
    total = sum(nexus.blobs.sizes.values())
    store = backend.health().gauges[0]
    assert (store.label, store.value, store.total, store.unit) == ("store default", total,
                                                                    total + 5000, "bytes")
    assert store.detail == f"{len(nexus.blobs.sizes):,} blobs" and store.warn
    notes = " ".join(backend.health().notes)
    assert "space used quota (violated)" in notes and "deletes are soft" in notes


async def test_storage_report_shows_blob_stores(nexus: NexusDouble, tmp_path: Path) -> None:
    service = InventoryService(backend_for(nexus, tmp_path), flavor="nexus")
    try:
        report = await storage_report(service)
    finally:
        await service.aclose()
    total = sum(nexus.blobs.sizes.values())
    [quota] = report.quotas
    assert quota.project == f"blob store default ({len(nexus.blobs.sizes):,} blobs)"
    assert (quota.used_bytes, quota.limit_bytes) == (total, total + 10 * 1024**3)


# -- deleting and collecting -----------------------------------------------------------------------

async def test_component_delete_previews_and_goes_through_operations(
        nexus: NexusDouble, tmp_path: Path) -> None:
    operations = operations_for(nexus, tmp_path)
    try:
        plan = await operations.plan([Target(RELEASES, "1.1.1"), Target(RELEASES, "1.0.0")])
        assert [i.strategy for i in plan.impacts] == [Strategy.BY_TAG, Strategy.BY_TAG]
        assert plan.impacts[0].siblings == ("latest",)  # what stays: the other tag
        assert plan.impacts[1].siblings == ()
        results = await operations.delete(plan, assume_yes=True)
    finally:
        await operations.inventory.aclose()
    assert [r.outcome for r in results] == ["ok: tag deleted", "ok: tag deleted"]
    left = {c.version for c in nexus.components.values() if c.name == "team-a/releases"}
    assert "1.1.1" not in left and "1.0.0" not in left and "latest" in left
    assert nexus.recorder.count("DELETE", "/service/rest/v1/components/") == 2
    lines = operations.audit.path.read_text().splitlines()
    assert len(lines) == 2 and all("ok: tag deleted" in line for line in lines)


async def test_gc_runs_both_tasks_in_order_and_frees_the_soft_deleted(
        nexus: NexusDouble, tmp_path: Path) -> None:
    operations = operations_for(nexus, tmp_path)
    try:
        plan = await operations.plan([Target(RELEASES, "1.0.0")])
        await operations.delete(plan, assume_yes=True)
        runner = operations.gc_runner()
        assert isinstance(runner, NexusGc)
        runner._sleep = no_sleep
        before = sum(nexus.blobs.sizes.values())
        dry = await runner.run(dry_run=True)
        assert nexus.runs == [] and dry.exit_code == 0
        assert dry.log_tail[:2] == ["would run Docker - Delete unused manifests and images "
                                    "(docker-gc)",
                                    "would run Admin - Compact blob store (compact)"]
        seen: list[str] = []
        progress: list[str] = []

        def on_line(line: str, state: GcProgress) -> None:
            seen.append(line)
            progress.append(state.describe())

        run = await operations.collect_garbage(dry_run=False, on_line=on_line)
    finally:
        await operations.inventory.aclose()
    assert nexus.runs == ["docker-gc", "compact"]
    assert run.exit_code == 0 and run.bytes_freed == before - sum(nexus.blobs.sizes.values())
    assert run.bytes_freed is not None and run.bytes_freed > 0
    assert "Docker - Delete unused manifests and images: RUNNING: processed 1 of 2 steps" in seen
    assert "Admin - Compact blob store: finished, OK" in seen
    assert any(p.startswith("task 2 of 2, Admin - Compact blob store") for p in progress)
    audit = operations.audit.path.read_text().splitlines()[-1]
    assert "ok: 2 Nexus tasks run" in audit


async def test_a_failed_task_is_reported_and_stops_the_run(nexus_lab: Lab,
                                                           tmp_path: Path) -> None:
    with NexusDouble(nexus_lab.url, fail=frozenset({"docker-gc"})) as nexus:
        operations = operations_for(nexus, tmp_path)
        try:
            runner = operations.gc_runner()
            assert isinstance(runner, NexusGc)
            runner._sleep = no_sleep
            run = await operations.collect_garbage(dry_run=False)
        finally:
            await operations.inventory.aclose()
        assert nexus.violations == []
    assert nexus.runs == ["docker-gc"] and run.exit_code == 1
    assert ("stopped: Docker - Delete unused manifests and images (docker-gc) ended FAILED; "
            "the remaining tasks were not run") in run.log_tail
    assert '"failed: exit 1"' in operations.audit.path.read_text()


async def test_missing_tasks_say_what_to_create(nexus_lab: Lab, tmp_path: Path) -> None:
    with NexusDouble(nexus_lab.url, with_tasks=False) as nexus:
        operations = operations_for(nexus, tmp_path)
        try:
            with pytest.raises(UsageError, match=r"no \"Docker - Delete unused manifests and "
                                                 r"images\" task .*Settings > Tasks"):
                await operations.collect_garbage(dry_run=True)
        finally:
            await operations.inventory.aclose()


async def test_read_only_starts_no_task_and_deletes_nothing(nexus: NexusDouble,
                                                            tmp_path: Path) -> None:
    operations = operations_for(nexus, tmp_path, read_only=True)
    try:
        with pytest.raises(ReadOnlyError):
            await operations.collect_garbage(dry_run=False)
        backend = operations.inventory.backend
        assert isinstance(backend, NexusBackend)
        with pytest.raises(ReadOnlyError):
            await backend.delete_tag(RELEASES, "1.0.0")
    finally:
        await operations.inventory.aclose()
    assert nexus.runs == [] and nexus.recorder.count("DELETE") == 0


async def test_delete_without_a_listing_finds_the_component_by_search(
        nexus: NexusDouble, tmp_path: Path) -> None:
    backend = backend_for(nexus, tmp_path, read_only=False)
    try:
        await backend.delete_tag(RELEASES, "1.0.5")
    finally:
        await backend.aclose()
    [search] = [q for m, p, q in nexus.recorder.requests if p.endswith("/v1/search")]
    assert search == {"repository": [HOSTED], "format": ["docker"],
                      "name": ["team-a/releases"], "version": ["1.0.5"]}
    assert nexus.recorder.count("GET", "/service/rest/v1/components") == 0
    assert "1.0.5" not in {c.version for c in nexus.components.values()
                           if c.name == "team-a/releases"}
