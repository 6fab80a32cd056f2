"""How the tags pane copes with 100,000 tags in one repository.

Run: `.venv/bin/python benchmarks/bench_tags_table.py [--tags 100000] [--check]`

Measures, through Textual's pilot (headless, 160x48):
  * time to first rows: from opening the repository until its tags are on screen;
  * keystroke-to-screen latency, p50/p95 over 50 filter keystrokes (type and erase);
  * peak RSS of the process.
Targets (the issue): first rows < 1 s, p95 < 50 ms, peak RSS < 300 MB. `--check` exits 1
when a target is missed. The registry is an in-memory service: this measures the UI, not the
network (the inventory benchmark measures that against the lab).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource
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
from regtui.text import Untrusted as U
from regtui.ui.app import RegtuiApp
from regtui.ui.widgets.vtable import VirtualTable

REPOSITORY = "big/repo"
KEYS = ["1", ".", "2", "backspace", "3", "4", "backspace", "backspace", "backspace",
        "backspace", "9", "9", ".", "backspace", "backspace", "backspace"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_records(count: int) -> list[TagRecord]:
    """Version-like tags, every 50th image signed, some sharing a digest."""
    records = []
    for i in range(count):
        digest = "sha256:" + hashlib.sha256(str(i // 2).encode()).hexdigest()
        tag = f"{i // 10000}.{(i // 100) % 100}.{i % 100}"
        records.append(TagRecord("bench", U(REPOSITORY), U(tag), digest, U("m"), 1000 + i * 7,
                                 (U("linux/amd64"), U("linux/arm64")),
                                 NOW - timedelta(minutes=i),
                                 ArtifactKind.IMAGE, None, ((digest, 1000 + i * 7),)))
        if i % 50 == 0:
            sig = "sha256-" + digest.removeprefix("sha256:") + ".sig"
            records.append(TagRecord("bench", U(REPOSITORY), U(sig), digest + "s", U("m"), 500, (),
                                     None, ArtifactKind.SIGNATURE, digest))
    return records


class BenchService:
    """Answers from memory; every method the app may call during the benchmark."""

    flavor = "distribution"
    read_only = True

    def __init__(self, registry: RegistryConfig, records: list[TagRecord]) -> None:
        self.name, self.url, self.records = registry.name, registry.url, records

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    async def ping(self) -> RegistryInfo:
        return RegistryInfo(self.url, U("registry/2.0"))

    async def repository_names(self) -> list[U]:
        return [U(REPOSITORY)]

    async def tag_records(self, repository: str) -> list[TagRecord]:
        return self.records

    async def tag_names(self, repository: str) -> list[str]:
        return sorted({r.tag for r in self.records})

    async def manifest(self, repository: str, reference: str) -> Manifest:
        raise NotImplementedError

    async def image_config(self, repository: str, config_digest: str) -> ImageConfig:
        raise NotImplementedError

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        return []

    async def aclose(self) -> None:
        return None


async def measure(count: int, keystrokes: int) -> dict[str, float]:
    records = make_records(count)
    with TemporaryDirectory() as tmp:
        config = Config(registries=(RegistryConfig("bench", "http://127.0.0.1:5000"),),
                        refresh_interval=3600, cache_dir=Path(tmp), state_dir=Path(tmp))
        app = RegtuiApp(config, factory=lambda reg: BenchService(reg, records))
        start = time.perf_counter()  # cold: app start, fetch, fold, sort and draw
        async with app.run_test(size=(160, 48)) as pilot:
            app.open_registry("bench", REPOSITORY)
            while not _tags_shown(app):
                await pilot.pause(0.001)
            first_rows = time.perf_counter() - start
            shown = watch_display(app)
            applied = _watch_filter(app)
            latencies = []
            await pilot.press("slash")

            def filtered(began: float) -> float:
                assert applied[-1] > began, "the keystroke did not reach the tags filter"
                return applied[-1]

            for index in range(keystrokes):
                await pilot.pause()
                latencies.append(await time_key(pilot, shown, KEYS[index % len(KEYS)],
                                                filtered, settle=True))
            assert app.screen.query_one("#filter-bar").has_focus  # the keys went to the filter
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "tags": len(records),
        "first_rows_s": first_rows,
        **percentiles(latencies),
        "peak_rss_mb": rss_mb,
    }


def _watch_filter(app: RegtuiApp) -> list[float]:
    """Record when the screen finished applying each filter change to the tags table."""
    applied = [0.0]
    screen = app.screen
    apply = screen.apply_filter  # type: ignore[attr-defined]

    def timed(table_id: str, text_filter: Any) -> None:
        apply(table_id, text_filter)
        if table_id == "tags":
            applied.append(time.perf_counter())

    screen.apply_filter = timed  # type: ignore[attr-defined]
    return applied


def _tags_shown(app: RegtuiApp) -> bool:
    try:
        table = app.screen.query_one("#tags", VirtualTable)
    except Exception:  # the registry screen is not mounted yet
        return False
    return len(table.rows) > 0 and any(table.cells_of(row) for row in table.rows[:1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--keystrokes", type=int, default=50)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    result = asyncio.run(measure(args.tags, args.keystrokes))
    targets = {"first_rows_s": 1.0, "p95_ms": 50.0, "peak_rss_mb": 300.0}
    missed = [key for key, limit in targets.items() if result[key] >= limit]
    for key, value in result.items():
        limit = f"  (target < {targets[key]:g})" if key in targets else ""
        print(f"{key:>14}: {value:,.2f}{limit}")
    print("targets missed: " + ", ".join(missed) if missed else "all targets met")
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
