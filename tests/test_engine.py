"""The inventory engine against the real lab: requests per kind, the rate cap, referrer caching.

Counts come from the real registry's access log, expectations from independent raw HTTP
(tests/rawwalk.py style), so neither side can agree with the other by construction.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from regtui.config import RegistryConfig, load_config
from regtui.errors import ConfigError
from regtui.lab import Lab
from regtui.registry.cache import DB_NAME, ContentCache, compute_digest, take_notices
from regtui.registry.factory import open_backend
from regtui.registry.pacing import AdaptiveLimit
from regtui.registry.transport import build_client
from regtui.services.inventory import InventoryService, open_registry
from tests.rawwalk import ACCEPT, IMAGE_CONFIGS, paged
from tests.test_inventory import flush_access_log

ACCESS = re.compile(r'\[(?P<when>[^\]]+)\] "(?P<method>[A-Z]+) (?P<uri>/v2/[^ "]*) HTTP')


def access_lines(lab: Lab, start: int) -> list[tuple[str, str, str]]:
    """(time, method, uri) of every request the registry logged after byte `start`."""
    flush_access_log(lab)
    with lab.log_file.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    return [(m["when"], m["method"], m["uri"]) for m in ACCESS.finditer(text)
            if not m["uri"].startswith("/v2/flush-")]


def kinds(lines: list[tuple[str, str, str]]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for _, method, uri in lines:
        if "/manifests/" in uri:
            ref = uri.rsplit("/manifests/", 1)[1]
            how = "digest" if ref.startswith("sha256:") else "tag"
            counted[f"{method} manifest by {how}"] += 1
        elif "/blobs/" in uri:
            counted[f"{method} blob"] += 1
    return counted


def expected_shape(lab: Lab) -> tuple[int, set[str], set[str]]:
    """(tags, config digests of images, index child digests), by plain HTTP."""
    tags = 0
    configs: set[str] = set()
    children: set[str] = set()
    with httpx.Client(base_url=lab.url, timeout=30) as client:
        for repo in paged(client, "/v2/_catalog", "repositories"):
            for tag in paged(client, f"/v2/{repo}/tags/list", "tags"):
                tags += 1
                doc = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}).json()
                docs = [doc]
                for child in doc.get("manifests") or []:
                    children.add(child["digest"])
                    docs.append(client.get(f"/v2/{repo}/manifests/{child['digest']}",
                                           headers={"Accept": ACCEPT}).json())
                for each in docs:
                    config = each.get("config") or {}
                    if config.get("mediaType") in IMAGE_CONFIGS:
                        configs.add(config["digest"])
    return tags, configs, children


def run_inventory(lab: Lab, cache: Path) -> None:
    env = {"XDG_CACHE_HOME": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(cache.parent),
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "regtui", "inventory", "--registry", lab.url],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr


@pytest.mark.lab
def test_cold_walk_one_get_per_tag_and_warm_walk_head_only(lab: Lab, tmp_path: Path) -> None:
    tags, configs, children = expected_shape(lab)
    cache = tmp_path / "cache"

    start = lab.log_file.stat().st_size
    run_inventory(lab, cache)
    cold_lines = access_lines(lab, start)
    cold = kinds(cold_lines)
    assert cold["GET manifest by tag"] == tags, "one GET by tag per tag, nothing more"
    assert cold["HEAD manifest by tag"] == 0, "no HEAD before a GET on a cold cache"
    by_digest = [u for _, m, u in cold_lines if m == "GET" and "/manifests/sha256:" in u]
    fetched = {u.rsplit("/", 1)[1] for u in by_digest}
    assert len(by_digest) == len(fetched), "a manifest was fetched by digest twice"
    assert fetched <= children, "only index children are fetched by digest"
    blobs = [u.rsplit("/", 1)[1] for _, m, u in cold_lines if m == "GET" and "/blobs/" in u]
    assert sorted(blobs) == sorted(configs), "each image config exactly once, nothing else"

    middle = lab.log_file.stat().st_size
    run_inventory(lab, cache)
    warm = kinds(access_lines(lab, middle))
    assert warm["HEAD manifest by tag"] == tags
    assert warm["GET manifest by tag"] == warm["GET manifest by digest"] == 0
    assert warm["GET blob"] == 0


@pytest.mark.lab
async def test_requests_per_second_cap_holds_against_the_lab(lab: Lab, tmp_path: Path) -> None:
    cap = 80.0
    registry = RegistryConfig(name="lab", url=lab.url, max_requests_per_second=cap)
    config = load_config(None)
    service = open_registry(registry, config, read_only=True)
    start = lab.log_file.stat().st_size
    began = time.monotonic()
    try:
        records = [r async for r in service.walk(["team-a/releases"])]
    finally:
        await service.aclose()
    elapsed = time.monotonic() - began
    lines = access_lines(lab, start)
    assert records and len(lines) >= 3 * cap, "the walk must send enough requests to measure"
    burst = max(1.0, cap / 20)
    assert len(lines) <= cap * elapsed + burst + 1
    per_second = Counter(when for when, _, _ in lines)
    # Log times have one-second resolution and are stamped after the answer: allow the few
    # requests in flight across a second boundary.
    assert max(per_second.values()) <= cap + burst + 4, per_second
    assert len(lines) / elapsed >= cap * 0.5, "the cap, not something else, set the pace"


@pytest.mark.lab
async def test_opening_a_tag_twice_probes_referrers_once(lab: Lab, tmp_path: Path) -> None:
    registry = RegistryConfig(name="lab", url=lab.url)
    backend = open_backend(registry, load_config(None), read_only=True,
                           cache=ContentCache(tmp_path / "cache"))
    service = InventoryService(backend)
    try:
        records = await service.tag_records("app")
        image = next(r for r in records if r.tag == "stable")
        start = lab.log_file.stat().st_size
        first = await service.referrers("app", image.digest)
        probes = access_lines(lab, start)  # waits until the registry logged them
        middle = lab.log_file.stat().st_size
        second = await service.referrers("app", image.digest)
    finally:
        await service.aclose()
    assert first and first == second, "the lab signs app:stable; both answers agree"
    assert probes, "the first opening asks the registry"
    assert access_lines(lab, middle) == [], "the second opening is answered from the cache"
    # The tag list read by the walk spares probes for supplement tags that do not exist.
    status = _statuses(lab, start, middle)
    assert all(code != 404 or "/referrers/" in uri for uri, code in status), status


def _statuses(lab: Lab, start: int, end: int) -> list[tuple[str, int]]:
    with lab.log_file.open("rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode(errors="replace")
    found = re.finditer(r'"[A-Z]+ (/v2/[^ "]*) HTTP/1\.1" (\d{3})', text)
    return [(m[1], int(m[2])) for m in found if not m[1].startswith("/v2/flush-")]


async def test_a_connection_dropped_mid_answer_is_not_a_connect_error(tmp_path: Path) -> None:
    """Over aiohttp too, a change that may have happened is never sent twice."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = build_client(name="t", url=f"http://127.0.0.1:{port}", host=f"127.0.0.1:{port}",
                          read_only=False, retries=3)
    async with server:
        with pytest.raises(httpx.TransportError) as failed:
            response = await client.delete("/v2/app/manifests/sha256:" + "0" * 64)
            await response.aread()
        await client.aclose()
    assert not isinstance(failed.value, httpx.ConnectError | httpx.ConnectTimeout)
    assert len(seen) == 1, "the DELETE was sent once"


