"""The ways a delete could hurt a tag nobody asked to delete, each tried on the real lab."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from regtui.config import load_config
from regtui.lab import Lab
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import DistributionBackend
from regtui.registry.models import ArtifactKind, TagRecord
from regtui.registry.transport import GuardedTransport
from regtui.services.audit import AuditLog
from regtui.services.impact import Strategy, Target, plan_delete
from regtui.services.inventory import InventoryService, open_registry
from regtui.services.operations import OperationsService
from regtui.text import Untrusted as U
from tests.test_operations import Cli, _copy_manifest, head

pytestmark = pytest.mark.lab
LabFactory = Callable[..., Lab]


def operations(lab: Lab, tmp: Path, *, flavor: str = "distribution",
               inventory: InventoryService | None = None) -> OperationsService:
    path = tmp / "config.toml"
    path.write_text(lab.regtui_config_toml().replace('flavor = "distribution"',
                                                     f'flavor = "{flavor}"'))
    config = load_config(path)
    registry = config.registries[0]
    service = inventory or open_registry(registry, config, read_only=False)
    return OperationsService(service, registry, read_only=False,
                             audit=AuditLog(tmp / "audit.jsonl"))


class FailingHead(httpx.AsyncBaseTransport):
    """The real registry, except reading one tag (HEAD or GET) answers 503 while `failing`."""

    def __init__(self, path: str) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.path = path
        self.failing = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failing and request.method in ("HEAD", "GET") and request.url.path == self.path:
            return httpx.Response(503)
        return await self.real.handle_async_request(request)


async def test_a_sibling_that_could_not_be_read_is_still_protected(lab_factory: LabFactory,
                                                                   tmp_path: Path) -> None:
    lab = lab_factory()
    digest = head(lab, "app", "1.2.2")
    assert digest is not None
    _copy_manifest(lab, "app", digest, "app", "prod")
    faulty = FailingHead("/v2/app/manifests/prod")

    async def no_sleep(_: float) -> None:
        return None

    client = httpx.AsyncClient(base_url=lab.url, transport=GuardedTransport(
        faulty, registry="lab", read_only=False, retries=1, sleep=no_sleep))
    backend = DistributionBackend(name="lab", url=lab.url, client=client,
                                  cache=ContentCache(tmp_path / "cache"))
    ops = operations(lab, tmp_path, inventory=InventoryService(backend, read_only=False))
    try:
        plan = await ops.plan([Target("app", "1.2.2")])
        assert "app" in ops.inventory.problem_repositories()
        [impact] = plan.impacts
        assert impact.strategy is not Strategy.BY_DIGEST
        faulty.failing = False
        [result] = await ops.delete(plan, assume_yes=True)
    finally:
        await ops.inventory.aclose()
    assert result.ok, result.outcome
    assert head(lab, "app", "1.2.2") is None
    assert head(lab, "app", "prod") == digest, "the unreadable sibling must survive"


async def test_a_tag_pointed_at_the_manifest_after_the_preview_stops_the_delete(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory()
    ops = operations(lab, tmp_path)
    try:
        plan = await ops.plan([Target("app", "1.2.2")])
        assert plan.impacts[0].strategy is Strategy.BY_DIGEST
        digest = plan.impacts[0].digest
        _copy_manifest(lab, "app", digest, "app", "promoted")  # CI, meanwhile
        [result] = await ops.delete(plan, assume_yes=True)
    finally:
        await ops.inventory.aclose()
    assert result.outcome.startswith("aborted: tag promoted now points at this manifest")
    assert head(lab, "app", "1.2.2") == digest and head(lab, "app", "promoted") == digest


def test_two_tags_of_one_manifest_deleted_together_both_succeed(lab_factory: LabFactory,
                                                                 tmp_path: Path) -> None:
    lab = lab_factory()
    cli = Cli(lab, tmp_path)
    shared = head(lab, "app", "1.2.3")
    result = cli("delete", "lab/app:1.2.3", "lab/app:stable", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 deleted, 0 not deleted" in result.stdout
    assert head(lab, "app", "1.2.3") is None and head(lab, "app", "stable") is None
    assert shared is not None and head(lab, "app", shared) is None


def _disable_deletes(lab: Lab) -> None:
    config = json.loads(lab.config_file.read_text())
    config["storage"]["delete"]["enabled"] = False
    lab.config_file.write_text(json.dumps(config))
    lab.restart_registry()


async def test_with_deletes_disabled_nothing_is_written(lab_factory: LabFactory,
                                                        tmp_path: Path) -> None:
    lab = lab_factory()
    _disable_deletes(lab)
    shared = head(lab, "app", "stable")
    ops = operations(lab, tmp_path)
    try:
        [result] = await ops.delete(await ops.plan([Target("app", "stable")]), assume_yes=True)
    finally:
        await ops.inventory.aclose()
    assert result.outcome.startswith("failed:") and "refuses deletes" in result.outcome
    assert head(lab, "app", "stable") == shared, "no placeholder may be left behind"


async def test_a_failed_placeholder_delete_puts_the_tag_back(lab_factory: LabFactory,
                                                             tmp_path: Path) -> None:
    lab = lab_factory()
    _disable_deletes(lab)
    shared = head(lab, "app", "stable")
    ops = operations(lab, tmp_path, flavor="oci")  # no tag-delete probe: straight to placeholder
    try:
        plan = await ops.plan([Target("app", "stable")])
        assert plan.impacts[0].strategy is Strategy.PLACEHOLDER
        [result] = await ops.delete(plan, assume_yes=True)
    finally:
        await ops.inventory.aclose()
    assert result.outcome.startswith("failed:") and "the tag was restored" in result.outcome
    assert head(lab, "app", "stable") == shared


def test_an_index_of_indexes_protects_its_grandchildren() -> None:
    leaf, inner, outer = ("sha256:" + c * 64 for c in "abc")

    def record(tag: str, digest: str, kind: ArtifactKind, reach: tuple[str, ...],
               children: tuple[str, ...] = ()) -> TagRecord:
        return TagRecord("r", U("repo"), U(tag), digest, U(""), 1, (), None, kind,
                         reachable=tuple((d, 1) for d in reach), children=children)

    records = [
        record("all", outer, ArtifactKind.INDEX, (outer, inner, leaf), (inner,)),
        record("amd64", leaf, ArtifactKind.IMAGE, (leaf,)),
    ]
    plan = plan_delete("r", [Target("repo", "amd64")], records, {leaf: {leaf: 1}},
                       can_delete_tag=False)
    assert plan.impacts[0].strategy is Strategy.PLACEHOLDER
    assert plan.impacts[0].needed_by == ("all",)


@pytest.mark.parametrize("target", [
    Target("team-b/db/../../app", "1"), Target("app", "../../x"), Target("App", "1"),
    Target("app", digest="sha256:../x"),
])
def test_names_that_are_not_names_are_never_planned(target: Target) -> None:
    record = TagRecord("r", U(target.repository), U(target.tag or "t"), "sha256:" + "a" * 64,
                       U(""), 1,
                       (), None, ArtifactKind.IMAGE, reachable=(("sha256:" + "a" * 64, 1),))
    plan = plan_delete("r", [target], [record], {}, can_delete_tag=False)
    assert plan.impacts == ()
    assert "not a valid repository name" in plan.problems[0]
