"""Inventory: resolve every tag of a registry into a `TagRecord`.

Each distinct manifest digest is resolved once per service (digests are immutable), manifests
and configs come from the content-addressed cache when present, and tags are resolved by HEAD,
so a second walk of an unchanged registry downloads no manifest or config again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar

from regtui.config import Config, RegistryConfig
from regtui.errors import NotFoundError, ProtocolError, RegistryError, UnknownRepositoryError
from regtui.registry.backend import (
    Capabilities,
    PushTimes,
    RegistryBackend,
    TagResolver,
    tag_activity_api,
    tag_resolver,
)
from regtui.registry.backend import push_times as push_times_of
from regtui.registry.factory import open_backend
from regtui.registry.kinds import classify_manifest, subject_of_tag
from regtui.registry.models import (
    ArtifactKind,
    Health,
    ImageConfig,
    Manifest,
    Platform,
    Referrer,
    RegistryInfo,
    RepositorySummary,
    TagRecord,
)
from regtui.registry.transport import RegistryClient
from regtui.services.gc import storage_root
from regtui.text import EMPTY, Untrusted, safe_text, untrusted

T = TypeVar("T")
R = TypeVar("R")
MAX_INDEX_DEPTH: Final = 4
MAX_CHILDREN: Final = 4096
REPOSITORY_WINDOW: Final = 4
DEFAULT_REFRESH_DEADLINE: Final = 600.0


@dataclass(frozen=True, slots=True)
class Resolved:
    """Everything a tag needs from its manifest digest, computed once per digest."""

    manifest: Manifest
    reachable: tuple[tuple[str, int], ...]
    platforms: tuple[Untrusted, ...]
    created: datetime | None
    missing: tuple[str, ...] = ()
    """Digests an index (or an index below it) lists that the registry does not have."""
    created_text: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """A tag or repository that could not be read; the walk goes on and reports it."""

    repository: str
    tag: str | None
    message: str


async def bounded_map(items: Iterable[T], func: Callable[[T], Awaitable[R]],
                      limit: int) -> list[R]:
    """`func` over items with at most `limit` coroutines alive, results in input order."""
    queue = list(enumerate(items))
    results: dict[int, R] = {}

    async def worker() -> None:
        while queue:
            index, item = queue.pop()
            results[index] = await func(item)

    # A TaskGroup cancels the other workers as soon as one fails; callers get that failure.
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(limit, len(queue)))):
                group.create_task(worker())
    except ExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, ExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [results[i] for i in range(len(results))]


class LayoutPushTimes:
    """registry:2's API keeps no push time, its storage layout does: a tag's `current/link`
    is written on every push of the tag, so its mtime is when the tag was last pushed.
    Read only where `[registries.gc] config` names a readable local layout."""

    def __init__(self, storage_root: Path) -> None:
        self.base = storage_root / "docker" / "registry" / "v2" / "repositories"

    def pushed_at(self, repository: str, tag: str) -> datetime | None:
        parts = [*repository.split("/"), tag]
        if any(part in ("", ".", "..") or "\x00" in part for part in parts):
            return None  # not a name the layout can hold: never a path outside it
        link = self.base.joinpath(repository, "_manifests", "tags", tag, "current", "link")
        try:
            return datetime.fromtimestamp(link.stat().st_mtime, UTC)
        except (OSError, ValueError):
            return None


class InventoryService:
    """Read-side view of one registry, for the CLI and the TUI alike."""

    def __init__(self, backend: RegistryBackend, *, flavor: str = "distribution",
                 read_only: bool = True, concurrency: int = 8, max_concurrency: int = 0,
                 refresh_deadline: float = DEFAULT_REFRESH_DEADLINE,
                 push_times: PushTimes | None = None) -> None:
        self.backend = backend
        self.push_times = push_times or push_times_of(backend)
        """Where the registry says when a tag was pushed; None: it does not (CREATED only)."""
        self.refresh_deadline = refresh_deadline
        self.name = backend.name
        self.url = backend.url
        self.flavor = flavor
        self.read_only = read_only
        self.concurrency = concurrency
        self.problems: list[Problem] = []
        self._resolved: dict[tuple[str, str], asyncio.Task[Resolved]] = {}
        self._tag_lists: dict[str, frozenset[str]] = {}
        self.workers = max(concurrency, max_concurrency) * 2
        """Tags resolved at once per repository: enough to keep the transport's limit busy."""
        self.configs = True
        """Read image configs (`created`, a single image's platform): `inventory --fields`
        without those fields turns it off, and no config is fetched."""

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    @property
    def requests_sent(self) -> int:
        """Requests this process sent to the registry so far (retries, tokens included)."""
        client = self.backend.client
        return client.requests_sent if isinstance(client, RegistryClient) else 0

    def request_rate(self, window: float = 10.0) -> float:
        """regtui's own requests per second to this registry, over the last `window` s."""
        client = self.backend.client
        return client.request_rate(window) if isinstance(client, RegistryClient) else 0.0

    async def ping(self) -> RegistryInfo:
        return await self.backend.ping()

    def health(self) -> Health:
        """Limits, blob store usage and caveats the backend learnt while reading; no I/O."""
        return self.backend.health()

    async def repository_names(self) -> list[Untrusted]:
        return [name async for name in self.backend.repositories()]

    async def tag_names(self, repository: str, *, listed: bool = True) -> list[Untrusted]:
        """The repository's tag list, sorted: one request, the cheap signal of a change.

        NAME_UNKNOWN for a repository the catalog `listed` is no tags (it holds only blobs).
        """
        try:
            return sorted(set(await self.backend.tags(repository)))
        except UnknownRepositoryError:
            if listed:
                return []
            raise

    async def tag_records(self, repository: str, *, listed: bool = True) -> list[TagRecord]:
        """Every tag of a repository, one record each; an unreadable tag is a record with its
        error (and recorded in `problems`), so nothing the registry lists goes missing.

        A repository the catalog `listed` whose tag list answers NAME_UNKNOWN holds only
        blobs (an interrupted push): it has no tags, like `"tags": null`.
        """
        self.problems[:] = [p for p in self.problems if p.repository != repository]
        tags = await self.tag_names(repository, listed=listed)
        self._tag_lists[repository] = frozenset(tags)
        resolver = tag_resolver(self.backend)
        hints = resolver.tag_hints(repository) if resolver is not None else {}
        name = untrusted(repository)
        records = await bounded_map(
            tags, lambda tag: self._tag_record(name, tag, hints.get(tag), resolver),
            self.workers)
        found = [record for record in records if record is not None]
        if resolver is not None:
            resolver.remember_tags(repository, {r.tag: r.digest for r in found
                                                if not r.unreadable and r.digest})
        return found

    async def _tag_record(self, repository: Untrusted, tag: Untrusted, hint: str | None,
                          resolver: TagResolver | None) -> TagRecord | None:
        try:
            manifest = (await resolver.resolve_tag(repository, tag, hint) if resolver is not None
                        else await self.backend.manifest(repository, tag))
        except NotFoundError:
            return None  # deleted between the tag list and now: it is simply gone
        except Exception as exc:  # one bad tag must not end the walk
            return self._unreadable(repository, tag, exc)
        try:
            resolved = await self.resolve(repository, manifest.digest, manifest=manifest)
        except Exception as exc:  # reported as a problem, never a traceback
            return self._unreadable(repository, tag, exc)
        record = self._record(repository, tag, manifest.digest, resolved)
        if resolved.missing:
            message = (f"index {repository}:{tag} ({manifest.digest}) on registry {self.name} "
                       f"is broken: it lists {', '.join(resolved.missing[:3])}"
                       f"{' and more' if len(resolved.missing) > 3 else ''}, which the registry "
                       "does not have (404)")
            record = replace(record, error=self._problem(repository, tag, RegistryError(message)))
        return record

    def _unreadable(self, repository: str, tag: str, exc: BaseException) -> TagRecord:
        """The row that stands for a tag that could not be read, carrying why."""
        return TagRecord(self.name, untrusted(repository), untrusted(tag), "", EMPTY, 0, (), None,
                         ArtifactKind.ARTIFACT,
                         error=self._problem(repository, tag, exc), unreadable=True)

    def _problem(self, repository: str, tag: str | None, exc: BaseException) -> str:
        """Record what could not be read; anything that is not ours is still one line."""
        message = str(exc) if isinstance(exc, RegistryError) else (
            f"{repository}{':' + tag if tag else ''} on {self.name}: unexpected "
            f"{type(exc).__name__}: {exc}")
        line = safe_text(" ".join(message.split()), 500)
        self.problems.append(Problem(repository, tag, line))
        return line

    def problem_repositories(self) -> set[str]:
        """Repositories not fully read: planning must not trust their tag lists."""
        return {p.repository for p in self.problems}

    def _record(self, repository: Untrusted, tag: Untrusted, digest: str,
                resolved: Resolved) -> TagRecord:
        manifest = resolved.manifest
        kind = classify_manifest(manifest, tag)
        record = TagRecord(
            registry=self.name,
            repository=repository,
            tag=tag,
            digest=digest,
            media_type=manifest.media_type,
            size_bytes=sum(size for _, size in resolved.reachable),
            platforms=resolved.platforms,
            created=resolved.created,
            created_text=resolved.created_text,
            artifact_kind=kind,
            subject_digest=_subject_digest(manifest, tag),
            reachable=resolved.reachable,
            children=tuple(d.digest for d in manifest.manifests),
            pushed_at=self.push_times.pushed_at(repository, tag) if self.push_times else None,
        )
        activity = api.tag_activity(repository, tag) if (
            api := tag_activity_api(self.backend)) else None
        if activity is not None:
            record = replace(record, pushed_at=activity.pushed_at or record.pushed_at,
                             pulled_at=activity.pulled_at, status=activity.status)
        return record

    async def resolve(self, repository: str, digest: str, depth: int = 0, *,
                      manifest: Manifest | None = None) -> Resolved:
        """Resolve a digest once per repository, sharing the work between concurrent callers.

        Keyed by repository too: a manifest that is complete in one repository may have
        dangling children in another.
        """
        key = (repository, digest)
        task = self._resolved.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(self._resolve(repository, digest, depth, manifest))
            self._resolved[key] = task
        return await asyncio.shield(task)

    async def _resolve(self, repository: str, digest: str, depth: int,
                       known: Manifest | None) -> Resolved:
        manifest = known if known is not None else await self.backend.manifest(repository, digest)
        if manifest.is_index and depth < MAX_INDEX_DEPTH:
            return await self._resolve_index(repository, manifest, depth)
        config = await self.backend.config_of(repository, manifest) if self.configs else None
        reachable = [(manifest.digest, manifest.size)]
        if manifest.config is not None:
            reachable.append((manifest.config.digest, manifest.config.size))
        reachable.extend((layer.digest, layer.size) for layer in manifest.layers)
        platform = (config.platform.text,) if config and config.platform else ()
        return Resolved(manifest, _distinct(reachable), platform,
                        config.created if config else None, (),
                        config.created_text if config else "")

    async def _resolve_index(self, repository: str, index: Manifest, depth: int) -> Resolved:
        if len(index.manifests) > MAX_CHILDREN:
            raise ProtocolError(f"index {repository}@{index.digest} on {self.name} lists "
                                f"{len(index.manifests)} manifests (more than {MAX_CHILDREN})")

        async def child(descriptor_digest: str) -> Resolved | None:
            try:
                return await self.resolve(repository, descriptor_digest, depth + 1)
            except NotFoundError:
                return None  # a dangling child still counts by its descriptor below

        distinct = list(dict.fromkeys(d.digest for d in index.manifests))
        found = dict(zip(distinct, await bounded_map(distinct, child, self.concurrency),
                         strict=True))
        children = [found[d.digest] for d in index.manifests]
        reachable = [(index.digest, index.size)]
        platforms: list[Untrusted] = []
        created: list[tuple[datetime, str]] = []
        missing: list[str] = []
        for descriptor, resolved in zip(index.manifests, children, strict=True):
            if resolved is None:
                reachable.append((descriptor.digest, descriptor.size))
                missing.append(descriptor.digest)
                continue
            reachable.extend(resolved.reachable)
            missing.extend(resolved.missing)
            if resolved.created is not None:
                created.append((resolved.created, resolved.created_text))
            platforms.extend(_child_platforms(descriptor.platform, resolved))
        newest = max(created, key=lambda pair: pair[0]) if created else (None, "")
        return Resolved(index, _distinct(reachable), tuple(dict.fromkeys(platforms)),
                        newest[0], tuple(dict.fromkeys(missing)), newest[1])

    async def manifest(self, repository: str, reference: str) -> Manifest:
        return await self.backend.manifest(repository, reference)

    async def image_config(self, repository: str, config_digest: str) -> ImageConfig:
        return await self.backend.image_config(repository, config_digest)

    async def config_of(self, repository: str, manifest: Manifest) -> ImageConfig | None:
        return await self.backend.config_of(repository, manifest)

    async def referrers(self, repository: str, digest: str,
                        tags: Sequence[str] | None = None) -> list[Referrer]:
        """Referrers of a digest; the last tag list read spares probes for absent tags."""
        known = tags if tags is not None else self._tag_lists.get(repository)
        return await self.backend.referrers(repository, digest, known)

    async def walk(self, repositories: Sequence[str] | None = None,
                   on_repository: Callable[[int, int], None] | None = None, *,
                   listed: bool | None = None, on_done: Callable[[str], None] | None = None,
                   ) -> AsyncIterator[TagRecord]:
        """Every readable tag of every repository, a few repositories at a time.

        Repositories are yielded as they complete, so one slow repository holds back only
        itself; the whole walk ends by `refresh_deadline`, naming what was still pending.
        Unreadable tags are not yielded: they are in `problems`. `listed` (default: when
        the names come from the catalog) says the registry's catalog named them. `on_done`
        hears each repository's name right after its records, in completion order.
        """
        listed = repositories is None if listed is None else listed
        names = list(repositories) if repositories is not None else await self.repository_names()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.refresh_deadline
        queue = iter(names)
        pending: dict[asyncio.Task[list[TagRecord]], str] = {}
        done = 0
        try:
            while True:
                for name in itertools.islice(queue, REPOSITORY_WINDOW - len(pending)):
                    pending[asyncio.ensure_future(self._safe_records(name, listed))] = name
                if not pending:
                    return
                finished, _ = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()),
                                                 return_when=asyncio.FIRST_COMPLETED)
                if not finished:
                    self._out_of_time([*pending.values(), *queue])
                    return
                for task in finished:
                    name = pending.pop(task)
                    for record in task.result():
                        if not record.unreadable:
                            yield record
                    if on_done is not None:
                        on_done(name)
                    done += 1
                    if on_repository is not None:
                        on_repository(done, len(names))
        finally:
            for task in pending:
                task.cancel()

    def _out_of_time(self, names: Sequence[str]) -> None:
        for name in names:
            self._problem(name, None, RegistryError(
                f"repository {name} on registry {self.name}: not read within refresh_deadline "
                f"= {self.refresh_deadline:g} s; stopped"))

    async def _safe_records(self, repository: str, listed: bool = True) -> list[TagRecord]:
        try:
            return await self.tag_records(repository, listed=listed)
        except Exception as exc:  # reported as a problem, never a traceback
            self._problem(repository, None, exc)
            return []

    async def aclose(self) -> None:
        for task in self._resolved.values():
            task.cancel()
        await self.backend.aclose()


