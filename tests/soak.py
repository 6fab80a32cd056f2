"""`make soak`: the dashboard refreshing live for 10 minutes against a registry that fails
10 % of requests at random, memory sampled; fails on growth beyond a bound or on a crash.

Not part of `make test` (it takes the time it says). The registry is the real lab registry
behind tests/faultproxy.py; the dashboard is the real app, headless, with its periodic
refreshes made frequent and an operator's `r` every few seconds (which supersedes a walk).

    python -m tests.soak [--seconds 600] [--rate 0.1] [--max-growth-mb 40]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

from regtui.config import load_config
from regtui.errors import RegtuiError
from regtui.lab import start_lab
from regtui.ui.app import RegtuiApp
from tests import faultproxy as fp

PAGE = os.sysconf("SC_PAGE_SIZE")
WARM_UP = 0.2
"""The first fifth of the run fills caches and pools; growth is measured from its end."""


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


@dataclass
class Samples:
    at: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    traced: list[int] = field(default_factory=list)

    def take(self, started: float) -> None:
        gc.collect()
        self.at.append(time.monotonic() - started)
        self.rss.append(rss_bytes())
        self.traced.append(tracemalloc.get_traced_memory()[0])

    def growth_after(self, start: float) -> tuple[int, int]:
        """(rss, traced) growth from the first sample after `start` s to the median of the
        last three (one sample caught mid-walk is not a leak)."""
        first = next(i for i, t in enumerate(self.at) if t >= start)
        tail_rss = sorted(self.rss[-3:])[len(self.rss[-3:]) // 2]
        tail_traced = sorted(self.traced[-3:])[len(self.traced[-3:]) // 2]
        return tail_rss - self.rss[first], tail_traced - self.traced[first]


async def soak(seconds: float, rate: float, every: float,
               dataset: str) -> tuple[Samples, dict[str, int]]:
    counts = {"full": 0, "done": 0, "errors": 0, "requests": 0, "foreign": 0}
    with start_lab(auth="none", dataset=dataset, prometheus=False) as lab, \
            fp.FaultProxy(lab.url, fp.random_failures(rate, random.Random(11))) as proxy, \
            tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "soak.toml"
        path.write_text("refresh_interval = 1\nbackground_refresh_interval = 3\n"
                        f'cache_dir = "{tmp}/cache"\nstate_dir = "{tmp}/state"\n'
                        f'[[registries]]\nname = "lab"\nurl = "{proxy.url}"\n'
                        "timeout = 5\ndeadline = 15\nretries = 2\nrefresh_deadline = 120\n")
        app = RegtuiApp(load_config(path), read_only=True)
        samples = Samples()
        started = time.monotonic()
        async with app.run_test(size=(160, 48)):
            last_full, next_sample = -every, 0.0
            finished: set[object] = set()
            while (elapsed := time.monotonic() - started) < seconds:
                if elapsed - last_full >= every:
                    with app.superseding():  # the operator's `r`
                        app.refresh_registry("lab")
                    counts["full"] += 1
                    last_full = elapsed
                status = app.store["lab"].status
                counts["errors"] += bool(status.error)
                if status.fetched_at is not None:
                    finished.add(status.fetched_at)  # a new value per refresh that finished
                # Anything but a regtui error on the error line is a crash the app survived.
                counts["foreign"] += any(
                    w.error is not None and not isinstance(w.error, RegtuiError)
                    and not isinstance(w.error, asyncio.CancelledError) for w in app.workers)
                if elapsed >= next_sample:
                    counts["requests"] += proxy.drain()  # the harness must not grow either
                    samples.take(started)
                    next_sample = elapsed + 10
                await asyncio.sleep(1)
            samples.take(started)
            counts["done"] = len(finished)
            counts["requests"] += proxy.drain()
    return samples, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--rate", type=float, default=0.10)
    parser.add_argument("--every", type=float, default=45, help="seconds between r presses")
    parser.add_argument("--dataset", default="minimal", choices=("minimal", "default"))
    parser.add_argument("--max-growth-mb", type=float, default=40)
    args = parser.parse_args(argv)
    tracemalloc.start()
    samples, counts = asyncio.run(soak(args.seconds, args.rate, args.every, args.dataset))
    rss, traced = samples.growth_after(args.seconds * WARM_UP)
    mb = 1024 * 1024
    print(f"soak: {args.seconds:.0f} s at {args.rate:.0%} failures, {counts['requests']} "
          f"requests, {counts['full']} operator refreshes, {counts['done']} refreshes "
          f"finished; RSS {samples.rss[0] / mb:.1f} -> "
          f"{samples.rss[-1] / mb:.1f} MB (growth after warm-up {rss / mb:+.1f} MB), traced "
          f"growth {traced / mb:+.1f} MB")
    failures = []
    if counts["foreign"]:
        failures.append("a worker failed with an error that is not a regtui error")
    if not counts["done"]:
        failures.append("no refresh ever finished")
    if counts["requests"] < 100:
        failures.append(f"only {counts['requests']} requests reached the registry")
    if rss > args.max_growth_mb * mb or traced > args.max_growth_mb * mb:
        failures.append(f"memory grew beyond {args.max_growth_mb:g} MB after warm-up")
    for failure in failures:
        print(f"soak: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
