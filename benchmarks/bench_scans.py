"""Scan findings at scale on the real lab: 1,000 tags with reports, one report of 50,000 findings.

Half the tags carry a `trivy referrer put` report (found through the `sha256-<hex>` fallback
tag on distribution 2.8), the other half a Trivy JSON file in a reports directory; one tag's
referrer holds 50,000 findings. Measures the time to the scans pane (every tag's state read
and the pane's rows built, cold and warm), to the registry-wide lines (worst images, widest
CVEs over every finding), to a CVE search result, and to one tag's grouped findings, plus
peak RSS.

Run: `.venv/bin/python benchmarks/bench_scans.py [--tags 1000] [--findings 50000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from regtui.config import ScanConfig, adhoc_registry, load_config
from regtui.lab import start_lab
from regtui.lab.scan_push import Subject, put_trivy_referrer
from regtui.lab.seed import BASE_LAYER, ImageSpec, Seeder, SeedResult
from regtui.registry.cache import ContentCache
from regtui.registry.factory import open_backend
from regtui.render.scans import GroupBy, ScanFilter, finding_rows, overview_text, scan_rows
from regtui.services.inventory import InventoryService
from regtui.services.scans import ScanService, TagScan

REPO = "bench/scans"
LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
NEEDLE = "CVE-2024-3094"


def report(host: str, digest: str, findings: int, seed: int) -> dict[str, Any]:
    """A Trivy schema v2 report; every 7th image has the needle CVE."""
    rng = random.Random(seed)
    vulns = [{"VulnerabilityID": f"CVE-20{20 + n % 5}-{rng.randrange(20000):05d}",
              "PkgName": f"pkg-{n % 400}", "InstalledVersion": f"1.{n % 9}",
              "FixedVersion": "2.0" if n % 3 else "", "Severity": LEVELS[n % 5],
              "Status": "fixed" if n % 3 else "affected", "Title": f"finding {n}",
              "CVSS": {"nvd": {"V3Score": round(rng.uniform(0, 10), 1)}}}
             for n in range(findings)]
    if seed % 7 == 0:
        vulns.append({"VulnerabilityID": NEEDLE, "PkgName": "liblzma5",
                      "InstalledVersion": "5.6.0", "FixedVersion": "5.6.1",
                      "Severity": "CRITICAL", "Status": "fixed"})
    return {"SchemaVersion": 2, "Trivy": {"Version": "0.50.1"},
            "CreatedAt": "2026-11-20T00:00:00Z", "ArtifactName": f"{host}/{REPO}",
            "ArtifactType": "container_image",
            "Metadata": {"RepoDigests": [f"{host}/{REPO}@{digest}"]},
            "Results": [{"Target": "bench (debian 12)", "Class": "os-pkgs", "Type": "debian",
                         "Vulnerabilities": vulns}]}


def predicate(document: dict[str, Any]) -> bytes:
    return json.dumps({"invocation": {}, "scanner": {
        "uri": "pkg:github/aquasecurity/trivy@v0.50.1", "version": "v0.50.1",
        "result": document}, "metadata": {"scanFinishedOn": "2026-11-20T00:01:00Z"}}).encode()


async def seed(base: str, reports: Path, tags: int, findings: int) -> None:
    host = httpx.URL(base).netloc.decode()
    async with httpx.AsyncClient(timeout=120.0) as client:
        seeder = Seeder(client, base, SeedResult("bench"))
        semaphore = asyncio.Semaphore(8)

        async def one(number: int) -> None:
            async with semaphore:
                spec = ImageSpec(layers=(BASE_LAYER, (f"bench:{number}", 256 + number)))
                image = await seeder.image(REPO, [f"t{number:04d}"], spec)
                size = findings if number == 0 else 20 + number % 40
                document = report(host, image.digest, size, number)
                if number % 2 == 0:
                    await put_trivy_referrer(client, base, REPO, Subject(
                        image.media_type, image.digest, image.size), predicate(document))
                else:
                    (reports / f"t{number:04d}.json").write_text(json.dumps(document))

        await asyncio.gather(*(one(n) for n in range(tags)))


async def measure(url: str, reports: Path, cache: Path) -> dict[str, Any]:
    backend = open_backend(adhoc_registry(url), load_config(None), read_only=True,
                           cache=ContentCache(cache))
    inventory = InventoryService(backend)
    service = ScanService(inventory, ScanConfig(reports_dir=reports))
    try:
        records = [r async for r in inventory.walk([REPO])]
        started = time.perf_counter()
        first: list[float] = []
        so_far: list[TagScan] = []

        def arrived(scan: TagScan) -> None:
            so_far.append(scan)
            if len(so_far) == 100:  # what the pane shows first, before the rest is read
                scan_rows(so_far, ScanFilter())
                first.append(time.perf_counter() - started)

        scans = await service.scan_tags(records, arrived)
        rows = scan_rows(scans, ScanFilter())
        cold = time.perf_counter() - started
        started = time.perf_counter()
        overview_text(scans, service.problems, await service.registry_view(scans))
        overview = time.perf_counter() - started
        started = time.perf_counter()
        scans = await service.scan_tags(records)
        rows = scan_rows(scans, ScanFilter())
        warm = time.perf_counter() - started
        started = time.perf_counter()
        hits = await service.search_cve(scans, NEEDLE)
        search = time.perf_counter() - started
        biggest = max(scans, key=lambda s: s.counts.total)
        started = time.perf_counter()
        report_ = await service.full_report(biggest)
        grouped = finding_rows(report_.findings if report_ else (), GroupBy.CVE)
        drill = time.perf_counter() - started
    finally:
        await inventory.aclose()
    return {"tags": len(rows), "scanned": sum(1 for s in scans if s.report is not None),
            "pane_first_100_s": round(first[0], 3) if first else None,
            "pane_cold_s": round(cold, 3), "pane_warm_s": round(warm, 3),
            "overview_s": round(overview, 3),
            "cve_search_s": round(search, 3), "cve_hits": len(hits),
            "largest_report_findings": biggest.counts.total,
            "drill_down_rows": len(grouped), "drill_down_s": round(drill, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--findings", type=int, default=50_000)
    args = parser.parse_args()
    with start_lab(dataset="minimal", prometheus=False) as lab, \
            tempfile.TemporaryDirectory() as scratch:
        reports, cache = Path(scratch, "reports"), Path(scratch, "cache")
        reports.mkdir()
        started = time.perf_counter()
        asyncio.run(seed(lab.url, reports, args.tags, args.findings))
        seeded = time.perf_counter() - started
        result = asyncio.run(measure(lab.url, reports, cache))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"benchmark": "scans", "seed_s": round(seeded, 1), **result,
               "peak_rss_mb": round(peak_mb, 1)}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
