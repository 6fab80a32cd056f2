"""10,000 repositories: CPU to load the registry screen, and keystrokes while they arrive.

Run: `.venv/bin/python benchmarks/bench_repos_load.py [--repositories 2000 10000]`

Through Textual's pilot (headless, 160x48), an in-memory registry hands out repositories
one at a time (one tag each, in 100 namespaces, tree view), as a walk does:
  * cpu_s: process CPU seconds from opening the registry screen until every repository
    is in the pane (the data itself costs nothing to produce here);
  * keystroke p50/p95: cursor keys in the repositories pane while they keep arriving,
    from the key to the first screen update handed to the terminal after it;
  * pane work: rows built or touched (linear in repositories is the point).
Targets (issue 10): fully loaded in < 10 s of CPU; keystroke p95 < 50 ms while loading.
The network is measured elsewhere (bench_inventory, bench_quiet).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from keytiming import percentiles, time_key, watch_display

from regtui.config import Config, RegistryConfig
from regtui.registry.backend import Capabilities
from regtui.registry.models import (
    ArtifactKind,
    ImageConfig,
    Manifest,
    Referrer,
    RegistryInfo,
    TagRecord,
)
from regtui.text import Untrusted, untrusted
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.widgets.vtable import VirtualTable

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class ManyRepos:
    """`count` repositories, each answering after `delay` seconds (a walk's pace)."""

    flavor = "distribution"
    read_only = True

    def __init__(self, registry: RegistryConfig, count: int, delay: float) -> None:
        self.name, self.url = registry.name, registry.url
        self.names = [f"ns-{i % 100:02d}/repo-{i:05d}" for i in range(count)]
        self.delay = delay

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    async def ping(self) -> RegistryInfo:
        return RegistryInfo(self.url, untrusted("registry/2.0"))

    async def repository_names(self) -> list[Untrusted]:
        return [untrusted(name) for name in self.names]

    async def tag_records(self, repository: str) -> list[TagRecord]:
        await asyncio.sleep(self.delay)
        digest = "sha256:" + f"{abs(hash(repository)):x}".rjust(64, "0")
        return [TagRecord(self.name, untrusted(repository), untrusted("1.0"), digest,
                          untrusted("m"), 1000, (untrusted("linux/amd64"),),
                          NOW - timedelta(days=len(repository) % 30), ArtifactKind.IMAGE,
                          None, ((digest, 1000),))]

    async def tag_names(self, repository: str) -> list[str]:
        return ["1.0"]

    async def manifest(self, repository: str, reference: str) -> Manifest:
        raise NotImplementedError

    async def image_config(self, repository: str, config_digest: str) -> ImageConfig:
        raise NotImplementedError

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        return []

    async def aclose(self) -> None:
        return None


def _app(tmp: str, count: int, delay: float) -> RegtuiApp:
    config = Config(registries=(RegistryConfig("bench", "http://127.0.0.1:5000"),),
                    refresh_interval=3600, cache_dir=Path(tmp), state_dir=Path(tmp))
    return RegtuiApp(config, factory=lambda reg: ManyRepos(reg, count, delay),
                     clock=lambda: NOW)


def _loaded(app: RegtuiApp, count: int) -> bool:
    return len(app.store["bench"].summaries) >= count and not app._drain_posted


async def cpu_to_load(count: int, delay: float, presses: int) -> dict[str, float]:
    with TemporaryDirectory() as tmp:
        app = _app(tmp, count, delay)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            cpu, wall = time.process_time(), time.perf_counter()
            app.open_registry("bench")
            while not _loaded(app, count):
                await pilot.pause(0.01)
            await pilot.pause()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            screen = app.screen
            assert isinstance(screen, RegistryScreen)
            table = screen.query_one("#repos", VirtualTable)
            work, cells = screen.pane.work, table.cells_computed
            shown = watch_display(app)
            control = [  # keys once everything is in: what loading adds is the difference
                await time_key(pilot, shown, "down" if index % 4 < 2 else "up")
                for index in range(presses)]
    return {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "pane_work": work,
            "cells_computed": cells, "drains": app.drains, **percentiles(control, "loaded_")}


async def keys_while_loading(count: int, delay: float, presses: int) -> dict[str, float]:
    with TemporaryDirectory() as tmp:
        app = _app(tmp, count, delay)
        async with app.run_test(size=(160, 48)) as pilot:
            app.open_registry("bench")
            while len(app.store["bench"].summaries) < min(200, count // 10):
                await pilot.pause(0.01)
            shown = watch_display(app)
            latencies = []
            for index in range(presses):
                if len(app.store["bench"].summaries) >= count:
                    break  # only keys pressed while repositories keep arriving count
                latencies.append(await time_key(pilot, shown,
                                                "down" if index % 4 < 2 else "up"))
            arrived = len(app.store["bench"].summaries)
    if len(latencies) < 10:
        raise SystemExit(f"only {len(latencies)} keys before all {count} repositories "
                         "arrived: raise --key-delay")
    return {**percentiles(latencies),
            "presses_while_loading": len(latencies), "arrived_by_last_key": arrived}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, nargs="+", default=[2_000, 10_000])
    parser.add_argument("--delay", type=float, default=0.002,
                        help="seconds each repository takes to arrive (4 in flight)")
    parser.add_argument("--key-delay", type=float, default=0.05,
                        help="the same while keys are pressed: 200 repositories/s arriving, "
                             "a real registry's pace")
    parser.add_argument("--presses", type=int, default=30)
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "repos_load", "load": os.getloadavg()[0]}
    for count in args.repositories:
        loading = asyncio.run(cpu_to_load(count, args.delay, args.presses))
        print(json.dumps({str(count): loading}), file=sys.stderr)
        keys = asyncio.run(keys_while_loading(count, args.key_delay, args.presses))
        results[str(count)] = {**loading, **keys, "targets": {
            "cpu_s < 10": "met" if loading["cpu_s"] < 10 else "MISSED",
            "p95_ms < 50": "met" if keys["p95_ms"] < 50 else "MISSED"}}
    json.dump(results, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