async def test_adaptive_limit_grows_while_latency_holds_and_halves_on_429() -> None:
    limit = AdaptiveLimit(4, 10)

    async def wave(seconds: float, status: int) -> None:
        for _ in range(limit.limit):
            await limit.acquire()
        for _ in range(limit.limit):
            limit.release(seconds, status)

    for _ in range(20):
        await wave(0.01, 200)
    assert limit.limit == 10, "grows to the configured cap, never past it"
    await wave(0.01, 429)
    assert limit.limit == 5
    for _ in range(10):
        await wave(0.2, 200)  # twenty times the best latency: a queue is building
    assert limit.limit < 5


async def _simulate_link(limit: AdaptiveLimit, now: list[float], requests: int, rtt: float,
                         capacity: float) -> list[int]:
    """Waves of `limit.limit` requests over a link of round trip `rtt` to a registry serving
    `capacity` requests/s: a request takes the round trip, or its turn in the queue once the
    registry is saturated (Little's law). Returns the limit after each wave."""
    trace, sent = [], 0
    while sent < requests:
        width = limit.limit
        for _ in range(width):
            await limit.acquire()
        latency = max(rtt, width / capacity)
        now[0] += latency
        for _ in range(width):
            limit.release(latency, 200)
        sent += width
        trace.append(limit.limit)
    return trace


