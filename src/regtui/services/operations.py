"""The operations service: the only code that changes a registry.

Every change goes the same way: check read-only mode (first lock; the transport is the second),
build the plan, ask for confirmation (the UI's dialog or `--yes`), re-check the digest right
before sending, act, and append one audit line with the outcome. The TUI and the headless
subcommands both come through here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from regtui.config import RegistryConfig
from regtui.errors import NotFoundError, ReadOnlyError, RegistryError, UsageError
from regtui.registry import mediatypes as mt
from regtui.registry.models import TagRecord
from regtui.registry.push import delete_manifest, push_blob, push_manifest
from regtui.services.audit import AuditLog
from regtui.services.gc import GarbageCollector, GcProgress, GcRun, GcRunner
from regtui.services.impact import DeletePlan, Strategy, TagImpact, Target, plan_delete
from regtui.services.inventory import InventoryService
from regtui.services.retention import RetentionPolicy, select

Confirm = Callable[[DeletePlan], Awaitable[bool]]
Progress = Callable[[int, int, str], None]
EMPTY_JSON = b"{}"
TAG_DELETE_FLAVORS = frozenset({"distribution"})
COMMAND_GC_FLAVORS = frozenset({"distribution"})
"""Flavors whose GC is the offline `registry garbage-collect` command."""
"""Flavors where DELETE by tag removes only the tag (distribution 3) or is refused (2.x)."""


@dataclass(frozen=True, slots=True)
class DeleteResult:
    target: Target
    digest: str
    outcome: str

    @property
    def ok(self) -> bool:
        return self.outcome.startswith("ok")


class OperationsService:
    """Changes to one registry, always previewed, confirmed, re-checked and audited."""

    def __init__(self, inventory: InventoryService, registry: RegistryConfig, *,
                 read_only: bool, audit: AuditLog) -> None:
        self.inventory = inventory
        self.registry = registry
        self.read_only = read_only
        self.audit = audit
        self._records: list[TagRecord] | None = None
        self._tag_delete_works: bool | None = None
        """Learnt on first use: distribution 3 deletes a tag alone, 2.x answers 400."""

    # -- reading: allowed in every mode ------------------------------------------------------

    async def records(self, *, refresh: bool = False) -> list[TagRecord]:
        """The whole registry's tags: reclaimable bytes depend on every other repository."""
        if self._records is None or refresh:
            self._records = [record async for record in self.inventory.walk()]
        return self._records

    async def plan(self, targets: Sequence[Target]) -> DeletePlan:
        records = await self.records()
        reach: dict[str, dict[str, int]] = {}
        for target in targets:
            await self._add_reach(target, records, reach)
        can_tag = self.inventory.capabilities.can_delete_tag or (
            self.registry.flavor in TAG_DELETE_FLAVORS and self._tag_delete_works is not False)
        return plan_delete(self.registry.name, targets, records, reach, can_delete_tag=can_tag)

    async def _add_reach(self, target: Target, records: Sequence[TagRecord],
                         reach: dict[str, dict[str, int]]) -> None:
        digest = target.digest or next((r.digest for r in records
                                        if r.repository == target.repository
                                        and r.tag == target.tag), None)
        if digest is None:
            return
        resolved = await self.inventory.resolve(target.repository, digest)
        reach[digest] = dict(resolved.reachable)
        for child in resolved.manifest.manifests:
            try:
                reach[child.digest] = dict(
                    (await self.inventory.resolve(target.repository, child.digest)).reachable)
            except NotFoundError:
                reach[child.digest] = {child.digest: child.size}

    async def retention_plan(self, policy: RetentionPolicy,
                             now: datetime | None = None) -> tuple[list[TagRecord], DeletePlan]:
        records = await self.records()
        chosen = select(records, policy, now or datetime.now(UTC))
        plan = await self.plan([Target(r.repository, r.tag) for r in chosen])
        return chosen, plan

    # -- changing: read-only refuses, everything is audited ----------------------------------

    async def delete(self, plan: DeletePlan, *, confirm: Confirm | None = None,
                     assume_yes: bool = False, command: str = "",
                     progress: Progress | None = None) -> list[DeleteResult]:
        """Carry out a plan; continues past individual failures and reports each one."""
        if self.read_only:
            for impact in plan.impacts:
                self._audit("delete", impact, command, "refused: read-only")
            raise ReadOnlyError(f"read-only mode: nothing was deleted on registry "
                                f"{self.registry.name}")
        if not assume_yes and (confirm is None or not await confirm(plan)):
            for impact in plan.impacts:
                self._audit("delete", impact, command, "cancelled")
            return [DeleteResult(i.target, i.digest, "cancelled") for i in plan.impacts]
        results: list[DeleteResult] = []
        deleted: set[tuple[str, str]] = set()
        for position, impact in enumerate(plan.impacts, start=1):
            outcome = await self._execute(impact, deleted)
            self._audit("delete", impact, command, outcome)
            results.append(DeleteResult(impact.target, impact.digest, outcome))
            if progress is not None:
                progress(position, len(plan.impacts), f"{impact.target}: {outcome}")
        self._records = None
        return results

    def gc_runner(self) -> GarbageCollector:
        """The registry's collector; registries without one say so instead of offering it."""
        if self.registry.flavor not in COMMAND_GC_FLAVORS:
            raise UsageError(f"registry {self.registry.name} ({self.registry.flavor}) has no "
                             "garbage collection regtui can run")
        if self.registry.gc is None:
            raise UsageError(f"registry {self.registry.name} has no [registries.gc] section: "
                             "regtui does not know how to run its garbage collection")
        return GcRunner(self.registry.name, self.registry.gc, read_only=self.read_only,
                        history_path=self.audit.path.parent / "gc-history.jsonl")

    async def collect_garbage(self, *, dry_run: bool, delete_untagged: bool = False,
                              on_line: Callable[[str, GcProgress], None] | None = None) -> GcRun:
        """Run garbage-collect (refused in read-only mode before spawning) and audit it."""
        runner = self.gc_runner()
        action = "gc --dry-run" if dry_run else "gc"
        command = runner.describe(dry_run=dry_run, delete_untagged=delete_untagged)
        try:
            run = await runner.run(dry_run=dry_run, delete_untagged=delete_untagged,
                                   on_line=on_line)
        except ReadOnlyError:
            self._audit_gc(action, command, "refused: read-only")
            raise
        except RegistryError as error:
            self._audit_gc(action, command, f"failed: {error}")
            raise
        self._audit_gc(action, command, gc_outcome(run))
        return run

    def _audit_gc(self, action: str, command: str, outcome: str) -> None:
        self.audit.record(registry=self.registry.name, action=action, target=self.registry.name,
                          digest="", command=command, outcome=outcome)

    def _audit(self, action: str, impact: TagImpact, command: str, outcome: str) -> None:
        self.audit.record(registry=self.registry.name, action=action, target=str(impact.target),
                          digest=impact.digest, command=command or self.delete_command(impact),
                          outcome=outcome)

    def delete_command(self, impact: TagImpact) -> str:
        return f"regtui delete {self.registry.name}/{impact.target} --yes"

    async def _execute(self, impact: TagImpact, deleted: set[tuple[str, str]]) -> str:
        target = impact.target
        try:
            if target.tag is not None:
                head = await self.inventory.backend.head_manifest(target.repository, target.tag)
                if head.digest != impact.digest:
                    return f"aborted: the tag moved to {head.digest} since the preview"
            if impact.strategy is Strategy.BY_DIGEST:
                return await self._delete_digest(impact, deleted)
            if impact.strategy is Strategy.BY_TAG and await self._delete_tag(impact):
                return await self._verify_siblings(impact, "ok: tag deleted")
            await self._placeholder_delete(impact)
            return await self._verify_siblings(impact, "ok: tag removed via placeholder")
        except NotFoundError as exc:
            return f"aborted: not found ({exc})"
        except RegistryError as exc:
            return f"failed: {exc}"

    async def _delete_digest(self, impact: TagImpact, deleted: set[tuple[str, str]]) -> str:
        key = (impact.target.repository, impact.digest)
        if not impact.manifest_deleted:
            return ("refused: the manifest is a child of surviving index tags "
                    f"{', '.join(impact.needed_by)}")
        if key in deleted:
            return "ok: removed with its manifest"
        backend = self.inventory.backend
        await delete_manifest(backend.client, backend.url, impact.target.repository,
                              impact.digest)
        deleted.add(key)
        return "ok: manifest deleted"

    async def _delete_tag(self, impact: TagImpact) -> bool:
        """OCI 1.1 tag delete; False when the registry refuses it (distribution 2.x: 400)."""
        backend = self.inventory.backend
        path = f"/v2/{impact.target.repository}/manifests/{impact.target.tag}"
        try:
            response = await backend.client.delete(path)
        except httpx.HTTPError as exc:
            raise RegistryError(f"deleting tag {impact.target}: {exc}") from exc
        if response.status_code == 202:
            self._tag_delete_works = True
            return True
        if response.status_code in (400, 405, 501):
            self._tag_delete_works = False
            return False
        raise RegistryError(f"deleting tag {impact.target} on {self.registry.name}: "
                            f"HTTP {response.status_code}")

    async def _placeholder_delete(self, impact: TagImpact) -> None:
        """Point only this tag at a unique placeholder, then delete the placeholder by digest."""
        backend = self.inventory.backend
        repo, tag = impact.target.repository, impact.target.tag
        assert tag is not None
        empty = await push_blob(backend.client, backend.url, repo, EMPTY_JSON)
        body = placeholder_manifest(empty, f"{repo}:{tag}")
        placeholder = await push_manifest(backend.client, backend.url, repo, tag, body,
                                          mt.OCI_MANIFEST)
        head = await backend.head_manifest(repo, tag)
        if head.digest != placeholder:
            raise RegistryError(f"{impact.target}: the tag changed while being moved to the "
                                f"placeholder (now {head.digest}); nothing was deleted")
        await delete_manifest(backend.client, backend.url, repo, placeholder)

    async def _verify_siblings(self, impact: TagImpact, outcome: str) -> str:
        """After the change, every sibling must still resolve to the digest it had."""
        lost: list[str] = []
        for sibling in impact.siblings:
            try:
                head = await self.inventory.backend.head_manifest(impact.target.repository,
                                                                  sibling)
            except NotFoundError:
                lost.append(sibling)
                continue
            if head.digest != impact.digest:
                lost.append(sibling)
        if lost:
            return f"failed: siblings no longer resolve to {impact.digest}: {', '.join(lost)}"
        return outcome


def gc_outcome(run: GcRun) -> str:
    if run.exit_code != 0:
        return f"failed: exit {run.exit_code}"
    freed = f", {run.bytes_freed} bytes freed" if run.bytes_freed is not None else ""
    return f"ok: {run.progress.get('eligible_blobs', 0)} blobs eligible{freed}"


def placeholder_manifest(empty_digest: str, reference: str) -> bytes:
    """A tiny, unique OCI manifest: unique so that deleting it touches no other tag."""
    empty = {"mediaType": mt.OCI_EMPTY, "digest": empty_digest, "size": len(EMPTY_JSON)}
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.regtui.placeholder",
        "config": empty,
        "layers": [empty],
        "annotations": {
            "io.regtui.placeholder.for": reference,
            "io.regtui.placeholder.nonce": uuid.uuid4().hex,
        },
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
