"""The persistent snapshot: each registry's inventory in SQLite, written as it streams in.

Why: a dashboard that starts empty must walk the registry before it shows anything, and a
walk of a big registry takes minutes. The snapshot lets start-up show the last known state at
once (with its age) while it revalidates, lets `regtui inventory --cached` answer without the
registry, and keeps what a crashed walk had read: each repository is committed as it
arrives (repositories that arrive during one commit share the next), in WAL mode.

One database per registry URL under `<cache_dir>/snapshots/`. A repository is one row: its
totals (what the repositories pane needs, read without decoding any record), its tag names
(the cheap change signal) and its records as one compact JSON array.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from regtui.text import safe_text, untrusted

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
CREATE INDEX IF NOT EXISTS repositories_by_position ON repositories(position);
"""


class SnapshotError(RegtuiError):
    """The snapshot is missing or unreadable (exit 1: nothing could be printed from it)."""


_DAMAGE: Final = (ValueError, TypeError, KeyError, IndexError, AttributeError)
"""What decoding rows no regtui wrote raises (bad JSON, dates, kinds, row shapes)."""


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


_CONTEXT: Final = ("registry", "repository")
FIELDS: Final = tuple(f.name for f in dataclasses.fields(TagRecord) if f.name not in _CONTEXT)
"""Every field but the two the row knows; stored by name, so a field added to `TagRecord`
later is simply absent (its default) in older snapshots, never misread."""
_DATES: Final = frozenset(f.name for f in dataclasses.fields(TagRecord)
                          if "datetime" in str(f.type))
_UNTRUSTED: Final = frozenset(f.name for f in dataclasses.fields(TagRecord)
                              if "Untrusted" in str(f.type))
"""Fields that came from the registry: marked untrusted again when read back."""


def _plain(name: str, value: Any) -> Any:
    if name in _DATES:
        return _when(value)
    if isinstance(value, ArtifactKind):
        return value.value
    if isinstance(value, tuple):
        return [list(item) if isinstance(item, tuple) else item for item in value]
    return value


def _typed(name: str, value: Any) -> Any:
    if name in _DATES:
        return _parse_when(value)
    if name == "artifact_kind":
        return ArtifactKind(value)
    if name in _UNTRUSTED:
        if isinstance(value, str):
            return untrusted(value)
        if isinstance(value, list):
            return tuple(untrusted(v) if isinstance(v, str) else v for v in value)
    if isinstance(value, list):
        return tuple(tuple(item) if isinstance(item, list) else item for item in value)
    return value


def encode_records(records: Sequence[TagRecord]) -> str:
    """One repository's records as compact JSON: the field names once, then rows."""
    rows = [[_plain(name, getattr(record, name)) for name in FIELDS] for record in records]
    return json.dumps({"fields": FIELDS, "rows": rows}, separators=(",", ":"))


def decode_records(registry: str, repository: str, blob: str) -> list[TagRecord]:
    data = json.loads(blob)
    known = set(FIELDS)
    names = [name if name in known else "" for name in data["fields"]]
    records = []
    for row in data["rows"]:
        values = {name: _typed(name, value) for name, value in zip(names, row, strict=True)
                  if name}
        records.append(TagRecord(registry=registry, repository=untrusted(repository),
                                 **values))
    return records


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
            tables = {row[0] for row in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            self._meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall()
                              ) if "meta" in tables else {}
            self._empty = "repositories" not in tables
        except sqlite3.Error as exc:
            raise SnapshotError(f"snapshot {path}: cannot read it ({exc})") from None

    @classmethod
    def open(cls, cache_dir: Path, url: str) -> SnapshotReader | None:
        """The snapshot of `url`, or None when none was ever written."""
        path = snapshot_path(cache_dir, url)
        if not path.is_file():
            return None
        reader = cls(path)
        if not reader.summary().repositories and "url" not in reader._meta:
            reader.close()  # created by a writer a moment ago, nothing in it yet
            return None
        return reader

    def close(self) -> None:
        self._db.close()

    def summary(self) -> SnapshotSummary:
        """Totals per repository in catalog order: one query, no record decoded."""
        try:
            rows = [] if self._empty else self._db.execute(
                "SELECT name, tag_count, size_bytes, last_push, fetched_at, tag_names "
                "FROM repositories ORDER BY position").fetchall()
        except sqlite3.Error as exc:
            raise SnapshotError(f"snapshot {self.path}: cannot read it ({exc})") from None
        try:
            repos = tuple(
                RepositoryRow(name, count, size, _parse_when(push), _parse_when(fetched),
                              frozenset(json.loads(names)) if names is not None else None)
                for name, count, size, push, fetched, names in rows)
            return SnapshotSummary(self._meta.get("url", ""),
                                   _parse_when(self._meta.get("walk_started")),
                                   _parse_when(self._meta.get("walk_finished")),
                                   _parse_when(self._meta.get("updated_at")), repos)
        except _DAMAGE as exc:
            raise self._damaged("its summary", exc) from None

    def records(self, registry: str, repository: str) -> list[TagRecord] | None:
        """One repository's records as stored; None when it was never read."""
        try:
            row = self._db.execute("SELECT records FROM repositories WHERE name = ?",
                                   (repository,)).fetchone()
        except sqlite3.Error as exc:
            raise SnapshotError(f"snapshot {self.path}: cannot read it ({exc})") from None
        if row is None or row[0] is None:
            return None
        try:
            return decode_records(registry, repository, row[0])
        except _DAMAGE as exc:
            raise self._damaged(f"repository {safe_text(repository, 100)}", exc) from None

    def _damaged(self, what: str, exc: Exception) -> SnapshotError:
        """Contents no regtui wrote (a disk error, an edit by hand): one line, and the way
        out, since a full walk rewrites every row."""
        detail = safe_text(f"{type(exc).__name__}: {exc}", 120)
        return SnapshotError(f"snapshot {self.path}: {what} is damaged ({detail}); a full "
                             "`regtui inventory` writes it anew")

    def walk(self, registry: str, repositories: Sequence[str] | None = None
             ) -> Iterator[TagRecord]:
        """Every stored record in catalog order, as a live walk would yield them."""
        names = [r.name for r in self.summary().repositories if r.read]
        if repositories is not None:
            wanted = set(repositories)
            names = [n for n in names if n in wanted]
        for name in names:
            # As a live walk: tags that could not be read are problems, not records.
            yield from (r for r in self.records(registry, name) or () if not r.unreadable)


