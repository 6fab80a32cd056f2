"""Garbage collection on Harbor: an API call and a job to watch, not a command to run.

`run` triggers a manual GC (`POST /system/gc/schedule`), polls the job until Harbor says it
ended, and passes each new log line on as it appears (Harbor only serves the whole log, so
lines already seen are skipped). Harbor keeps the history itself (`GET /system/gc`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Final

from regtui.errors import ReadOnlyError, RegistryError, UsageError
from regtui.registry.backend import GcJobApi
from regtui.registry.harbor_models import GcJob
from regtui.registry.transport import Sleep
from regtui.services.api_gc import MAX_POLLS, POLL_SECONDS, TAIL_LINES, ApiGc, LineSink
from regtui.services.gc import GcProgress, GcRun

DRY_RUN_SINCE: Final = (2, 1)
"""Harbor 2.0 has no GC dry run (its docs offer only "GC Now"); 2.1 added it."""
MAX_LINE: Final = 4096


def _mode(dry_run: bool, delete_untagged: bool) -> str:
    return "dry-run" if dry_run else ("delete-untagged" if delete_untagged else "collect")


class HarborGc(ApiGc):
    """The `GarbageCollector` of a Harbor registry; refuses in read-only mode before sending.

    Harbor keeps an index's children as references of the index: untagged deletes spare them.
    """

    def __init__(self, backend: GcJobApi, *, read_only: bool, sleep: Sleep = asyncio.sleep,
                 poll_seconds: float = POLL_SECONDS, max_polls: int = MAX_POLLS) -> None:
        super().__init__(backend.name, read_only=read_only, sleep=sleep,
                         poll_seconds=poll_seconds, max_polls=max_polls)
        self.backend = backend

    def describe(self, *, dry_run: bool, delete_untagged: bool) -> str:
        body = {"schedule": {"type": "Manual"},
                "parameters": {"dry_run": dry_run, "delete_untagged": delete_untagged}}
        return (f"POST {self.backend.url}{self.backend.gc_path}/schedule "
                f"{json.dumps(body, separators=(',', ':'))}")

    async def run(self, *, dry_run: bool, delete_untagged: bool = False,
                  on_line: LineSink | None = None) -> GcRun:
        if self.read_only:
            raise ReadOnlyError(f"read-only mode: garbage collection on registry "
                                f"{self.registry} was not started")
        if dry_run:
            await self._check_dry_run()
        job_id = await self.backend.start_gc(dry_run=dry_run, delete_untagged=delete_untagged)
        lines: list[str] = []
        progress = GcProgress()
        job = await self._watch(job_id, lines, progress, on_line)
        run = self._as_run(job, lines, dry_run=dry_run, delete_untagged=delete_untagged,
                           progress=progress)
        self._history.append(run)
        return run

    async def _check_dry_run(self) -> None:
        """Harbor before 2.1 ignores `dry_run` and would collect for real: refuse there."""
        info = await self.backend.system_info()
        if not info.at_least(*DRY_RUN_SINCE):
            seen = info.version or "an unknown version"
            raise UsageError(f"registry {self.registry} runs Harbor {seen}: GC dry run needs "
                             f"Harbor v{'.'.join(map(str, DRY_RUN_SINCE))} or later, so "
                             "nothing was started")

    async def _watch(self, job_id: int, lines: list[str], progress: GcProgress,
                     on_line: LineSink | None) -> GcJob:
        """Poll status, then log, until the job ends; the last log read follows the end."""
        async for _ in self._polls():
            job = await self.backend.gc_job(job_id)
            self._take_new(await self.backend.gc_log(job_id), lines, progress, on_line)
            if job.finished:
                return job
        raise RegistryError(f"garbage collection job {job_id} on registry {self.registry} "
                            f"has not finished after {self._max_polls} polls; see "
                            f"{self.backend.url}{self.backend.gc_path}/{job_id}")

    @staticmethod
    def _take_new(text: str, lines: list[str], progress: GcProgress,
                  on_line: LineSink | None) -> None:
        """Harbor serves the whole log each time: pass on only the lines not seen before."""
        current = text.splitlines()
        for line in current[len(lines):]:
            line = line[:MAX_LINE]
            lines.append(line)
            progress.feed(line)
            if on_line is not None:
                on_line(line, progress)

    def _as_run(self, job: GcJob, lines: list[str], *, dry_run: bool, delete_untagged: bool,
                progress: GcProgress | None = None) -> GcRun:
        counts = {k: v for k, v in asdict(progress or GcProgress()).items()
                  if isinstance(v, int) and not isinstance(v, bool)}
        return GcRun(
            time=job.created or datetime.now(UTC).isoformat(timespec="seconds"),
            registry=self.registry, mode=_mode(dry_run, delete_untagged),
            command=f"harbor gc job {job.id} ({job.status})",
            exit_code=0 if job.status == "Success" else 1,
            progress={"job_id": job.id, "log_lines": len(lines), **counts},
            bytes_before=None, bytes_after=None, log_tail=lines[-TAIL_LINES:])

    async def refresh_history(self) -> list[GcRun]:
        """Harbor's own record of GC jobs, newest first as Harbor lists them."""
        jobs = await self.backend.gc_jobs()
        self._history = [self._as_run(job, [], dry_run=job.dry_run,
                                      delete_untagged=job.delete_untagged) for job in jobs]
        return list(self._history)
