"""The persistent snapshot against the real lab: written by every walk, read without it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from regtui.lab import Lab
from regtui.services.snapshot import SnapshotReader, snapshot_path
from tests.lab_fixtures import LabFactory

pytestmark = pytest.mark.lab


def cli(*args: str, cache: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run([sys.executable, "-m", "regtui", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def by_repository(jsonl: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for line in jsonl.splitlines():
        record = json.loads(line)
        found.setdefault(record["repository"], []).append(record)
    return found


def test_cached_equals_live_and_needs_no_registry(lab_factory: LabFactory,
                                                  tmp_path: Path) -> None:
    lab = lab_factory()
    live = {fmt: cli("inventory", "--registry", lab.url, "--format", fmt, cache=tmp_path)
            for fmt in ("jsonl", "csv", "table", "json")}
    assert all(done.returncode == 0 for done in live.values()), live["jsonl"].stderr
    assert len(live["jsonl"].stdout.splitlines()) > 10
    lab.stop()  # no registry from here on: any request would fail
    for fmt, want in live.items():
        cached = cli("inventory", "--cached", "--registry", lab.url, "--format", fmt,
                     cache=tmp_path)
        assert cached.returncode == 0, cached.stderr
        assert same_records(cached.stdout, want.stdout, fmt), fmt
        assert "from the snapshot of" in cached.stderr
    repo = json.loads(live["jsonl"].stdout.splitlines()[0])["repository"]
    one = cli("inventory", "--cached", "--registry", lab.url, "--repository", repo,
              cache=tmp_path)
    assert set(by_repository(one.stdout)) == {repo}
    assert sorted(one.stdout.splitlines()) == sorted(
        line for line in live["jsonl"].stdout.splitlines()
        if json.loads(line)["repository"] == repo)


def same_records(got: str, want: str, fmt: str) -> bool:
    """The same records and headers: a live walk prints repositories as they complete, the
    snapshot in catalog order; within a repository the order is the same."""
    if fmt == "json":
        def key(item: dict[str, str]) -> tuple[str, str]:
            return item["repository"], item["tag"]
        return sorted(json.loads(got), key=key) == sorted(json.loads(want), key=key)
    header = 0 if fmt == "jsonl" else 1
    lines, expected = got.splitlines(), want.splitlines()
    return lines[:header] == expected[:header] and sorted(lines[header:]) == sorted(
        expected[header:])


def test_cached_without_a_snapshot_is_one_clear_line(tmp_path: Path) -> None:
    done = cli("inventory", "--cached", "--registry", "http://127.0.0.1:9", cache=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no snapshot of http://127.0.0.1:9" in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""


def _read_repositories(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute("SELECT count(*) FROM repositories WHERE records IS NOT NULL"
                             ).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


def test_a_walk_killed_midway_keeps_what_it_read(lab: Lab, tmp_path: Path) -> None:
    live = cli("inventory", "--registry", lab.url, cache=tmp_path / "live")
    assert live.returncode == 0, live.stderr
    want = by_repository(live.stdout)

    cache = tmp_path / "killed"
    path = snapshot_path(cache / "regtui", lab.url)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    walk = subprocess.Popen([sys.executable, "-m", "regtui", "inventory", "--registry",
                             lab.url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while _read_repositories(path) < 3:
        assert walk.poll() is None, "the walk ended before it could be killed"
        assert time.monotonic() < deadline, "no repository was committed"
        time.sleep(0.02)
    walk.send_signal(signal.SIGKILL)  # no cleanup of any kind runs
    walk.wait(timeout=30)

    reader = SnapshotReader(path)
    summary = reader.summary()
    read = [repo.name for repo in summary.repositories if repo.read]
    reader.close()
    assert not summary.complete and summary.walk_finished is None
    assert 3 <= len(read) < len(want), "killed after the walk had finished"
    catalog = [r.name for r in summary.repositories]  # recorded before any tag was read
    assert catalog == sorted(catalog) and set(want) <= set(catalog)

    cached = cli("inventory", "--cached", "--registry", lab.url, cache=cache)
    assert cached.returncode == 1 and "incomplete" in cached.stderr
    got = by_repository(cached.stdout)
    assert sorted(got) == sorted(name for name in read if want.get(name))
    for name, records in got.items():
        assert records == want[name], name


def test_every_date_field_of_a_record_survives_the_snapshot() -> None:
    """Dates are found by type, so a date field added to TagRecord (Hub's pulled_at) is
    stored as text and read back as a datetime, not left for json to refuse."""
    from datetime import UTC, datetime

    from regtui.registry.models import ArtifactKind, TagRecord
    from regtui.services.snapshot import decode_records, encode_records
    from regtui.text import untrusted

    when = datetime(2026, 11, 29, 8, 30, tzinfo=UTC)
    record = TagRecord("hub", untrusted("team-a/releases"), untrusted("1.0.0"),
                       "sha256:" + "a" * 64, untrusted("m"), 1, (), when, ArtifactKind.IMAGE,
                       pushed_at=when, pulled_at=when, status=untrusted("active"))
    [back] = decode_records("hub", "team-a/releases", encode_records([record]))
    assert back == record


def _stored_snapshot(cache: Path, url: str) -> Path:
    """A snapshot with two repositories, written the way a walk writes it."""
    from datetime import UTC, datetime

    from regtui.registry.models import ArtifactKind, TagRecord
    from regtui.services.snapshot import SnapshotStore
    from regtui.text import untrusted

    when = datetime(2026, 11, 29, 8, 30, tzinfo=UTC)
    path = snapshot_path(cache / "regtui", url)
    store = SnapshotStore(path, url)
    store.begin_walk(["app", "base"], when)
    for name in ("app", "base"):
        record = TagRecord("r", untrusted(name), untrusted("1.0"), "sha256:" + "a" * 64,
                           untrusted("m"), 1, (), when, ArtifactKind.IMAGE)
        store.put_repository(name, [record], when)
    store.finish_walk(when)
    store.close()
    return path


@pytest.mark.parametrize("damage", [
    "UPDATE repositories SET records = '{not json' WHERE name = 'base'",
    "UPDATE repositories SET last_push = 'yesterday' WHERE name = 'app'",
    "UPDATE repositories SET tag_names = '[1' WHERE name = 'app'",
    "UPDATE repositories SET records = '{\"fields\": [\"tag\"], \"rows\": [[1, 2]]}'",
    "UPDATE repositories SET records = replace(records, '\"image\"', '\"hologram\"')",
    "UPDATE meta SET value = 'soon' WHERE key = 'walk_finished'",
])
def test_cached_over_damaged_snapshot_contents_is_one_clear_line(
        tmp_path: Path, damage: str) -> None:
    """A snapshot that is a database but holds what no regtui wrote (a disk error, an edit
    by hand): `--cached` names the file, never a traceback."""
    url = "http://127.0.0.1:9"
    path = _stored_snapshot(tmp_path, url)
    with sqlite3.connect(path) as db:
        db.execute(damage)
    db.close()
    done = cli("inventory", "--cached", "--registry", url, cache=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"snapshot {path}" in lines[0] and "damaged" in lines[0], lines


@pytest.mark.parametrize("garbage", [b"\x00garbage" * 2000, b"SQLite format 3\x00" + b"\x07" * 99],
                         ids=["not-sqlite", "cut-header"])
def test_a_damaged_snapshot_file_is_replaced_by_the_next_walk(tmp_path: Path,
                                                               garbage: bytes) -> None:
    """Not a database (or a cut one): set aside with one notice, so the walk's snapshot is
    written and `--cached` recovers, instead of every walk failing on it for ever."""
    from datetime import UTC, datetime

    from regtui.services.snapshot import SnapshotWriter

    url = "http://127.0.0.1:9"
    path = snapshot_path(tmp_path, url)
    path.parent.mkdir(parents=True)
    path.write_bytes(garbage)
    writer = SnapshotWriter(path, url)
    when = datetime(2026, 11, 29, 8, 30, tzinfo=UTC)
    writer.begin_walk(["app"], when)
    writer.put_repository("app", [], when)
    writer.finish_walk(when)
    writer.close()
    assert writer.failed == ""
    assert "damaged" in writer.notice and str(path) in writer.notice
    reader = SnapshotReader.open(tmp_path, url)
    assert reader is not None
    try:
        assert reader.summary().complete and [r.name for r in
                                              reader.summary().repositories] == ["app"]
    finally:
        reader.close()
