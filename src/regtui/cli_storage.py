"""`regtui storage`: the storage pane's numbers, headless, as JSON, CSV or a table."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict
from typing import Any, TextIO

from regtui.cli_ops import select_registries
from regtui.config import Config
from regtui.render.formats import size
from regtui.services.gc import storage_layout
from regtui.services.inventory import open_registry
from regtui.services.storage import StorageReport, Usage, storage_report
from regtui.text import safe_text


def add_storage_parser(commands: argparse._SubParsersAction[Any], add_globals: Any) -> None:
    storage = commands.add_parser("storage", help="storage usage, each blob counted once")
    add_globals(storage)
    storage.add_argument("--format", choices=("json", "csv", "table"), default="table")
    storage.add_argument("--tags", action="store_true",
                         help="json: include per-tag reclaimable bytes")


async def run_storage(args: argparse.Namespace, config: Config) -> int:
    status = 0
    for registry in select_registries(config, args.registry, bool(args.insecure)):
        inventory = open_registry(registry, config, read_only=True)
        try:
            root, why = storage_layout(registry.gc) if registry.gc else (None, "")
            report = await storage_report(inventory, storage_root=root)
        finally:
            await inventory.aclose()
        {"json": _json, "csv": _csv, "table": _table}[args.format](report, sys.stdout, args.tags)
        for problem in inventory.problems:
            print(f"regtui: {problem.message}", file=sys.stderr)
        if why:  # a note, not a failure: the rest of the report stands
            print(f"regtui: registry {registry.name}: untagged bytes unknown: {why}",
                  file=sys.stderr)
        status = max(status, 1 if inventory.problems else 0)
    return status


def usage_dict(usage: Usage) -> dict[str, Any]:
    return {"name": usage.name, "stored_bytes": usage.stored_bytes,
            "unique_bytes": usage.unique_bytes, "shared_bytes": usage.shared_bytes,
            "tags": usage.tags, "repositories": usage.repositories}


def report_dict(report: StorageReport, with_tags: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "registry": report.registry,
        "stored_bytes": report.total.stored_bytes,
        "untagged_bytes": report.untagged_bytes,
        "repositories": [usage_dict(u) for u in report.repositories],
        "namespaces": [usage_dict(u) for u in report.namespaces],
        "quotas": [{"project": q.project, "used_bytes": q.used_bytes,
                    "limit_bytes": q.limit_bytes} for q in report.quotas],
    }
    if with_tags:
        data["tags"] = [asdict(t) for t in report.tags]
    return data


def _json(report: StorageReport, out: TextIO, with_tags: bool) -> None:
    json.dump(report_dict(report, with_tags), out, indent=2)
    out.write("\n")


def _csv(report: StorageReport, out: TextIO, _: bool) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["registry", "scope", "name", "stored_bytes", "unique_bytes",
                     "shared_bytes", "tags", "repositories"])
    rows = [("registry", report.total), *(("namespace", u) for u in report.namespaces),
            *(("repository", u) for u in report.repositories)]
    for scope, usage in rows:
        writer.writerow([safe_text(report.registry, 200), scope, safe_text(usage.name, 1000),
                         usage.stored_bytes,
                         usage.unique_bytes, usage.shared_bytes, usage.tags,
                         usage.repositories])


def _table(report: StorageReport, out: TextIO, _: bool) -> None:
    untagged = "unknown" if report.untagged_bytes is None else size(report.untagged_bytes)
    out.write(f"{report.registry}: {size(report.total.stored_bytes)} stored in "
              f"{report.total.repositories} repositories, {report.total.tags} tags; "
              f"untagged: {untagged}\n")
    for quota in report.quotas:
        limit = "unlimited" if quota.limit_bytes is None else size(quota.limit_bytes)
        out.write(f"quota {safe_text(quota.project, 40)}: {size(quota.used_bytes)} of {limit}\n")
    out.write(f"{'REPOSITORY':<48} {'STORED':>10} {'UNIQUE':>10} {'SHARED':>10} {'TAGS':>6}\n")
    for usage in report.top("stored_bytes", len(report.repositories)):
        name = safe_text(usage.name, 48)
        out.write(f"{name:<48} {size(usage.stored_bytes):>10} {size(usage.unique_bytes):>10} "
                  f"{size(usage.shared_bytes):>10} {usage.tags:>6}\n")
