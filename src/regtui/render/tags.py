"""The tags pane as pure data: fold supplements under their image, mark, sort, filter, cells.

Built once per refresh for all tags; sorting keys are cached so a sort or a filter keystroke
over 100,000 tags touches only plain lists. Cells are computed for visible rows only.
"""

from __future__ import annotations

import enum
import gc
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from regtui.filter import TextFilter
from regtui.registry.models import ArtifactKind, TagRecord
from regtui.render import formats
from regtui.render.columns import Column
from regtui.render.sorting import date_key, version_key
from regtui.text import Shown, Tailed, safe_text

_SCHEMA_TAG = re.compile(r"^(sha256)-([0-9a-f]{64})(?:\.[A-Za-z0-9]+)?$")

TAG_COLUMNS = (
    Column("tag", "TAG", 15, priority=0, flex=True),
    Column("digest", "DIGEST", formats.DIGEST_LENGTH, priority=0),
    Column("size", "SIZE", 10, priority=1, align="right"),
    Column("platforms", "PLATFORMS", 18, priority=4),
    Column("created", "CREATED", 14, priority=2),
    Column("marks", "MARKS", 8, priority=2),
)
PUSHED_COLUMN = Column("pushed", "PUSHED", 14, priority=5)
"""Only where the registry knows push times (Docker Hub, Nexus, Harbor, or registry:2 with a
readable storage layout): CREATED is when the image was built, not when it arrived. It
gives way first in a narrow pane: the tag name matters more."""
"""At 80x24 the pane keeps TAG and DIGEST always (which image a tag is), then SIZE, or VULNS
where scans are on; marks give way (the fold marker still says a tag has supplements)."""

ACTIVITY_COLUMNS = (
    Column("pushed", "PUSHED", 14, priority=2),
    Column("pulled", "PULLED", 14, priority=2),
    Column("status", "STATUS", 8, priority=3),
)
"""Shown after TAG_COLUMNS where the registry's tag listing says when tags were pushed and
pulled (the `tag_activity` capability: Docker Hub)."""

MARK_LEGEND = (
    ("S", "signed (a cosign/notation signature refers to it)"),
    ("B", "has an SBOM"),
    ("A", "has an attestation (provenance or scan report)"),
    ("=N", "shares its digest with N other tags"),
)


class TagSort(enum.StrEnum):
    """The columns the tags pane sorts by."""

    NAME = "name"
    SIZE = "size"
    DATE = "date"
    VULNS = "vulns"


@dataclass(slots=True, eq=False)
class TagRow:
    """One line of the tags pane: an image (depth 0) or a supplement folded under it (depth 1)."""

    key: str
    record: TagRecord
    depth: int = 0
    children: tuple[TagRecord, ...] = ()
    kinds: frozenset[ArtifactKind] = frozenset()
    shared: int = 0


def subject_of(record: TagRecord) -> str | None:
    """The digest a supplement belongs to: its `subject_digest`, else its `sha256-<hex>.*` name."""
    if record.subject_digest:
        return record.subject_digest
    match = _SCHEMA_TAG.match(record.tag)
    return f"{match.group(1)}:{match.group(2)}" if match else None


_SUPPLEMENTS = frozenset(kind for kind in ArtifactKind if kind.is_supplement)


def _supplement_subject(record: TagRecord, digests: set[str]) -> str | None:
    """The image digest this record folds under, or None if it stands on its own."""
    if record.artifact_kind not in _SUPPLEMENTS and not record.tag.startswith("sha256-"):
        return None
    subject = subject_of(record)
    return subject if subject in digests else None


def group_tags(records: Iterable[TagRecord]) -> list[TagRow]:
    """Top-level rows with supplements folded under the first tag of the image they belong to.

    Runs once per refresh over every tag (100,000 in the benchmark), hence the plain loops
    and the garbage collector paused while the rows are built.
    """
    records = list(records)
    digests = {r.digest for r in records
               if r.artifact_kind not in _SUPPLEMENTS and not r.unreadable}
    supplements: dict[str, list[TagRecord]] = defaultdict(list)
    standalone: list[TagRecord] = []
    for record in records:
        subject = _supplement_subject(record, digests)
        if subject is None:
            standalone.append(record)
        else:
            supplements[subject].append(record)
    per_digest = Counter(r.digest for r in standalone
                         if r.artifact_kind not in _SUPPLEMENTS and not r.unreadable)
    with _gc_paused():
        rows = [TagRow(r.tag, r) for r in standalone]
    _annotate(rows, per_digest, supplements)
    return rows


