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
from itertools import accumulate
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from regtui.config import LogSourceConfig
from regtui.errors import RegtuiError
from regtui.render.filter import TextFilter, parse_filter
from regtui.services.logparse import LEVELS, LogRecord, parse_line

DEFAULT_BUFFER_LINES = 100_000
"""Parsed lines kept in memory; older ones are re-read from the file when scrolled to."""
TAIL_FIRST_BYTES = 1 << 20
"""On opening a big file, index this much of its end first so the last screen shows at once."""
READ_CHUNK = 8 << 20
LOST_LINE = "⟨line no longer readable: the file was truncated after it was read⟩"
NEWLINE = re.compile(b"\n")


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

    def __len__(self) -> int:
        return sum(len(segment.starts) for segment in self._segments)

    def new_segment(self, fd: int, label: str, start: int = 0) -> _Segment:
        """Start a segment at byte `start` of `fd` (the caller indexes into it)."""
        segment = _Segment(fd=fd, label=label, end=start)
        with self._lock:
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

    def mark_dead(self, segment: _Segment) -> None:
        """The file under `segment` was truncated: never read its offsets from disk again."""
        with self._lock:
            segment.dead = True

    def record(self, row: int) -> LogRecord:
        """The parsed line `row` (0-based), from the cache or re-read from its file."""
        return self.records(row, row + 1)[0]

    def records(self, first: int, stop: int) -> list[LogRecord]:
        """Parsed lines `first`..`stop-1`, with one read per segment for the cache misses."""
        with self._lock:
            return [self._cached(segment, local) for segment, local in self._locate(first, stop)]

    def raw_lines(self, first: int, stop: int) -> Iterator[str]:
        """Raw text of lines `first`..`stop-1`, not cached (saves)."""
        for batch in self.raw_batches(first, stop):
            yield from batch

    def raw_batches(self, first: int, stop: int, size: int = 16384) -> Iterator[list[str]]:
        """Raw text of lines `first`..`stop-1` in batches read with one `pread` each (scans)."""
        row = first
        while row < stop:
            with self._lock:
                texts = self._read_run(self._locate(row, min(stop, row + size)))
            if not texts:
                return
            yield texts
            row += len(texts)

    def close(self) -> None:
        """Close every file this index reads from."""
        with self._lock:
            for segment in self._segments:
                _close_segment(segment)
            self._cache.clear()

    def _locate(self, first: int, stop: int) -> list[tuple[_Segment, int]]:
        out: list[tuple[_Segment, int]] = []
        base = 0
        for segment in self._segments:
            count = len(segment.starts)
            lo, hi = max(first - base, 0), min(stop - base, count)
            out.extend((segment, local) for local in range(lo, hi))
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
        record = parse_line(self._read_run([(segment, local)])[0])
        self._remember(key, record)
        return record

    def _remember(self, key: tuple[int, int], record: LogRecord) -> None:
        self._cache[key] = record
        if len(self._cache) > self.buffer_lines:
            self._cache.popitem(last=False)

    def _read_run(self, located: Sequence[tuple[_Segment, int]]) -> list[str]:
        """Text of consecutive located lines, one `pread` per segment."""
        texts: list[str] = []
        i = 0
        while i < len(located):
            segment = located[i][0]
            j = i
            while j < len(located) and located[j][0] is segment:
                j += 1
            texts.extend(self._read_segment(segment, located[i][1], located[j - 1][1]))
            i = j
        return texts

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
    """A log stream indexed into `index`. API sources (Harbor's audit log, polled) fit here:
    they fetch in `poll`, append lines to a spool file and index it as `CommandSource` does."""

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
        self._backfill_end = 0
        self.error = ""

    @property
    def backfill_pending(self) -> bool:
        return self._backfill_end > 0

    def poll(self) -> int:
        """Index new complete lines; switch files on rotation, start over on truncation."""
        if self.segment is None:
            return self._open(first=self.index.__len__() == 0 and self.tail_first)
        added = self._read_new()
        if self._truncated():
            self.index.mark_dead(self.segment)
            added += self._reopen(same_file=True)
        elif self._rotated():
            added += self._read_new(flush_partial=True)
            added += self._reopen(same_file=False)
        return added

    def _open(self, first: bool) -> int:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as error:
            self.error = f"cannot open log file {self.path}: {error.strerror}"
            return 0
        self.error = ""
        info = os.fstat(fd)
        self._inode = (info.st_dev, info.st_ino)
        start = _tail_start(fd, info.st_size) if first else 0
        self.segment = self.index.new_segment(fd, str(self.path), start)
        self._backfill_end = start
        return self._read_new()

    def _reopen(self, same_file: bool) -> int:
        """Open the path again: the same inode after truncation, the new file after rotation.

        A rotated file stays open, so its lines can still be re-read when scrolled to.
        """
        old = self.segment
        self.segment = None
        added = self._open(first=False)
        if old is not None and not same_file:
            if self.segment is None:
                self.segment = old  # the new file vanished again: keep draining the old one
            else:
                old.recent.clear()
        return added

    def _read_new(self, flush_partial: bool = False) -> int:
        segment = self.segment
        if segment is None or segment.dead:
            return 0
        added = 0
        while True:
            data = os.pread(segment.fd, READ_CHUNK, segment.end)
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
        return os.fstat(self.segment.fd).st_size < self.segment.end

    def _rotated(self) -> bool:
        try:
            info = os.stat(self.path)
        except OSError:
            return False  # gone for now: keep reading the old file until a new one appears
        return (info.st_dev, info.st_ino) != self._inode

    def backfill(self, cancelled: Callable[[], bool], progress: Callable[[float], None]) -> int:
        """Index the part before the tail-first start, then put it in front of the segment."""
        segment, stop = self.segment, self._backfill_end
        if segment is None or stop == 0:
            return 0
        starts, offset = array("Q"), 0
        while offset < stop and not cancelled():
            data = os.pread(segment.fd, min(READ_CHUNK, stop - offset), offset)
            if not data:
                break
            found, end = line_starts(data, offset)
            starts.extend(found)
            offset = end if end > offset else offset + len(data)
            progress(offset / stop)
        if cancelled():
            return 0
        self._backfill_end = 0
        return self.index.prepend_lines(segment, starts)


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
        self.index.close()


