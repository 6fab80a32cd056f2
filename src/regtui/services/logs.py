"""Registry logs: follow files and commands, index every line, filter the whole history.

The shape is toolong's: a log is a file plus an index of line start offsets (8 bytes a
line), so a 1 GB file costs tens of megabytes, and line text is re-read from the file on
demand. Only a bounded LRU of parsed lines (`buffer_lines`) is kept in memory. A command's
output is spooled to a temporary file, so it gets the same index, the same re-reading and the
same bounded memory. Nothing here imports Textual: the logs screen drives these objects from
thread workers (`poll`, `backfill`, `scan`) and renders only the visible lines.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from regtui.config import LogSourceConfig
from regtui.errors import RegtuiError
from regtui.filter import TextFilter, parse_filter
from regtui.services.logparse import LEVELS, LogRecord, parse_line

DEFAULT_BUFFER_LINES = 100_000
"""Parsed lines kept in memory; older ones are re-read from the file when scrolled to."""
TAIL_FIRST_BYTES = 1 << 20
"""On opening a big file, index this much of its end first so the last screen shows at once."""
READ_CHUNK = 8 << 20
LOST_LINE = "⟨line no longer readable: the file was truncated after it was read⟩"
NEWLINE = re.compile(b"\n")
WINDOW_SLACK = timedelta(seconds=1)


class LogError(RegtuiError):
    """A log source could not be read or a view could not be saved."""


# ---------------------------------------------------------------------------------------
# The index: segments of files, line start offsets, a bounded cache of parsed lines.


@dataclass(eq=False)
class _Segment:
    """One stretch of one open file; rotation or truncation starts a new segment."""

    fd: int
    label: str
    starts: array[int] = field(default_factory=lambda: array("Q"))
    end: int = 0
    """Offset just past the last indexed line (where the next read starts)."""
    dead: bool = False
    """Truncated: its bytes were overwritten, so its lines come from the cache or are lost."""
    closed: bool = False
    recent: deque[str] = field(default_factory=deque)
    """Text of the latest lines, so a truncation loses none of what was already read."""


class LineIndex:
    """Every line read so far, in order; safe to append from one thread and read from another."""

    def __init__(self, buffer_lines: int = DEFAULT_BUFFER_LINES) -> None:
        self.buffer_lines = max(1, buffer_lines)
        self._segments: list[_Segment] = []
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple[int, int], LogRecord] = OrderedDict()
        self.closed = False

    def __len__(self) -> int:
        return sum(len(segment.starts) for segment in self._segments)

    def new_segment(self, fd: int, label: str, start: int = 0) -> _Segment:
        """Start a segment at byte `start` of `fd` (the caller indexes into it)."""
        segment = _Segment(fd=fd, label=label, end=start)
        with self._lock:
            if self.closed:  # closed while a follower was opening: do not leak the file
                _close_segment(segment)
            else:
                self._segments.append(segment)
        return segment

    def add_lines(self, segment: _Segment, starts: array[int], end: int, data: bytes) -> int:
        """Append lines read from `segment` (`data` read at `starts[0]`); returns their count."""
        texts = _split_texts(data, starts[0] if starts else end, starts[-self.buffer_lines:], end)
        with self._lock:
            segment.starts.extend(starts)
            segment.end = end
            segment.recent.extend(texts)
            while len(segment.recent) > self.buffer_lines:
                segment.recent.popleft()
            return len(starts)

    def prepend_lines(self, segment: _Segment, starts: array[int]) -> int:
        """Put lines indexed in the background in front of a tail-first segment."""
        with self._lock:
            added = len(starts)
            starts.extend(segment.starts)
            segment.starts = starts
            return added

    def pread(self, segment: _Segment, size: int, offset: int) -> bytes:
        """Read from a segment's file under the lock, so `close` can never race a read into a
        recycled file descriptor; a closed segment reads as empty."""
        with self._lock:
            return b"" if segment.closed else os.pread(segment.fd, size, offset)

    def file_size(self, segment: _Segment) -> int:
        """The current size of a segment's file (-1 once closed)."""
        with self._lock:
            return -1 if segment.closed else os.fstat(segment.fd).st_size

    def swap_file(self, segment: _Segment, fd: int, label: str) -> None:
        """Read `segment` from another file with the same bytes (a rotated copy) from now on."""
        with self._lock:
            _close_segment(segment)
            if self.closed:
                os.close(fd)
                return
            segment.fd, segment.label, segment.closed = fd, label, False
            segment.recent.clear()

    def mark_dead(self, segment: _Segment) -> None:
        """The file under `segment` was truncated: never read its offsets from disk again."""
        with self._lock:
            segment.dead = True
            _close_segment(segment)

    def record(self, row: int) -> LogRecord:
        """The parsed line `row` (0-based), from the cache or re-read from its file."""
        return self.records(row, row + 1)[0]

    def records(self, first: int, stop: int) -> list[LogRecord]:
        """Parsed lines `first`..`stop-1`, with one read per segment for the cache misses."""
        with self._lock:
            return [self._cached(segment, local) for segment, lo, hi in self._locate(first, stop)
                    for local in range(lo, hi)]

    def raw_lines(self, first: int, stop: int) -> Iterator[str]:
        """Raw text of lines `first`..`stop-1`, not cached (saves)."""
        for _, text in self.text_chunks(first, stop):
            yield from text.split("\n")

    def text_chunks(self, first: int, stop: int, size: int = 16384) -> Iterator[tuple[int, str]]:
        """(first row, lines joined by newlines) for `first`..`stop-1`, one `pread` per chunk:
        scans search the joined text at C speed instead of looping over lines."""
        row = first
        while row < stop:
            with self._lock:
                texts = [(hi - lo, self._run_text(segment, lo, hi - 1))
                         for segment, lo, hi in self._locate(row, min(stop, row + size))]
            if not texts:
                return
            for count, text in texts:
                yield row, text
                row += count

    def _run_text(self, segment: _Segment, lo: int, hi: int) -> str:
        if segment.dead or segment.closed:
            return "\n".join(self._survivor(segment, local) for local in range(lo, hi + 1))
        start = segment.starts[lo]
        end = segment.starts[hi + 1] if hi + 1 < len(segment.starts) else segment.end
        data = os.pread(segment.fd, end - start, start)
        text = data.decode("utf-8", errors="replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        text = text[:-1] if text.endswith("\n") else text
        if text.count("\n") != hi - lo:  # an over-long line was cut without a newline
            return "\n".join(_split_texts(data, start, segment.starts[lo:hi + 1], end))
        return text

    def close(self) -> None:
        """Close every file this index reads from."""
        with self._lock:
            self.closed = True
            for segment in self._segments:
                _close_segment(segment)
            self._cache.clear()

    def _locate(self, first: int, stop: int) -> list[tuple[_Segment, int, int]]:
        """(segment, first local line, stop local line) for the rows `first`..`stop-1`."""
        out: list[tuple[_Segment, int, int]] = []
        base = 0
        for segment in self._segments:
            count = len(segment.starts)
            lo, hi = max(first - base, 0), min(stop - base, count)
            if hi > lo:
                out.append((segment, lo, hi))
            base += count
            if base >= stop:
                break
        return out

    def _cached(self, segment: _Segment, local: int) -> LogRecord:
        key = (id(segment), segment.starts[local])
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        record = parse_line(self._read_segment(segment, local, local)[0])
        self._remember(key, record)
        return record

    def _remember(self, key: tuple[int, int], record: LogRecord) -> None:
        self._cache[key] = record
        if len(self._cache) > self.buffer_lines:
            self._cache.popitem(last=False)

    def _read_segment(self, segment: _Segment, lo: int, hi: int) -> list[str]:
        if segment.dead or segment.closed:
            return [self._survivor(segment, local) for local in range(lo, hi + 1)]
        start = segment.starts[lo]
        end = segment.starts[hi + 1] if hi + 1 < len(segment.starts) else segment.end
        data = os.pread(segment.fd, end - start, start)
        return _split_texts(data, start, segment.starts[lo:hi + 1], end)

    def _survivor(self, segment: _Segment, local: int) -> str:
        recent_from = len(segment.starts) - len(segment.recent)
        if local >= recent_from:
            return segment.recent[local - recent_from]
        found = self._cache.get((id(segment), segment.starts[local]))
        return found.raw if found is not None else LOST_LINE


def _split_texts(data: bytes, base: int, starts: Sequence[int], end: int) -> list[str]:
    """Decode the lines at `starts` (file offsets) out of `data`, which was read at `base`."""
    if not starts:
        return []
    bounds = [start - base for start in starts]
    bounds.append(end - base)
    return [_decode(data[a:b]) for a, b in itertools.pairwise(bounds)]


def _decode(data: bytes) -> str:
    return data.rstrip(b"\r\n").decode("utf-8", errors="replace")


def _close_segment(segment: _Segment) -> None:
    if not segment.closed:
        segment.closed = True
        with contextlib.suppress(OSError):
            os.close(segment.fd)


def line_starts(chunk: bytes, base: int) -> tuple[array[int], int]:
    """Starts of the complete lines in `chunk` (read at offset `base`) and the offset after them.

    The first line starts at `base`; a trailing partial line is left for the next read.
    """
    ends = array("Q", [match.end() + base for match in NEWLINE.finditer(chunk)])
    if not ends:
        return array("Q"), base
    starts = array("Q", [base])
    starts.extend(ends[:-1])
    return starts, ends[-1]


# ---------------------------------------------------------------------------------------
# Sources.


@dataclass(frozen=True)
class SourceState:
    """What the pane shows about a source: running, waiting for its file, exited, failed."""

    status: str
    message: str = ""

    @property
    def stopped(self) -> bool:
        """True when the source will produce no more lines until it is restarted."""
        return self.status in ("exited", "failed", "closed")


class LogSource(Protocol):
    """A log stream indexed into `index`: `FileSource`, `CommandSource`, and `PolledSource`
    for API logs such as Harbor's audit log (a backend supplies its `fetch`)."""

    name: str
    index: LineIndex

    @property
    def state(self) -> SourceState: ...

    @property
    def backfill_pending(self) -> bool: ...

    def poll(self) -> int:
        """Read and index whatever is new, without blocking; returns the number of new lines."""
        ...

    def backfill(self, cancelled: Callable[[], bool],
                 progress: Callable[[float], None]) -> int:
        """Index older history in the background; returns how many lines were put in front."""
        ...

    def restart(self) -> None:
        """Start again after an exit or failure (a no-op for a file)."""
        ...

    def close(self) -> None:
        """Stop reading, end any process, release files."""
        ...


class FileFollower:
    """`tail -F` over a path: survives rotation (rename + new file) and truncation."""

    def __init__(self, path: Path, index: LineIndex, *, tail_first: bool = True) -> None:
        self.path = path
        self.index = index
        self.tail_first = tail_first
        self.segment: _Segment | None = None
        self._inode: tuple[int, int] | None = None
        self._backfill: tuple[_Segment, int] | None = None
        """The tail-first segment and where its indexed part starts, until backfilled."""
        self._pending: list[tuple[int, tuple[int, int]]] = []
        """Files that took the path's place (fd, inode), held open until ours goes quiet."""
        self._quiet_since = 0.0
        self.rotate_quiet = 1.0
        self.error = ""

    @property
    def backfill_pending(self) -> bool:
        return self._backfill is not None

    def poll(self) -> int:
        """Index new complete lines; switch files on rotation, start over on truncation."""
        if self.segment is None:
            return self._open(first=len(self.index) == 0 and self.tail_first)
        added = self.read_new()
        if self._truncated():
            old = self.segment
            recovered = self._recover_from_copy(old)
            if recovered is None:
                self.index.mark_dead(old)
            return added + (recovered or 0) + self._reopen()
        self._watch_for_rotation()
        return added + self._maybe_switch(added)

    def _watch_for_rotation(self) -> None:
        """Hold open every file that takes the path's place, in order: rotations can come
        faster than we leave the old file."""
        latest = self._pending[-1][1] if self._pending else self._inode
        if _inode_of(self.path) in (None, latest):
            return  # not rotated, or gone for now: keep reading the old file
        opened = _open_fd(self.path)
        if opened is None or opened[1] == latest:
            if opened is not None:
                os.close(opened[0])
            return
        if not self._pending:
            self._quiet_since = time.monotonic()
        self._pending.append(opened)

    def _maybe_switch(self, added: int) -> int:
        """After a rotation, keep reading the old file until it has been quiet for
        `rotate_quiet` seconds: with logrotate's `create`, the logger writes to the old file
        until it reopens (on SIGHUP, say). The new file is held open meanwhile, so a second
        rotation cannot make us skip it."""
        if not self._pending:
            return 0
        now = time.monotonic()
        if added:
            self._quiet_since = now
            return 0
        if now - self._quiet_since < self.rotate_quiet:
            return 0
        fd, inode = self._pending.pop(0)
        self._quiet_since = now
        flushed = self.read_new(flush_partial=True)
        if self.segment is not None:
            self.segment.recent.clear()  # rotated files stay open and re-readable
        return flushed + self._attach(fd, inode, start=0)

    def _open(self, first: bool) -> int:
        opened = _open_fd(self.path)
        if opened is None:
            self.error = f"cannot open log file {self.path}: {_why_not(self.path)}"
            return 0
        fd, inode = opened
        start = _tail_start(fd, os.fstat(fd).st_size) if first else 0
        added = self._attach(fd, inode, start=start)
        if start > 0 and self.segment is not None:
            self._backfill = (self.segment, start)
        return added

    def _attach(self, fd: int, inode: tuple[int, int], *, start: int) -> int:
        """Make `fd` the followed file, reading from `start`."""
        self.error = ""
        self._inode = inode
        self.segment = self.index.new_segment(fd, str(self.path), start)
        return self.read_new()

    def _recover_from_copy(self, cut: _Segment) -> int | None:
        """logrotate's copytruncate copies the file, then cuts it. When the copy (`name.1` or
        `name-DATE`) holds what we read, the segment reads from the copy from now on, lines
        written after our last read included: nothing is lost. None: no such copy."""
        copy = _fresh_copy(self.path)
        if copy is None or not cut.recent:
            return None
        try:
            fd = os.open(copy, os.O_RDONLY)
        except OSError:
            return None
        if not self._same_lines(fd, cut):
            os.close(fd)
            return None
        self.index.swap_file(cut, fd, str(copy))
        return self.read_new(flush_partial=True)

    @staticmethod
    def _same_lines(fd: int, segment: _Segment) -> bool:
        """True when `fd` holds the last lines read from `segment` at the same offsets."""
        count = min(10, len(segment.recent), len(segment.starts))
        first = segment.starts[len(segment.starts) - count]
        data = os.pread(fd, segment.end - first, first)
        texts = _split_texts(data, first, segment.starts[len(segment.starts) - count:],
                             segment.end)
        return texts == list(segment.recent)[-count:]

    def close(self) -> None:
        """Let go of a replacement file held open across a rotation."""
        pending, self._pending = self._pending, []
        for fd, _ in pending:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _reopen(self) -> int:
        """Open the path again after a truncation (the cut segment stays in the index)."""
        self.segment = None
        return self._open(first=False)

    def read_new(self, flush_partial: bool = False) -> int:
        segment = self.segment
        if segment is None or segment.dead:
            return 0
        added = 0
        while True:
            data = self.index.pread(segment, READ_CHUNK, segment.end)
            if not data:
                return added
            starts, end = line_starts(data, segment.end)
            if end == segment.end:
                if flush_partial or len(data) >= READ_CHUNK:
                    starts, end = array("Q", [segment.end]), segment.end + len(data)
                else:
                    return added
            added += self.index.add_lines(segment, starts, end, data)

    def _truncated(self) -> bool:
        assert self.segment is not None
        return 0 <= self.index.file_size(self.segment) < self.segment.end

    def backfill(self, cancelled: Callable[[], bool], progress: Callable[[float], None]) -> int:
        """Index the part before the tail-first start, then put it in front of the segment."""
        if self._backfill is None:
            return 0
        segment, stop = self._backfill
        starts, offset = array("Q"), 0
        while offset < stop and not cancelled():
            data = self.index.pread(segment, min(READ_CHUNK, stop - offset), offset)
            if not data:
                break
            found, end = line_starts(data, offset)
            starts.extend(found)
            offset = end if end > offset else offset + len(data)
            progress(offset / stop)
        if cancelled() or offset < stop:  # stopped, or the file was cut under us
            return 0
        self._backfill = None
        return self.index.prepend_lines(segment, starts)


def _open_fd(path: Path) -> tuple[int, tuple[int, int]] | None:
    """Open `path` for reading: (fd, (device, inode)), or None if it is not there."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    info = os.fstat(fd)
    return fd, (info.st_dev, info.st_ino)


def _inode_of(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _why_not(path: Path) -> str:
    """Why `path` cannot be opened, for the one-line message."""
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as error:
        return error.strerror or str(error)
    return "it vanished while being opened"


def _fresh_copy(path: Path) -> Path | None:
    """The newest rotated copy of `path` written in the last minute, if any."""
    candidates = [path.with_name(path.name + ".1"), *path.parent.glob(path.name + "-*")]
    dated = []
    for candidate in candidates:
        with contextlib.suppress(OSError):
            dated.append((candidate.stat().st_mtime, candidate))
    if not dated:
        return None
    mtime, newest = max(dated)
    return newest if time.time() - mtime < 60 else None


def _tail_start(fd: int, size: int) -> int:
    """Where tail-first indexing begins: the first line start in the last TAIL_FIRST_BYTES."""
    if size <= TAIL_FIRST_BYTES * 4:
        return 0
    probe = size - TAIL_FIRST_BYTES
    data = os.pread(fd, TAIL_FIRST_BYTES, probe)
    newline = data.find(b"\n")
    return probe + newline + 1 if newline >= 0 else 0


class FileSource:
    """A `type = "file"` source."""

    def __init__(self, name: str, path: Path, buffer_lines: int = DEFAULT_BUFFER_LINES) -> None:
        self.name = name
        self.index = LineIndex(buffer_lines)
        self.follower = FileFollower(path, self.index)
        self._closed = False

    @property
    def state(self) -> SourceState:
        if self._closed:
            return SourceState("closed")
        if self.follower.error:
            return SourceState("waiting", self.follower.error)
        return SourceState("following", str(self.follower.path))

    @property
    def backfill_pending(self) -> bool:
        return self.follower.backfill_pending

    def poll(self) -> int:
        return 0 if self._closed else self.follower.poll()

    def backfill(self, cancelled: Callable[[], bool], progress: Callable[[float], None]) -> int:
        return self.follower.backfill(cancelled, progress)

    def restart(self) -> None:
        """A file needs no restart: `poll` keeps retrying a missing file."""

    def close(self) -> None:
        self._closed = True
        self.follower.close()
        self.index.close()


_LIVE_COMMANDS: set[CommandSource] = set()


class _SpooledState:
    """What command and polled sources share: a state, and nothing to backfill (they spool
    from the start)."""

    _state: SourceState

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def backfill_pending(self) -> bool:
        return False


class CommandSource(_SpooledState):
    """A `type = "command"` source: `sh -c COMMAND`, stdout and stderr spooled to a file."""

    def __init__(self, name: str, command: str,
                 buffer_lines: int = DEFAULT_BUFFER_LINES) -> None:
        self.name = name
        self.command = command
        self.index = LineIndex(buffer_lines)
        self._dir = Path(tempfile.mkdtemp(prefix="regtui-logs-"))
        self._spool = self._dir / "spool.log"
        self._spool.touch()
        self.follower = FileFollower(self._spool, self.index, tail_first=False)
        self._process: subprocess.Popen[bytes] | None = None
        self._state = SourceState("starting")
        self._start()

    def _start(self) -> None:
        with open(self._spool, "ab") as spool:
            try:
                self._process = subprocess.Popen(
                    ["/bin/sh", "-c", self.command], stdin=subprocess.DEVNULL, stdout=spool,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
            except OSError as error:
                self._state = SourceState(
                    "failed", f"log command `{self.command}` could not start: {error.strerror}")
                return
        _LIVE_COMMANDS.add(self)
        self._state = SourceState("running", f"`{self.command}` (pid {self._process.pid})")

    def poll(self) -> int:
        """Index new output; once the process has exited, drain it and report how it ended."""
        process = self._process
        code = process.poll() if process is not None else None
        added = self.follower.poll()
        if process is not None and code is not None:
            added += self.follower.poll() + self._flush()
            self._ended(code)
        return added

    def _flush(self) -> int:
        segment = self.follower.segment
        return self.follower.read_new(flush_partial=True) if segment is not None else 0

    def _ended(self, code: int) -> None:
        self._process = None
        _LIVE_COMMANDS.discard(self)
        if code == 0:
            self._state = SourceState("exited", f"log command `{self.command}` exited (status 0)")
            return
        last = self._last_line()
        detail = f": {last}" if last else ""
        self._state = SourceState(
            "failed", f"log command `{self.command}` exited with status {code}{detail}")

    def _last_line(self) -> str:
        count = len(self.index)
        return self.index.record(count - 1).raw[:200] if count else ""

    def backfill(self, cancelled: Callable[[], bool], progress: Callable[[float], None]) -> int:
        return 0

    def restart(self) -> None:
        """Stop the command if it still runs and start it again, appending to the same spool."""
        self._terminate()
        self.poll()
        self._start()

    def _terminate(self) -> None:
        process, self._process = self._process, None
        _LIVE_COMMANDS.discard(self)
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def close(self) -> None:
        self._terminate()
        self._state = SourceState("closed")
        self.index.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@atexit.register
def _end_commands() -> None:
    for source in list(_LIVE_COMMANDS):
        source.close()


class PolledSource(_SpooledState):
    """An API log (Harbor's audit log, say), fetched every `interval` seconds.

    `fetch` returns the lines that are new since its previous call (the caller's backend keeps
    the cursor, e.g. the last audit id) and raises `RegtuiError` when it cannot; lines are
    spooled to a file, so they get the same index, filters and bounded memory as the rest.
    """

    def __init__(self, name: str, fetch: Callable[[], Iterable[str]], *, interval: float = 10.0,
                 buffer_lines: int = DEFAULT_BUFFER_LINES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.index = LineIndex(buffer_lines)
        self._fetch, self._interval, self._clock = fetch, interval, clock
        self._dir = Path(tempfile.mkdtemp(prefix="regtui-logs-"))
        self._spool = self._dir / "spool.log"
        self._spool.touch()
        self.follower = FileFollower(self._spool, self.index, tail_first=False)
        self._next = 0.0
        self._state = SourceState("running", f"polling every {interval:g}s")

    def poll(self) -> int:
        """Fetch when due (never after a failure until `restart`), then index the spool."""
        if not self._state.stopped and self._clock() >= self._next:
            self._next = self._clock() + self._interval
            self._fetch_once()
        return self.follower.poll()

    def _fetch_once(self) -> None:
        try:
            lines = [line.replace("\n", " ") for line in self._fetch()]
        except RegtuiError as error:
            self._state = SourceState("failed", f"log source {self.name}: {error}")
            return
        with open(self._spool, "a", encoding="utf-8") as spool:
            spool.writelines(line + "\n" for line in lines)

    def backfill(self, cancelled: Callable[[], bool], progress: Callable[[float], None]) -> int:
        return 0

    def restart(self) -> None:
        self._state = SourceState("running", f"polling every {self._interval:g}s")
        self._next = 0.0

    def close(self) -> None:
        self._state = SourceState("closed")
        self.index.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def open_source(config: LogSourceConfig, buffer_lines: int = DEFAULT_BUFFER_LINES) -> LogSource:
    """The source for one `[[registries.logs]]` entry (the config has checked its fields)."""
    name = config.name or (str(config.path) if config.type == "file" else config.command)
    if config.type == "file" and config.path is not None:
        return FileSource(name, config.path, buffer_lines)
    if config.type == "command":
        return CommandSource(name, config.command, buffer_lines)
    raise LogError(f"log source {name!r}: unknown type {config.type!r} (use file or command)")


# ---------------------------------------------------------------------------------------
# Filtering over everything read.


@dataclass(frozen=True)
class LogQuery:
    """What the operator asked to see; an empty query shows every line."""

    text: str = ""
    """The `/` filter language: substring, `~regex`, `!` inverts (matched on the raw line)."""
    min_level: str = ""
    status_classes: frozenset[int] = frozenset()
    repository: str = ""
    since: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.text or self.min_level or self.status_classes or self.repository
                    or self.since)


Predicate = Callable[[str], bool]

_LEVEL_WORDS = {
    "debug": ("debug", "dbg", "trace"), "info": ("inf", "notice"), "warning": ("warn", "wrn"),
    "error": ("err",), "fatal": ("fatal", "crit"), "panic": ("panic",),
}
_WHOLE_STRING = re.compile(r"\\[AZz]")
"""`\\A` and `\\Z` anchor to the whole string: they cannot be searched in a chunk of lines."""
_STATUS_SHAPES = ('status":\\s*"?{c}\\d\\d', 'status=\\s*"?{c}\\d\\d', '" {c}\\d\\d ')
"""Where a status code sits in JSON, logfmt and access lines; each starts with a literal, which
Python's `re` finds at memchr speed (an alternation or a leading `\\b` is 20 times slower)."""


@dataclass(frozen=True)
class Matcher:
    """A compiled query: `predicate` decides; `candidates`, when set, is a pattern every
    matching line contains, so a scan runs it over big chunks and tests only its hits."""

    predicate: Predicate
    candidates: tuple[re.Pattern[str], ...] = ()
    lower: bool = False
    """Search the candidates in lower-cased text (case-insensitive without `re.IGNORECASE`)."""
    everything: bool = False
    """Every line passes (only a time window was asked for): no line is looked at."""


def compile_query(query: LogQuery) -> Matcher:
    """The test for one raw line: text first, parsing only for structured filters.

    The time window is not tested per line: `find_matches` starts the scan at the first
    line of the window instead.
    """
    text = parse_filter(query.text)
    text_test = _text_test(text)
    structured = _structured_test(query)
    if structured is None:
        predicate = text_test
    elif text.is_empty:
        predicate = lambda raw: structured(parse_line(raw))  # noqa: E731
    else:
        predicate = lambda raw: text_test(raw) and structured(parse_line(raw))  # noqa: E731
    candidates, lower = _candidates(query, text)
    everything = text.is_empty and structured is None
    return Matcher(predicate, candidates, lower, everything)


def _text_test(text: TextFilter) -> Predicate:
    if text.is_empty:
        return lambda raw: True
    if text.pattern is not None:
        search, invert = text.pattern.search, text.invert
        return lambda raw: (search(raw) is not None) != invert
    needle, invert = text.needle, text.invert
    return lambda raw: (needle in raw.lower()) != invert


def _candidates(query: LogQuery, text: TextFilter) -> tuple[tuple[re.Pattern[str], ...], bool]:
    """Patterns a matching line must contain one of (never spanning lines); () if none known."""
    if text.needle and text.pattern is None and not text.invert:
        return (re.compile(re.escape(text.needle)),), True
    if text.pattern is not None and not text.invert and not _WHOLE_STRING.search(text.needle):
        # MULTILINE makes ^ and $ mean line start/end inside a chunk, as they do on one line;
        # a hit that spans lines only nominates its first line, which is then tested alone
        return _regex_candidates(text.pattern)
    if query.repository:
        return (re.compile(re.escape(query.repository)),), False
    if query.status_classes:
        return _status_patterns(query.status_classes), False
    if query.min_level and query.min_level != "debug":
        return _level_patterns(query.min_level), True
    return (), False


def _regex_candidates(pattern: re.Pattern[str]) -> tuple[tuple[re.Pattern[str], ...], bool]:
    """An all-lower-case ASCII regex is searched without IGNORECASE in lower-cased text: the
    same lines, but `re` can then use its literal-prefix search (several times faster)."""
    source = pattern.pattern
    if source.isascii() and source == source.lower():
        return (re.compile(source, re.MULTILINE),), True
    return (re.compile(source, pattern.flags | re.MULTILINE),), False


def _status_patterns(classes: Iterable[int]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(shape.format(c=c)) for c in sorted(classes) for shape in _STATUS_SHAPES)


def _level_patterns(floor: str) -> tuple[re.Pattern[str], ...]:
    """Level words at or above `floor` (lower-cased), or the status codes access lines take
    their level from."""
    levels = LEVELS[LEVELS.index(floor):]
    words = tuple(re.compile(re.escape(word)) for level in levels for word in _LEVEL_WORDS[level])
    classes = {"warning": (4, 5), "error": (5,)}.get(floor, tuple(range(1, 10)))
    return words + _status_patterns(classes if floor in ("info", "warning", "error") else ())


def _structured_test(query: LogQuery) -> Callable[[LogRecord], bool] | None:
    tests: list[Callable[[LogRecord], bool]] = []
    if query.min_level:
        floor = LEVELS.index(query.min_level)
        tests.append(lambda record: record.severity >= floor)
    if query.status_classes:
        classes = query.status_classes
        tests.append(lambda record: record.status_class in classes)
    if query.repository:
        repository = query.repository
        tests.append(lambda record: record.repository == repository)
    if not tests:
        return None
    return lambda record: all(test(record) for test in tests)


def find_matches(index: LineIndex, query: LogQuery, *,
                 cancelled: Callable[[], bool] = lambda: False,
                 progress: Callable[[float], None] = lambda done: None) -> array[int]:
    """Every line of the index that passes `query`, starting at its time window."""
    first = first_line_since(index, query.since) if query.since is not None else 0
    return scan(index, compile_query(query), first, cancelled=cancelled, progress=progress)


def scan(index: LineIndex, matcher: Matcher, first: int = 0, stop: int | None = None, *,
         cancelled: Callable[[], bool] = lambda: False,
         progress: Callable[[float], None] = lambda done: None) -> array[int]:
    """Rows `first`..`stop-1` that pass: every line read, not a sample."""
    end = len(index) if stop is None else stop
    if matcher.everything:
        return array("I", range(first, end))
    found: array[int] = array("I")
    for row, text in index.text_chunks(first, end):
        if cancelled():
            break
        found.extend(row + i for i in _chunk_hits(text, matcher))
        progress((row - first) / max(1, end - first))
    progress(1.0)
    return found


def _chunk_hits(text: str, matcher: Matcher) -> list[int]:
    """Line positions in `text` that pass; with candidate patterns only their hits are tested."""
    predicate = matcher.predicate
    haystack = text.lower() if matcher.lower else text
    if not matcher.candidates or len(haystack) != len(text):
        return [i for i, raw in enumerate(text.split("\n")) if predicate(raw)]
    hits, line, counted = [], 0, 0
    for begin in sorted(_candidate_lines(haystack, matcher.candidates)):
        line += text.count("\n", counted, begin)
        counted = begin
        finish = text.find("\n", begin)
        if predicate(text[begin:] if finish < 0 else text[begin:finish]):
            hits.append(line)
    return hits


def _candidate_lines(haystack: str, patterns: Iterable[re.Pattern[str]]) -> set[int]:
    """Offsets of the lines holding a hit of any pattern."""
    begins: set[int] = set()
    for pattern in patterns:
        match = pattern.search(haystack)
        while match is not None:
            begins.add(haystack.rfind("\n", 0, match.start()) + 1)
            finish = haystack.find("\n", match.start())
            match = pattern.search(haystack, finish + 1) if finish >= 0 else None
    return begins


class FilteredView:
    """The rows on screen: matches plus `context` lines around each, kept up to date as lines
    arrive. Rows are line numbers in the index."""

    def __init__(self, matches: array[int], total: int, context: int = 0) -> None:
        self.matches = matches
        self.context = max(0, context)
        self.rows: array[int] = array("I")
        self._cover_all(self.matches, total)

    def __len__(self) -> int:
        return len(self.rows)

    def is_match(self, line: int) -> bool:
        """True for a matching line, False for a context line."""
        position = bisect.bisect_left(self.matches, line)
        return position < len(self.matches) and self.matches[position] == line

    def extend(self, new_matches: Iterable[int], total: int) -> None:
        """Lines up to `total` were read and `new_matches` (all past the old ones) matched."""
        if self.matches:
            self._cover(self.matches[-1], total)
        fresh = array("I", new_matches)
        self.matches.extend(fresh)
        self._cover_all(fresh, total)

    def _cover_all(self, matches: Iterable[int], total: int) -> None:
        for line in matches:
            self._cover(line, total)

    def _cover(self, line: int, total: int) -> None:
        low = line - self.context if not self.rows else max(line - self.context, self.rows[-1] + 1)
        high = min(line + self.context, total - 1)
        if high >= low:
            self.rows.extend(range(max(low, 0), high + 1))

    def next_match(self, line: int, backwards: bool = False) -> int | None:
        """The first match after (or before) `line`, wrapping around; None without matches."""
        if not self.matches:
            return None
        if backwards:
            position = bisect.bisect_left(self.matches, line) - 1
            return self.matches[position]
        position = bisect.bisect_right(self.matches, line)
        return self.matches[position % len(self.matches)]

    def row_of(self, line: int) -> int:
        """Position of `line` among the rows (or of the nearest row after it)."""
        return min(bisect.bisect_left(self.rows, line), max(0, len(self.rows) - 1))


def first_line_since(index: LineIndex, since: datetime) -> int:
    """Where a time window starts, by bisection: logs are written in time order, so a window
    skips the old part of a 1 GB file instead of parsing it. Access lines carry whole seconds,
    so the order holds only to the second: the start may be a second early, never late."""
    since = since - WINDOW_SLACK
    lo, hi = 0, len(index)
    while lo < hi:
        middle = (lo + hi) // 2
        when = _time_near(index, middle, hi)
        if when is None or when >= since:
            hi = middle
        else:
            lo = middle + 1
    return lo


def _time_near(index: LineIndex, row: int, stop: int) -> datetime | None:
    """The time of `row`, or of the next line that has one (access and text lines may not)."""
    for record in index.records(row, min(stop, row + 16)):
        if record.time is not None:
            return record.time
    return None


def save_lines(index: LineIndex, rows: Sequence[int] | None, path: Path) -> int:
    """Write the given rows (None: every line) to `path`; returns the number of lines."""
    try:
        with open(path.expanduser(), "w", encoding="utf-8") as out:
            return _write_rows(index, rows, out.write)
    except OSError as error:
        raise LogError(f"cannot save logs to {path}: {error.strerror or error}") from None


def _write_rows(index: LineIndex, rows: Sequence[int] | None, write: Callable[[str], int]) -> int:
    if rows is None:
        count = 0
        for text in index.raw_lines(0, len(index)):
            write(text + "\n")
            count += 1
        return count
    for row in rows:
        write(index.record(row).raw + "\n")
    return len(rows)
