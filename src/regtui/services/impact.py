"""Plan a deletion and say, before anything is sent, exactly what it will do.

On distribution 2.x, DELETE of a manifest by digest removes every tag pointing at it, and
breaks any index that lists it as a child. So a manifest is deleted by digest only when nothing
that survives needs it; otherwise only the tag goes (OCI tag delete where the registry has it,
else the placeholder dance), and every sibling survives.

Pure functions over inventory records: unit-testable, and the same plan drives the TUI dialog,
`regtui delete`, retention and the audit log.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from regtui.registry.models import ArtifactKind, TagRecord
from regtui.registry.push import NAME_RE, REFERENCE_RE

Reach = Mapping[str, Mapping[str, int]]
"""manifest digest -> every (digest, size) reachable from it, itself included."""


class Strategy(enum.StrEnum):
    BY_DIGEST = "delete the manifest by digest"
    BY_TAG = "delete only the tag (OCI tag delete; placeholder if the registry refuses it)"
    PLACEHOLDER = "point the tag at a placeholder, delete the placeholder"


@dataclass(frozen=True, slots=True)
class Target:
    """What the operator asked to delete: a tag, or a manifest by digest."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"


@dataclass(frozen=True, slots=True)
class TagImpact:
    target: Target
    digest: str
    strategy: Strategy
    manifest_deleted: bool
    siblings: tuple[str, ...] = ()
    """Other tags with the same digest that are not being deleted: all of them survive."""
    removed_with_manifest: tuple[str, ...] = ()
    """Tags that go when a manifest is deleted by digest (asked for by the operator)."""
    needed_by: tuple[str, ...] = ()
    """Surviving tags whose index lists this digest: why the manifest itself must stay."""
    orphaned_children: tuple[str, ...] = ()
    """Children of a deleted index that no surviving tag reaches: they become untagged."""
    orphaned_referrers: tuple[str, ...] = ()
    """Signature/attestation/SBOM tags whose subject is deleted."""


@dataclass(frozen=True, slots=True)
class DeletePlan:
    registry: str
    impacts: tuple[TagImpact, ...]
    reclaimable_bytes: int
    """Freed by a plain `garbage-collect` afterwards (untagged manifests are kept by it)."""
    reclaimable_untagged_bytes: int
    """Freed by `garbage-collect --delete-untagged` (also drops untagged index children)."""
    problems: tuple[str, ...] = field(default=())
    reclaimable_is_upper_bound: bool = True
    """True when untagged revisions could not be seen (no readable storage layout): they may
    keep some of these bytes, so the figure is "up to"."""

    @property
    def needs_typed_confirmation(self) -> bool:
        """More than one tag, or `latest`: the operator types the repository name."""
        return len(self.impacts) > 1 or any(i.target.tag == "latest" for i in self.impacts)

    @property
    def repositories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.target.repository for i in self.impacts))


def plan_delete(registry: str, targets: Sequence[Target], all_records: Sequence[TagRecord],
                reach: Reach, *, can_delete_tag: bool,
                unsafe_repositories: frozenset[str] = frozenset(),
                children_of: Mapping[str, tuple[str, ...]] | None = None,
                untagged_reach: Mapping[str, int] | None = None,
                tags_only: bool = False) -> DeletePlan:
    """Decide a strategy per target and compute what a GC could reclaim afterwards.

    `tags_only`: the registry deletes tags through its own API and manifests not at all
    (Docker Hub, Nexus components), so every tag goes by tag and digests are refused.

    `unsafe_repositories` were not fully read: a tag missing from the inventory could share
    a digest, so nothing there is deleted by digest. `untagged_reach` is what untagged
    revisions reference (from the storage layout); None when it could not be read.
    """
    doomed_tags = {(t.repository, t.tag) for t in targets if t.tag}
    doomed_digests = {(t.repository, t.digest) for t in targets if t.digest and not t.tag}
    survivors = [r for r in all_records
                 if (r.repository, r.tag) not in doomed_tags
                 and (r.repository, r.digest) not in doomed_digests]
    by_repo = group_by_repository(all_records)
    impacts: list[TagImpact] = []
    problems: list[str] = []
    children = children_of or {}
    for target in targets:
        if not valid_target(target):
            problems.append(f"{target}: not a valid repository name, tag or digest")
            continue
        if tags_only and target.tag is None:
            problems.append(f"{target}: this registry deletes tags, not manifests by digest")
            continue
        if target.repository in unsafe_repositories and target.tag is None:
            problems.append(f"{target}: {target.repository} could not be fully read, so a "
                            "tag sharing this manifest may be unknown; not deleted by digest")
            continue
        impact = _impact(target, by_repo.get(target.repository, []), survivors, children,
                         can_delete_tag=can_delete_tag,
                         unsafe=target.repository in unsafe_repositories or tags_only)
        if impact is None:
            problems.append(f"{target}: no such tag or manifest in the inventory")
        else:
            impacts.append(impact)
    plain, untagged = reclaimable(impacts, survivors, reach, untagged_reach or {})
    return DeletePlan(registry, tuple(impacts), plain, untagged, tuple(problems),
                      reclaimable_is_upper_bound=untagged_reach is None)


