"""A persistent, content-addressed cache of manifests and config blobs, and of tag hints.

Digests are immutable, so anything fetched by digest can be kept forever and re-verified on
read. A second inventory of an unchanged registry then downloads no manifest or config again.

Everything lives in one SQLite file written by one background thread: a walk that fills the
cache costs the event loop a dictionary insert per digest, not a mkdir, mkstemp and rename.
Until the writer has committed it, an entry is served from memory, so a reader never misses
what was just put. Tag hints (the digest a tag pointed at when last read) let the inventory
ask HEAD only where the cache can then answer the body.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from regtui.registry.jws import manifest_digest_content

DIGEST_RE: Final = re.compile(r"^(sha256):([0-9a-f]{64})$|^(sha512):([0-9a-f]{128})$")
MAX_CACHED_BYTES: Final = 4 * 1024 * 1024
MEMORY_ENTRIES: Final = 16384
OPEN_TIMEOUT: Final = 10.0
"""Seconds to wait for another process's lock on the cache file."""
DB_NAME: Final = "content.sqlite3"
FLUSH_EVERY: Final = 0.2
"""Seconds between the writer's commits: one transaction per batch, no wake-up per entry."""
SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tags (scope TEXT NOT NULL, repository TEXT NOT NULL, "
    "tag TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (scope, repository, tag))",
)

FORMAT_VERSION: Final = 2
"""`PRAGMA user_version` of the file (1 was the file-per-digest `blobs/` tree, no SQLite)."""
COLUMNS: Final = {"blobs": ["digest", "data"], "tags": ["scope", "repository", "tag", "digest"]}

_Write = tuple[str, tuple[str, ...] | tuple[str, bytes]] | None
_NOTICES: list[str] = []
_NOTICES_LOCK = threading.Lock()


def take_notices() -> list[str]:
    """One-line notices about cache files (an old format set aside, say), each given once."""
    with _NOTICES_LOCK:
        notices, _NOTICES[:] = list(_NOTICES), []
    return notices


def _notice(text: str) -> None:
    with _NOTICES_LOCK:
        _NOTICES.append(text)


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    """`algorithm:hex` of the bytes, as registries name content."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def is_digest(value: str) -> bool:
    return DIGEST_RE.match(value) is not None


def verify_digest(digest: str, data: bytes) -> bool:
    """True when `data` hashes to `digest` (sha256 or sha512)."""
    if not is_digest(digest):
        return False
    algorithm = digest.split(":", 1)[0]
    return compute_digest(data, algorithm) == digest


def names_content(digest: str, data: bytes) -> bool:
    """`data` is what `digest` names: its own hash, or a signed schema1's payload hash."""
    return verify_digest(digest, data) or (
        b'"signatures"' in data and verify_digest(digest, manifest_digest_content(data)))


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=OPEN_TIMEOUT, check_same_thread=False,
                                 isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in SCHEMA:
        connection.execute(statement)
    return connection


def _compatible(path: Path) -> bool:
    """Whether the file at `path` is (or can become) this version's cache; a file that
    cannot be opened now (locked, read-only directory) is not called damaged: `_connect`
    says why it cannot be used, and it is left alone."""
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=OPEN_TIMEOUT)) as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            columns = {table: [str(row[1]) for row in
                               db.execute(f"PRAGMA table_info({table})")] for table in COLUMNS}
    except sqlite3.OperationalError:
        return True  # locked or unopenable, not known to be damaged: never deleted for it
    except sqlite3.Error:
        return False  # not a database (or a damaged one)
    if version not in (0, FORMAT_VERSION):
        return False
    return all(found in ([], COLUMNS[table]) for table, found in columns.items())


