"""The persistent snapshot: each registry's inventory in SQLite, written as it streams in.

Why: a dashboard that starts empty must walk the registry before it shows anything, and a
walk of a big registry takes minutes. The snapshot lets start-up show the last known state at
once (with its age) while it revalidates, lets `regtui inventory --cached` answer without the
registry, and keeps what a crashed walk had read: one commit per repository, in WAL mode.

One database per registry URL under `<cache_dir>/snapshots/`. A repository is one row: its
totals (what the repositories pane needs, read without decoding any record), its tag names
(the cheap change signal) and its records as one compact JSON array.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from regtui.errors import RegtuiError
from regtui.registry.models import ArtifactKind, TagRecord
from regtui.text import untrusted

SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    tag_count INTEGER,
    size_bytes INTEGER,
    last_push TEXT,
    fetched_at TEXT,
    tag_names TEXT,
    records TEXT
);
"""


class SnapshotError(RegtuiError):
    """The snapshot is missing or unreadable (exit 1: nothing could be printed from it)."""


def snapshot_path(cache_dir: Path, url: str) -> Path:
    """`<cache_dir>/snapshots/<host_port>-<hash>.sqlite`: readable, and one file per URL."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", url.split("://", 1)[-1])[:60]
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return cache_dir / "snapshots" / f"{slug}-{digest}.sqlite"


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(_SCHEMA)
    return connection


# -- records as compact rows --------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def encode_record(record: TagRecord) -> list[Any]:
    """Everything of a record but its registry and repository (the row knows those)."""
    row = [record.tag, record.digest, record.media_type, record.size_bytes,
           list(record.platforms), _when(record.created), record.artifact_kind.value,
           record.subject_digest, [list(pair) for pair in record.reachable],
           list(record.children)]
    extra = [record.created_text, record.error, record.unreadable]
    return [*row, *extra] if any(extra) else row


def decode_record(registry: str, repository: str, row: Sequence[Any]) -> TagRecord:
    (tag, digest, media_type, size, platforms, created, kind, subject, reachable,
     children) = row[:10]
    created_text, error, unreadable = row[10:13] if len(row) >= 13 else ("", "", False)
    return TagRecord(registry, untrusted(repository), untrusted(tag), digest,
                     untrusted(media_type), size, tuple(untrusted(p) for p in platforms),
                     _parse_when(created), ArtifactKind(kind), subject,
                     tuple((d, s) for d, s in reachable), tuple(children), str(error),
                     bool(unreadable), str(created_text))


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    """A repository as the snapshot has it, without its records decoded."""

    name: str
    tag_count: int | None
    size_bytes: int | None
    last_push: datetime | None
    fetched_at: datetime | None
    tag_names: frozenset[str] | None

    @property
    def read(self) -> bool:
        """False for a name from the catalog whose tags were never read (crash, failure)."""
        return self.tag_count is not None


@dataclass(frozen=True, slots=True)
class SnapshotSummary:
    """What start-up shows at once: the catalog in order and each repository's totals."""

    url: str
    walk_started: datetime | None
    walk_finished: datetime | None
    updated_at: datetime | None
    repositories: tuple[RepositoryRow, ...]

    @property
    def complete(self) -> bool:
        """The last walk ran to its end and every repository in it was read."""
        return (self.walk_finished is not None
                and (self.walk_started is None or self.walk_finished >= self.walk_started)
                and all(repo.read for repo in self.repositories))

    @property
    def taken_at(self) -> datetime | None:
        """When the data was last known good: the last finished walk, else the last write."""
        return self.walk_finished or self.updated_at

    @property
    def unread(self) -> list[str]:
        return [repo.name for repo in self.repositories if not repo.read]


class SnapshotReader:
    """Read-only access to one registry's snapshot; never touches the registry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            uri = f"file:{path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=10.0, check_same_thread=False)
            self._meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            raise SnapshotError(f"snapshot {path}: cannot read it ({exc})") from None

    @classmethod
    def open(cls, cache_dir: Path, url: str) -> SnapshotReader | None:
        """The snapshot of `url`, or None when none was ever written."""
        path = snapshot_path(cache_dir, url)
        return cls(path) if path.is_file() else None

    def close(self) -> None:
        self._db.close()

    def summary(self) -> SnapshotSummary:
        """Totals per repository in catalog order: one query, no record decoded."""
        try:
            rows = self._db.execute(
                "SELECT name, tag_count, size_bytes, last_push, fetched_at, tag_names "
                "FROM repositories ORDER BY position").fetchall()
        except sqlite3.Error as exc:
            raise SnapshotError(f"snapshot {self.path}: cannot read it ({exc})") from None
        repos = tuple(
            RepositoryRow(name, count, size, _parse_when(push), _parse_when(fetched),
                          frozenset(json.loads(names)) if names is not None else None)
            for name, count, size, push, fetched, names in rows)
        return SnapshotSummary(self._meta.get("url", ""),
                               _parse_when(self._meta.get("walk_started")),
                               _parse_when(self._meta.get("walk_finished")),
                               _parse_when(self._meta.get("updated_at")), repos)

    def records(self, registry: str, repository: str) -> list[TagRecord] | None:
        """One repository's records as stored; None when it was never read."""
        row = self._db.execute("SELECT records FROM repositories WHERE name = ?",
                               (repository,)).fetchone()
        if row is None or row[0] is None:
            return None
        return [decode_record(registry, repository, item) for item in json.loads(row[0])]

    def walk(self, registry: str, repositories: Sequence[str] | None = None
             ) -> Iterator[TagRecord]:
        """Every stored record in catalog order, as a live walk would yield them."""
        names = [r.name for r in self.summary().repositories if r.read]
        if repositories is not None:
            wanted = set(repositories)
            names = [n for n in names if n in wanted]
        for name in names:
            yield from self.records(registry, name) or ()


