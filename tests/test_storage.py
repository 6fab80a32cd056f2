"""Storage usage on the real lab: each blob counted once, checked against the storage layout."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from regtui.config import adhoc_registry, load_config
from regtui.lab import Lab
from regtui.registry import mediatypes as mt
from regtui.registry.push import push_blob, push_manifest
from regtui.services.impact import Target, plan_delete
from regtui.services.inventory import open_registry
from regtui.services.storage import build_report, namespaces_of
from tests.rawwalk import raw_inventory
from tests.test_operations import Cli, _blob_path, _disk_bytes

pytestmark = pytest.mark.lab
LabFactory = Callable[..., Lab]


def storage_json(cli: Cli) -> dict[str, Any]:
    result = cli("storage", "--format", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_registry_stored_bytes_equal_the_referenced_blobs_on_disk(lab: Lab,
                                                                 tmp_path: Path) -> None:
    referenced: set[str] = set()
    for record in raw_inventory(lab.url).values():
        referenced.update(record["blobs"])
    on_disk = sum(_blob_path(lab, digest).stat().st_size for digest in referenced)
    report = storage_json(Cli(lab, tmp_path))
    assert report["stored_bytes"] == on_disk


def test_untagged_bytes_come_from_revisions_no_tag_reaches(lab: Lab, tmp_path: Path) -> None:
    tagged: set[str] = set()
    for record in raw_inventory(lab.url).values():
        tagged.update(record["blobs"])
    repositories = lab.storage_dir / "docker/registry/v2/repositories"
    only_untagged: dict[str, int] = {}
    for link in repositories.rglob("_manifests/revisions/sha256/*/link"):
        digest = link.read_text().strip()
        if digest in tagged:
            continue
        repo = str(link.relative_to(repositories)).split("/_manifests/")[0]
        body = httpx.get(f"{lab.url}/v2/{repo}/manifests/{digest}",
                         headers={"Accept": mt.MANIFEST_ACCEPT}).content
        doc = json.loads(body)
        only_untagged[digest] = len(body)
        for blob in [doc.get("config"), *(doc.get("layers") or [])]:
            if blob and blob["digest"] not in tagged:
                only_untagged[blob["digest"]] = blob["size"]
    assert only_untagged, "the seed has an untagged manifest"
    assert storage_json(Cli(lab, tmp_path))["untagged_bytes"] == sum(only_untagged.values())


def test_per_tag_reclaim_agrees_with_the_delete_planner(lab: Lab) -> None:
    async def check() -> None:
        registry = adhoc_registry(lab.url)
        config = load_config(None)
        inventory = open_registry(registry, config, read_only=True)
        try:
            records = [r async for r in inventory.walk()]
            report = build_report("lab", records)
            wanted = ("app", "multiarch", "library/base", "team-a/releases")
            sample = [t for t in report.tags if t.repository in wanted][:60]
            assert sample and any(t.reclaimable_bytes for t in sample)
            assert any(t.reclaimable_bytes == 0 for t in sample), "shared tags free nothing"
            for tag in sample:
                resolved = await inventory.resolve(tag.repository, tag.digest)
                reach = {tag.digest: dict(resolved.reachable)}
                for child in resolved.manifest.manifests:
                    reach[child.digest] = dict(
                        (await inventory.resolve(tag.repository, child.digest)).reachable)
                plan = plan_delete("lab", [Target(tag.repository, tag.tag)], records, reach,
                                   can_delete_tag=False)
                assert plan.reclaimable_bytes == tag.reclaimable_bytes, tag
        finally:
            await inventory.aclose()

    asyncio.run(check())


def test_namespaces_of_nested_names() -> None:
    assert namespaces_of("a.b/c-d/e_f/g") == ["a.b", "a.b/c-d", "a.b/c-d/e_f"]
    assert namespaces_of("app") == []


# -- a small data set with known overlaps ---------------------------------------------------------

def _bytes(label: str, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}:{counter}".encode()).digest()
        counter += 1
    return out[:size]


class Pushed:
    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}


async def _image(client: httpx.AsyncClient, base: str, repo: str, tag: str | None,
                 layers: list[bytes], arch: str, pushed: Pushed) -> tuple[str, int]:
    config = json.dumps({"architecture": arch, "os": "linux", "created": "2024-05-01T00:00:00Z",
                         "config": {"Labels": {"repository": repo}},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    descriptors = []
    for data in [config, *layers]:
        digest = await push_blob(client, base, repo, data)
        pushed.sizes[digest] = len(data)
        descriptors.append({"digest": digest, "size": len(data)})
    body = json.dumps({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, **descriptors[0]},
        "layers": [{"mediaType": mt.OCI_LAYER_TAR_GZIP, **d} for d in descriptors[1:]],
    }).encode()
    reference = tag or f"sha256:{hashlib.sha256(body).hexdigest()}"
    digest = await push_manifest(client, base, repo, reference, body, mt.OCI_MANIFEST)
    pushed.sizes[digest] = len(body)
    return digest, len(body)


async def seed_overlaps(lab: Lab) -> dict[str, Pushed]:
    """overlap/one and overlap/two share a base layer; overlap/multi is an index whose two
    children share a layer; nothing here is shared with the rest of the lab."""
    base, own_one, own_two = _bytes("base", 3000), _bytes("one", 1000), _bytes("two", 2000)
    shared_child, only_x, only_y = _bytes("s", 700), _bytes("x", 300), _bytes("y", 500)
    result = {name: Pushed() for name in ("one", "two", "multi")}
    async with httpx.AsyncClient() as client:
        await _image(client, lab.url, "overlap/one", "1", [base, own_one], "amd64", result["one"])
        await _image(client, lab.url, "overlap/two", "1", [base, own_two], "amd64", result["two"])
        children = []
        for arch, own in (("amd64", only_x), ("arm64", only_y)):
            digest, size = await _image(client, lab.url, "overlap/multi", None,
                                        [shared_child, own], arch, result["multi"])
            children.append({"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": size,
                             "platform": {"os": "linux", "architecture": arch}})
        index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                            "manifests": children}).encode()
        digest = await push_manifest(client, lab.url, "overlap/multi", "1.0", index, mt.OCI_INDEX)
        result["multi"].sizes[digest] = len(index)
    return result


def test_unique_and_shared_bytes_match_the_hand_computed_overlaps(lab_factory: LabFactory,
                                                                 tmp_path: Path) -> None:
    lab = lab_factory()
    pushed = asyncio.run(seed_overlaps(lab))
    report = storage_json(Cli(lab, tmp_path))
    repos = {r["name"]: r for r in report["repositories"]}
    base_size = 3000
    one, two, multi = (sum(pushed[n].sizes.values()) for n in ("one", "two", "multi"))

    assert repos["overlap/one"]["stored_bytes"] == one
    assert repos["overlap/one"]["unique_bytes"] == one - base_size
    assert repos["overlap/one"]["shared_bytes"] == base_size
    assert repos["overlap/two"]["unique_bytes"] == two - base_size
    # The index's children share a 700-byte layer: counted once in the repository.
    assert repos["overlap/multi"]["stored_bytes"] == multi
    assert repos["overlap/multi"]["unique_bytes"] == multi
    namespaces = {n["name"]: n for n in report["namespaces"]}
    assert namespaces["overlap"]["stored_bytes"] == one + two - base_size + multi
    assert namespaces["overlap"]["unique_bytes"] == one + two - base_size + multi
    assert namespaces["overlap"]["repositories"] == 3


@pytest.mark.parametrize("repository", ["overlap/one", "overlap/multi"])
def test_deleting_a_repository_frees_its_unique_bytes(lab_factory: LabFactory, tmp_path: Path,
                                                      repository: str) -> None:
    lab = lab_factory()
    asyncio.run(seed_overlaps(lab))
    cli = Cli(lab, tmp_path)
    assert cli("gc", "--yes").returncode == 0  # clear the seed's own garbage first
    predicted = {r["name"]: r for r in storage_json(cli)["repositories"]}[repository]
    deleted = cli("delete", f"lab/{repository}", "--all-tags", "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    before = _disk_bytes(lab)
    collected = cli("gc", "--yes")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert before - _disk_bytes(lab) == predicted["unique_bytes"]


def test_a_tag_whose_manifest_lives_in_another_repository_frees_nothing() -> None:
    from regtui.registry.models import ArtifactKind, TagRecord
    from regtui.text import Untrusted as U

    digest, layer = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    reach = ((digest, 500), (layer, 9000))
    records = [TagRecord("r", U(repo), U("v7"), digest, U(""), 9500, (), None, ArtifactKind.IMAGE,
                         reachable=reach) for repo in ("staging/web", "prod/web")]
    report = build_report("r", records)
    assert {t.reclaimable_bytes for t in report.tags} == {0}
    plan = plan_delete("r", [Target("prod/web", "v7")], records, {digest: dict(reach)},
                       can_delete_tag=False, untagged_reach={})
    assert plan.reclaimable_bytes == 0
