"""A quiet client: the idle dashboard's load on the registry and the terminal, and start-up.

Run: `.venv/bin/python benchmarks/bench_quiet.py [--seconds 120] [--dataset default]`

Everything runs for real: `regtui` in a pseudo-terminal of 160x48 against the lab's
docker-registry, requests counted in the registry's own access log, bytes counted as they
leave regtui for the terminal.
  * idle: a first run loads the lab and writes the snapshot, then quits; the measured run
    starts from that snapshot, opens the registry screen (one Enter) and is left alone.
    Reported over the whole run and in steady state (after the start-up revalidation).
  * start-up: a snapshot of 100,000 tags (100 repositories of 1,000) for a registry that is
    down; time from exec until the fleet shows the snapshot's tag count (median of 3), next
    to the import floor (`import textual.app, httpx`).
Targets (issue 10): idle < 1 request/s and < 20 kB/min; first frame with data < 1 s.
The issue's idle figure is over 10 minutes on 10,000 tags; `--seconds 600` runs that long.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import regtui
from regtui.lab import Lab, start_lab
from regtui.registry.models import ArtifactKind, TagRecord
from regtui.services.snapshot import (
    SnapshotError,
    SnapshotReader,
    SnapshotStore,
    snapshot_path,
)
from regtui.text import untrusted

COLS, ROWS = 160, 48


class Terminal:
    """`regtui` on a pty: everything it writes is timestamped and kept."""

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(list(args), stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.master = master
        self.chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.chunks.append((time.perf_counter(), data))

    def bytes_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(len(d) for t, d in self.chunks if start <= t < end)

    def first_time_showing(self, text: bytes, timeout: float) -> float | None:
        """Seconds from exec until `text` was first written, or None."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self._lock:
                seen = b"".join(d for _, d in self.chunks)
                if text in seen:
                    at = 0
                    for t, d in self.chunks:
                        at += len(d)
                        if at >= seen.index(text) + len(text):
                            return t - self.started
            time.sleep(0.005)
        return None

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def quit(self) -> None:
        try:
            self.press(b"q")
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGTUI_", "XDG_"))}
    # As installed: byte-compiled. A shell with PYTHONDONTWRITEBYTECODE would otherwise make
    # every start compile regtui's sources (0.4-0.6 s of CPU), which no installed copy does.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    env.update({"TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS),
                "XDG_CACHE_HOME": str(home / "cache"), "XDG_STATE_HOME": str(home / "state"),
                "XDG_CONFIG_HOME": str(home / "config")})
    return env


def _regtui(config: Path) -> list[str]:
    return [sys.executable, "-m", "regtui", "--config", str(config), "--read-only"]