def valid_target(target: Target) -> bool:
    """Names from a registry are untrusted: `a/../b` must never become a path elsewhere."""
    name_ok = NAME_RE.match(target.repository) is not None
    ref_ok = all(REFERENCE_RE.match(ref) for ref in (target.tag, target.digest) if ref)
    return name_ok and ref_ok and bool(target.tag or target.digest)


def _impact(target: Target, records: Sequence[TagRecord], survivors: Sequence[TagRecord],
            children_of: Mapping[str, tuple[str, ...]], *, can_delete_tag: bool,
            unsafe: bool) -> TagImpact | None:
    digest = target.digest or next((r.digest for r in records if r.tag == target.tag), None)
    if digest is None:
        return None
    here = [r for r in survivors if r.repository == target.repository]
    siblings = tuple(sorted(r.tag for r in here if r.digest == digest))
    # Any depth: an index of indexes still needs its grandchildren.
    needed_by = tuple(sorted(r.tag for r in here
                             if r.digest != digest and digest in dict(r.reachable)))
    if target.tag is not None and (siblings or needed_by or unsafe):
        strategy = Strategy.BY_TAG if can_delete_tag else Strategy.PLACEHOLDER
        return TagImpact(target, digest, strategy, False, siblings, needed_by=needed_by)
    if target.tag is None and needed_by:
        # Deleting a child of a surviving index by digest would break that index's pulls.
        return TagImpact(target, digest, Strategy.BY_DIGEST, False, needed_by=needed_by)
    removed = tuple(sorted(r.tag for r in records if r.digest == digest and r.tag != target.tag))
    surviving_reach = {d for r in here for d, _ in r.reachable}
    index = next((r for r in records if r.digest == digest
                  and r.artifact_kind is ArtifactKind.INDEX), None)
    children = index.children if index else children_of.get(digest, ())
    return TagImpact(
        target, digest, Strategy.BY_DIGEST, True, removed_with_manifest=removed,
        orphaned_children=tuple(c for c in children if c not in surviving_reach),
        orphaned_referrers=tuple(sorted(r.tag for r in here if r.subject_digest == digest
                                        and r.artifact_kind.is_supplement)),
    )


def reclaimable(impacts: Sequence[TagImpact], survivors: Sequence[TagRecord],
                reach: Reach, untagged_reach: Mapping[str, int]) -> tuple[int, int]:
    """(plain GC, GC with --delete-untagged): bytes that no remaining manifest references.

    A plain `garbage-collect` marks every manifest revision still linked in a repository, so a
    tag moved away (placeholder or tag delete) leaves its manifest and blobs in place, and a
    deleted index leaves its children. `--delete-untagged` marks only what tags reach.
    """
    tagged_kept: set[str] = {d for r in survivors for d, _ in r.reachable}
    # Revision links are per repository: deleting a manifest in one leaves it in another.
    deleted = {(i.target.repository, i.digest) for i in impacts if i.manifest_deleted}
    untagged_kept: set[str] = set(untagged_reach)
    for impact in impacts:
        repository = impact.target.repository
        if not impact.manifest_deleted and (repository, impact.digest) not in deleted:
            untagged_kept.update(reach.get(impact.digest, {}))
        for child in impact.orphaned_children:
            if (repository, child) not in deleted:
                untagged_kept.update(reach.get(child, {}))
    sizes: dict[str, int] = {}
    for impact in impacts:
        sizes.update(reach.get(impact.digest, {}))
    candidates_plain = {d for _, digest in deleted for d in reach.get(digest, {})}
    plain = candidates_plain - tagged_kept - untagged_kept
    with_untagged = set(sizes) - tagged_kept
    return sum(sizes[d] for d in plain), sum(sizes[d] for d in with_untagged)


def group_by_repository(records: Iterable[TagRecord]) -> dict[str, list[TagRecord]]:
    grouped: dict[str, list[TagRecord]] = defaultdict(list)
    for record in records:
        grouped[record.repository].append(record)
    return grouped
