"""The repositories pane as pure data: flat or folded by namespace, filtered and sorted."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from regtui.filter import TextFilter
from regtui.registry.models import RepositorySummary
from regtui.render import formats
from regtui.render.columns import Column
from regtui.render.sorting import date_key, version_key
from regtui.text import Shown, safe_text

REPO_COLUMNS = (
    Column("name", "REPOSITORY", 16, priority=0, flex=True),
    Column("tags", "TAGS", 6, priority=1, align="right"),
    Column("size", "SIZE", 10, priority=2, align="right"),
    Column("pushed", "CREATED", 14, priority=3),
)
"""CREATED is the newest image config `created` of the repository: when an image was built,
not when it was pushed (registry:2 keeps no push time); SIZE counts each blob once per
repository."""

NAMESPACE_PREFIX = "ns:"


class RepoSort(enum.StrEnum):
    NAME = "name"
    TAGS = "tags"
    SIZE = "size"
    DATE = "date"


@dataclass(slots=True, eq=False)
class RepoRow:
    """A repository, or (in tree mode) a namespace with the totals of what is under it."""

    key: str
    name: str
    depth: int = 0
    namespace: bool = False
    folded: bool = False
    tag_count: int | None = None
    size_bytes: int | None = None
    last_push: datetime | None = None

    @property
    def repository(self) -> str | None:
        return None if self.namespace else self.key


def _leaf(name: str, summary: RepositorySummary | None, depth: int = 0) -> RepoRow:
    row = RepoRow(name, name, depth)
    if summary is not None:
        row.tag_count, row.size_bytes = summary.tag_count, summary.size_bytes
        row.last_push = summary.last_push
    return row


def _sort_key(sort: RepoSort) -> object:
    keys = {
        RepoSort.NAME: lambda r: version_key(r.name),
        RepoSort.TAGS: lambda r: (r.tag_count or 0, r.name),
        RepoSort.SIZE: lambda r: (r.size_bytes or 0, r.name),
        RepoSort.DATE: lambda r: (date_key(r.last_push), r.name),
    }
    return keys[sort]


def flat_rows(
    names: Sequence[str],
    summaries: Mapping[str, RepositorySummary],
    text_filter: TextFilter,
    sort: RepoSort = RepoSort.NAME,
    reverse: bool = False,
) -> list[RepoRow]:
    """Every repository that passes the filter, one row each."""
    kept = text_filter.apply(names, str.lower)
    rows = [_leaf(name, summaries.get(name)) for name in kept]
    rows.sort(key=_sort_key(sort), reverse=reverse)  # type: ignore[arg-type]
    return rows


def tree_rows(
    names: Sequence[str],
    summaries: Mapping[str, RepositorySummary],
    text_filter: TextFilter,
    collapsed: set[str],
    sort: RepoSort = RepoSort.NAME,
    reverse: bool = False,
) -> list[RepoRow]:
    """Repositories under foldable namespace rows; a filter shows matches with their parents."""
    kept = text_filter.apply(names, str.lower)
    root = _Node("")
    for name in kept:
        root.insert(name.split("/"), name)
    fold = set() if not text_filter.is_empty else collapsed
    return root.flatten(summaries, fold, sort, reverse, depth=0)


class _Node:
    """A namespace while building the tree: child namespaces and repositories directly in it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.children: dict[str, _Node] = {}
        self.repos: list[str] = []

    def insert(self, parts: list[str], name: str) -> None:
        if len(parts) == 1:
            self.repos.append(name)
            return
        child_path = f"{self.path}/{parts[0]}" if self.path else parts[0]
        child = self.children.setdefault(parts[0], _Node(child_path))
        child.insert(parts[1:], name)

    def all_repos(self) -> list[str]:
        """Every repository at or below this namespace."""
        names = list(self.repos)
        for child in self.children.values():
            names.extend(child.all_repos())
        return names

    def flatten(
        self,
        summaries: Mapping[str, RepositorySummary],
        collapsed: set[str],
        sort: RepoSort,
        reverse: bool,
        depth: int,
    ) -> list[RepoRow]:
        pairs: list[tuple[RepoRow, list[RepoRow]]] = []
        for name in self.repos:
            pairs.append((_leaf(name, summaries.get(name), depth), []))
        for child in self.children.values():
            below = child.flatten(summaries, collapsed, sort, reverse, depth + 1)
            leaves = [_leaf(name, summaries.get(name)) for name in child.all_repos()]
            pairs.append((_namespace_row(child.path, depth, leaves, collapsed), below))
        key = _sort_key(sort)
        pairs.sort(key=lambda pair: key(pair[0]), reverse=reverse)  # type: ignore[operator]
        out: list[RepoRow] = []
        for row, below in pairs:
            out.append(row)
            if not row.folded:
                out.extend(below)
        return out


def _namespace_row(path: str, depth: int, leaves: list[RepoRow], collapsed: set[str]) -> RepoRow:
    """A namespace row carrying the totals of the repositories beneath it."""
    row = RepoRow(NAMESPACE_PREFIX + path, path.rsplit("/", 1)[-1] + "/", depth, namespace=True)
    row.folded = path in collapsed
    row.tag_count = sum(r.tag_count or 0 for r in leaves)
    row.size_bytes = sum(r.size_bytes or 0 for r in leaves)
    dates = [r.last_push for r in leaves if r.last_push is not None]
    row.last_push = max(dates, key=date_key) if dates else None
    return row