def _annotate(rows: list[TagRow], per_digest: Counter[str],
              supplements: dict[str, list[TagRecord]]) -> None:
    """Shared-digest counts on every row; supplements under the first row of their image."""
    owned: set[str] = set()
    shared = {digest: count - 1 for digest, count in per_digest.items() if count > 1}
    for row in rows:
        digest = row.record.digest
        if digest in shared:
            row.shared = shared[digest]
        if digest in supplements:
            group = supplements[digest]
            row.kinds = frozenset(s.artifact_kind for s in group)
            if digest not in owned:
                owned.add(digest)
                row.children = tuple(sorted(group, key=lambda r: r.tag))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building 100,000 small objects triggers many full collections that find nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class TagTable:
    """All rows of one repository with cached sort orders; `visible` is what the pane shows."""

    def __init__(self, records: Sequence[TagRecord]) -> None:
        self.rows = group_tags(records)
        self.total = len(records)
        self._orders: dict[TagSort, list[TagRow]] = {}
        self._hays: dict[tuple[TagSort, bool], list[str]] = {}
        self.scan_keys: dict[str, tuple[int, ...]] = {}
        """Digest -> scan risk, for the VULNS sort; set when scan findings arrive."""

    def set_scan_keys(self, keys: dict[str, tuple[int, ...]]) -> None:
        """New scan results: only the VULNS order has to be computed again."""
        self.scan_keys = keys
        self._orders.pop(TagSort.VULNS, None)
        self._hays.pop((TagSort.VULNS, False), None)
        self._hays.pop((TagSort.VULNS, True), None)

    def _haystacks(self, sort: TagSort, reverse: bool) -> list[str]:
        """Search strings in the same order as `ordered(sort, reverse)`, built on first use."""
        hays = self._hays.get((sort, reverse))
        if hays is None:
            hays = self._hays[(sort, reverse)] = [_haystack(r) for r in self.ordered(sort, reverse)]
        return hays

    def ordered(self, sort: TagSort, reverse: bool = False) -> list[TagRow]:
        """Rows in `sort` order over all tags; computed once per column, reversed by slicing."""
        order = self._orders.get(sort)
        if order is None:
            if sort is TagSort.VULNS:
                keys, unscanned = self.scan_keys, (-2,)
                order = sorted(self.rows, key=lambda r: (keys.get(r.record.digest, unscanned),
                                                         version_key(r.key)))
            else:
                order = _by_date(self.rows) if sort is TagSort.DATE else sorted(
                    self.rows, key=_SORT_KEYS[sort])
            self._orders[sort] = order
        return order[::-1] if reverse else order

    def visible(
        self, text_filter: TextFilter, sort: TagSort, reverse: bool, expanded: set[str]
    ) -> list[TagRow]:
        """Filtered, sorted rows with the children of `expanded` rows inserted beneath them."""
        order = self.ordered(sort, reverse)
        rows = order if text_filter.is_empty else text_filter.select(
            order, self._haystacks(sort, reverse))
        if not expanded:
            return rows
        out: list[TagRow] = []
        for row in rows:
            out.append(row)
            if row.children and row.key in expanded:
                out.extend(_child_rows(row))
        return out


def _haystack(row: TagRow) -> str:
    """What the filter searches: the tag name and the digest, one per line so `^`/`$` work."""
    return f"{row.key.lower()}\n{row.record.digest}"


def _child_rows(parent: TagRow) -> list[TagRow]:
    return [
        TagRow(f"{parent.key}\x00{child.tag}", child, depth=1)
        for child in parent.children
    ]


def _name_key(row: TagRow) -> Any:
    return version_key(row.key)


def _size_key(row: TagRow) -> Any:
    return (row.record.size_bytes, version_key(row.key))