# -- writing ------------------------------------------------------------------------------


def totals(records: Sequence[TagRecord]) -> tuple[int, int, datetime | None]:
    """Tag count, size (each digest once) and last push: the repositories pane's columns."""
    distinct: dict[str, int] = {}
    for record in records:
        distinct.update(record.reachable)
    pushes = [r.push_time for r in records if r.push_time is not None]
    return len(records), sum(distinct.values()), max(pushes) if pushes else None


class SnapshotStore:
    """Synchronous writes to one snapshot; `SnapshotWriter` runs these off the event loop."""

    def __init__(self, path: Path, url: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._batching = False
        self.replaced = ""
        """Why the file found there was set aside for a new one (it was damaged); ""."""
        try:
            self._db = _connect(path)
        except sqlite3.OperationalError:
            raise  # locked, read-only, unopenable: the file may be fine, so it is kept
        except sqlite3.DatabaseError as exc:
            # Not a database, or a damaged one. A snapshot only saves a walk's time: start
            # afresh, or every later walk fails on it and `--cached` never recovers.
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    path.with_name(path.name + suffix).unlink()
            self.replaced = f"snapshot {path}: damaged ({exc}); started a new one"
            self._db = _connect(path)
        with self._db:
            self._set("url", url)
            self._set("schema", str(SCHEMA_VERSION))

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction, unless inside `batch()`, which commits them all at once."""
        if self._batching:
            yield
            return
        with self._db:
            yield

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Writes that arrived together, in one commit (a commit costs more than a row)."""
        self._batching = True
        try:
            with self._db:
                yield
        finally:
            self._batching = False

    def _set(self, key: str, value: str) -> None:
        self._db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) "
                         "DO UPDATE SET value = excluded.value", (key, value))

    def begin_walk(self, names: Sequence[str], at: datetime, *, full: bool = True) -> None:
        """The catalog as just read: positions kept, repositories gone from it dropped."""
        with self._tx():
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
        blob = encode_records(records)
        # Unreadable tags are left out, so the tag list never matches and they are retried.
        tags = json.dumps(sorted({r.tag for r in records if not r.unreadable}),
                          separators=(",", ":"))
        with self._tx():
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
        with self._tx():
            self._db.executemany("UPDATE repositories SET fetched_at = ? WHERE name = ?",
                                 [(at.isoformat(), name) for name in names])
            self._set("updated_at", at.isoformat())

    def finish_walk(self, at: datetime) -> None:
        with self._tx():
            self._set("walk_finished", at.isoformat())
            self._set("updated_at", at.isoformat())

    def close(self) -> None:
        self._db.close()


_STOP: Final = object()
BATCH: Final = 64
"""Most queued writes committed together: repositories that arrived while one commit ran."""


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
        self.notice: str = ""
        """A damaged snapshot file was replaced by a new one (said once, after `close`)."""
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"snapshot {url}", daemon=True)
        self._thread.start()

    @classmethod
    def for_registry(cls, cache_dir: Path, url: str) -> SnapshotWriter:
        return cls(snapshot_path(cache_dir, url), url)

    def _run(self) -> None:
        store: SnapshotStore | None = None
        stop = False
        while not stop:
            items = [self._queue.get()]
            while len(items) < BATCH and not self._queue.empty():
                items.append(self._queue.get_nowait())
            writes = [item for item in items if item is not _STOP]
            stop = len(writes) < len(items)
            try:
                if writes and store is None:
                    store = SnapshotStore(self.path, self.url)
                    self.notice = store.replaced
                if store is not None and writes:
                    with store.batch():
                        for method, args, kwargs in writes:
                            getattr(store, method)(*args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                self.failed = f"snapshot {self.path}: {exc}"
            finally:
                for _ in items:
                    self._queue.task_done()
        if store is not None:
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