def repo_cells(row: RepoRow, now: datetime) -> tuple[Shown, ...]:
    """Display strings in `REPO_COLUMNS` order; `…` while a repository is still loading."""
    indent = "  " * row.depth
    marker = ("▸ " if row.folded else "▾ ") if row.namespace else ""
    loading = row.tag_count is None
    name = safe_text(row.name if row.namespace else _leaf_name(row), 200)
    return (
        Shown(f"{indent}{marker}{name}", 200 + len(indent) + len(marker)),
        LOADING if loading else Shown(f"{row.tag_count:,}"),
        LOADING if loading else formats.size(row.size_bytes),
        LOADING if loading else formats.age(row.last_push, now),
    )


LOADING: Final = Shown("…")


def _leaf_name(row: RepoRow) -> str:
    return row.name.rsplit("/", 1)[-1] if row.depth else row.name


class RepoPane:
    """The repositories pane kept up to date as summaries arrive, in O(depth) per summary.

    Why: rebuilding every row for every repository that arrives is quadratic (184 s of CPU
    for 2,000 repositories). The rows are built once per change of the catalog, fold, sort
    or filter; after that a summary updates its own row and its namespaces' totals in place.
    Only the default view (sorted by name, no filter) can be kept in place, since a summary
    does not move a row there; any other view is rebuilt, once per batch of changes.
    """

    def __init__(self) -> None:
        self.work = 0
        """Rows built or touched so far: the cost measure tests and benchmarks read."""
        self.rows: list[RepoRow] = []
        self._names: tuple[str, ...] = ()
        self._names_ref: Sequence[str] = ()
        self._leaves: dict[str, RepoRow] = {}
        self._spaces: dict[str, RepoRow] = {}
        self._under: dict[str, list[str]] = {}
        self._known: dict[str, RepoRow] = {}
        self._in_place = False

    def rebuild(self, names: Sequence[str], summaries: Mapping[str, RepositorySummary],
                text_filter: TextFilter, collapsed: set[str], sort: RepoSort, reverse: bool,
                tree_mode: bool) -> list[RepoRow]:
        """All rows from scratch (O(repositories)): for a new catalog, fold, sort or filter."""
        self._names = tuple(names)
        self._names_ref = names
        if tree_mode:
            rows = tree_rows(names, summaries, text_filter, collapsed, sort, reverse)
        else:
            rows = flat_rows(names, summaries, text_filter, sort, reverse)
        self.work += len(rows)
        self.rows = rows
        self._in_place = sort is RepoSort.NAME and text_filter.is_empty
        self._leaves = {row.key: row for row in rows if not row.namespace}
        self._spaces = {row.key.removeprefix(NAMESPACE_PREFIX): row
                        for row in rows if row.namespace}
        self._under = {}
        self._known = {name: _leaf(name, summaries.get(name)) for name in names}
        if self._in_place and tree_mode:
            for name in names:
                for path in _ancestors(name):
                    self._under.setdefault(path, []).append(name)
        return rows

    def same_names(self, names: Sequence[str]) -> bool:
        """Whether `names` is the catalog the rows were built from (O(1) when it is the
        same list object, as the store replaces its list on every change)."""
        return names is self._names_ref or tuple(names) == self._names

    def update(self, name: str, summaries: Mapping[str, RepositorySummary]
               ) -> list[RepoRow] | None:
        """Rows changed by `name`'s new summary, or None when the view must be rebuilt."""
        if not self._in_place or name not in self._names:
            return None
        leaf = self._leaves.get(name)
        old = self._known.get(name) or _leaf(name, None)
        fresh = _leaf(name, summaries.get(name), leaf.depth if leaf else 0)
        self._known[name] = fresh
        changed: list[RepoRow] = []
        if leaf is not None:  # else hidden under a folded namespace: only totals change
            leaf.tag_count, leaf.size_bytes = fresh.tag_count, fresh.size_bytes
            leaf.last_push = fresh.last_push
            changed.append(leaf)
        for path in _ancestors(name):
            space = self._spaces.get(path)
            if space is not None:
                self._apply_delta(space, path, old, fresh, summaries)
                changed.append(space)
        self.work += 1 + len(changed)
        return changed

    def _apply_delta(self, space: RepoRow, path: str, old: RepoRow, fresh: RepoRow,
                     summaries: Mapping[str, RepositorySummary]) -> None:
        """Totals move by the difference; the newest push only needs a rescan when it was
        the one that got older (a re-pushed tag with an older image)."""
        space.tag_count = (space.tag_count or 0) + (fresh.tag_count or 0) - (old.tag_count or 0)
        space.size_bytes = ((space.size_bytes or 0) + (fresh.size_bytes or 0)
                            - (old.size_bytes or 0))
        newest, before = space.last_push, old.last_push
        if fresh.last_push is not None and (newest is None
                                            or date_key(fresh.last_push) >= date_key(newest)):
            space.last_push = fresh.last_push
        elif before is not None and newest is not None and date_key(before) >= date_key(newest):
            leaves = [_leaf(n, summaries.get(n)) for n in self._under.get(path, ())]
            self.work += len(leaves)
            dates = [r.last_push for r in leaves if r.last_push is not None]
            space.last_push = max(dates, key=date_key) if dates else None


def _ancestors(name: str) -> list[str]:
    """`a/b/c` -> [`a`, `a/b`]: the namespaces a repository sits in."""
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
