"""Storage usage that counts each blob once: per registry, namespace and repository.

Web UIs sum layer sizes per tag and count a shared base layer once per tag. Here every scope
counts a digest once: *stored* is what the scope references, *unique* what only it references
(what deleting it would free), *shared* the rest. Built incrementally as the inventory streams
in; memory grows with distinct blobs and the repositories that reference each one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from regtui.errors import RegistryError
from regtui.registry.backend import quota_api
from regtui.registry.harbor_models import Quota
from regtui.registry.models import ArtifactKind, TagRecord
from regtui.services.inventory import InventoryService


@dataclass(frozen=True, slots=True)
class Usage:
    """One scope: the registry, a namespace, or a repository."""

    name: str
    stored_bytes: int
    unique_bytes: int
    tags: int
    repositories: int = 1

    @property
    def shared_bytes(self) -> int:
        return self.stored_bytes - self.unique_bytes


@dataclass(frozen=True, slots=True)
class TagReclaim:
    repository: str
    tag: str
    digest: str
    reclaimable_bytes: int
    """What a plain garbage-collect frees if this tag alone is deleted."""


@dataclass(frozen=True, slots=True)
class StorageReport:
    registry: str
    total: Usage
    repositories: tuple[Usage, ...]
    namespaces: tuple[Usage, ...]
    tags: tuple[TagReclaim, ...]
    untagged_bytes: int | None
    """Bytes only untagged manifests reference; None when the storage layout is not readable."""
    quotas: tuple[Quota, ...] = ()
    """Per-project quotas, where the registry has them (Harbor)."""

    @property
    def logical_bytes(self) -> int:
        """Each repository's blobs summed, a blob shared by two repositories counted twice:
        the fleet's LOGICAL SIZE, which `total.stored_bytes` (each blob once) undercuts."""
        return sum(usage.stored_bytes for usage in self.repositories)

    def top(self, key: str, count: int = 10) -> list[Usage]:
        return sorted(self.repositories, key=lambda u: getattr(u, key), reverse=True)[:count]


def namespaces_of(repository: str) -> list[str]:
    """`a/b/c` -> [`a`, `a/b`]: every folder above a repository, like ncdu's tree."""
    parts = repository.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class StorageAccumulator:
    """Feed records repository by repository (or in any order); read the report at the end."""

    def __init__(self, registry: str) -> None:
        self.registry = registry
        self._sizes: dict[str, int] = {}
        self._owners: dict[str, set[int]] = defaultdict(set)
        self._repo_ids: dict[str, int] = {}
        self._tags: dict[str, list[TagRecord]] = defaultdict(list)

    def add(self, record: TagRecord) -> None:
        repo_id = self._repo_ids.setdefault(record.repository, len(self._repo_ids))
        for digest, size in record.reachable:
            self._sizes[digest] = size
            self._owners[digest].add(repo_id)
        # Only what per-tag reclaim needs is kept; `reachable` tuples are shared, not copied.
        self._tags[record.repository].append(record)

    def referenced_digests(self) -> set[str]:
        return set(self._sizes)

    def add_all(self, records: Iterable[TagRecord]) -> None:
        for record in records:
            self.add(record)

    def report(self, untagged_bytes: int | None = None) -> StorageReport:
        names = {i: name for name, i in self._repo_ids.items()}
        stored: dict[str, int] = defaultdict(int)
        unique: dict[str, int] = defaultdict(int)
        for digest, owners in self._owners.items():
            size = self._sizes[digest]
            scopes = self._scopes({names[i] for i in owners})
            for scope in scopes:
                stored[scope] += size
            for scope in self._unique_scopes({names[i] for i in owners}):
                unique[scope] += size
        repositories = tuple(
            Usage(name, stored[name], unique[name], len(self._tags[name]))
            for name in sorted(self._repo_ids))
        namespaces = self._namespace_usage(stored, unique)
        total = Usage(self.registry, sum(self._sizes.values()), sum(self._sizes.values()),
                      sum(len(t) for t in self._tags.values()), len(self._repo_ids))
        return StorageReport(self.registry, total, repositories, namespaces,
                             tuple(self._tag_reclaims()), untagged_bytes)

    @staticmethod
    def _scopes(repositories: set[str]) -> set[str]:
        scopes = set(repositories)
        for repository in repositories:
            scopes.update(f"{ns}/" for ns in namespaces_of(repository))
        return scopes

    @staticmethod
    def _unique_scopes(repositories: set[str]) -> set[str]:
        """Scopes that hold every repository referencing the digest: it is theirs alone."""
        if len(repositories) == 1:
            (only,) = repositories
            return {only, *(f"{ns}/" for ns in namespaces_of(only))}
        common = set.intersection(*(set(namespaces_of(r)) for r in repositories))
        return {f"{ns}/" for ns in common}

    def _namespace_usage(self, stored: dict[str, int], unique: dict[str, int]
                         ) -> tuple[Usage, ...]:
        members: dict[str, list[str]] = defaultdict(list)
        for repository in self._repo_ids:
            for ns in namespaces_of(repository):
                members[ns].append(repository)
        return tuple(
            Usage(ns, stored[f"{ns}/"], unique[f"{ns}/"],
                  sum(len(self._tags[r]) for r in repos), len(repos))
            for ns, repos in sorted(members.items()))

    def _tag_reclaims(self) -> Iterable[TagReclaim]:
        """Per tag, the same answer the delete planner gives, in one pass over the registry."""
        # Keyed by (repository, manifest): the same manifest linked in another repository
        # keeps its blobs when this one goes.
        manifest_refs: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for repository, records in self._tags.items():
            for record in {r.digest: r for r in records}.values():
                for digest, _ in record.reachable:
                    manifest_refs[digest].add((repository, record.digest))
        for repository, records in self._tags.items():
            by_digest: dict[str, list[TagRecord]] = defaultdict(list)
            children = {c for r in records for c in r.children}
            for record in records:
                by_digest[record.digest].append(record)
            for record in records:
                kept = len(by_digest[record.digest]) > 1 or record.digest in children
                yield TagReclaim(repository, record.tag, record.digest,
                                 0 if kept else self._freed(record, manifest_refs))

    def _freed(self, record: TagRecord,
               manifest_refs: dict[str, set[tuple[str, str]]]) -> int:
        only_this = {(record.repository, record.digest)}
        if record.artifact_kind is ArtifactKind.INDEX:
            # A plain garbage-collect keeps an index's children: only the index itself goes.
            return self._sizes[record.digest] if manifest_refs[record.digest] == only_this else 0
        return sum(size for digest, size in record.reachable
                   if manifest_refs[digest] == only_this)


