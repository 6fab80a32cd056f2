"""Delete, retention, garbage collection, read-only mode and the audit log, on the real lab."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from regtui.config import load_config
from regtui.lab import Lab
from regtui.registry import mediatypes as mt
from regtui.services.audit import AuditLog
from regtui.services.impact import Strategy, Target
from regtui.services.inventory import open_registry
from regtui.services.operations import OperationsService
from tests.rawwalk import ACCEPT, paged

pytestmark = pytest.mark.lab
LabFactory = Callable[..., Lab]


class Cli:
    """Runs `regtui` as an operator would, against one lab, with its own config and state."""

    def __init__(self, lab: Lab, tmp: Path, gc_command: str | None = None) -> None:
        self.lab = lab
        self.config = tmp / "config.toml"
        text = lab.regtui_config_toml()
        if gc_command is not None:
            text = re.sub(r'command = ".*garbage-collect.*"', f"command = {json.dumps(gc_command)}",
                          text)
        self.config.write_text(text)
        self.state = tmp / "state"
        self.env = {**os.environ, "REGTUI_CONFIG": str(self.config),
                    "XDG_STATE_HOME": str(self.state), "XDG_CACHE_HOME": str(tmp / "cache")}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "regtui", *args], capture_output=True,
                              text=True, timeout=300, env=self.env)

    def audit(self) -> list[dict[str, Any]]:
        path = self.state / "regtui" / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() \
            else []


def head(lab: Lab, repo: str, ref: str) -> str | None:
    response = httpx.head(f"{lab.url}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
    return response.headers["docker-content-digest"] if response.status_code == 200 else None


def access_log_writes(lab: Lab, start: int) -> list[str]:
    with lab.log_file.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    return re.findall(r'"(?:DELETE|PUT|POST|PATCH) /v2/[^"]*"', text)


def test_deleting_one_of_two_shared_tags_keeps_the_other(lab_factory: LabFactory,
                                                         tmp_path: Path) -> None:
    lab = lab_factory()
    cli = Cli(lab, tmp_path)
    shared = head(lab, "app", "1.2.3")
    assert shared is not None and head(lab, "app", "stable") == shared

    preview = cli("delete", "lab/app:stable")
    assert preview.returncode == 0, preview.stderr
    assert "survives (same digest): 1.2.3" in preview.stdout
    assert head(lab, "app", "stable") == shared, "a preview must change nothing"

    done = cli("delete", "lab/app:stable", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert head(lab, "app", "stable") is None
    assert head(lab, "app", "1.2.3") == shared
    entries = cli.audit()
    assert [(e["action"], e["target"], e["digest"]) for e in entries] == [
        ("delete", "app:stable", shared)]
    assert entries[0]["outcome"].startswith("ok")
    assert entries[0]["command"] == "regtui delete lab/app:stable --yes"


def test_deleting_an_unshared_tag_removes_its_manifest(lab_factory: LabFactory,
                                                       tmp_path: Path) -> None:
    lab = lab_factory()
    cli = Cli(lab, tmp_path)
    digest = head(lab, "app", "1.2.2")
    assert digest is not None
    done = cli("--registry", "lab", "delete", "app:1.2.2", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert Strategy.BY_DIGEST.value in done.stdout
    assert head(lab, "app", digest) is None, "the manifest itself must be gone"


async def test_a_tag_moved_after_the_preview_is_not_deleted(lab_factory: LabFactory,
                                                            tmp_path: Path) -> None:
    lab = lab_factory()
    config = load_config(_write(tmp_path, lab))
    registry = config.registries[0]
    ops = OperationsService(open_registry(registry, config, read_only=False), registry,
                            read_only=False, audit=AuditLog(tmp_path / "audit.jsonl"))
    try:
        plan = await ops.plan([Target("app", "1.2.2")])
        other = head(lab, "team-a/releases", paged_first_tag(lab))
        assert other is not None
        _copy_manifest(lab, "team-a/releases", other, "app", "1.2.2")
        moved = head(lab, "app", "1.2.2")
        results = await ops.delete(plan, assume_yes=True)
    finally:
        await ops.inventory.aclose()
    assert results[0].outcome.startswith("aborted: the tag moved")
    assert head(lab, "app", "1.2.2") == moved
    assert AuditLog(tmp_path / "audit.jsonl").entries()[0].outcome.startswith("aborted")


def test_a_tagged_index_child_is_untagged_not_deleted(lab_factory: LabFactory,
                                                      tmp_path: Path) -> None:
    lab = lab_factory()
    cli = Cli(lab, tmp_path)
    index = httpx.get(f"{lab.url}/v2/multiarch/manifests/1.0", headers={"Accept": ACCEPT}).json()
    child = index["manifests"][0]["digest"]
    _copy_manifest(lab, "multiarch", child, "multiarch", "1.0-amd64")
    done = cli("delete", "lab/multiarch:1.0-amd64", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kept because index tags list it: 1.0" in done.stdout
    assert head(lab, "multiarch", "1.0-amd64") is None
    assert head(lab, "multiarch", child) == child, "the index's child must survive"


def test_read_only_refuses_every_change_before_it_is_sent(lab_factory: LabFactory,
                                                          tmp_path: Path) -> None:
    lab = lab_factory()
    marker = tmp_path / "gc-ran"
    cli = Cli(lab, tmp_path, gc_command=f"sh -c 'touch {marker}; docker-registry "
                                        "garbage-collect {flags} {config}'")
    start = lab.log_file.stat().st_size
    attempts = [
        ("--read-only", "delete", "lab/app:stable", "--yes"),
        ("delete", "lab/app:1.2.2", "--yes", "--read-only"),
        ("--read-only", "retention", "--keep-last", "1", "--apply"),
        ("--read-only", "gc", "--yes"),
        ("--read-only", "gc", "--dry-run"),
    ]
    for args in attempts:
        result = cli(*args)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert "read-only" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    env_result = subprocess.run([sys.executable, "-m", "regtui", "delete", "lab/app:stable",
                                 "--yes"], capture_output=True, text=True, timeout=300,
                                env={**cli.env, "REGTUI_READ_ONLY": "1"})
    assert env_result.returncode == 3
    _flush(lab)
    assert access_log_writes(lab, start) == []
    assert not marker.exists(), "no GC command may be spawned in read-only mode"
    assert head(lab, "app", "stable") is not None
    outcomes = [e["outcome"] for e in cli.audit()]
    assert outcomes and all(o == "refused: read-only" for o in outcomes)


def test_retention_dry_run_and_apply_match_the_expectation(lab_factory: LabFactory,
                                                           tmp_path: Path) -> None:
    lab = lab_factory()
    cli = Cli(lab, tmp_path)
    repo = "team-a/releases"
    created = _created_by_tag(lab, repo)
    protected = {t for t in created if t == "latest"}
    candidates = sorted((t for t in created if t not in protected),
                        key=lambda t: (created[t], t), reverse=True)
    expected = sorted(candidates[3:])
    assert expected, "the seed must give retention something to do"

    args = ("retention", "--repository", repo, "--keep-last", "3", "--protect", "^latest$")
    dry = cli(*args)
    assert dry.returncode == 0, dry.stderr
    listed = sorted(re.findall(rf"^{re.escape(repo)}:(\S+)  sha256:", dry.stdout, re.MULTILINE))
    assert listed == expected
    assert f"{len(expected)} tags would be deleted" in dry.stderr
    assert sorted(paged_tags(lab, repo)) == sorted(created), "a dry run changes nothing"

    applied = cli(*args, "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"{len(expected)} deleted, 0 not deleted" in applied.stdout
    assert sorted(paged_tags(lab, repo)) == sorted(set(created) - set(expected))


def test_gc_frees_unreferenced_blobs_and_keeps_index_children(lab_factory: LabFactory,
                                                              tmp_path: Path) -> None:
    lab = lab_factory()
    cli = Cli(lab, tmp_path)
    baseline = cli("gc", "--yes")  # the seed leaves garbage of its own (the `gone` repository)
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    doomed_digest = head(lab, "app", "1.2.2")
    doomed = httpx.get(f"{lab.url}/v2/app/manifests/1.2.2", headers={"Accept": ACCEPT}).json()
    index = httpx.get(f"{lab.url}/v2/multiarch/manifests/1.0", headers={"Accept": ACCEPT}).json()
    children = [m["digest"] for m in index["manifests"]]

    deleted = cli("delete", "lab/app:1.2.2", "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    found = re.search(r"reclaimable by garbage-collect: .*?\((\d+) bytes\)", deleted.stdout)
    assert found is not None
    predicted = int(found.group(1))

    dry = cli("gc", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    eligible = set(re.findall(r"^blob eligible for deletion: (\S+)", dry.stdout, re.MULTILINE))
    assert {doomed_digest, doomed["config"]["digest"]} <= eligible
    assert all(_blob_on_disk(lab, d) for d in eligible), "a dry run deletes nothing"
    eligible_bytes = sum(_blob_path(lab, d).stat().st_size for d in eligible)

    before = _disk_bytes(lab)
    real = cli("gc", "--yes")
    assert real.returncode == 0, real.stdout + real.stderr
    assert not any(_blob_on_disk(lab, d) for d in eligible)
    assert before - _disk_bytes(lab) == eligible_bytes == predicted
    for child in children:
        assert head(lab, "multiarch", child) == child
    assert head(lab, "multiarch", "1.0") is not None
    assert [e["action"] for e in cli.audit()] == [
        "gc --dry-run", "gc", "delete", "gc --dry-run", "gc --dry-run", "gc"]


def test_delete_untagged_is_refused_while_indexes_exist(lab_factory: LabFactory,
                                                        tmp_path: Path) -> None:
    lab = lab_factory()
    result = Cli(lab, tmp_path)("gc", "--delete-untagged", "--yes")
    assert result.returncode == 2
    assert "multi-arch index" in result.stderr


# -- helpers ---------------------------------------------------------------------------------

def _write(tmp: Path, lab: Lab) -> Path:
    path = tmp / "config.toml"
    path.write_text(lab.regtui_config_toml())
    return path


def paged_tags(lab: Lab, repo: str) -> list[str]:
    with httpx.Client(base_url=lab.url) as client:
        return paged(client, f"/v2/{repo}/tags/list", "tags")


def paged_first_tag(lab: Lab) -> str:
    return sorted(paged_tags(lab, "team-a/releases"))[0]


def _copy_manifest(lab: Lab, src_repo: str, digest: str, repo: str, tag: str) -> None:
    """Push an existing manifest (and mount its blobs) under another tag."""
    response = httpx.get(f"{lab.url}/v2/{src_repo}/manifests/{digest}", headers={"Accept": ACCEPT})
    doc = response.json()
    for blob in [doc.get("config"), *(doc.get("layers") or [])]:
        if blob and src_repo != repo:
            httpx.post(f"{lab.url}/v2/{repo}/blobs/uploads/",
                       params={"mount": blob["digest"], "from": src_repo})
    media = doc.get("mediaType") or mt.OCI_MANIFEST
    put = httpx.put(f"{lab.url}/v2/{repo}/manifests/{tag}", content=response.content,
                    headers={"Content-Type": media})
    assert put.status_code == 201, put.text


def _created_by_tag(lab: Lab, repo: str) -> dict[str, datetime]:
    result: dict[str, datetime] = {}
    for tag in paged_tags(lab, repo):
        doc = httpx.get(f"{lab.url}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}).json()
        config = httpx.get(f"{lab.url}/v2/{repo}/blobs/{doc['config']['digest']}").json()
        result[tag] = datetime.fromisoformat(config["created"].replace("Z", "+00:00"))
    return result


def _blob_path(lab: Lab, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1]
    return lab.storage_dir / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def _blob_on_disk(lab: Lab, digest: str) -> bool:
    return _blob_path(lab, digest).exists()


def _disk_bytes(lab: Lab) -> int:
    root = lab.storage_dir / "docker/registry/v2/blobs"
    return sum(p.stat().st_size for p in root.rglob("data"))


def _flush(lab: Lab) -> None:
    from tests.test_inventory import flush_access_log

    flush_access_log(lab)
