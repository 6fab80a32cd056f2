"""The logs service against real things: the lab registry's own log file, real files being
rotated and truncated while written, real shell commands, a million-line file."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from regtui.config import LogSourceConfig, RegistryConfig
from regtui.errors import RegtuiError
from regtui.lab import Lab
from regtui.registry.push import sha256_digest, upload_url
from regtui.registry.transport import build_client
from regtui.services import logs
from regtui.services.logparse import LogRecord, parse_line
from regtui.services.logs import (
    LOST_LINE,
    CommandSource,
    FileSource,
    FilteredView,
    LineIndex,
    LogError,
    LogQuery,
    compile_query,
    find_matches,
    first_line_since,
    open_source,
    save_lines,
    scan,
)

LabFactory = Callable[..., Lab]
WAIT = 5.0


def poll_until(source: logs.LogSource, done: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll like the screen's worker does (every 50 ms) until `done` or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source.poll()
        if done():
            return
        time.sleep(0.05)
    raise AssertionError(f"not done after {timeout}s; state {source.state}")


def all_raw(index: LineIndex) -> list[str]:
    return [record.raw for record in index.records(0, len(index))]


@pytest.fixture
def file_source(tmp_path: Path) -> Iterator[Callable[..., FileSource]]:
    opened: list[FileSource] = []

    def make(path: Path, buffer_lines: int = logs.DEFAULT_BUFFER_LINES) -> FileSource:
        source = FileSource(path.name, path, buffer_lines)
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


# --- the real registry --------------------------------------------------------------------


def _push_and_fail(base: str, repo: str) -> None:
    """Push a blob, pull it, and push a manifest the registry refuses."""
    data = b"logs-test-blob"
    digest = sha256_digest(data)
    with httpx.Client(base_url=base, timeout=10) as client:
        started = client.post(f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = upload_url(base, started.headers["Location"], digest)
        done = client.put(location, content=data,
                          headers={"Content-Type": "application/octet-stream"})
        assert done.status_code == 201, done.text
        assert client.get(f"/v2/{repo}/blobs/{digest}").status_code == 200
        refused = client.put(f"/v2/{repo}/manifests/broken", content=b'{"schemaVersion": 2}',
                             headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert refused.status_code >= 400


def _seen(index: LineIndex, repo: str) -> list[LogRecord]:
    return [r for r in index.records(0, len(index)) if r.repository == repo]


@pytest.mark.lab
def test_real_registry_log_lines_are_parsed(lab_factory: LabFactory) -> None:
    lab = lab_factory()
    source = open_source(LogSourceConfig(type="file", path=lab.log_file))
    try:
        source.poll()
        _push_and_fail(lab.url, "logs-test/app")
        wanted = {("POST", 202), ("PUT", 201), ("GET", 200)}
        started = time.monotonic()

        def complete() -> bool:
            got = {(r.method, r.status) for r in _seen(source.index, "logs-test/app")}
            failed = any(r.status_class in (4, 5) and r.method == "PUT"
                         for r in _seen(source.index, "logs-test/app"))
            return wanted <= got and failed

        poll_until(source, complete, timeout=2.0)
        assert time.monotonic() - started < 2.0
        kinds = {r.kind for r in _seen(source.index, "logs-test/app")}
        assert kinds == {"json", "access"}  # distribution mixes both into one stream
        errors = [r for r in _seen(source.index, "logs-test/app") if r.level == "error"]
        assert errors and all(r.status is not None and r.status >= 400 for r in errors)
    finally:
        source.close()


# --- files: tail -F semantics ------------------------------------------------------------------


def _writer(path: Path, count: int, rotate_at: set[int], pause: float = 0.0005) -> None:
    """Write `count` numbered lines, renaming the file away and reopening at `rotate_at`."""
    out = open(path, "a")  # noqa: SIM115 (reopened on rotation)
    for number in range(count):
        if number in rotate_at:
            out.close()
            os.rename(path, path.with_name(f"{path.name}.{number}"))
            out = open(path, "a")  # noqa: SIM115
        out.write(f"line {number}\n")
        out.flush()
        time.sleep(pause)
    out.close()


def test_rotation_while_writing_loses_no_line(tmp_path: Path,
                                              file_source: Callable[..., FileSource]) -> None:
    path = tmp_path / "registry.log"
    path.write_text("")
    source = file_source(path, buffer_lines=50)  # small buffer: old lines are re-read from disk
    count = 3000
    writer = threading.Thread(target=_writer, args=(path, count, {700, 1500, 1501 + 600}))
    writer.start()
    try:
        poll_until(source, lambda: len(source.index) >= count, timeout=30)
    finally:
        writer.join()
    source.poll()
    assert all_raw(source.index) == [f"line {n}" for n in range(count)]
    assert len(list(tmp_path.glob("registry.log.*"))) == 3


def test_logrotate_create_then_late_reopen_loses_no_line(
        tmp_path: Path, file_source: Callable[..., FileSource]) -> None:
    """logrotate `create`: the file is renamed and a new empty one made at once, but the
    logger keeps writing to the old one until it reopens (postrotate's SIGHUP)."""
    path = tmp_path / "registry.log"
    path.write_text("")
    source = file_source(path)
    source.follower.rotate_quiet = 0.3
    out = open(path, "a")  # noqa: SIM115 (the logger's handle, kept across the rename)
    try:
        for number in range(100):
            out.write(f"line {number}\n")
        out.flush()
        poll_until(source, lambda: len(source.index) == 100)
        os.rename(path, path.with_name("registry.log.1"))
        path.touch()  # logrotate's create
        source.poll()  # sees the new file
        for number in range(100, 150):  # still into the renamed file
            out.write(f"line {number}\n")
            out.flush()
            time.sleep(0.002)
        out.close()
        out = open(path, "a")  # noqa: SIM115 (the late reopen)
        for number in range(150, 200):
            out.write(f"line {number}\n")
        out.flush()
        poll_until(source, lambda: len(source.index) == 200)
    finally:
        out.close()
    assert all_raw(source.index) == [f"line {n}" for n in range(200)]


def test_file_missing_then_created_is_picked_up(tmp_path: Path,
                                                file_source: Callable[..., FileSource]) -> None:
    path = tmp_path / "later.log"
    source = file_source(path)
    source.poll()
    assert source.state.status == "waiting" and str(path) in source.state.message
    path.write_text("first\nsecond\n")
    poll_until(source, lambda: len(source.index) == 2)
    assert source.state.status == "following"
    assert all_raw(source.index) == ["first", "second"]


def test_truncation_keeps_lines_already_read(tmp_path: Path,
                                             file_source: Callable[..., FileSource]) -> None:
    """copytruncate: the follower has read the lines, then the file is cut to zero."""
    path = tmp_path / "registry.log"
    source = file_source(path, buffer_lines=100)
    with open(path, "a") as out:  # O_APPEND, like a logger: after truncation it writes at 0
        for number in range(300):
            out.write(f"before {number}\n")
        out.flush()
        poll_until(source, lambda: len(source.index) == 300)
        os.truncate(path, 0)
        for number in range(50):
            out.write(f"after {number}\n")
        out.flush()
        poll_until(source, lambda: len(source.index) == 350)
    raw = all_raw(source.index)
    # the last `buffer_lines` lines read before the cut survive it; older ones say they're lost
    assert raw[200:300] == [f"before {n}" for n in range(200, 300)]
    assert raw[300:] == [f"after {n}" for n in range(50)]
    assert set(raw[:200]) <= {LOST_LINE} | {f"before {n}" for n in range(200)}
    assert raw[:200].count(LOST_LINE) > 0  # honest: not silently wrong text


def test_copytruncate_while_writing_loses_no_line(
        tmp_path: Path, file_source: Callable[..., FileSource]) -> None:
    """logrotate's copytruncate, twice, while a logger keeps appending: the lines already read
    and those written after the follower's last read are read from the copy. (The copy and
    the cut are done together here; logrotate's own gap between them is not ours to close.)"""
    path = tmp_path / "registry.log"
    path.write_text("")
    source = file_source(path, buffer_lines=100)
    lock, count = threading.Lock(), 3000

    def writer() -> None:
        with open(path, "a") as out:  # O_APPEND: after the cut, writes land at offset 0
            for number in range(count):
                with lock:
                    out.write(f"line {number}\n")
                    out.flush()
                time.sleep(0.0005)

    def rotate(suffix: str) -> None:
        with lock:
            shutil.copyfile(path, path.with_name(path.name + suffix))
            os.truncate(path, 0)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        poll_until(source, lambda: len(source.index) >= 800, timeout=30)
        rotate(".1")
        poll_until(source, lambda: len(source.index) >= 1800, timeout=30)
        rotate("-20261123")
        poll_until(source, lambda: len(source.index) >= count, timeout=30)
    finally:
        thread.join()
    source.poll()
    assert all_raw(source.index) == [f"line {n}" for n in range(count)]


def test_partial_line_waits_for_its_newline(tmp_path: Path,
                                            file_source: Callable[..., FileSource]) -> None:
    path = tmp_path / "partial.log"
    path.write_text("one\ntw")
    source = file_source(path)
    source.poll()
    assert all_raw(source.index) == ["one"]
    with open(path, "a") as out:
        out.write("o\n")
    source.poll()
    assert all_raw(source.index) == ["one", "two"]


def _big_file(path: Path, lines: int) -> None:
    with open(path, "w") as out:
        block = "".join(f'{{"level":"info","msg":"n {n}"}}\n' for n in range(lines))
        out.write(block)


def test_big_file_shows_its_end_first_then_backfills(
        tmp_path: Path, file_source: Callable[..., FileSource]) -> None:
    path = tmp_path / "big.log"
    total = 400_000  # ~12 MB: above the tail-first threshold
    _big_file(path, total)
    source = file_source(path)
    source.poll()
    assert source.backfill_pending
    shown = len(source.index)
    assert 0 < shown < total // 4
    assert source.index.record(shown - 1).message == f"n {total - 1}"
    progress: list[float] = []
    added = source.backfill(lambda: False, progress.append)
    assert added + shown == total == len(source.index)
    assert not source.backfill_pending and progress[-1] == pytest.approx(1.0)
    assert source.index.record(0).message == "n 0"
    assert source.index.record(total - shown).message == f"n {total - shown}"


# --- commands ------------------------------------------------------------------------------


def test_failing_command_is_reported_and_restarts() -> None:
    source = CommandSource("failing", "echo one; echo 'oops: disk on fire' >&2; exit 3")
    try:
        poll_until(source, lambda: source.state.stopped)
        assert source.state.status == "failed"
        assert "exited with status 3" in source.state.message
        assert "oops: disk on fire" in source.state.message
        assert all_raw(source.index) == ["one", "oops: disk on fire"]
        source.restart()
        assert source.state.status == "running"
        poll_until(source, lambda: source.state.stopped)
        assert all_raw(source.index) == ["one", "oops: disk on fire"] * 2
    finally:
        source.close()


def test_command_not_found_names_the_command() -> None:
    source = CommandSource("nope", "regtui-no-such-binary -f")
    try:
        poll_until(source, lambda: source.state.stopped)
        assert "status 127" in source.state.message
        assert "regtui-no-such-binary" in source.state.message
    finally:
        source.close()


def test_streaming_command_is_followed_and_killed_on_close(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    source = open_source(LogSourceConfig(
        type="command", command=f"echo $$ > {pid_file}; i=0; while true; do "
                                "echo tick $i; i=$((i+1)); sleep 0.05; done"))
    try:
        poll_until(source, lambda: len(source.index) >= 5)
        assert source.state.status == "running"
        assert [r.raw for r in source.index.records(0, 5)] == [f"tick {n}" for n in range(5)]
    finally:
        source.close()
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() \
        else "X"
    return status not in ("Z", "X")


def test_polled_api_source_spools_and_reports_failure() -> None:
    """The open end of the interface (Harbor's audit log later): fetch, spool, fail, restart."""
    now = [0.0]
    batches: list[list[str] | RegtuiError] = [
        ['{"level":"info","msg":"audit push","vars.name":"library/app"}', "second\nline"],
        RegtuiError("harbor https://h.example/api/v2.0/audit-logs answered 503"),
        ["after restart"],
    ]

    def fetch() -> list[str]:
        batch = batches.pop(0)
        if isinstance(batch, RegtuiError):
            raise batch
        return batch

    source = logs.PolledSource("audit", fetch, interval=10, clock=lambda: now[0])
    try:
        assert source.poll() == 2
        assert all_raw(source.index)[1] == "second line"  # one record stays one line
        assert source.index.record(0).repository == "library/app"
        now[0] = 5.0
        assert source.poll() == 0 and len(batches) == 2  # not due yet
        now[0] = 10.0
        source.poll()
        assert source.state.status == "failed" and "answered 503" in source.state.message
        now[0] = 30.0
        assert source.poll() == 0 and len(batches) == 1  # a failed source waits for restart
        source.restart()
        assert source.poll() == 1 and all_raw(source.index)[-1] == "after restart"
    finally:
        source.close()


# --- filtering: every match in a million lines --------------------------------------------------

MILLION = 1_000_000
BASE_TIME = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _line(n: int) -> str:
    """Line n of the generated log; the expectations below follow from n alone."""
    repo = f"team-{n % 13}/app"
    status = 500 if n % 997 == 0 else 404 if n % 101 == 0 else 200
    seconds, millis = divmod(n, 1000)
    minutes, second = divmod(seconds, 60)
    clock = f"{12 + minutes // 60:02d}:{minutes % 60:02d}:{second:02d}"
    if n % 3 == 0:
        return (f'127.0.0.1 - - [23/Nov/2026:{clock} +0000] "GET /v2/{repo}/manifests/v{n} '
                f'HTTP/1.1" {status} 7 "" "x"')
    level = "error" if status == 500 else "info"
    return (f'{{"http.request.method":"GET","http.request.uri":"/v2/{repo}/manifests/v{n}",'
            f'"http.response.status":{status},"level":"{level}","msg":"request {n}",'
            f'"time":"2026-11-23T{clock}.{millis:03d}Z","vars.name":"{repo}"}}')


def test_generated_lines_parse_as_intended() -> None:
    """The generator's own claims, checked through the parser once per kind."""
    access, error = parse_line(_line(997 * 3)), parse_line(_line(997))
    assert (access.kind, access.status, access.repository) == ("access", 500, "team-1/app")
    assert (error.kind, error.level, error.status, error.repository) == (
        "json", "error", 500, f"team-{997 % 13}/app")
    assert error.time == BASE_TIME + timedelta(milliseconds=997)


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileSource]:
    path = tmp_path_factory.mktemp("million") / "million.log"
    with open(path, "w") as out:
        for start in range(0, MILLION, 10_000):
            out.write("".join(_line(n) + "\n" for n in range(start, start + 10_000)))
    source = FileSource("million", path, buffer_lines=10_000)
    source.poll()
    source.backfill(lambda: False, lambda done: None)
    assert len(source.index) == MILLION
    yield source
    source.close()


def test_million_lines_status_filter_finds_every_match(million: FileSource) -> None:
    started = time.perf_counter()
    found = find_matches(million.index, LogQuery(status_classes=frozenset({5})))
    print(f"status filter over {MILLION:,} lines: {time.perf_counter() - started:.2f}s")
    assert list(found) == [n for n in range(MILLION) if n % 997 == 0]


def test_million_lines_text_and_structured_filters(million: FileSource) -> None:
    query = LogQuery(text="~manifests/v\\d*77\\b", repository="team-5/app",
                     status_classes=frozenset({4}))
    found = find_matches(million.index, query)
    expected = [n for n in range(MILLION) if str(n).endswith("77") and n % 13 == 5
                and n % 101 == 0 and n % 997 != 0]
    assert expected and list(found) == expected


def test_million_lines_time_window_bisects(million: FileSource) -> None:
    since = BASE_TIME + timedelta(milliseconds=765_432)
    first = first_line_since(million.index, since)
    # access lines carry whole seconds, so times are in order only to the second: the window
    # may start up to a second's worth of lines (1,000 here) early, never late
    assert 765_433 - 1100 <= first <= 765_433
    found = find_matches(million.index, LogQuery(since=since, status_classes=frozenset({5})))
    assert list(found) == [n for n in range(first, MILLION) if n % 997 == 0]


# --- the view model and saving -------------------------------------------------------------------


def test_filtered_view_context_grows_with_new_lines() -> None:
    view = FilteredView(array("I", [5, 7, 20]), total=22, context=2)
    assert list(view.rows) == [3, 4, 5, 6, 7, 8, 9, 18, 19, 20, 21]
    assert view.is_match(7) and not view.is_match(8)
    view.extend([30], total=40)
    assert list(view.rows)[-7:] == [20, 21, 22, 28, 29, 30, 31, 32][-7:]
    assert 22 in view.rows and 23 not in view.rows
    assert view.next_match(7) == 20 and view.next_match(30) == 5
    assert view.next_match(7, backwards=True) == 5 and view.next_match(5, backwards=True) == 30


def test_save_filtered_view(tmp_path: Path, file_source: Callable[..., FileSource]) -> None:
    path = tmp_path / "in.log"
    path.write_text("".join(f"row {n}\n" for n in range(100)))
    source = file_source(path)
    source.poll()
    rows = scan(source.index, compile_query(LogQuery(text="~7$")))
    out = tmp_path / "saved.log"
    assert save_lines(source.index, rows, out) == 10
    assert out.read_text().splitlines() == [f"row {n}" for n in range(100) if n % 10 == 7]
    with pytest.raises(LogError, match=f"cannot save logs to {tmp_path}"):
        save_lines(source.index, rows, tmp_path)
    assert isinstance(LogError("x"), RegtuiError)


CHUNK_LINES = [
    "GET /v2/Team/App/manifests/1 200",
    "foo bar",
    "  foo at start after spaces",
    "ends with foo",
    "FOO upper",
    "naïve café line with foo",
    "x",
    "",
    "a\tb",
    "status 503 here",
]


@pytest.mark.parametrize("text", [
    "~^foo", "~foo$", "~^$", "~o\\s+\\w", "~[^x]+", "~team/app", "~\\AFOO", "~b\\Z", "foo",
    "FOO", "!foo", "!~^foo", "~café", "~\\bfoo\\b", "~(?-i:FOO)",
])
def test_chunk_search_agrees_with_line_by_line(tmp_path: Path, text: str,
                                               file_source: Callable[..., FileSource]) -> None:
    """The chunked candidate search must find exactly what testing each line alone finds."""
    lines = CHUNK_LINES * 3
    path = tmp_path / "chunk.log"
    path.write_text("".join(line + "\n" for line in lines))
    source = file_source(path)
    source.poll()
    matcher = compile_query(LogQuery(text=text))
    pattern = text.lstrip("!")[1:] if text.lstrip("!").startswith("~") else None
    oracle = [(re.search(pattern, line, re.IGNORECASE) is not None if pattern is not None
               else text.lstrip("!").lower() in line.lower()) != text.startswith("!")
              for line in lines]
    assert list(scan(source.index, matcher)) == [i for i, hit in enumerate(oracle) if hit]


# --- regtui's own requests -----------------------------------------------------------------


def _index_of(tmp_path: Path, lines: list[str]) -> LineIndex:
    path = tmp_path / "own.log"
    path.write_text("".join(line + "\n" for line in lines))
    source = FileSource("own", path, 100)
    source.poll()
    return source.index


def test_hide_own_leaves_out_regtui_requests_only(tmp_path: Path) -> None:
    own = ('127.0.0.1 - - [01/Dec/2026:17:53:12 +0000] "GET /v2/a/manifests/x HTTP/1.1" 404 91 '
           '"" "regtui/0.9"')
    other = own.replace("regtui/0.9", "containerd/1.7")
    says_regtui = '{"level":"error","msg":"client regtui/0.9 sent junk"}'  # not its agent
    lines = [own, other, says_regtui, own.replace(" 404 ", " 200 "), "plain regtui/ text"]
    index = _index_of(tmp_path, lines)
    assert list(find_matches(index, LogQuery(hide_own=True))) == [1, 2, 4]
    assert not LogQuery(hide_own=True).is_empty
    problems = LogQuery(min_level="warning", hide_own=True)  # a 404 access line is a warning
    assert list(find_matches(index, problems)) == [1, 2]
    assert list(find_matches(index, replace(problems, hide_own=False))) == [0, 1, 2]
    assert list(find_matches(index, LogQuery(text="/v2/a", hide_own=True))) == [1]


def _regtui_requests(url: str) -> None:
    """Two requests through regtui's own transport (its real User-Agent), one failing."""
    async def run() -> None:
        registry = RegistryConfig("lab", url)
        client = build_client(name="lab", url=url, host=registry.host, read_only=True)
        try:
            assert (await client.get("/v2/")).status_code == 200
            assert (await client.get("/v2/own-probe/manifests/nosuch")).status_code == 404
        finally:
            await client.aclose()

    asyncio.run(run())


@pytest.mark.lab
def test_real_registry_marks_regtui_requests(lab_factory: LabFactory) -> None:
    lab = lab_factory()
    source = open_source(LogSourceConfig(type="file", path=lab.log_file))
    try:
        _regtui_requests(lab.url)
        with httpx.Client(base_url=lab.url, timeout=10) as client:
            assert client.get("/v2/other-probe/manifests/nosuch").status_code == 404

        def probes() -> list[LogRecord]:
            return [r for r in source.index.records(0, len(source.index))
                    if r.repository in ("own-probe", "other-probe")]

        poll_until(source, lambda: {r.repository for r in probes() if r.kind == "access"}
                   == {"own-probe", "other-probe"})
        assert {(r.repository, r.kind) for r in probes() if r.is_own} == {
            ("own-probe", "json"), ("own-probe", "access")}
        errors = find_matches(source.index, LogQuery(min_level="warning", hide_own=True))
        shown = {source.index.record(row).repository for row in errors}
        assert "other-probe" in shown and "own-probe" not in shown
        everything = find_matches(source.index, LogQuery(min_level="warning"))
        assert "own-probe" in {source.index.record(row).repository for row in everything}
    finally:
        source.close()
