"""A TCP proxy on loopback that delays every chunk by a fixed time each way (a wide-area link).

The kernel here has no netem, so this stands in for the 20 ms round trip an ops host has to
a cloud registry: each chunk read from either side is written to the other `delay` seconds
later, in order, without holding back the chunks behind it (latency, not a bandwidth cap).
Run: `python benchmarks/delayproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT [--delay 0.010]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
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


async def serve(port: int, host: str, target: int, delay: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(host, target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("host")
    parser.add_argument("target", type=int)
    parser.add_argument("--delay", type=float, default=0.010)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.host, args.target, args.delay))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
