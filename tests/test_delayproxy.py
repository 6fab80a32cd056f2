"""The benchmarks' wide-area link (benchmarks/delayproxy.py) adds latency and caps nothing.

The WAN figures of issue 10 are only as honest as this proxy: each exchange must take one
round trip longer, and concurrent connections must not queue behind each other.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from regtui.lab.process import free_port

PROXY = Path(__file__).resolve().parents[1] / "benchmarks" / "delayproxy.py"
DELAY = 0.1


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
    writer.close()


@pytest.fixture(params=["timed", "streams"])
async def proxied(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    target = server.sockets[0].getsockname()[1]
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(PROXY), str(port), "127.0.0.1", str(target),
                             "--delay", str(DELAY), "--impl", request.param])
    try:
        for _ in range(100):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)
        server.close()


async def _exchange(port: int, payload: bytes) -> tuple[float, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(payload)
    await writer.drain()
    got = await reader.readexactly(len(payload))
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed, got


async def test_one_exchange_takes_a_round_trip(proxied: int) -> None:
    elapsed, got = await _exchange(proxied, b"ping")
    assert got == b"ping"
    assert elapsed >= 2 * DELAY * 0.95


async def test_concurrent_connections_do_not_queue(proxied: int) -> None:
    started = time.perf_counter()
    results = await asyncio.gather(*(_exchange(proxied, b"x%d" % i) for i in range(30)))
    wall = time.perf_counter() - started
    assert [got for _, got in results] == [b"x%d" % i for i in range(30)]
    # serialised, 30 exchanges would take 30 round trips (6 s); in parallel, about one
    assert wall < 8 * 2 * DELAY


async def test_chunks_arrive_in_order(proxied: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxied)
    parts = [bytes([65 + i % 26]) * (1000 + i) for i in range(200)]
    for part in parts:
        writer.write(part)
        await asyncio.sleep(0)
    await writer.drain()
    expected = b"".join(parts)
    got = await reader.readexactly(len(expected))
    writer.close()
    assert got == expected
