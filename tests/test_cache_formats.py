"""An older or foreign cache is set aside with one notice: no traceback, only speed lost."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from regtui.lab import Lab
from regtui.registry.cache import DB_NAME, ContentCache, compute_digest, take_notices
from tests.test_inventory import run_cli


def _old_tree(root: Path) -> None:
    """The file-per-digest layout regtui used before the SQLite cache."""
    data = b'{"schemaVersion": 2}'
    hexpart = compute_digest(data).split(":", 1)[1]
    path = root / "blobs" / "sha256" / hexpart[:2] / hexpart
    path.parent.mkdir(parents=True)
    path.write_bytes(data)


def test_a_foreign_sqlite_cache_is_replaced_and_said_once(tmp_path: Path) -> None:
    take_notices()
    with sqlite3.connect(tmp_path / DB_NAME) as db:  # same file name, another layout
        db.execute("CREATE TABLE blobs (k TEXT, v BLOB, extra INTEGER)")
        db.execute("INSERT INTO blobs VALUES ('a', x'00', 1)")
    data = b'{"config": {}}'
    cache = ContentCache(tmp_path)
    cache.put(compute_digest(data), data)
    cache.flush()
    assert ContentCache(tmp_path).get(compute_digest(data)) == data
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("SELECT data FROM blobs").fetchall() == [(data,)]
    notices = take_notices()
    assert len(notices) == 1 and "another regtui version" in notices[0]
    assert take_notices() == []


@pytest.mark.lab
def test_inventory_over_an_old_file_cache_gives_one_notice(lab: Lab, tmp_path: Path) -> None:
    cache_home = tmp_path / "cache"
    _old_tree(cache_home / "regtui")
    env = {"XDG_CACHE_HOME": str(cache_home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    first = run_cli("inventory", "--registry", lab.url, "--repository", "app", env=env)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    lines = [line for line in first.stderr.splitlines() if "no longer read" in line]
    assert len(lines) == 1 and "blobs" in lines[0]
    assert first.stdout.strip(), "the walk still printed its records"
    second = run_cli("inventory", "--registry", lab.url, "--repository", "app", env=env)
    assert second.returncode == 0 and "no longer read" not in second.stderr


def test_a_locked_cache_is_not_called_damaged_nor_deleted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holding the file (or a directory this user cannot write) is no sign
    of damage: the cache is not deleted, and the one line says it could not be opened."""
    from regtui.registry import cache as cache_module

    data = b'{"kept": true}'
    first = ContentCache(tmp_path / "a")
    first.put(compute_digest(data), data)
    first.flush()
    source = tmp_path / "a" / DB_NAME
    target = tmp_path / "b" / DB_NAME
    target.parent.mkdir()
    with sqlite3.connect(source) as src, sqlite3.connect(target) as copy:
        src.backup(copy)  # a valid cache file of this version, WAL included
    src.close()
    copy.close()
    take_notices()
    monkeypatch.setattr(cache_module, "OPEN_TIMEOUT", 0.2)
    holder = sqlite3.connect(target, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO tags VALUES ('s', 'r', 't', 'd')")
    try:
        ContentCache(tmp_path / "b")
        notices = take_notices()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(notices) == 1 and "cannot open it" in notices[0], notices
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT data FROM blobs").fetchall() == [(data,)]