def _child_platforms(declared: Platform | None, resolved: Resolved) -> list[Untrusted]:
    """Platforms of an index child; BuildKit's `unknown/unknown` attestations are not platforms."""
    if declared is not None:
        return [] if declared.is_unknown else [declared.text]
    return list(resolved.platforms)


def _distinct(pairs: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Each digest once: shared layers of an index's children count once."""
    return tuple(dict(pairs).items())


def _subject_digest(manifest: Manifest, tag: str) -> str | None:
    if manifest.subject is not None:
        return manifest.subject.digest
    tagged = subject_of_tag(tag)
    return tagged[0] if tagged is not None else None


def summarize(registry: str, repository: str, records: Sequence[TagRecord]) -> RepositorySummary:
    """Repository totals: each digest counted once across the repository's tags."""
    distinct: dict[str, int] = {}
    for record in records:
        distinct.update(record.reachable)
    pushes = [r.push_time for r in records if r.push_time is not None]
    return RepositorySummary(registry, untrusted(repository), len(records), sum(distinct.values()),
                             max(pushes) if pushes else None, tuple(records))


def open_registry(registry: RegistryConfig, config: Config, *, read_only: bool,
                  ) -> InventoryService:
    backend = open_backend(registry, config, read_only=read_only)
    root = storage_root(registry.gc) if registry.gc is not None else None
    return InventoryService(backend, flavor=registry.flavor, read_only=read_only,
                            concurrency=registry.concurrency,
                            max_concurrency=registry.max_concurrency,
                            refresh_deadline=registry.refresh_deadline,
                            push_times=LayoutPushTimes(root) if root is not None else None)
