"""A change, once started, finishes its current step or is audited as interrupted (real lab).

A cancelled worker (leaving a screen, a second button) must never leave a tag pointing at
regtui's placeholder, nor a delete that the audit log does not mention.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from regtui.config import load_config
from regtui.lab import Lab
from regtui.services.audit import AuditLog
from regtui.services.impact import Target
from regtui.services.inventory import open_registry
from regtui.services.operations import OperationsService
from tests.test_operations import _write, head, paged_tags

pytestmark = pytest.mark.lab
LabFactory = Callable[..., Lab]


def operations(lab: Lab, tmp_path: Path) -> OperationsService:
    config = load_config(_write(tmp_path, lab))
    registry = config.registries[0]
    return OperationsService(open_registry(registry, config, read_only=False), registry,
                             read_only=False, audit=AuditLog(tmp_path / "audit.jsonl"))


def cancel_on(ops: OperationsService, method: str, task: list[asyncio.Task[object]]) -> None:
    """Cancel the delete right after the registry answered the first `method` on a manifest."""

    async def hook(response: httpx.Response) -> None:
        if response.request.method == method and "/manifests/" in response.request.url.path \
                and task and not task[0].cancelling():
            task[0].cancel()

    ops.inventory.backend.client.event_hooks["response"].append(hook)


async def test_cancel_during_a_placeholder_delete_finishes_the_step(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory()
    shared = head(lab, "app", "1.2.3")
    assert shared is not None and head(lab, "app", "stable") == shared
    ops = operations(lab, tmp_path)
    running: list[asyncio.Task[object]] = []
    try:
        plan = await ops.plan([Target("app", "stable")])
        cancel_on(ops, "PUT", running)  # the tag now points at the placeholder
        running.append(asyncio.ensure_future(ops.delete(plan, assume_yes=True)))
        with pytest.raises(asyncio.CancelledError):
            await running[0]
    finally:
        await ops.inventory.aclose()
    assert head(lab, "app", "stable") is None, "the step ran to its end: the tag is gone"
    assert head(lab, "app", "1.2.3") == shared
    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert [e.outcome for e in entries] == ["ok: tag removed via placeholder"]
    assert [e.url for e in entries] == [lab.url]  # keyed by URL, not only the name


async def test_cancel_mid_run_audits_every_item_and_matches_the_registry(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory()
    repo = "team-a/releases"
    before = set(paged_tags(lab, repo))
    doomed = sorted(t for t in before if t != "latest")[:4]
    assert len(doomed) == 4
    ops = operations(lab, tmp_path)
    running: list[asyncio.Task[object]] = []
    try:
        plan = await ops.plan([Target(repo, tag) for tag in doomed])
        cancel_on(ops, "DELETE", running)  # during the first item's delete
        running.append(asyncio.ensure_future(ops.delete(plan, assume_yes=True)))
        with pytest.raises(asyncio.CancelledError):
            await running[0]
    finally:
        await ops.inventory.aclose()
    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert sorted(e.target for e in entries) == sorted(f"{repo}:{t}" for t in doomed)
    gone = {e.target.partition(":")[2] for e in entries if e.outcome.startswith("ok")}
    assert gone, "the step under way when the cancel came finished"
    assert all(e.outcome.startswith(("ok", "interrupted")) for e in entries)
    assert set(paged_tags(lab, repo)) == before - gone


def test_gc_history_is_keyed_by_url_not_by_name(tmp_path: Path) -> None:
    """Two labs both named `lab` kept one mixed history; a run written before URLs were
    kept still shows under its name."""
    import json

    from regtui.config import GcConfig
    from regtui.services.gc import GcRun, GcRunner

    history = tmp_path / "gc-history.jsonl"

    def run(url: str, mode: str) -> GcRun:
        return GcRun(time="2026-12-01T10:00:00Z", registry="lab", mode=mode, command="gc",
                     exit_code=0, progress={}, bytes_before=None, bytes_after=None,
                     log_tail=[], url=url)

    first = GcRunner("lab", GcConfig(), read_only=False, history_path=history,
                     url="http://127.0.0.1:5000")
    second = GcRunner("lab", GcConfig(), read_only=False, history_path=history,
                      url="http://127.0.0.1:6000")
    first._remember(run(first.url, "collect"))
    second._remember(run(second.url, "dry-run"))
    old = json.loads(history.read_text().splitlines()[0])
    old.pop("url")
    with history.open("a") as handle:
        handle.write(json.dumps({**old, "mode": "legacy"}) + "\n")
    assert [r.mode for r in first.history()] == ["collect", "legacy"]
    assert [r.mode for r in second.history()] == ["dry-run", "legacy"]