def _by_date(rows: list[TagRow]) -> list[TagRow]:
    """Oldest first, unknown dates before all, ties by name: C-level keys, fast at 100k rows."""
    by_name = sorted(rows, key=attrgetter("key"))
    dated = [row for row in by_name if row.record.created is not None]
    undated = [row for row in by_name if row.record.created is None]
    try:
        dated.sort(key=attrgetter("record.created"))
    except TypeError:  # a registry mixed naive and aware timestamps
        dated.sort(key=_date_key)
    return undated + dated


def _date_key(row: TagRow) -> Any:
    return (date_key(row.record.created), row.key)


_SORT_KEYS = {TagSort.NAME: _name_key, TagSort.SIZE: _size_key, TagSort.DATE: _date_key}


def marks(row: TagRow) -> str:
    """`SBA =2`: signed, SBOM, attestation, and how many other tags share the digest."""
    letters = "".join(letter for kind, letter in _MARKS if kind in row.kinds)
    shared = f"={row.shared}" if row.shared else ""
    return f"{letters} {shared}".strip()


_KIND_SHORT = {ArtifactKind.SIGNATURE: "sig", ArtifactKind.SBOM: "sbom",
               ArtifactKind.ATTESTATION: "att"}
_MARKS = ((ArtifactKind.SIGNATURE, "S"), (ArtifactKind.SBOM, "B"), (ArtifactKind.ATTESTATION, "A"))


def short_schema_tag(tag: str) -> str:
    """`sha256-<64 hex>.sig` -> `sha256-0123abcd4567….sig`: the suffix is what tells them
    apart; the digest is cut to the one length every screen uses."""
    match = _SCHEMA_TAG.match(tag)
    if not match:
        return tag
    return f"sha256-{match.group(2)[:formats.DIGEST_LENGTH]}…{tag[7 + 64:]}"


def tag_label(row: TagRow, expanded: bool) -> Shown:
    """The tag name with a fold marker for images that carry supplements."""
    name = safe_text(row.record.tag, 200)
    if row.depth:
        short = short_schema_tag(name)
        suffix = short.rpartition("…")[2] if short != name else ""
        return Tailed(f"  └ {short}", 210, tail=len(suffix))  # `.sig` survives any cut
    if row.children:
        return Shown(f"{'▾' if expanded else '▸'} {name}", 210)
    return Shown(f"  {name}", 210)


def tag_cells(row: TagRow, now: datetime, expanded: bool = False) -> tuple[Shown, ...]:
    """The display strings for one row, in `TAG_COLUMNS` order.

    A tag that could not be read keeps its row: the error stands where its data would be.
    """
    record = row.record
    if record.unreadable:  # the wide tag column carries the error; Enter shows all of it
        return (Shown(f"{tag_label(row, expanded)}  ✗ {safe_text(record.error, 300)}", 520),
                Shown("unreadable"), formats.UNKNOWN, formats.UNKNOWN, formats.UNKNOWN,
                Shown("!"))
    return (
        tag_label(row, expanded),
        formats.short_digest(record.digest),
        formats.size(record.size_bytes),
        safe_text(", ".join(record.platforms), 60) or formats.UNKNOWN,
        formats.age(record.created, now),
        Shown((marks(row) if not row.depth else _KIND_SHORT.get(record.artifact_kind, ""))
              + (" !" if record.error else "")),
    )


def pushed_cell(row: TagRow, now: datetime) -> Shown:
    """When the registry says the tag was pushed; `-` where it does not know."""
    return formats.age(row.record.pushed_at, now)


def knows_push_times(rows: Iterable[TagRow]) -> bool:
    return any(row.record.pushed_at is not None for row in rows)


def activity_cells(record: TagRecord, now: datetime) -> tuple[Shown, Shown, Shown]:
    """PUSHED, PULLED, STATUS: the registry's own times, not the image's created time."""
    if record.unreadable:
        return formats.UNKNOWN, formats.UNKNOWN, formats.UNKNOWN
    return (formats.age(record.pushed_at, now), formats.age(record.pulled_at, now),
            safe_text(record.status, 12) or formats.UNKNOWN)
