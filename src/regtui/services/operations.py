"""The operations service: the only code that changes a registry.

Every change goes the same way: check read-only mode (first lock; the transport is the second),
build the plan, ask for confirmation (the UI's dialog or `--yes`), re-check the registry right
before sending, act, and append one audit line with the outcome. The TUI and the headless
subcommands both come through here.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx

from regtui.config import RegistryConfig
from regtui.errors import NotFoundError, ReadOnlyError, RegistryError, UsageError
from regtui.registry import mediatypes as mt
from regtui.registry.backend import gc_job_api, gc_task_api, tag_delete_api
from regtui.registry.models import ArtifactKind, TagRecord
from regtui.registry.push import delete_manifest, push_blob, push_manifest
from regtui.services.audit import AuditLog
from regtui.services.gc import (
    Clock,
    GarbageCollector,
    GcProgress,
    GcRun,
    GcRunner,
    storage_root,
    utc_now,
)
from regtui.services.harbor_gc import HarborGc
from regtui.services.impact import DeletePlan, Strategy, TagImpact, Target, plan_delete
from regtui.services.inventory import InventoryService, bounded_map
from regtui.services.nexus_gc import NexusGc
from regtui.services.retention import RetentionPolicy, in_scope, select

if TYPE_CHECKING:  # scans imports inventory and the Harbor scan API; only its type is needed
    from regtui.services.scans import ScanWait
from regtui.services.storage import untagged_reach, untagged_revisions

Confirm = Callable[[DeletePlan], Awaitable[bool]]
Progress = Callable[[int, int, str], None]
EMPTY_JSON: Final = b"{}"
TAG_DELETE_FLAVORS: Final = frozenset({"distribution"})
"""Flavors where DELETE by tag removes only the tag (distribution 3) or is refused (2.x)."""
COMMAND_GC_FLAVORS: Final = frozenset({"distribution"})
"""Flavors whose GC is the offline `registry garbage-collect` command."""


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
                 read_only: bool, audit: AuditLog, clock: Clock = utc_now) -> None:
        self.inventory = inventory
        self.clock = clock
        """The time garbage-collect runs are stamped with (injected by snapshot tests)."""
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
            self.inventory.problems.clear()
            self._records = [record async for record in self.inventory.walk()]
        return self._records

    def use_records(self, records: list[TagRecord]) -> None:
        """Plan against records read elsewhere (the TUI's), when they cover the registry."""
        self._records = records

    def storage_root(self) -> Path | None:
        root = storage_root(self.registry.gc) if self.registry.gc else None
        return root if root is not None and (root / "docker").is_dir() else None

    async def plan(self, targets: Sequence[Target]) -> DeletePlan:
        records = await self.records()
        reach: dict[str, dict[str, int]] = {}
        children_of: dict[str, tuple[str, ...]] = {}
        for target in targets:
            await self._add_reach(target, records, reach, children_of)
        can_tag = self.inventory.capabilities.can_delete_tag or (
            self.registry.flavor in TAG_DELETE_FLAVORS and self._tag_delete_works is not False)
        return plan_delete(
            self.registry.name, targets, records, reach, can_delete_tag=can_tag,
            unsafe_repositories=frozenset(self.inventory.problem_repositories()),
            children_of=children_of,
            untagged_reach=await self._untagged_reach(records, targets),
            tags_only=self._tags_only())

    def _tags_only(self) -> bool:
        """Registries whose own API deletes tags and that cannot delete manifests."""
        capabilities = self.inventory.capabilities
        return capabilities.can_delete_tag and not capabilities.can_delete_manifest

    async def _add_reach(self, target: Target, records: Sequence[TagRecord],
                         reach: dict[str, dict[str, int]],
                         children_of: dict[str, tuple[str, ...]]) -> None:
        digest = target.digest or next((r.digest for r in records
                                        if r.repository == target.repository
                                        and r.tag == target.tag), None)
        if digest is None:
            return
        try:
            resolved = await self.inventory.resolve(target.repository, digest)
        except NotFoundError:
            return
        reach[digest] = dict(resolved.reachable)
        children_of[digest] = tuple(d.digest for d in resolved.manifest.manifests)
        for child in resolved.manifest.manifests:
            try:
                reach[child.digest] = dict(
                    (await self.inventory.resolve(target.repository, child.digest)).reachable)
            except NotFoundError:
                reach[child.digest] = {child.digest: child.size}

    async def _untagged_reach(self, records: Sequence[TagRecord],
                              targets: Sequence[Target]) -> dict[str, int] | None:
        """What untagged revisions that stay keep alive; None without a storage layout."""
        root = self.storage_root()
        if root is None:
            return None
        tagged: set[tuple[str, str]] = {(r.repository, d) for r in records
                                         for d, _ in r.reachable}
        tagged.update((t.repository, t.digest) for t in targets if t.digest)  # doomed too
        names = await self.inventory.repository_names()
        return await untagged_reach(self.inventory, root, names,
                                    skip=lambda repo, digest: (repo, digest) in tagged)

    async def repository_targets(self, repositories: Sequence[str]) -> list[Target]:
        """Everything deleting whole repositories means: every tag, then what plain GC would
        otherwise keep (index children, and untagged revisions when the layout is readable)."""
        records = await self.records()
        wanted = set(repositories)
        missing = wanted - {r.repository for r in records}
        if missing:
            raise UsageError(f"no tags found in {', '.join(sorted(missing))} on "
                             f"{self.registry.name}")
        tags = [Target(r.repository, r.tag) for r in records if r.repository in wanted]
        tagged = {(r.repository, r.digest) for r in records}
        leftovers: set[tuple[str, str]] = {(r.repository, child) for r in records
                                           if r.repository in wanted for child in r.children}
        root = self.storage_root()
        if root is not None:
            for repository, digests in untagged_revisions(root, sorted(wanted)).items():
                leftovers.update((repository, digest) for digest in digests)
        return tags + [Target(repo, digest=digest)
                       for repo, digest in sorted(leftovers - tagged)]

    async def retention_plan(self, policy: RetentionPolicy, now: datetime | None = None,
                             repositories: Sequence[str] | None = None, scope: str = "",
                             ) -> tuple[list[TagRecord], DeletePlan]:
        """Select in `repositories` (all when None) under `scope` (a repository or namespace);
        bytes are judged against the whole registry."""
        records = await self.records()
        wanted = set(repositories) if repositories else None
        scoped = [r for r in records if (wanted is None or r.repository in wanted)
                  and in_scope(r.repository, scope)]
        if scope.strip() and not scoped:
            raise UsageError(f"retention scope {scope.strip()!r}: no repository or namespace "
                             f"of that name has tags on {self.registry.name}")
        chosen = select(scoped, policy, now or self.clock())
        plan = await self.plan([Target(r.repository, r.tag) for r in chosen])
        return chosen, plan

    # -- changing: read-only refuses, everything is audited ----------------------------------

    async def delete(self, plan: DeletePlan, *, confirm: Confirm | None = None,
                     assume_yes: bool = False, command: str = "",
                     progress: Progress | None = None) -> list[DeleteResult]:
        """Carry out a plan; continues past individual failures and reports each one."""
        self.audit.check_writable()  # an unauditable change is not made at all
        if self.read_only:
            for impact in plan.impacts:
                self._audit("delete", impact, command, "refused: read-only")
            raise ReadOnlyError(f"read-only mode: nothing was deleted on registry "
                                f"{self.registry.name}")
        try:
            confirmed = assume_yes or (confirm is not None and await confirm(plan))
        except asyncio.CancelledError:
            for impact in plan.impacts:
                self._audit("delete", impact, command, "cancelled: interrupted before "
                            "confirmation")
            raise
        if not confirmed:
            for impact in plan.impacts:
                self._audit("delete", impact, command, "cancelled")
            return [DeleteResult(i.target, i.digest, "cancelled") for i in plan.impacts]
        run = _Run(doomed_tags={(i.target.repository, i.target.tag or "")
                                for i in plan.impacts if i.target.tag})
        results: list[DeleteResult] = []
        interrupted = False
        for position, impact in enumerate(plan.impacts, start=1):
            if interrupted:
                outcome = INTERRUPTED
            else:
                outcome, interrupted = await _finish_step(self._execute(impact, run))
            self._audit("delete", impact, command, outcome)
            results.append(DeleteResult(impact.target, impact.digest, outcome))
            if progress is not None:
                progress(position, len(plan.impacts), f"{impact.target}: {outcome}")
        self._records = None
        if interrupted:
            raise asyncio.CancelledError()  # the caller asked to stop: it is told so, audited
        return results

    async def scan(self, repository: str, reference: str, *, command: str = "",
                   wait: ScanWait | None = None) -> str:
        """Trigger a vulnerability scan (Harbor's API, or the configured command) and wait
        for it to end (`wait`); the outcome, an error or a timeout is audited."""
        from regtui.services.scans import ScanUnfinished, kept_reports_dir, trigger_scan

        self.audit.check_writable()
        target = f"{repository}{'@' if ':' in reference else ':'}{reference}"
        command = command or f"regtui scan {self.registry.name}/{target}"
        if self.read_only:
            self._audit_scan(target, command, "refused: read-only")
            raise ReadOnlyError(f"read-only mode: no scan was started on registry "
                                f"{self.registry.name}")
        template = self.registry.scans.command if self.registry.scans else ""
        keep_in = self.registry.scans.reports_dir if (
            self.registry.scans and self.registry.scans.reports_dir) else kept_reports_dir(
            self.audit.path.parent, self.registry.name)
        try:
            outcome = await trigger_scan(self.inventory, template, repository, reference,
                                         keep_in, wait)
        except asyncio.CancelledError:
            self._audit_scan(target, command, INTERRUPTED_SCAN)
            raise
        except ScanUnfinished as error:
            self._audit_scan(target, command, f"unfinished: {error}")
            raise
        except (RegistryError, UsageError) as error:
            self._audit_scan(target, command, f"failed: {error}")
            raise
        self._audit_scan(target, command, outcome)
        return outcome

    def _audit_scan(self, target: str, command: str, outcome: str) -> None:
        self.audit.record(registry=self.registry.name, url=self.registry.url, action="scan",
                          target=target, digest="", command=command, outcome=outcome)

    def gc_runner(self) -> GarbageCollector:
        """The registry's collector; registries without one say so instead of offering it."""
        api = gc_job_api(self.inventory.backend)
        if api is not None:
            return HarborGc(api, read_only=self.read_only)
        tasks = gc_task_api(self.inventory.backend)
        if tasks is not None:
            return NexusGc(tasks, read_only=self.read_only)
        if self.registry.flavor not in COMMAND_GC_FLAVORS:
            raise UsageError(f"registry {self.registry.name} ({self.registry.flavor}) has no "
                             "garbage collection regtui can run")
        if self.registry.gc is None:
            raise UsageError(f"registry {self.registry.name} has no [registries.gc] section: "
                             "regtui does not know how to run its garbage collection")
        return GcRunner(self.registry.name, self.registry.gc, read_only=self.read_only,
                        url=self.registry.url,
                        history_path=self.audit.path.parent / "gc-history.jsonl",
                        clock=self.clock)

    async def collect_garbage(self, *, dry_run: bool, delete_untagged: bool = False,
                              on_line: Callable[[str, GcProgress], None] | None = None) -> GcRun:
        """Run garbage-collect (refused in read-only mode before spawning) and audit it."""
        runner = self.gc_runner()
        self.audit.check_writable()
        if delete_untagged and runner.untagged_deletes_index_children:
            await self._refuse_untagged_with_indexes()
        action = "gc --dry-run" if dry_run else "gc"
        command = runner.describe(dry_run=dry_run, delete_untagged=delete_untagged)
        try:
            run = await runner.run(dry_run=dry_run, delete_untagged=delete_untagged,
                                   on_line=on_line)
        except asyncio.CancelledError:
            self._audit_gc(action, command, INTERRUPTED_GC)
            raise
        except ReadOnlyError:
            self._audit_gc(action, command, "refused: read-only")
            raise
        except RegistryError as error:
            self._audit_gc(action, command, f"failed: {error}")
            raise
        self._audit_gc(action, command, gc_outcome(run))
        return run

    async def _refuse_untagged_with_indexes(self) -> None:
        """distribution 2.x's --delete-untagged deletes the (untagged) children of indexes."""
        records = await self.records()
        if self.inventory.problems:
            raise UsageError("--delete-untagged refused: some repositories could not be read, "
                             "so indexes there cannot be ruled out")
        indexes = [r for r in records if r.artifact_kind is ArtifactKind.INDEX]
        if indexes:
            raise UsageError(
                f"--delete-untagged refused: {len(indexes)} multi-arch index tags (e.g. "
                f"{indexes[0].reference}) have untagged children that distribution 2.x would "
                "delete; run garbage-collect without it")

    def _audit_gc(self, action: str, command: str, outcome: str) -> None:
        self.audit.record(registry=self.registry.name, url=self.registry.url, action=action,
                          target=self.registry.name, digest="", command=command,
                          outcome=outcome)

    def _audit(self, action: str, impact: TagImpact, command: str, outcome: str) -> None:
        self.audit.record(registry=self.registry.name, url=self.registry.url, action=action,
                          target=str(impact.target), digest=impact.digest,
                          command=command or self.delete_command(impact), outcome=outcome)

    def delete_command(self, impact: TagImpact) -> str:
        return f"regtui delete {self.registry.name}/{impact.target} --yes"

    # -- carrying out one impact --------------------------------------------------------------

    async def _execute(self, impact: TagImpact, run: _Run) -> str:
        target = impact.target
        try:
            if impact.manifest_deleted and (target.repository, impact.digest) in run.deleted:
                return await self._confirm_gone(impact)
            if target.tag is not None:
                head = await self.inventory.backend.head_manifest(target.repository, target.tag)
                if head.digest != impact.digest:
                    return f"aborted: the tag moved to {head.digest} since the preview"
            if impact.strategy is Strategy.BY_DIGEST:
                return await self._delete_digest(impact, run)
            if impact.strategy is Strategy.BY_TAG and await self._delete_tag(impact):
                return await self._verify_siblings(impact, "ok: tag deleted")
            await self._placeholder_delete(impact)
            return await self._verify_siblings(impact, "ok: tag removed via placeholder")
        except NotFoundError as exc:
            return f"aborted: not found ({exc})"
        except RegistryError as exc:
            return f"failed: {exc}"
        except Exception as exc:  # one audited line, never a lost outcome
            return f"failed: {type(exc).__name__}: {exc}"

    async def _confirm_gone(self, impact: TagImpact) -> str:
        """A tag sharing a manifest already deleted in this run went with it: check that."""
        if impact.target.tag is None:
            return "ok: removed with its manifest"
        try:
            head = await self.inventory.backend.head_manifest(impact.target.repository,
                                                              impact.target.tag)
        except NotFoundError:
            return "ok: removed with its manifest"
        return f"failed: still resolves to {head.digest} after its manifest was deleted"

    async def _delete_digest(self, impact: TagImpact, run: _Run) -> str:
        key = (impact.target.repository, impact.digest)
        if not impact.manifest_deleted:
            return ("refused: the manifest is a child of surviving index tags "
                    f"{', '.join(impact.needed_by)}")
        blocker = await self._still_needed(impact, run)
        if blocker:
            return f"aborted: {blocker}; nothing was deleted"
        backend = self.inventory.backend
        await delete_manifest(backend.client, backend.url, impact.target.repository,
                              impact.digest)
        run.deleted.add(key)
        return "ok: manifest deleted"

    async def _still_needed(self, impact: TagImpact, run: _Run) -> str:
        """Right before a delete by digest: does any tag outside the plan need it now?

        The plan may be old (a TUI session, a slow review); CI may have pointed another tag at
        the manifest, or pushed an index listing it, since. Read the repository's tags again.
        """
        repository = impact.target.repository
        if repository not in run.snapshots:
            run.snapshots[repository] = await self._current_tags(repository)
        for tag, digest in run.snapshots[repository].items():
            if (repository, tag) in run.doomed_tags:
                continue
            if digest == impact.digest:
                return f"tag {tag} now points at this manifest"
            resolved = await self.inventory.resolve(repository, digest)
            if impact.digest in dict(resolved.reachable):
                return f"tag {tag} is an index that lists this manifest"
        return ""

    async def _current_tags(self, repository: str) -> dict[str, str]:
        backend = self.inventory.backend
        tags = await backend.tags(repository)

        async def head(tag: str) -> tuple[str, str | None]:
            try:
                return tag, (await backend.head_manifest(repository, tag)).digest
            except NotFoundError:
                return tag, None

        found = await bounded_map(tags, head, self.inventory.concurrency)
        return {tag: digest for tag, digest in found if digest is not None}

    async def _delete_tag(self, impact: TagImpact) -> bool:
        """OCI 1.1 tag delete; False when the registry refuses the form (distribution 2.x)."""
        backend = self.inventory.backend
        api = tag_delete_api(backend)
        if api is not None:  # a tag API (Harbor's) removes just the tag
            await api.delete_tag(impact.target.repository, impact.target.tag or "")
            self._tag_delete_works = True
            return True
        path = (f"/v2/{quote(impact.target.repository, safe='/')}/manifests/"
                f"{quote(impact.target.tag or '', safe='')}")
        try:
            response = await backend.client.delete(path)
        except httpx.HTTPError as exc:
            raise RegistryError(f"deleting tag {impact.target}: {exc}") from exc
        if response.status_code == 202:
            self._tag_delete_works = True
            return True
        if response.status_code == 400:
            self._tag_delete_works = False
            return False
        if response.status_code in (405, 501):
            # Deletes are switched off (storage.delete.enabled: false): write nothing at all.
            raise RegistryError(f"registry {self.registry.name} refuses deletes "
                                f"(HTTP {response.status_code}); enable storage.delete")
        raise RegistryError(f"deleting tag {impact.target} on {self.registry.name}: "
                            f"HTTP {response.status_code}")

    async def _placeholder_delete(self, impact: TagImpact) -> None:
        """Point only this tag at a unique placeholder, then delete the placeholder by digest.

        If the placeholder cannot be deleted, the tag is put back on its original manifest, so
        a failure never leaves a production tag pointing at regtui's placeholder.
        """
        backend = self.inventory.backend
        repo, tag = impact.target.repository, impact.target.tag
        assert tag is not None
        original = await backend.manifest(repo, impact.digest)
        empty = await push_blob(backend.client, backend.url, repo, EMPTY_JSON)
        body = placeholder_manifest(empty, f"{repo}:{tag}")
        placeholder = await push_manifest(backend.client, backend.url, repo, tag, body,
                                          mt.OCI_MANIFEST)
        head = await backend.head_manifest(repo, tag)
        if head.digest != placeholder:
            raise RegistryError(f"{impact.target}: the tag changed while being moved to the "
                                f"placeholder (now {head.digest}); nothing was deleted")
        try:
            await delete_manifest(backend.client, backend.url, repo, placeholder)
        except Exception as failure:  # any failure: put the tag back first
            await self._restore(impact, original.raw, original.media_type, failure)

    async def _restore(self, impact: TagImpact, raw: bytes, media_type: str,
                       failure: Exception) -> None:
        backend = self.inventory.backend
        repo, tag = impact.target.repository, impact.target.tag or ""
        try:
            await push_manifest(backend.client, backend.url, repo, tag, raw, media_type)
        except RegistryError as error:
            raise RegistryError(
                f"{impact.target}: deleting the placeholder failed ({failure}) and restoring "
                f"the tag failed too ({error}); re-push {repo}@{impact.digest} as {tag}"
            ) from error
        raise RegistryError(f"{impact.target}: deleting the placeholder failed ({failure}); "
                            f"the tag was restored to {impact.digest}") from failure

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


INTERRUPTED: Final = "interrupted: not attempted (the run was stopped before this item)"
INTERRUPTED_GC: Final = "interrupted: stopped while running"
INTERRUPTED_SCAN: Final = "interrupted: stopped while starting the scan or waiting for it"


async def _finish_step(step: Coroutine[Any, Any, str]) -> tuple[str, bool]:
    """Run one item to its end even if the caller is cancelled meanwhile (a worker leaving
    its screen, a second button): a placeholder delete must not stop before the tag is back
    or gone. Returns the outcome and whether a cancellation arrived."""
    task = asyncio.ensure_future(step)
    interrupted = False
    while True:
        try:
            return await asyncio.shield(task), interrupted
        except asyncio.CancelledError:
            if task.done() and task.cancelled():
                return "interrupted: the step was cancelled", True
            interrupted = True


@dataclass
class _Run:
    """State of one delete run: what was deleted, and fresh tag lists per repository."""

    doomed_tags: set[tuple[str, str]]
    deleted: set[tuple[str, str]] = field(default_factory=set)
    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)


def gc_outcome(run: GcRun) -> str:
    if run.exit_code != 0:
        return f"failed: exit {run.exit_code}"
    freed = f", {run.bytes_freed} bytes freed" if run.bytes_freed is not None else ""
    if "tasks" in run.progress:  # Nexus: tasks, not a mark-and-sweep count
        return f"ok: {run.progress.get('tasks_done', 0)} Nexus tasks run{freed}"
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