# -- writing ------------------------------------------------------------------------------


def totals(records: Sequence[TagRecord]) -> tuple[int, int, datetime | None]:
    """Tag count, size (each digest once) and last push: the repositories pane's columns."""
    distinct: dict[str, int] = {}
    for record in records:
        distinct.update(record.reachable)
    pushes = [r.created for r in records if r.created is not None]
    return len(records), sum(distinct.values()), max(pushes) if pushes else None


class SnapshotStore:
    """Synchronous writes to one snapshot; `SnapshotWriter` runs these off the event loop."""

    def __init__(self, path: Path, url: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = _connect(path)
        with self._db:
            self._set("url", url)
            self._set("schema", str(SCHEMA_VERSION))

    def _set(self, key: str, value: str) -> None:
        self._db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) "
                         "DO UPDATE SET value = excluded.value", (key, value))

    def begin_walk(self, names: Sequence[str], at: datetime, *, full: bool = True) -> None:
        """The catalog as just read: positions kept, repositories gone from it dropped."""
        with self._db:
            if full:
                self._set("walk_started", at.isoformat())
                self._db.execute("CREATE TEMP TABLE IF NOT EXISTS catalog (name TEXT)")
                self._db.execute("DELETE FROM catalog")
                self._db.executemany("INSERT INTO catalog(name) VALUES (?)",
                                     [(name,) for name in names])
                self._db.execute("DELETE FROM repositories WHERE name NOT IN "
                                 "(SELECT name FROM catalog)")
            self._db.executemany(
                "INSERT INTO repositories(name, position) VALUES (?, ?) ON CONFLICT(name) "
                "DO UPDATE SET position = excluded.position",
                [(name, position) for position, name in enumerate(names)])

    def put_repository(self, name: str, records: Sequence[TagRecord], at: datetime) -> None:
        """One repository read: replaces what was stored for it, in one commit."""
        count, size, push = totals(records)
        blob = json.dumps([encode_record(r) for r in records], separators=(",", ":"))
        tags = json.dumps(sorted({r.tag for r in records}), separators=(",", ":"))
        with self._db:
            self._db.execute(
                "INSERT INTO repositories(name, position, tag_count, size_bytes, last_push, "
                "fetched_at, tag_names, records) VALUES (?, (SELECT coalesce(max(position), -1) "
                "+ 1 FROM repositories), ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "tag_count = excluded.tag_count, size_bytes = excluded.size_bytes, "
                "last_push = excluded.last_push, fetched_at = excluded.fetched_at, "
                "tag_names = excluded.tag_names, records = excluded.records",
                (name, count, size, _when(push), at.isoformat(), tags, blob))
            self._set("updated_at", at.isoformat())

    def confirm(self, names: Iterable[str], at: datetime) -> None:
        """Repositories checked unchanged: their data is as fresh as `at`."""
        with self._db:
            self._db.executemany("UPDATE repositories SET fetched_at = ? WHERE name = ?",
                                 [(at.isoformat(), name) for name in names])
            self._set("updated_at", at.isoformat())

    def finish_walk(self, at: datetime) -> None:
        with self._db:
            self._set("walk_finished", at.isoformat())
            self._set("updated_at", at.isoformat())

    def close(self) -> None:
        self._db.close()


_STOP: Final = object()


class SnapshotWriter:
    """A writer thread per snapshot: callers enqueue and return at once.

    Why a thread: a commit costs a few milliseconds of fsync-bound work the event loop (and
    the terminal it draws) must not wait for. Order is kept: one queue, one thread.
    A write that fails (disk full, read-only cache) is dropped: the snapshot costs speed at
    start-up, never correctness, so it never takes the dashboard or the walk down.
    """

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url
        self.failed: str = ""
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"snapshot {url}", daemon=True)
        self._thread.start()

    @classmethod
    def for_registry(cls, cache_dir: Path, url: str) -> SnapshotWriter:
        return cls(snapshot_path(cache_dir, url), url)

    def _run(self) -> None:
        store: SnapshotStore | None = None
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if store is None:
                    store = SnapshotStore(self.path, self.url)
                method, args, kwargs = item
                getattr(store, method)(*args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                self.failed = f"snapshot {self.path}: {exc}"
            finally:
                self._queue.task_done()
                if item is _STOP and store is not None:
                    with contextlib.suppress(sqlite3.Error):
                        store.close()

    def _put(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._thread.is_alive():
            self._queue.put((method, args, kwargs))

    def begin_walk(self, names: Sequence[str], at: datetime, *, full: bool = True) -> None:
        self._put("begin_walk", list(names), at, full=full)

    def put_repository(self, name: str, records: Sequence[TagRecord], at: datetime) -> None:
        self._put("put_repository", name, tuple(records), at)

    def confirm(self, names: Iterable[str], at: datetime) -> None:
        self._put("confirm", list(names), at)

    def finish_walk(self, at: datetime) -> None:
        self._put("finish_walk", at)

    def flush(self) -> None:
        """Wait until everything enqueued so far is committed."""
        self._queue.join()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=30)


def now() -> datetime:
    return datetime.now(UTC)