async def test_adaptive_limit_reaches_the_knee_of_a_20_ms_link_early_and_stays_near_it() -> None:
    # 2,000 requests/s at 20 ms: the knee is 40 in flight; below it, throughput is lost
    knee = round(2000 * 0.020)
    now = [0.0]
    limit = AdaptiveLimit(8, 256, clock=lambda: now[0])
    trace = await _simulate_link(limit, now, 20000, 0.020, 2000.0)
    reached = next(i for i, value in enumerate(trace) if value >= knee)
    assert sum(trace[:reached]) < 600, f"took {sum(trace[:reached])} requests to reach {knee}"
    assert all(knee <= value <= 2.5 * knee for value in trace[reached + 1:]), trace
    # and on a fast loopback registry (1 ms, 300 requests/s: knee 0.3) it stays small
    small = AdaptiveLimit(8, 256, clock=lambda: now[0])
    assert max(await _simulate_link(small, now, 3000, 0.001, 300.0)) <= 32


def test_max_requests_per_second_and_max_concurrency_are_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[[registries]]\nname = "a"\nurl = "http://127.0.0.1:5000"\n'
                    "max_concurrency = 16\nmax_requests_per_second = 2.5\n")
    [registry] = load_config(good).registries
    assert (registry.max_concurrency, registry.max_requests_per_second) == (16, 2.5)
    for line, message in (("max_requests_per_second = 0", "greater than 0"),
                          ("max_concurrency = 0", "from 1 to 256"),
                          ('max_concurrency = "8"', "expected an integer")):
        bad = tmp_path / "bad.toml"
        bad.write_text(f'[[registries]]\nname = "a"\nurl = "http://127.0.0.1:5000"\n{line}\n')
        with pytest.raises(ConfigError) as failed:
            load_config(bad)
        assert message in str(failed.value) and "bad.toml" in str(failed.value)


def test_cache_writes_land_in_one_sqlite_file_off_the_caller(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path)
    data = b'{"schemaVersion": 2}'
    digest = compute_digest(data)
    cache.put(digest, data)
    cache.remember_tags("http://r", "app", {"1.0": digest})
    assert ContentCache(tmp_path).get(digest) == data, "served before the writer commits"
    cache.flush()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("SELECT data FROM blobs").fetchall() == [(data,)]
        assert db.execute("SELECT tag, digest FROM tags").fetchall() == [("1.0", digest)]
    assert not list(tmp_path.glob("blobs")), "no file per digest any more"
    assert ContentCache(tmp_path).tag_hints("http://r", "app") == {"1.0": digest}


def test_an_unusable_cache_file_costs_speed_not_correctness(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    cache = ContentCache(tmp_path)
    data = b"{}"
    cache.put(compute_digest(data), data)
    cache.remember_tags("http://r", "app", {"x": compute_digest(data)})
    assert cache.get(compute_digest(data)) == data  # from memory
    cache.flush()
    assert [n for n in take_notices() if str(tmp_path / DB_NAME) in n], "the operator is told once"
