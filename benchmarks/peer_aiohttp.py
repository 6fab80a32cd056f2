"""The peer: the plain asyncio + aiohttp inventory an operator would write, 8 in flight.

Catalog, tag lists, a GET by tag per tag, the children of an index, each config once. No
digest checks, no cache, no records kept beyond counting: the floor regtui must meet.
Run: `python benchmarks/peer_aiohttp.py URL [--repositories N]`; prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

ACCEPT = ", ".join(["application/vnd.oci.image.index.v1+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.docker.distribution.manifest.v2+json"])


async def inventory(url: str, limit: int, repositories: int | None) -> dict[str, Any]:
    started = time.perf_counter()
    gate = asyncio.Semaphore(limit)
    configs: dict[str, asyncio.Task[Any]] = {}
    requests = 0
    async with aiohttp.ClientSession(url) as session:

        async def get(path: str, accept: str | None = None) -> Any:
            nonlocal requests
            async with gate, session.get(path, headers={"Accept": accept or "*/*"}) as rsp:
                requests += 1
                rsp.raise_for_status()
                return json.loads(await rsp.read())

        async def config(repo: str, digest: str) -> Any:
            if digest not in configs:
                configs[digest] = asyncio.ensure_future(get(f"/v2/{repo}/blobs/{digest}"))
            return await configs[digest]

        async def tag(repo: str, name: str) -> None:
            doc = await get(f"/v2/{repo}/manifests/{name}", ACCEPT)
            images = [doc]
            if "manifests" in doc:
                images = await asyncio.gather(*(get(f"/v2/{repo}/manifests/{m['digest']}",
                                                     ACCEPT) for m in doc["manifests"]))
            for image in images:
                if image.get("config"):
                    await config(repo, image["config"]["digest"])

        names = (await get("/v2/_catalog?n=1000"))["repositories"][:repositories]
        count = 0
        for repo in names:
            tags = (await get(f"/v2/{repo}/tags/list"))["tags"] or []
            await asyncio.gather(*(tag(repo, t) for t in tags))
            count += len(tags)
    seconds = time.perf_counter() - started
    return {"tags": count, "seconds": round(seconds, 3), "requests": requests}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--repositories", type=int, default=None)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()
    result = asyncio.run(inventory(args.url, args.in_flight, args.repositories))
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
