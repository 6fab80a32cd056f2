"""Inventory speed on the real lab: a cold walk (empty cache) and a warm one (cache filled).

Run: `.venv/bin/python benchmarks/bench_inventory.py [--dataset default|large]`.
Prints one JSON object: records, wall seconds, HTTP requests sent and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from regtui.config import adhoc_registry, load_config
from regtui.lab import start_lab
from regtui.registry.cache import ContentCache
from regtui.registry.factory import open_backend
from regtui.registry.transport import GuardedTransport
from regtui.services.inventory import InventoryService


async def walk(url: str, cache_dir: Path) -> dict[str, Any]:
    registry = adhoc_registry(url)
    cache = ContentCache(cache_dir)
    backend = open_backend(registry, load_config(None), read_only=True, cache=cache)
    service = InventoryService(backend, concurrency=registry.concurrency)
    started = time.perf_counter()
    count = 0
    try:
        async for _ in service.walk():
            count += 1
    finally:
        transport = backend.client._transport
        sent = transport.requests_sent if isinstance(transport, GuardedTransport) else -1
        await service.aclose()
    return {"records": count, "seconds": round(time.perf_counter() - started, 3),
            "requests": sent, "cache_hits": cache.hits}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="default", choices=("minimal", "default", "large"))
    args = parser.parse_args()
    with start_lab(dataset=args.dataset, prometheus=False) as lab, \
            tempfile.TemporaryDirectory() as cache:
        cold = asyncio.run(walk(lab.url, Path(cache)))
        warm = asyncio.run(walk(lab.url, Path(cache)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"benchmark": "inventory", "dataset": args.dataset, "cold": cold, "warm": warm,
               "peak_rss_mb": round(peak_mb, 1)}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
