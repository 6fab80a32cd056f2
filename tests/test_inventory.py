"""`regtui inventory` against the real lab registry, checked against an independent raw walk."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from regtui.lab import Lab
from tests.rawwalk import paged, raw_inventory

pytestmark = pytest.mark.lab


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "regtui", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@pytest.fixture(scope="module")
def inventory_lines(lab: Lab) -> list[dict[str, Any]]:
    result = run_cli("inventory", "--registry", lab.url, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def expected(lab: Lab) -> dict[tuple[str, str], dict[str, Any]]:
    return raw_inventory(lab.url)


def test_inventory_matches_raw_walk_record_by_record(
        inventory_lines: list[dict[str, Any]],
        expected: dict[tuple[str, str], dict[str, Any]]) -> None:
    got = {(r["repository"], r["tag"]): r for r in inventory_lines}
    assert len(got) == len(inventory_lines), "a tag was reported twice"
    assert set(got) == set(expected)
    for key, want in expected.items():
        record = got[key]
        assert record["digest"] == want["digest"], key
        assert record["size_bytes"] == want["size_bytes"], key
        assert record["platforms"] == want["platforms"], key
        assert record["artifact_kind"] == want["artifact_kind"], key
        assert _when(record["created"]) == _when(want["created"]), key


def test_inventory_reaches_past_the_first_catalog_page(
        inventory_lines: list[dict[str, Any]]) -> None:
    repositories = {r["repository"] for r in inventory_lines}
    assert len(repositories) > 100


def test_every_record_has_the_documented_fields(inventory_lines: list[dict[str, Any]]) -> None:
    fields = {"registry", "repository", "tag", "digest", "media_type", "size_bytes",
              "platforms", "created", "artifact_kind"}
    kinds = {"image", "index", "signature", "attestation", "sbom", "artifact"}
    for record in inventory_lines:
        assert fields <= set(record)
        assert record["artifact_kind"] in kinds
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", record["digest"])


def test_null_tags_repository_is_read_without_error(lab: Lab,
                                                    inventory_lines: list[dict[str, Any]]) -> None:
    import httpx

    with httpx.Client(base_url=lab.url) as client:
        catalog = paged(client, "/v2/_catalog", "repositories")
        null_repos = [r for r in catalog
                      if client.get(f"/v2/{r}/tags/list").json().get("tags") is None]
    assert null_repos, "the lab must seed a repository whose tag list is null"
    reported = {r["repository"] for r in inventory_lines}
    assert not set(null_repos) & reported


def test_multi_arch_index_lists_child_platforms(inventory_lines: list[dict[str, Any]]) -> None:
    indexes = [r for r in inventory_lines if r["artifact_kind"] == "index"]
    assert indexes
    assert any(len(r["platforms"]) >= 2 for r in indexes)
    for record in indexes:
        assert all(not p.startswith("unknown/") for p in record["platforms"])


def test_supplements_point_at_their_subject(inventory_lines: list[dict[str, Any]]) -> None:
    by_digest = {r["digest"] for r in inventory_lines}
    supplements = [r for r in inventory_lines
                   if r["artifact_kind"] in ("signature", "attestation", "sbom")]
    assert {r["artifact_kind"] for r in supplements} >= {"signature", "sbom"}
    for record in supplements:
        assert record["subject_digest"] in by_digest, record


def test_formats_agree(lab: Lab, inventory_lines: list[dict[str, Any]]) -> None:
    repo = inventory_lines[0]["repository"]
    as_json = run_cli("inventory", "--registry", lab.url, "--repository", repo, "--format", "json")
    as_csv = run_cli("inventory", "--registry", lab.url, "--repository", repo, "--format", "csv")
    as_table = run_cli("--registry", lab.url, "inventory", "--repository", repo,
                       "--format", "table")
    assert as_json.returncode == as_csv.returncode == as_table.returncode == 0
    want = sorted(r["tag"] for r in inventory_lines if r["repository"] == repo)
    assert sorted(r["tag"] for r in json.loads(as_json.stdout)) == want
    csv_rows = as_csv.stdout.strip().splitlines()
    assert csv_rows[0].startswith("registry,repository,tag,digest")
    assert len(csv_rows) == len(want) + 1
    assert len(as_table.stdout.strip().splitlines()) == len(want) + 1


def access_log_manifest_gets(log_file: Path, start: int) -> int:
    with log_file.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    return len(re.findall(r'"GET /v2/[^ "]+/manifests/[^ "]+ HTTP', text))


def test_second_inventory_downloads_no_manifest_again(lab: Lab, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    start = lab.log_file.stat().st_size
    first = run_cli("inventory", "--registry", lab.url, env=env)
    assert first.returncode == 0, first.stderr
    middle = lab.log_file.stat().st_size
    second = run_cli("inventory", "--registry", lab.url, env=env)
    assert second.returncode == 0, second.stderr
    # Repositories are printed as they complete, so only the order may differ.
    assert sorted(first.stdout.splitlines()) == sorted(second.stdout.splitlines())
    flush_access_log(lab)
    assert access_log_manifest_gets(lab.log_file, start) > 0
    # The first walk fetched manifests; the second resolved tags by HEAD and read the cache.
    assert access_log_manifest_gets(lab.log_file, middle) == 0


def flush_access_log(lab: Lab) -> None:
    """The registry logs a request after answering it: wait until a marker request shows."""
    import time
    import uuid

    import httpx

    marker = f"flush-{uuid.uuid4().hex}"
    httpx.get(f"{lab.url}/v2/{marker}/tags/list")
    deadline = time.monotonic() + 10
    while marker not in lab.log_file.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the registry never logged the marker request"
        time.sleep(0.05)


def _blob_gets(log_file: Path, start: int) -> int:
    with log_file.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    return len(re.findall(r'"GET /v2/[^ "]+/blobs/[^ "]+ HTTP', text))


def test_inventory_fields_print_only_those_and_fetch_no_config_for_them(
        lab: Lab, tmp_path: Path, inventory_lines: list[dict[str, Any]]) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    start = lab.log_file.stat().st_size
    narrow = run_cli("inventory", "--registry", lab.url, "--fields", "repository,tag,digest",
                     env=env)
    assert narrow.returncode == 0, narrow.stderr
    flush_access_log(lab)
    middle = lab.log_file.stat().st_size
    assert _blob_gets(lab.log_file, start) == 0, "no config blob for fields that need none"
    rows = [json.loads(line) for line in narrow.stdout.splitlines()]
    assert rows and all(list(row) == ["repository", "tag", "digest"] for row in rows)
    assert sorted((r["repository"], r["tag"], r["digest"]) for r in rows) == sorted(
        (r["repository"], r["tag"], r["digest"]) for r in inventory_lines)
    # asking for `created` needs the configs: they are fetched (the check can fail)
    dated = run_cli("inventory", "--registry", lab.url, "--fields", "tag,created", env=env)
    assert dated.returncode == 0, dated.stderr
    flush_access_log(lab)
    assert _blob_gets(lab.log_file, middle) > 0
    assert any(json.loads(line)["created"] for line in dated.stdout.splitlines())


def test_inventory_unknown_field_is_one_line() -> None:
    result = run_cli("inventory", "--registry", "http://127.0.0.1:9", "--fields", "tag,colour")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "colour" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("given", "said"), [
    ("", "no field named"), (" , ", "no field named"), ("tag,tag", "tag named more than once"),
    ("repository,tag, repository", "repository named more than once"),
    ("tag,colour", "unknown field(s) colour")])
def test_inventory_empty_or_repeated_fields_are_one_line(given: str, said: str) -> None:
    """`--fields ""` (an unset variable in a script) is not every field, and a repeated name
    is most likely a typo for another: both are refused before the registry is asked."""
    result = run_cli("inventory", "--registry", "http://127.0.0.1:9", "--fields", given)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and "--fields" in lines[0], lines
    assert "Traceback" not in result.stderr and result.stdout == ""
