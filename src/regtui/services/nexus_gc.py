"""Garbage collection on Nexus: two scheduled tasks run on demand, in order, and followed.

Deleting a component only marks its blobs soft-deleted. "Docker - Delete unused manifests
and images" (`repository.docker.gc`) then drops docker layers no manifest uses, and only
"Admin - Compact blob store" (`blobstore.compact`) frees the space. Both must exist in
Nexus (Settings > Tasks); regtui finds them in `/v1/tasks`, runs them with
`/v1/tasks/{id}/run`, polls each until it is no longer running, and stops at the first one
that does not end `OK`. A dry run says which tasks would run and runs none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from regtui.errors import ReadOnlyError, RegistryError, UsageError
from regtui.registry.backend import GcTaskApi
from regtui.registry.nexus import COMPACT_TASK, DOCKER_GC_TASK
from regtui.registry.nexus_models import NexusTask
from regtui.registry.transport import Sleep
from regtui.services.api_gc import MAX_POLLS, POLL_SECONDS, TAIL_LINES, ApiGc, LineSink
from regtui.services.gc import GcProgress, GcRun

SOFT_DELETE_NOTE: Final = ("Nexus deletes are soft: a deleted component's blobs stay in the "
                           "blob store until \"Docker - Delete unused manifests and images\" "
                           "and then \"Admin - Compact blob store\" have run.")


@dataclass
class TaskProgress(GcProgress):
    """Which task runs and what Nexus last said about it."""

    task: str = ""
    step: int = 0
    steps: int = 0
    state: str = ""
    message: str = ""

    def describe(self) -> str:
        if not self.task:
            return "finding the Nexus tasks..."
        said = f": {self.message}" if self.message else ""
        return f"task {self.step} of {self.steps}, {self.task}: {self.state or '...'}{said}"


class NexusGc(ApiGc):
    """The `GarbageCollector` of a Nexus registry; refuses in read-only mode before sending.

    Nothing untagged is deleted by regtui's request: the tasks decide what is unused.
    """

    note = SOFT_DELETE_NOTE

    def __init__(self, backend: GcTaskApi, *, read_only: bool, sleep: Sleep = asyncio.sleep,
                 poll_seconds: float = POLL_SECONDS, max_polls: int = MAX_POLLS) -> None:
        super().__init__(backend.name, read_only=read_only, sleep=sleep,
                         poll_seconds=poll_seconds, max_polls=max_polls)
        self.backend = backend

    def describe(self, *, dry_run: bool, delete_untagged: bool) -> str:
        verb = "would run" if dry_run else "POST /service/rest/v1/tasks/{id}/run for"
        return f"nexus {verb} {DOCKER_GC_TASK} then {COMPACT_TASK} on {self.backend.url}"

    async def plan(self) -> list[NexusTask]:
        """The tasks to run, in order: docker GC of our repositories, then compaction of
        their blob stores. A missing task is a usage error naming what to create."""
        repositories = await self.backend.docker_repositories()
        names = {name for name, repo in repositories.items() if repo.type == "hosted"}
        stores = {repo.blob_store for repo in repositories.values() if repo.blob_store}
        docker = [t for t in await self.backend.tasks(DOCKER_GC_TASK)
                  if t.properties.get("repositoryName", "*") in names | {"*"}]
        compact = [t for t in await self.backend.tasks(COMPACT_TASK)
                   if t.properties.get("blobstoreName", "") in stores]
        if not docker:
            raise UsageError(f"registry {self.registry}: no \"Docker - Delete unused manifests "
                             "and images\" task covers its docker repositories; create one "
                             "in Nexus (Settings > Tasks)")
        if not compact:
            raise UsageError(f"registry {self.registry}: no \"Admin - Compact blob store\" "
                             f"task for blob store {', '.join(sorted(stores)) or '?'}; create "
                             "one in Nexus (Settings > Tasks)")
        return docker + compact

    async def run(self, *, dry_run: bool, delete_untagged: bool = False,
                  on_line: LineSink | None = None) -> GcRun:
        if self.read_only and not dry_run:
            raise ReadOnlyError(f"read-only mode: no Nexus task was started on registry "
                                f"{self.registry}")
        started = datetime.now(UTC).isoformat(timespec="seconds")
        tasks = await self.plan()
        lines: list[str] = []
        progress = TaskProgress(steps=len(tasks))

        def say(line: str) -> None:
            lines.append(line)
            if on_line is not None:
                on_line(line, progress)

        before = await self._stored()
        failed = ""
        for step, task in enumerate(tasks, start=1):
            progress.task, progress.step, progress.state, progress.message = \
                task.name, step, "", ""
            if dry_run:
                say(f"would run {task.name} ({task.id})")
                continue
            result = await self._run_one(task, say, progress)
            if result != "OK":
                failed = f"{task.name} ({task.id}) ended {result or 'without a result'}"
                say(f"stopped: {failed}; the remaining tasks were not run")
                break
        after = None if dry_run else await self._stored()
        say(SOFT_DELETE_NOTE)
        run = GcRun(time=started, registry=self.registry, mode="dry-run" if dry_run else "collect",
                    command=self.describe(dry_run=dry_run, delete_untagged=delete_untagged),
                    exit_code=1 if failed else 0,
                    progress={"tasks": len(tasks), "tasks_done": progress.step},
                    bytes_before=None if dry_run else before, bytes_after=after,
                    log_tail=lines[-TAIL_LINES:])
        self._history.append(run)
        return run

    async def _run_one(self, task: NexusTask, say: Callable[[str], None],
                       progress: TaskProgress) -> str:
        """Start one task and poll it until it has run; its `lastRunResult`."""
        before = await self.backend.task(task.id)
        await self.backend.run_task(task.id)
        say(f"started {task.name} ({task.id})")
        seen_running = False
        last = ""
        async for _ in self._polls(wait_first=True):
            now = await self.backend.task(task.id)
            progress.state, progress.message = now.state, now.message
            said = f"{now.state}: {now.message}".strip(": ")
            if said != last:
                say(f"{task.name}: {said}")
                last = said
            seen_running = seen_running or now.running
            if not now.running and (seen_running or now.last_run != before.last_run):
                say(f"{task.name}: finished, {now.last_result or 'no result'}")
                return now.last_result.upper()
        raise RegistryError(f"Nexus task {task.name} ({task.id}) on registry {self.registry} "
                            f"still runs after {self._max_polls} polls; see Settings > Tasks")

    async def _stored(self) -> int | None:
        try:
            stores = await self.backend.refresh_blob_stores()
        except RegistryError:
            return None
        return sum(store.total_bytes for store in stores)
