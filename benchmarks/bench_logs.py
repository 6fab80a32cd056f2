"""How fast the logs pane opens and filters a big registry log.

    .venv/bin/python benchmarks/bench_logs.py [--size-mb 1024] [--keep PATH]

Generates a log of distribution-style lines (logrus JSON mixed with access lines, 1 in 97
a 5xx), then measures, on the real code paths:
- `last screen (service)`: open + tail-first index + parse the last 50 lines;
- `last screen (TUI)`: `LogsScreen` on a headless App until the last line is on screen;
- `full index`: the background backfill of the rest of the file (line offsets only);
- filters over every line: 5xx, a substring, a regex, level >= error, one repository;
- peak RSS of the process.

Figures on the shared 2-core dev VM (2026-11-23 14:16 UTC, Python 3.11, load average ~2.5
from other engineers' tests, so treat them as upper bounds), 1 GiB, 3.16 million lines:

    last screen (service)        0.01 s
    last screen (TUI)            0.30 s   (headless App until the last line is on screen)
    full index                   1.20 s   (background; the pane is usable meanwhile)
    filter 5xx                   5.11 s   (32,812 matches)
    filter substring             2.75 s   (3,155 matches)
    filter ~regex                3.31 s   (3,155 matches)
    filter level >= error        9.49 s   (32,812 matches; "err" is a weak pre-search)
    filter repository            3.72 s   (37,229 matches)
    peak RSS                      101 MB  (offsets: 8 bytes a line, plus the parsed-line LRU)

Run the script to refresh them; it prints the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from regtui.config import LogSourceConfig
from regtui.services.logs import FileSource, LogQuery, find_matches

BLOCK_LINES = 5000


def _json(n: int) -> str:
    status = 503 if n % 97 == 0 else 404 if n % 31 == 0 else 200
    level = "error" if status >= 500 else "info"
    repo = f"team-{n % 17}/service-{n % 5}"
    return (
        f'{{"go.version":"go1.19.8","http.request.host":"registry.example:5000",'
        f'"http.request.id":"{n:08x}-0305-4c83-a14f-76c8fb404d7d","http.request.method":"GET",'
        f'"http.request.remoteaddr":"10.0.{n % 250}.7:43604","http.request.uri":'
        f'"/v2/{repo}/manifests/v{n % 1000}","http.request.useragent":"containerd/1.7",'
        f'"http.response.duration":"{n % 50 + 1}.{n % 997:03d}ms","http.response.status":{status},'
        f'"level":"{level}","msg":"response completed","time":"2026-11-23T13:{n // 60 % 60:02d}:'
        f'{n % 60:02d}.{n % 1000:03d}Z","vars.name":"{repo}","vars.reference":"v{n % 1000}"}}'
    )


def _access(n: int) -> str:
    status = 503 if n % 97 == 0 else 200
    return (f'10.0.{n % 250}.7 - - [23/Nov/2026:13:{n // 60 % 60:02d}:{n % 60:02d} +0000] '
            f'"GET /v2/team-{n % 17}/service-{n % 5}/blobs/sha256:{n:064x} HTTP/1.1" {status} '
            f'{n % 9000} "" "containerd/1.7"')


def generate(path: Path, size_mb: int) -> int:
    """Write about `size_mb` MiB; returns the number of lines."""
    block = "".join((_json(n) if n % 2 else _access(n)) + "\n" for n in range(BLOCK_LINES))
    data = block.encode()
    repeats = max(1, size_mb * 1024 * 1024 // len(data))
    with open(path, "wb") as out:
        for _ in range(repeats):
            out.write(data)
        out.write((_json(424242).replace("team-", "the-end-") + "\n").encode())
    return repeats * BLOCK_LINES + 1


def timed(label: str, results: list[tuple[str, float, str]], func: object, *args: object,
          note: str = "") -> object:
    started = time.perf_counter()
    value = func(*args)  # type: ignore[operator]
    results.append((label, time.perf_counter() - started, note))
    return value


def last_screen_service(path: Path) -> FileSource:
    source = FileSource("bench", path)
    source.poll()
    count = len(source.index)
    last = source.index.records(max(0, count - 50), count)
    assert "the-end-" in last[-1].repository, last[-1]
    return source


def last_screen_tui(path: Path) -> float:
    from textual.app import App

    from regtui.ui.screens.logs import LogsScreen
    from regtui.ui.widgets.log_view import LogView

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(LogsScreen([LogSourceConfig(type="file", path=path)],
                                        poll_interval=0.02))

    async def run() -> float:
        app = Host()
        started = time.perf_counter()
        async with app.run_test(size=(160, 50)) as pilot:
            while True:
                await pilot.pause(0.01)
                views = app.screen.query(LogView)
                if views and any("the-end-" in line for line in views.first().visible_text()):
                    return time.perf_counter() - started

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--keep", type=Path, help="write the log here and keep it")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="regtui-bench-logs-"))
    path = args.keep or work / "registry.log"
    started = time.perf_counter()
    lines = generate(path, args.size_mb)
    print(f"generated {path.stat().st_size / 2**20:,.0f} MiB, {lines:,} lines "
          f"in {time.perf_counter() - started:.1f}s")
    results: list[tuple[str, float, str]] = []
    source = timed("last screen (service)", results, last_screen_service, path)
    assert isinstance(source, FileSource)
    results.append(("last screen (TUI)", last_screen_tui(path), ""))
    timed("full index", results, source.backfill, lambda: False, lambda done: None)
    results[-1] = (*results[-1][:2], f"{len(source.index):,} lines")
    assert len(source.index) == lines
    queries = {
        "filter 5xx": LogQuery(status_classes=frozenset({5})),
        "filter substring": LogQuery(text="service-3/manifests/v77"),
        "filter ~regex": LogQuery(text="~service-3/manifests/v7[0-9]\\b"),
        "filter level >= error": LogQuery(min_level="error"),
        "filter repository": LogQuery(repository="team-3/service-3"),
    }
    for label, query in queries.items():
        found = timed(label, results, find_matches, source.index, query)
        results[-1] = (label, results[-1][1], f"{len(found):,} matches")  # type: ignore[arg-type]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source.close()
    for label, seconds, note in results:
        print(f"{label:28} {seconds:8.2f} s  {note}")
    print(f"{'peak RSS':28} {rss:8.0f} MB")
    if args.keep is None:
        path.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