_LIVE_COMMANDS: set[CommandSource] = set()


class CommandSource:
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

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def backfill_pending(self) -> bool:
        return False

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
        return self.follower._read_new(flush_partial=True) if segment is not None else 0

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
    "debug": r"debug|dbg|trace", "info": r"info|inf|notice", "warning": r"warn|warning|wrn",
    "error": r"error|err", "fatal": r"fatal|crit|critical", "panic": r"panic",
}


@dataclass(frozen=True)
class Matcher:
    """A compiled query: `predicate` decides; `candidates`, when set, is a pattern every
    matching line contains, so a scan runs it over big chunks and tests only its hits."""

    predicate: Predicate
    candidates: re.Pattern[str] | None = None


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
    return Matcher(predicate, _candidates(query, text))


def _text_test(text: TextFilter) -> Predicate:
    if text.is_empty:
        return lambda raw: True
    if text.pattern is not None:
        search, invert = text.pattern.search, text.invert
        return lambda raw: (search(raw) is not None) != invert
    needle, invert = text.needle, text.invert
    return lambda raw: (needle in raw.lower()) != invert


def _candidates(query: LogQuery, text: TextFilter) -> re.Pattern[str] | None:
    """A pattern that cannot miss a matching line and never spans lines; None if no such."""
    if text.needle and text.pattern is None and not text.invert:
        return re.compile(re.escape(text.needle), re.IGNORECASE)
    if query.repository:
        return re.compile(re.escape(query.repository))
    if query.status_classes:
        classes = "".join(str(c) for c in sorted(query.status_classes))
        return re.compile(rf"\b[{classes}]\d\d\b")
    if query.min_level and query.min_level != "debug":
        return _level_candidates(query.min_level)
    return None


def _level_candidates(floor: str) -> re.Pattern[str]:
    """Level words at or above `floor`, or the status codes access lines take a level from."""
    levels = LEVELS[LEVELS.index(floor):]
    words = "|".join(_LEVEL_WORDS[level] for level in levels)
    statuses = {"warning": "|[45]\\d\\d", "error": "|5\\d\\d"}.get(floor, "|\\d\\d\\d")
    return re.compile(rf"\b(?:{words}{statuses})\b", re.IGNORECASE)


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
    found: array[int] = array("I")
    row = first
    for batch in index.raw_batches(first, end):
        if cancelled():
            break
        found.extend(row + i for i in _batch_hits(batch, matcher))
        row += len(batch)
        progress((row - first) / max(1, end - first))
    return found


def _batch_hits(batch: list[str], matcher: Matcher) -> Iterator[int]:
    """Positions in `batch` that pass; with a candidate pattern, only its hits are tested."""
    predicate = matcher.predicate
    if matcher.candidates is None:
        return (i for i, raw in enumerate(batch) if predicate(raw))
    joined = "\n".join(batch)
    search = matcher.candidates.search
    bounds = list(accumulate((len(raw) + 1 for raw in batch), initial=0))
    hits: list[int] = []
    match = search(joined)
    while match is not None:
        i = bisect.bisect_right(bounds, match.start()) - 1
        if predicate(batch[i]):
            hits.append(i)
        match = search(joined, bounds[i + 1])
    return iter(hits)


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
    """The first line at or after `since`, by bisection: logs are written in time order, so a
    time window skips the old part of a 1 GB file instead of parsing it."""
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
