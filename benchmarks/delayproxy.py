"""A TCP proxy on loopback that delays every chunk by a fixed time each way (a wide-area link).

The kernel here has no netem, so this stands in for the 20 ms round trip an ops host has to
a cloud registry. A faithful link adds latency and nothing else: every chunk read from either
side is written to the other `delay` seconds after it arrived, in order, and chunks of other
connections (or behind it on the same one) are never held back by it.

Two implementations, so a benchmark can show the difference side by side:
- `timed` (default): asyncio protocols; each direction keeps a queue of (due, bytes) and one
  timer that writes everything due when it fires: no task, no `await` per chunk, so a chunk
  costs a few microseconds; `--workers` processes share the port (SO_REUSEPORT), each with
  its own event loop, so the proxy is not one Python thread's worth of CPU.
- `streams`: the first version (StreamReader/Writer, a task per direction and a `sleep` +
  `drain` per chunk), kept to measure against: on a loaded machine it capped throughput.
Run: `python benchmarks/delayproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT [--delay 0.010]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import sys
from collections import deque


class _Direction:
    """One way of one connection: chunks written to `out` `delay` seconds after arrival."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.out: asyncio.Transport | None = None
        self.pending: deque[tuple[float, bytes]] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.eof_due = False

    def push(self, data: bytes) -> None:
        self.pending.append((self.loop.time() + self.delay, data))
        if self.timer is None:
            self.timer = self.loop.call_at(self.pending[0][0], self._flush)

    def push_eof(self) -> None:
        self.push(b"")

    def attach(self, out: asyncio.Transport) -> None:
        """The writing side is connected: what is due already goes out now."""
        self.out = out
        if self.pending and self.timer is None:
            self.timer = self.loop.call_at(self.pending[0][0], self._flush)

    def _flush(self) -> None:
        self.timer = None
        out = self.out
        if out is None:
            return  # not connected yet: `attach` flushes
        now = self.loop.time()
        while self.pending and self.pending[0][0] <= now:
            _, data = self.pending.popleft()
            if out.is_closing():
                continue
            if data:
                out.write(data)
            elif out.can_write_eof():
                out.write_eof()
            else:
                out.close()
        if self.pending:
            self.timer = self.loop.call_at(self.pending[0][0], self._flush)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.pending.clear()


class _End(asyncio.Protocol):
    """One socket of a proxied pair; what it reads goes out of the other end, delayed."""

    def __init__(self, forward: _Direction, backward: _Direction) -> None:
        self.forward = forward  # what this end reads
        self.backward = backward  # what this end writes
        self.transport: asyncio.Transport | None = None
        self.peer: _End | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=1 << 20)
        self.backward.attach(transport)

    def data_received(self, data: bytes) -> None:
        self.forward.push(data)

    def eof_received(self) -> bool:
        self.forward.push_eof()
        return True  # keep the write side open until the delayed EOF reaches the peer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            # deliver what is in flight, then close the other side too
            self.forward.loop.call_later(self.forward.delay + 0.001, peer.transport.close)
        self.backward.cancel()

    # back-pressure: when the other side cannot keep up, stop reading this one
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class _Client(_End):
    """The accepted connection: opens the upstream one and buffers until it is up."""

    def __init__(self, host: str, port: int, delay: float) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(_Direction(loop, delay), _Direction(loop, delay))
        self.host, self.port = host, port
        self.connecting: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(
                lambda: _End(self.backward, self.forward), self.host, self.port)
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        upstream.peer, self.peer = self, upstream
        if self.closed and upstream.transport is not None:
            loop.call_later(self.forward.delay + 0.001, upstream.transport.close)


async def serve_timed(port: int, host: str, target: int, delay: float, reuse: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(host, target, delay), "127.0.0.1", port,
                                      backlog=1024, reuse_port=reuse)
    async with server:
        await server.serve_forever()


# --- the first version, kept for comparison -------------------------------------------------

async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            chunk = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, chunk))
            if not chunk:
                break
        await sender
    except (OSError, asyncio.IncompleteReadError):
        sender.cancel()
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def serve_streams(port: int, host: str, target: int, delay: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(host, target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pump(client_r, server_w, delay), _pump(server_r, client_w, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def _worker(port: int, host: str, target: int, delay: float, reuse: bool,
            parent: int = 0) -> None:
    async def run() -> None:
        watch = asyncio.ensure_future(_watch_parent(parent)) if parent else None
        await serve_timed(port, host, target, delay, reuse)
        if watch is not None:
            watch.cancel()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(run())


async def _watch_parent(parent: int) -> None:
    """A worker whose parent is gone stops too (the parent may be SIGKILLed)."""
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("host")
    parser.add_argument("target", type=int)
    parser.add_argument("--delay", type=float, default=0.010)
    parser.add_argument("--impl", choices=("timed", "streams"), default="timed")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes sharing the port (timed only; SO_REUSEPORT)")
    args = parser.parse_args()
    if args.impl == "streams":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_streams(args.port, args.host, args.target, args.delay))
        return 0
    workers = max(1, args.workers) if hasattr(socket, "SO_REUSEPORT") else 1
    reuse = workers > 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so `finally` stops the workers
    procs = [multiprocessing.Process(target=_worker, daemon=True,
                                     args=(args.port, args.host, args.target, args.delay, reuse,
                                           os.getpid()))
             for _ in range(workers - 1)]
    for proc in procs:
        proc.start()
    try:
        _worker(args.port, args.host, args.target, args.delay, reuse)
    finally:
        for proc in procs:
            proc.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