def _prepare(path: Path) -> None:
    """Set an older (or damaged) cache aside: a cache only costs speed, so start afresh.

    The file-per-digest tree of earlier versions (`blobs/`) is not read any more; the file
    of another format is replaced. Either way one notice says so, never a traceback.
    """
    old_tree = path.parent / "blobs"
    if old_tree.is_dir() and not path.exists():
        _notice(f"cache {path.parent}: the file-per-digest cache of earlier regtui versions "
                f"({old_tree}) is no longer read; it is refilled in {path.name} (delete "
                f"{old_tree} to free its space)")
    if path.exists() and not _compatible(path):
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                path.with_name(path.name + suffix).unlink()
        _notice(f"cache {path}: written by another regtui version or damaged; started a "
                "new one (only speed is lost: content is fetched again once)")


class _Store:
    """One SQLite file per cache directory, shared by every `ContentCache` on it in a process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: dict[str, bytes] = {}
        self.pending_tags: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()
        self._queue: list[_Write] = []
        self._wake = threading.Event()
        self._known: set[str] | None = None
        self._reader: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None
        self.broken = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _prepare(path)
            self._reader = _connect(path)
            self._reader.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            # A cache that cannot be opened costs speed, never correctness.
            self.broken = True
            _notice(f"cache {path}: cannot open it ({exc}); caching in memory only")

    def read(self, digest: str) -> bytes | None:
        with self._lock:
            found = self.pending.get(digest)
        if found is not None or self._reader is None:
            return found
        if self._known is None:
            self._known = self._digests()
        if digest not in self._known:
            return None  # a miss costs a set lookup, not a query
        try:
            row = self._reader.execute("SELECT data FROM blobs WHERE digest = ?",
                                       (digest,)).fetchone()
        except sqlite3.Error:
            return None
        return bytes(row[0]) if row is not None else None

    def _digests(self) -> set[str]:
        assert self._reader is not None
        try:
            return {str(row[0]) for row in self._reader.execute("SELECT digest FROM blobs")}
        except sqlite3.Error:
            return set()

    def _enqueue(self, *items: _Write) -> None:
        """Queue statements without waking the writer: it collects them every `FLUSH_EVERY`."""
        with self._lock:
            self._queue.extend(items)
        self._start()

    def drop(self, digest: str) -> None:
        if self._known is not None:
            self._known.discard(digest)
        self._enqueue(("DELETE FROM blobs WHERE digest = ?", (digest,)))

    def write(self, digest: str, data: bytes) -> None:
        if self.broken:
            return
        with self._lock:
            if digest in self.pending:
                return
            self.pending[digest] = data
        if self._known is not None:
            self._known.add(digest)
        self._enqueue(("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (digest, data)))

    def tag_hints(self, scope: str, repository: str) -> dict[str, str]:
        hints: dict[str, str] = {}
        if self._reader is not None:
            try:
                rows = self._reader.execute(
                    "SELECT tag, digest FROM tags WHERE scope = ? AND repository = ?",
                    (scope, repository)).fetchall()
            except sqlite3.Error:
                rows = []
            hints = {str(tag): str(digest) for tag, digest in rows}
        with self._lock:
            for (s, r, tag), digest in self.pending_tags.items():
                if s == scope and r == repository:
                    hints[tag] = digest
        return hints

    def write_tags(self, scope: str, repository: str, tags: Mapping[str, str]) -> None:
        if self.broken:
            return
        with self._lock:
            for tag, digest in tags.items():
                self.pending_tags[(scope, repository, tag)] = digest
        self._enqueue(("DELETE FROM tags WHERE scope = ? AND repository = ?", (scope, repository)),
                      *(("INSERT OR REPLACE INTO tags VALUES (?, ?, ?, ?)",
                         (scope, repository, tag, digest)) for tag, digest in tags.items()))

    def _start(self) -> None:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._run, name="regtui-cache-writer",
                                                daemon=True)
                self._writer.start()

    def _run(self) -> None:
        try:
            connection = _connect(self.path)
        except (OSError, sqlite3.Error):
            self.broken = True
            connection = None
        while True:
            self._wake.wait(FLUSH_EVERY)
            self._wake.clear()
            with self._lock:
                batch, self._queue = self._queue, []
            stop = None in batch
            if connection is not None:
                self._commit(connection, [item for item in batch if item is not None])
            if stop:
                if connection is not None:
                    connection.close()
                return

    def _commit(self, connection: sqlite3.Connection,
                batch: list[tuple[str, tuple[str, ...] | tuple[str, bytes]]]) -> None:
        try:
            connection.execute("BEGIN")
            for statement, args in batch:
                connection.execute(statement, args)
            connection.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
        with self._lock:
            for _, args in batch:
                if len(args) == 2 and isinstance(args[1], bytes):
                    self.pending.pop(str(args[0]), None)
                elif len(args) == 4:
                    key = (str(args[0]), str(args[1]), str(args[2]))
                    if self.pending_tags.get(key) == args[3]:
                        del self.pending_tags[key]

    def flush(self) -> None:
        """Wait until every write so far is committed (the writer then stops until needed)."""
        if self._reader is None:
            return
        self._start()  # a writer that stopped after an earlier flush leaves nothing queued
        with self._lock:
            writer = self._writer
            self._queue.append(None)
        self._wake.set()
        if writer is not None:
            writer.join()


_STORES: dict[Path, _Store] = {}
_STORES_LOCK = threading.Lock()


def _store(root: Path) -> _Store:
    path = (root / DB_NAME).absolute()
    with _STORES_LOCK:
        store = _STORES.get(path)
        if store is None:
            store = _STORES[path] = _Store(path)
        return store


@atexit.register
def flush_all() -> None:
    """Writes still queued when the process ends are committed, not lost."""
    for store in list(_STORES.values()):
        store.flush()


class ContentCache:
    """Digest -> bytes, in one SQLite file under `root` (or memory only when root is None)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._store = _store(root) if root is not None else None
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, digest: str) -> bytes | None:
        """The cached bytes, verified; a corrupt entry is dropped and counts as a miss."""
        if not is_digest(digest):
            return None
        data = self._memory.get(digest)
        if data is None and self._store is not None:
            data = self._read_disk(digest)
        if data is None:
            self.misses += 1
            return None
        self._remember(digest, data)
        self.hits += 1
        return data

    def has(self, digest: str) -> bool:
        """Whether `get` would answer, without counting a hit or a miss."""
        if digest in self._memory:
            return True
        if self._store is None or not is_digest(digest):
            return False
        data = self._read_disk(digest)
        if data is not None:
            self._remember(digest, data)
        return data is not None

    def _read_disk(self, digest: str) -> bytes | None:
        assert self._store is not None
        data = self._store.read(digest)
        if data is None:
            return None
        if names_content(digest, data):
            return data
        self._store.drop(digest)
        return None

    def put(self, digest: str, data: bytes) -> None:
        """Store bytes that hash to `digest`; anything else is silently refused."""
        if len(data) > MAX_CACHED_BYTES or not names_content(digest, data):
            return
        self._remember(digest, data)
        if self._store is not None:
            self._store.write(digest, data)

    def tag_hints(self, scope: str, repository: str) -> dict[str, str]:
        """tag -> the digest it had when last read (in registry `scope`); {} when unknown."""
        return self._store.tag_hints(scope, repository) if self._store is not None else {}

    def remember_tags(self, scope: str, repository: str, tags: Mapping[str, str]) -> None:
        """Replace the tag hints of a repository with what a walk just read."""
        if self._store is not None:
            self._store.write_tags(scope, repository, dict(tags))

    def flush(self) -> None:
        """Block until queued writes are on disk (tests, and before a process hands over)."""
        if self._store is not None:
            self._store.flush()

    def _remember(self, digest: str, data: bytes) -> None:
        self._memory[digest] = data
        self._memory.move_to_end(digest)
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)