def build_report(registry: str, records: Sequence[TagRecord],
                 untagged_bytes: int | None = None) -> StorageReport:
    accumulator = StorageAccumulator(registry)
    accumulator.add_all(records)
    return accumulator.report(untagged_bytes)


def untagged_revisions(storage_root: Path, repositories: Iterable[str]) -> dict[str, set[str]]:
    """repository -> digests of every manifest revision linked on disk (tagged or not)."""
    base = storage_root / "docker" / "registry" / "v2" / "repositories"
    revisions: dict[str, set[str]] = {}
    for repository in repositories:
        folder = base / repository / "_manifests" / "revisions" / "sha256"
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        revisions[repository] = {f"sha256:{entry.name}" for entry in entries
                                 if (entry / "link").is_file()}
    return revisions


async def storage_report(inventory: InventoryService, *, storage_root: Path | None = None,
                         on_repository: Callable[[int, int], None] | None = None,
                         known: Mapping[str, Sequence[TagRecord]] | None = None,
                         ) -> StorageReport:
    """Walk the registry once, accumulating as records arrive; then look at untagged revisions.

    `known`: every repository's records as already read this session (the dashboard's, when
    complete), so the tags are not read a second time; only untagged revisions and quotas are.
    """
    accumulator = StorageAccumulator(inventory.name)
    if known is not None:
        names: Sequence[str] = list(known)
        for records in known.values():
            accumulator.add_all(records)
    else:
        names = await inventory.repository_names()
        async for record in inventory.walk(names, on_repository=on_repository, listed=True):
            accumulator.add(record)
    untagged = None
    if storage_root is not None and (storage_root / "docker").is_dir():
        untagged = await _untagged_bytes(inventory, accumulator, storage_root, names)
    report = accumulator.report(untagged)
    api = quota_api(inventory.backend)
    if api is not None:
        report = replace(report, quotas=tuple(await api.quotas()))
    return report


async def _untagged_bytes(inventory: InventoryService, accumulator: StorageAccumulator,
                          storage_root: Path, names: Sequence[str]) -> int:
    tagged = accumulator.referenced_digests()
    extra = await untagged_reach(inventory, storage_root, names,
                                 skip=lambda _, digest: digest in tagged)
    return sum(size for digest, size in extra.items() if digest not in tagged)


async def untagged_reach(inventory: InventoryService, storage_root: Path,
                         names: Sequence[str], *,
                         skip: Callable[[str, str], bool]) -> dict[str, int]:
    """Everything the revisions linked on disk reach, but for those `skip(repo, digest)`."""
    reach: dict[str, int] = {}
    for repository, digests in untagged_revisions(storage_root, names).items():
        for digest in sorted(digests):
            if skip(repository, digest):
                continue
            try:
                reach.update((await inventory.resolve(repository, digest)).reachable)
            except RegistryError:
                continue  # a revision whose manifest blob is gone: nothing to count
    return reach