def _access_lines(lab: Lab, start: int, end: int) -> int:
    with lab.log_file.open("rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode(errors="replace")
    return text.count("HTTP/1.1\" ")


def _walked(cache: Path, url: str, timeout: float) -> None:
    """Wait until a walk of `url` has finished into its snapshot."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reader = SnapshotReader.open(cache, url)
        if reader is not None:
            try:
                if reader.summary().complete:
                    return
            except SnapshotError:
                pass  # being created
            finally:
                reader.close()
        time.sleep(0.5)
    raise SystemExit("the warm-up walk never finished")


def idle(seconds: float, dataset: str, prometheus: bool, steady_after: float) -> dict[str, object]:
    with start_lab(dataset=dataset, prometheus=prometheus) as lab, \
            tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        config = home / "regtui.toml"
        config.write_text(lab.regtui_config_toml())
        env = _env(home)
        warm = Terminal(_regtui(config), env)  # loads everything and writes the snapshot
        _walked(home / "cache" / "regtui", lab.url, timeout=900)
        warm.quit()

        log_start = lab.log_file.stat().st_size
        term = Terminal(_regtui(config), env)
        if term.first_time_showing(b"REGISTRY", timeout=60) is None:  # keys before: lost
            raise SystemExit("the dashboard never drew the fleet")
        time.sleep(1.0)
        term.press(b":lab/app\r")  # a repository on screen: the fast tier checks it
        if term.first_time_showing(b"tags", timeout=30) is None:
            raise SystemExit("the jump to lab/app did not show its tags")
        steady = term.started + steady_after
        while time.perf_counter() < steady:
            time.sleep(0.1)
        log_steady = lab.log_file.stat().st_size
        end = term.started + seconds
        while time.perf_counter() < end:
            time.sleep(0.2)
        log_end = lab.log_file.stat().st_size
        term.quit()
        total = _access_lines(lab, log_start, log_end)
        steady_requests = _access_lines(lab, log_steady, log_end)
        steady_s = seconds - steady_after
        steady_bytes = term.bytes_between(steady, end)
        seeded = lab.seeded
        tags = sum(len(t) for t in seeded.tags.values()) if seeded is not None else None
    return {
        "dataset": dataset, "tags": tags, "prometheus": prometheus, "seconds": seconds,
        "requests_total": total, "requests_per_s": round(total / seconds, 3),
        "steady_after_s": steady_after, "steady_requests": steady_requests,
        "steady_requests_per_s": round(steady_requests / steady_s, 3),
        "steady_bytes_per_min": round(steady_bytes / steady_s * 60),
        "bytes_total": term.bytes_between(0, float("inf")),
    }


def _big_snapshot(cache: Path, url: str, repositories: int, tags: int) -> None:
    """A snapshot as a walk of a 100,000-tag registry leaves it (synthetic records)."""
    store = SnapshotStore(snapshot_path(cache, url), url)
    now = datetime.now(UTC)
    names = [f"team-{r % 10}/app-{r:03d}" for r in range(repositories)]
    store.begin_walk(names, now)
    for name in names:
        records = []
        for i in range(tags):
            digest = f"sha256:{(hash((name, i // 2)) & (2**256 - 1)):064x}"
            records.append(TagRecord("big", untrusted(name), untrusted(f"1.{i // 100}.{i % 100}"),
                                     digest,
                                     untrusted("application/vnd.oci.image.manifest.v1+json"),
                                     1000 + i, (untrusted("linux/amd64"),),
                                     now - timedelta(minutes=i),
                                     ArtifactKind.IMAGE, None,
                                     ((digest, 1000 + i), (digest[:-4] + "cfg0", 1200))))
        store.put_repository(name, records, now)
    store.finish_walk(now)
    store.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def startup(runs: int) -> dict[str, object]:
    url = "http://127.0.0.1:9"  # nothing listens: only the snapshot can show anything
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        _big_snapshot(home / "cache" / "regtui", url, 100, 1000)
        config = home / "regtui.toml"
        config.write_text(f'[[registries]]\nname = "big"\nurl = "{url}"\n')
        subprocess.run([sys.executable, "-m", "compileall", "-q",
                        str(Path(regtui.__file__).parent)], env=_env(home), check=True,
                       stdout=subprocess.DEVNULL)
        times: list[float] = []
        cpu: list[float] = []  # the process's CPU to the first frame: less load-bound than wall
        for _ in range(runs):
            term = Terminal(_regtui(config), _env(home))
            shown = term.first_time_showing(b"100,000", timeout=30)
            cpu.append(_cpu_seconds(term.proc.pid))
            term.quit()
            if shown is None:
                raise SystemExit("the fleet never showed the snapshot's 100,000 tags")
            times.append(shown)
        began = time.perf_counter()  # the part start-up adds for the snapshot, in-process
        reader = SnapshotReader.open(home / "cache" / "regtui", url)
        assert reader is not None
        summary = reader.summary()
        reader.close()
        read_s = time.perf_counter() - began
        assert sum(r.tag_count or 0 for r in summary.repositories) == 100_000
        floor = []
        for _ in range(runs):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import textual.app, httpx"], check=True,
                           env=_env(home))
            floor.append(time.perf_counter() - began)
        imports = []  # what importing regtui's app costs on top, same conditions
        for _ in range(runs):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import regtui.cli, regtui.ui.app"],
                           check=True, env=_env(home))
            imports.append(time.perf_counter() - began)
    return {"tags": 100_000, "first_frame_with_data_s": round(statistics.median(times), 3),
            "runs_s": [round(t, 3) for t in times],
            "cpu_to_first_frame_s": round(statistics.median(cpu), 3),
            "import_floor_s": round(statistics.median(floor), 3),
            "import_regtui_app_s": round(statistics.median(imports), 3),
            "snapshot_summary_read_s": round(read_s, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--steady-after", type=float, default=20.0)
    parser.add_argument("--dataset", default="default", choices=("minimal", "default", "large"))
    parser.add_argument("--prometheus", action="store_true",
                        help="give regtui the lab's Prometheus (the write-counter signal)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--startup-only", action="store_true",
                        help="only the first-frame figure (with the import floor), JSON")
    args = parser.parse_args()
    if args.startup_only:
        json.dump({"benchmark": "quiet startup", "load": os.getloadavg(),
                   "startup": startup(args.runs)}, sys.stdout)
        print()
        return 0
    result = {"benchmark": "quiet",
              "load": os.getloadavg()[0],
              "startup": startup(args.runs),
              "idle": idle(args.seconds, args.dataset, args.prometheus, args.steady_after)}
    checks = {
        "first_frame_with_data_s < 1": result["startup"]["first_frame_with_data_s"] < 1,  # type: ignore[index]
        "idle requests/s < 1": result["idle"]["requests_per_s"] < 1,  # type: ignore[index]
        "idle steady bytes/min < 20000": result["idle"]["steady_bytes_per_min"] < 20_000,  # type: ignore[index]
    }
    result["targets"] = {name: "met" if ok else "MISSED" for name, ok in checks.items()}
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
