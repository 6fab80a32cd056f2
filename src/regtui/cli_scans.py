"""`regtui scans` (findings per tag, or every tag with one CVE) and `regtui scan` (trigger one).

Exit codes as for `inventory` (1: something could not be read), plus 4 when `--fail-on` is
reached by any tag, for CI and on-call scripts. `regtui scan` waits for the scan to end
(`--timeout`, progress on stderr): 0 when it ended, 1 when it failed or had not ended by then,
3 in read-only mode.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from typing import Any, Final, TextIO

from regtui.cli_ops import parse_target, select_registries, session_for
from regtui.config import Config, RegistryConfig, ScanConfig
from regtui.registry.scan_models import Severity
from regtui.services.inventory import open_registry
from regtui.services.scans import (
    SCAN_WAIT_SECONDS,
    CveHit,
    ScanProgress,
    ScanService,
    ScanWait,
    TagScan,
    Threshold,
    check_cve_id,
    kept_reports_dir,
)
from regtui.text import safe_text

FORMATS: Final = ("jsonl", "json", "csv", "table")
FAIL_EXIT: Final = 4
SCAN_FIELDS: Final = ("registry", "repository", "tag", "digest", "status", "scanner",
                      "scanned_at", "critical", "high", "medium", "low", "unknown", "total",
                      "fixable", "cves", "stale", "error")
CVE_FIELDS: Final = ("registry", "repository", "tag", "digest", "cve", "package",
                     "installed_version", "fixed_version", "severity", "allowlisted")
TABLE_COLUMNS: Final = ("repository", "tag", "status", "critical", "high", "medium", "low",
                        "unknown", "total", "fixable", "scanner", "scanned_at")
CELL_LIMIT: Final = 1000


def add_scan_parsers(commands: argparse._SubParsersAction[Any], add_globals: Any) -> None:
    scans = commands.add_parser("scans", help="vulnerability findings per tag (headless)")
    add_globals(scans)
    scans.add_argument("--format", choices=FORMATS, default="jsonl")
    scans.add_argument("--repository", action="append", metavar="NAME",
                       help="only this repository (repeatable)")
    scans.add_argument("--cve", metavar="CVE-ID",
                       help="one record per affected tag and package instead")
    scans.add_argument("--fail-on", metavar="SEVERITY", type=str.lower,
                       choices=("critical", "high", "medium", "low"),
                       help=f"exit {FAIL_EXIT} when any tag has a finding this severe or worse")
    scan = commands.add_parser("scan", help="trigger a vulnerability scan of one tag "
                                            "(a write action)")
    add_globals(scan)
    scan.add_argument("reference", metavar="[REGISTRY/]REPO:TAG")
    scan.add_argument("--timeout", type=_seconds, default=SCAN_WAIT_SECONDS, metavar="SECONDS",
                      help="wait this long for the scan to end, showing its progress (default "
                           f"{SCAN_WAIT_SECONDS:.0f}; 0: only start it); exit 1 if it fails "
                           "or has not ended by then")


def scan_dict(registry: str, scan: TagScan) -> dict[str, Any]:
    """The stable, documented shape of one `regtui scans` record."""
    report = scan.report
    counts = scan.counts
    scanned = report is not None and report.state.value != "not scanned"
    return {
        "registry": registry, "repository": scan.record.repository, "tag": scan.record.tag,
        "digest": scan.record.digest, "status": scan.state.value,
        "scanner": report.scanner_label if report else None,
        "scanned_at": (report.scanned_at.isoformat().replace("+00:00", "Z")
                       if report and report.scanned_at else None),
        **{name: counts.of(level) if scanned else None for name, level in
           (("critical", Severity.CRITICAL), ("high", Severity.HIGH),
            ("medium", Severity.MEDIUM), ("low", Severity.LOW),
            ("unknown", Severity.UNKNOWN))},
        "total": counts.total if scanned else None,
        "fixable": counts.fixable if scanned else None,
        "cves": counts.distinct_cves if scanned and report and report.has_findings else None,
        "stale": scan.stale,
        "error": scan.error or None,
    }


def hit_dict(registry: str, hit: CveHit) -> dict[str, Any]:
    return {"registry": registry, "repository": hit.repository, "tag": hit.tag,
            "digest": hit.digest, "cve": hit.cve, "package": hit.package,
            "installed_version": hit.installed_version, "fixed_version": hit.fixed_version,
            "severity": hit.severity.name, "allowlisted": hit.allowlisted}


def write(rows: Sequence[dict[str, Any]], fields: Sequence[str], fmt: str, out: TextIO,
          table: Sequence[str]) -> None:
    """Every value a registry or report sent is untrusted: cut and made visible in text forms."""
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row) + "\n")
    elif fmt == "json":
        json.dump(list(rows), out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row[k]) for k in fields})
    else:
        cells = [[_cell(row[c], short=True) for c in table] for row in rows]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(table)]
        for line in [[c.upper() for c in table], *cells]:
            out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                      .rstrip() + "\n")
    out.flush()


def _cell(value: object, short: bool = False) -> str:
    if value is None:
        return "-" if short else ""
    text = str(value)
    if short and text.startswith("sha256:"):
        text = text[:19]
    return safe_text(text, CELL_LIMIT)


async def run_scans(args: argparse.Namespace, config: Config) -> int:
    cve = check_cve_id(args.cve) if args.cve is not None else None  # "" is refused too
    status = 0
    rows: list[dict[str, Any]] = []
    for registry in select_registries(config, args.registry, bool(args.insecure)):
        found, code = await _one_registry(registry, config, args, cve)
        rows.extend(found)
        status = max(status, code)
    if cve is None:
        write(rows, SCAN_FIELDS, args.format, sys.stdout, TABLE_COLUMNS)
    else:
        write(rows, CVE_FIELDS, args.format, sys.stdout,
              ("repository", "tag", "package", "installed_version", "fixed_version",
               "severity"))
    return status


async def _one_registry(registry: RegistryConfig, config: Config, args: argparse.Namespace,
                        cve: str | None) -> tuple[list[dict[str, Any]], int]:
    inventory = open_registry(registry, config, read_only=True)
    service = ScanService(inventory, registry.scans or ScanConfig(),
                          kept_dir=kept_reports_dir(config.state_dir, registry.name))
    try:
        await inventory.ping()
        records = [record async for record in inventory.walk(args.repository)]
        scans = await service.scan_tags(records)
        hits = await service.search_cve(scans, cve) if cve else []
    finally:
        await inventory.aclose()
    for line in [p.message for p in inventory.problems] + service.problems:
        print(f"regtui: {line}", file=sys.stderr)
    failed_reads = [s for s in scans if s.error]
    for scan in failed_reads:
        print(f"regtui: {scan.record.reference}: {scan.error}", file=sys.stderr)
    status = 1 if inventory.problems or failed_reads else 0
    if args.fail_on:
        threshold = Threshold.at_least(Severity.parse(args.fail_on))
        failing = [s for s in scans if s.report is not None and threshold.reached(s.counts)]
        if failing:
            print(f"regtui: registry {registry.name}: {len(failing)} tags reach "
                  f"--fail-on {args.fail_on} (e.g. {failing[0].record.reference})",
                  file=sys.stderr)
            status = FAIL_EXIT
    if cve is not None:
        return [hit_dict(registry.name, h) for h in hits], status
    return [scan_dict(registry.name, s) for s in scans], status


async def run_scan(args: argparse.Namespace, config: Config) -> int:
    wanted = args.registry
    only = config.registries[0] if len(config.registries) == 1 else None
    if not wanted and only is not None and not args.reference.startswith(
            (f"{only.name}/", f"{only.host}/")):
        wanted = only.name  # one registry configured: REPO:TAG needs no prefix
    session, [reference] = session_for(config, wanted, args.read_only, [args.reference],
                                       insecure=bool(args.insecure))
    target = parse_target(reference)
    operations = session.operations()
    wait = ScanWait(seconds=args.timeout, on_progress=_print_progress)
    try:
        outcome = await operations.scan(target.repository, target.tag or target.digest or "",
                                        wait=wait)
    finally:
        await operations.inventory.aclose()
    print(f"regtui: {session.registry.name}/{target}: {outcome}", file=sys.stderr)
    return 0


def _print_progress(progress: ScanProgress) -> None:
    """One line per change of state or percentage: readable in a terminal and in CI logs."""
    print(f"regtui: {safe_text(progress.describe(), 300)}", file=sys.stderr, flush=True)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 to 86400)")
    return value
