"""The inventory engine at the registry's limit (issue 10), side by side in one run.

On a real `docker-registry` serving 10,000 tags in 100 repositories (benchmarks/bigfixture.py),
in turn, `--rounds` times (medians reported):
- regtui cold and warm inventory (aiohttp under httpx, the shipped stack), and cold on the
  alternatives under the same httpx API: httpx's own httpcore, the `httpx-aiohttp` package;
- the peer: benchmarks/peer_aiohttp.py, plain asyncio + aiohttp, 8 in flight;
- the registry's capacity at the minimum request mix (`wrk`, a Lua script cycling through the
  exact requests a cold walk needs) and for HEAD (`hey`);
- through benchmarks/delayproxy.py (10 ms per chunk each way): regtui cold on a subset, a
  `skopeo inspect --raw` loop, and `wrk` at the mix;
- a cProfile of a cold walk per inner transport, summarised by where the time goes.
Results: JSON on stdout and benchmarks/results.md. Run: `python benchmarks/bench_engine.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bigfixture import ACCEPT, Fixture, write_fixture  # noqa: E402

from regtui.lab.process import Child, free_port, spawn  # noqa: E402
from regtui.lab.registry import registry_config, start_registry, write_config  # noqa: E402

WRK_LUA = """
local reqs = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local method, path = line:match("(%S+) (%S+)")
    reqs[#reqs + 1] = wrk.format(method, path, {["Accept"] = args[2]})
  end
  i = math.random(#reqs)
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
"""
INNERS = ("aiohttp", "httpcore", "httpx-aiohttp")
TARGET_SHARE = 0.85


# -- the regtui child: one walk in a fresh process ------------------------------------------

def _install_inner(kind: str) -> None:
    """Benchmark-only: put another transport under the same httpx client and pacing."""
    from regtui.registry import transport

    if kind in ("aiohttp", "httpcore"):
        real = transport.inner_transport

        def chosen(_: str, **kw: Any) -> Any:
            return real(kind, **kw)
    else:
        import httpx
        from httpx_aiohttp import AiohttpTransport

        def chosen(_: str, **kw: Any) -> Any:
            return AiohttpTransport(verify=kw["verify"], limits=httpx.Limits(
                max_connections=kw["connections"]))
    transport.inner_transport = chosen  # type: ignore[assignment]


async def _walk(url: str, cache: Path, repositories: int | None) -> dict[str, Any]:
    from regtui.config import adhoc_registry, load_config
    from regtui.registry.cache import ContentCache
    from regtui.registry.factory import open_backend
    from regtui.registry.transport import RegistryClient
    from regtui.services.inventory import InventoryService

    registry = adhoc_registry(url)
    store = ContentCache(cache)
    backend = open_backend(registry, load_config(None), read_only=True, cache=store)
    service = InventoryService(backend, concurrency=registry.concurrency,
                               max_concurrency=registry.max_concurrency)
    started = time.perf_counter()
    names = None
    if repositories is not None:
        names = (await service.repository_names())[:repositories]
    count = 0
    try:
        async for _ in service.walk(names):
            count += 1
    finally:
        client = service.backend.client
        sent = client.requests_sent if isinstance(client, RegistryClient) else -1
        limit = client.pacing.limit.limit if isinstance(client, RegistryClient) and \
            client.pacing else -1
        await service.aclose()
    seconds = time.perf_counter() - started
    store.flush()
    return {"tags": count, "seconds": round(seconds, 3), "requests": sent,
            "final_limit": limit, "problems": len(service.problems)}


async def _walk_before(url: str, cache: Path, repositories: int | None) -> dict[str, Any]:
    """The same walk on an older regtui tree (`--before-ref`), through its own API."""
    from regtui.config import adhoc_registry, load_config
    from regtui.registry.cache import ContentCache
    from regtui.registry.factory import open_backend
    from regtui.services.inventory import InventoryService

    registry = adhoc_registry(url)
    backend = open_backend(registry, load_config(None), read_only=True, cache=ContentCache(cache))
    service = InventoryService(backend, concurrency=registry.concurrency)
    started = time.perf_counter()
    names = (await service.repository_names())[:repositories] if repositories else None
    count = 0
    try:
        async for _ in service.walk(names):
            count += 1
    finally:
        sent = getattr(backend.client._transport, "requests_sent", -1)
        await service.aclose()
    return {"tags": count, "seconds": round(time.perf_counter() - started, 3),
            "requests": sent, "final_limit": registry.concurrency,
            "problems": len(service.problems)}


def child_main(args: argparse.Namespace) -> int:
    if args.inner == "before":
        result = asyncio.run(_walk_before(args.url, Path(args.cache), args.repositories or None))
        json.dump(result, sys.stdout)
        print()
        return 0
    _install_inner(args.inner)
    repositories = args.repositories or None
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        result = asyncio.run(_walk(args.url, Path(args.cache), repositories))
        profiler.disable()
        result["profile"] = _headline(pstats.Stats(profiler))
    else:
        result = asyncio.run(_walk(args.url, Path(args.cache), repositories))
    json.dump(result, sys.stdout)
    print()
    return 0


PACKAGES = (("httpcore", "httpcore/h11/anyio"), ("h11", "httpcore/h11/anyio"),
            ("anyio", "httpcore/h11/anyio"), ("aiohttp", "aiohttp"), ("yarl", "aiohttp"),
            ("multidict", "aiohttp"), ("httpx_aiohttp", "aiohttp"), ("httpx", "httpx"),
            ("asyncio", "event loop"), ("selectors", "event loop"), ("sqlite3", "cache"),
            ("registry/cache", "cache"), ("json", "json"), ("hashlib", "digests"),
            ("regtui", "regtui"))


def _bucket(filename: str, function: str) -> str:
    if filename == "~":
        if "sha256" in function or "hashlib" in function:
            return "digests"
        if "select" in function or "epoll" in function:
            return "event loop (waiting)"
        if "_socket" in function:
            return "socket syscalls"
        if "json" in function:
            return "json"
        return "builtins"
    for needle, name in PACKAGES:
        if f"/{needle}/" in filename or f"/{needle}." in filename:
            return name
    return "other"


def _headline(stats: pstats.Stats) -> dict[str, float]:
    """Share of own time (tottime) per package, largest first."""
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, _, tottime, _, _) in raw.items():
        key = _bucket(filename, function)
        totals[key] = totals.get(key, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    return {k: round(100 * v / whole, 1) for k, v in sorted(totals.items(),
                                                            key=lambda kv: -kv[1])}


# -- the parent: fixture, registry, contenders in turn --------------------------------------

def _run_json(argv: list[str], timeout: float = 600,
              first_path: str | None = None) -> dict[str, Any]:
    path = ([first_path] if first_path else []) + sys.path
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(path)})
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed: {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


BEFORE_SRC: list[str] = []
"""The `src` of the `--before-ref` tree, when one was asked for."""


def regtui(url: str, cache: Path, inner: str = "aiohttp", repositories: int = 0,
           profile: bool = False) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", "--url", url, "--cache", str(cache),
            "--inner", inner, "--repositories", str(repositories)]
    first = BEFORE_SRC[0] if inner == "before" and BEFORE_SRC else None
    return _run_json(argv + (["--profile"] if profile else []), first_path=first)


def peer(url: str, repositories: int | None = None) -> dict[str, Any]:
    argv = [sys.executable, str(HERE / "peer_aiohttp.py"), url]
    return _run_json(argv + (["--repositories", str(repositories)] if repositories else []))


def wrk(url: str, requests_file: Path, lua: Path, seconds: int, connections: int) -> float:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(lua),
                          url, "--", str(requests_file), ACCEPT],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if found is None or errors is not None:
        raise SystemExit(f"wrk did not measure cleanly: {out[-400:]}")
    return float(found.group(1))


def hey_head(url: str, seconds: int, connections: int) -> float:
    out = subprocess.run(["hey", "-m", "HEAD", "-z", f"{seconds}s", "-c", str(connections),
                          "-H", f"Accept: {ACCEPT}", url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None or "[200]" not in out:
        raise SystemExit(f"hey did not measure cleanly: {out[-400:]}")
    return float(found.group(1))


def skopeo_loop(host: str, refs: list[str]) -> float:
    started = time.perf_counter()
    for ref in refs:
        subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                        f"docker://{host}/{ref}"], check=True, capture_output=True, timeout=60)
    return len(refs) / (time.perf_counter() - started)


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def rate(result: dict[str, Any]) -> float:
    return float(result["tags"]) / float(result["seconds"])


class Runner:
    """Holds the fixture, the registry and the samples of every contender."""

    def __init__(self, work: Path, fixture: Fixture, url: str, walk: int) -> None:
        self.work = work
        self.fixture = fixture
        self.url = url
        self.walk = walk
        self.quick = False
        self.samples: dict[str, list[float]] = {}
        self.extra: dict[str, Any] = {}
        self.mix = work / "mix.txt"
        walked = sorted(fixture.tags)[:walk]  # the catalog's order: what every contender reads
        pairs = fixture.minimum_requests(walked)
        self.mix.write_text("".join(f"{m} {p}\n" for m, p in pairs))
        self.tags_walked = sum(len(fixture.tags[r]) for r in walked)
        self.per_tag = len(pairs) / self.tags_walked
        self.lua = work / "mix.lua"
        self.lua.write_text(WRK_LUA)

    def add(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(value)

    def timed(self, label: str, run: Callable[[], None]) -> None:
        started = time.perf_counter()
        run()
        print(f"  {label}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def loopback_round(runner: Runner, n: int, subset: int) -> None:
    url, work = runner.url, runner.work
    cache = work / f"cache-{n}"

    def cold_and_warm() -> None:
        cold = regtui(url, cache, repositories=runner.walk)
        warm = regtui(url, cache, repositories=runner.walk)
        runner.add("regtui cold", rate(cold))
        runner.add("regtui warm", rate(warm))
        runner.extra.setdefault("regtui cold runs", []).append(cold)
        runner.extra.setdefault("regtui warm runs", []).append(warm)

    runner.timed(f"round {n}: regtui cold + warm", cold_and_warm)
    if BEFORE_SRC:
        def before() -> None:
            old = work / f"before-{n}"
            runner.add("regtui before (--before-ref) cold",
                       rate(regtui(url, old, "before", runner.walk)))
            runner.add("regtui before (--before-ref) warm",
                       rate(regtui(url, old, "before", runner.walk)))
            shutil.rmtree(old, ignore_errors=True)
        runner.timed(f"round {n}: regtui before cold + warm", before)
    if runner.quick:
        shutil.rmtree(cache, ignore_errors=True)
        return
    runner.timed(f"round {n}: peer", lambda: runner.add("peer aiohttp 8",
                                                           rate(peer(url, runner.walk))))
    runner.timed(f"round {n}: wrk mix", lambda: runner.add(
        "capacity (wrk, mix)", wrk(url, runner.mix, runner.lua, 6, 16) / runner.per_tag))
    repo, tags = next(iter(runner.fixture.tags.items()))
    head_url = f"{url}/v2/{repo}/manifests/{next(iter(tags))}"
    runner.timed(f"round {n}: hey HEAD", lambda: runner.add(
        "capacity (hey, HEAD)", hey_head(head_url, 5, 16)))
    for inner in INNERS:
        def one(inner: str = inner) -> None:
            result = regtui(url, work / f"cache-{n}-{inner}", inner, subset)
            runner.add(f"regtui cold {subset} repos, {inner}", rate(result))
            runner.add(f"wall ms per request, {inner}",
                       1000 * float(result["seconds"]) / float(result["requests"]))
        runner.timed(f"round {n}: transport {inner}", one)
        shutil.rmtree(work / f"cache-{n}-{inner}", ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)


def wide_round(runner: Runner, n: int, proxy_url: str, subset: int, skopeo_tags: int,
               old_proxy_url: str | None = None) -> None:
    """Through the delay proxy: regtui, a skopeo loop and wrk (and wrk through the old proxy)."""
    work = runner.work
    cache = work / f"wan-cache-{n}"

    def walk() -> None:
        result = regtui(proxy_url, cache, "aiohttp", subset)
        runner.add(f"WAN regtui cold {subset} repos", rate(result))
        runner.extra.setdefault("WAN final in-flight limit", []).append(result["final_limit"])
    runner.timed(f"round {n}: WAN regtui", walk)
    shutil.rmtree(cache, ignore_errors=True)
    refs = [f"{repo}:{tag}" for repo, tags in runner.fixture.tags.items() for tag in tags]
    runner.timed(f"round {n}: WAN skopeo", lambda: runner.add(
        "WAN skopeo inspect --raw loop", skopeo_loop(proxy_url.split("//")[1],
                                                     refs[:skopeo_tags])))
    runner.timed(f"round {n}: WAN wrk", lambda: runner.add(
        "WAN capacity (wrk, mix, 64 conn)",
        wrk(proxy_url, runner.mix, runner.lua, 5, 64) / runner.per_tag))
    if old_proxy_url:
        runner.timed(f"round {n}: WAN wrk, old proxy", lambda: runner.add(
            "WAN capacity through the old streams proxy (wrk, mix, 64 conn)",
            wrk(old_proxy_url, runner.mix, runner.lua, 5, 64) / runner.per_tag))
        old_cache = work / f"wan-old-cache-{n}"
        runner.timed(f"round {n}: WAN regtui, old proxy", lambda: runner.add(
            f"WAN regtui cold {subset} repos through the old streams proxy",
            rate(regtui(old_proxy_url, old_cache, "aiohttp", subset))))
        shutil.rmtree(old_cache, ignore_errors=True)
    runner.timed(f"round {n}: loopback wrk", lambda: runner.add(
        "loopback capacity (wrk, mix, 16 conn)",
        wrk(runner.url, runner.mix, runner.lua, 5, 16) / runner.per_tag))


def _proxy(work: Path, url: str, impl: str) -> tuple[Child, str]:
    port = free_port()
    child = spawn(f"delayproxy-{impl}", [sys.executable, str(HERE / "delayproxy.py"), str(port),
                                         "127.0.0.1", url.rsplit(":", 1)[1], "--impl", impl],
                  work / f"proxy-{impl}.log")
    time.sleep(0.5)
    return child, f"http://127.0.0.1:{port}"


def wan_only(runner: Runner, args: argparse.Namespace) -> dict[str, Any]:
    """`--wan-only`: the wide-area figures alone, through the new and the old proxy in turn."""
    new, new_url = _proxy(runner.work, runner.url, "timed")
    old, old_url = _proxy(runner.work, runner.url, "streams")
    try:
        for n in range(args.rounds):
            wide_round(runner, n, new_url, args.wan_subset, args.skopeo_tags, old_url)
    finally:
        new.stop()
        old.stop()
    med = {key: median(values) for key, values in runner.samples.items()}
    ours = med[f"WAN regtui cold {args.wan_subset} repos"]
    return {"rounds": args.rounds, "wan_subset": args.wan_subset,
            "skopeo tags per run": args.skopeo_tags,
            "minimum requests per tag": round(runner.per_tag, 3),
            "load average at end": os.getloadavg()[:3],
            "medians (tags/s)": med,
            "WAN regtui / skopeo loop": round(ours / med["WAN skopeo inspect --raw loop"], 2),
            "WAN regtui / WAN capacity": round(ours / med["WAN capacity (wrk, mix, 64 conn)"], 2),
            "WAN capacity / loopback capacity": round(
                med["WAN capacity (wrk, mix, 64 conn)"]
                / med["loopback capacity (wrk, mix, 16 conn)"], 2),
            "final in-flight limit": runner.extra.get("WAN final in-flight limit"),
            "samples": runner.samples}


def profiles(runner: Runner, subset: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for inner in ("httpcore", "aiohttp"):
        result = regtui(runner.url, runner.work / f"prof-{inner}", inner, subset, profile=True)
        out[inner] = result["profile"]
        shutil.rmtree(runner.work / f"prof-{inner}", ignore_errors=True)
    return out


def _start_registry(work: Path, storage: Path) -> tuple[Child, str]:
    port, debug = free_port(), free_port()
    config = registry_config(storage, port, debug, None)
    write_config(work / "config.yml", config)
    url = f"http://127.0.0.1:{port}"
    return start_registry(work / "config.yml", work / "registry.log", url), url


def parent_main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="regtui-bench-") as tmp:
        work = Path(tmp)
        if args.before_ref:
            tree = work / "before"
            tree.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(HERE.parent), "archive", args.before_ref, "src"],
                check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            BEFORE_SRC.append(str(tree / "src"))
        started = time.perf_counter()
        fixture = write_fixture(work / "storage", repositories=args.repositories,
                                tags=args.tags)
        walk = min(args.walk or args.repositories, args.repositories)
        seed_seconds = time.perf_counter() - started
        print(f"fixture: {fixture.tag_count} tags in {seed_seconds:.1f} s", file=sys.stderr)
        registry, url = _start_registry(work, work / "storage")
        proxy: Child | None = None
        try:
            runner = Runner(work, fixture, url, walk)
            runner.quick = args.quick
            if args.wan_only:
                json.dump(wan_only(runner, args), sys.stdout, indent=1)
                print()
                return 0
            for n in range(args.rounds):
                loopback_round(runner, n, args.subset)
            if args.quick:
                summary = {"fixture": fixture.tag_count, "tags walked": runner.tags_walked,
                           "before_ref": args.before_ref, "rounds": args.rounds,
                           "load average at end": os.getloadavg()[0],
                           "medians (tags/s)": {k: median(v) for k, v in runner.samples.items()},
                           "samples": runner.samples,
                           "regtui runs": runner.extra}
                json.dump(summary, sys.stdout, indent=1)
                print()
                return 0
            proxy, proxy_url = _proxy(work, url, "timed")
            for n in range(args.rounds):
                wide_round(runner, n, proxy_url, args.wan_subset, args.skopeo_tags)
            prof = profiles(runner, args.subset)
        finally:
            if proxy is not None:
                proxy.stop()
            registry.stop()
    summary = _summary(runner, fixture, seed_seconds, prof, args)
    json.dump(summary, sys.stdout, indent=1)
    print()
    _write_results(_markdown(summary))
    return 0


def _summary(runner: Runner, fixture: Fixture, seed_seconds: float, prof: dict[str, Any],
             args: argparse.Namespace) -> dict[str, Any]:
    med = {key: median(values) for key, values in runner.samples.items()}
    colds = runner.extra["regtui cold runs"]
    warms = runner.extra["regtui warm runs"]
    return {
        "fixture": {"tags": fixture.tag_count, "repositories": len(fixture.tags),
                    "distinct configs": len(fixture.configs),
                    "index children": len(fixture.children),
                    "minimum requests per tag": round(runner.per_tag, 3),
                    "tags walked per run": runner.tags_walked,
                    "written in s": round(seed_seconds, 1)},
        "rounds": args.rounds,
        "load average at end": os.getloadavg()[0],
        "medians (tags/s; capacity: requests/s / minimum requests per tag)": med,
        "samples": runner.samples,
        "regtui requests per tag": {"cold": round(colds[0]["requests"] / colds[0]["tags"], 3),
                                    "warm": round(warms[0]["requests"] / warms[0]["tags"], 3)},
        "regtui final in-flight limit": [r["final_limit"] for r in colds],
        "profile (% of own time, cold walk, cProfile)": prof,
        "subset": args.subset, "wan_subset": args.wan_subset,
    }


def _write_results(engine: str) -> None:
    """Replace the engine's part of results.md; the other benchmarks' sections stay."""
    path = HERE / "results.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    rest = old.index("\n# ", 1) if "\n# " in old else len(old)
    path.write_text(engine.rstrip("\n") + "\n" + old[rest:], encoding="utf-8")


def _ratio(med: dict[str, float], a: str, b: str) -> float:
    return round(med[a] / med[b], 2) if med.get(b) else 0.0


def _markdown(summary: dict[str, Any]) -> str:
    med: dict[str, float] = summary["medians (tags/s; capacity: requests/s / minimum requests "
                                    "per tag)"]
    fx = summary["fixture"]
    lines = ["# Inventory engine benchmark (`make bench`, benchmarks/bench_engine.py)", "",
             f"Fixture: {fx['tags']} tags in {fx['repositories']} repositories, "
             f"{fx['distinct configs']} distinct configs, {fx['index children']} index "
             f"children; each contender walks {fx['tags walked per run']} tags per run "
             f"(the first repositories in catalog order); minimum cold mix "
             f"{fx['minimum requests per tag']} requests per tag; "
             f"written straight into the storage layout in {fx['written in s']} s. "
             f"Medians of {summary['rounds']} rounds, contenders in turn; load average at the "
             f"end {summary['load average at end']:.1f} on 2 shared cores.", "",
             "| figure | tags/s (median) |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in med.items()]
    cold, warm = med["regtui cold"], med["regtui warm"]
    checks = [
        ("cold / registry capacity at the mix", _ratio(med, "regtui cold", "capacity (wrk, mix)"),
         TARGET_SHARE),
        ("cold / peer (aiohttp, 8 in flight)", _ratio(med, "regtui cold", "peer aiohttp 8"), 1.0),
        ("warm tags/s / HEAD capacity (requests/s)",
         round(warm / med["capacity (hey, HEAD)"], 2), TARGET_SHARE),
        ("WAN cold / skopeo loop", _ratio(med, f"WAN regtui cold {summary['wan_subset']} repos",
                                          "WAN skopeo inspect --raw loop"), 20.0),
        ("WAN cold / WAN capacity at the mix",
         _ratio(med, f"WAN regtui cold {summary['wan_subset']} repos",
                "WAN capacity (wrk, mix, 64 conn)"), TARGET_SHARE),
    ]
    lines += ["", "| target | measured | wanted | |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {value} | >= {want} | {'met' if value >= want else '**MISSED**'} |"
              for name, value, want in checks]
    lines += ["", f"Requests per tag: cold {summary['regtui requests per tag']['cold']}, warm "
              f"{summary['regtui requests per tag']['warm']} (HEAD only). Cold is {cold} tags/s, "
              f"warm {warm} tags/s. Final adaptive in-flight limit per cold run: "
              f"{summary['regtui final in-flight limit']}.", "",
              "## Where the time goes (cProfile, own time per package, cold walk of "
              f"{summary['subset']} repositories)", ""]
    for inner, shares in summary["profile (% of own time, cold walk, cProfile)"].items():
        top = ", ".join(f"{k} {v} %" for k, v in list(shares.items())[:8])
        lines.append(f"- {inner}: {top}")
    lines += ["", "All samples:", "", "```json", json.dumps(summary["samples"], indent=1), "```",
              ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", default="")
    parser.add_argument("--cache", default="")
    parser.add_argument("--inner", default="aiohttp", choices=(*INNERS, "before"))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--repositories", type=int, default=100)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--subset", type=int, default=5,
                        help="repositories for the transport comparison and the profile")
    parser.add_argument("--before-ref", default="",
                        help="also walk with the regtui of this git ref (before/after)")
    parser.add_argument("--quick", action="store_true",
                        help="regtui cold/warm (and --before-ref) only; JSON, no results.md")
    parser.add_argument("--walk", type=int, default=0,
                        help="repositories every contender walks (default: all)")
    parser.add_argument("--wan-subset", type=int, default=5)
    parser.add_argument("--wan-only", action="store_true",
                        help="the wide-area figures only, new and old delay proxy; JSON")
    parser.add_argument("--skopeo-tags", type=int, default=10)
    args = parser.parse_args()
    return child_main(args) if args.child else parent_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
