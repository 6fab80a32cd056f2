"""Headless `regtui delete | retention | gc`: previews by default, changes only when told.

Without `--yes` / `--apply` they print the preview and change nothing. In read-only mode a
command that would change something exits 3 with one line, after auditing the refusal.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from regtui.config import Config, RegistryConfig, adhoc_registry
from regtui.errors import UsageError
from regtui.registry.cache import is_digest
from regtui.render.plan import outcome_count, plan_lines
from regtui.services.audit import AuditLog
from regtui.services.gc import GcProgress, GcRun
from regtui.services.impact import DeletePlan, Target
from regtui.services.inventory import open_registry
from regtui.services.operations import DeleteResult, OperationsService
from regtui.services.retention import RetentionPolicy, compile_pattern, parse_duration
from regtui.text import safe_text

PROG = "regtui"


def add_operation_parsers(commands: argparse._SubParsersAction[Any],
                          add_globals: object) -> None:
    """Register the three subcommands; `add_globals(parser)` adds the global options."""
    assert callable(add_globals)
    delete = commands.add_parser("delete", help="delete tags safely (preview unless --yes)")
    add_globals(delete)
    delete.add_argument("references", nargs="+", metavar="REGISTRY/REPO:TAG",
                        help="tags (REPO:TAG), manifests (REPO@sha256:...) or, with --all-tags, "
                             "repositories; the REGISTRY/ prefix may be left out with --registry")
    delete.add_argument("--all-tags", action="store_true",
                        help="delete every tag of the named repositories")
    delete.add_argument("--dry-run", action="store_true", help="only print the preview")
    delete.add_argument("--yes", action="store_true", help="delete without asking")

    retention = commands.add_parser("retention", help="apply a retention policy (dry run "
                                                      "unless --apply)")
    add_globals(retention)
    retention.add_argument("--keep-last", type=int, metavar="N")
    retention.add_argument("--older-than", metavar="AGE", help="e.g. 30d, 12h, 2w")
    retention.add_argument("--match", metavar="REGEX", help="only tags matching this")
    retention.add_argument("--protect", metavar="REGEX", help="never delete tags matching this")
    retention.add_argument("--repository", action="append", metavar="NAME",
                           help="only this repository (repeatable)")
    retention.add_argument("--apply", action="store_true", help="delete what the policy selects")

    gc = commands.add_parser("gc", help="garbage collection (dry run unless --yes)")
    add_globals(gc)
    gc.add_argument("--dry-run", action="store_true", help="only the dry run")
    gc.add_argument("--delete-untagged", action="store_true",
                    help="also delete untagged manifests (refused while indexes exist: "
                         "distribution 2.x would delete their children)")
    gc.add_argument("--yes", action="store_true", help="collect after the dry run without asking")


@dataclass(frozen=True)
class Session:
    config: Config
    registry: RegistryConfig
    read_only: bool

    def operations(self) -> OperationsService:
        inventory = open_registry(self.registry, self.config, read_only=self.read_only)
        audit = AuditLog(self.config.state_dir / "audit.jsonl")
        return OperationsService(inventory, self.registry, read_only=self.read_only, audit=audit)


def session_for(config: Config, wanted: str | None, read_only_flag: bool | None,
                references: Sequence[str] = (), *,
                insecure: bool = False) -> tuple[Session, list[str]]:
    """Find the registry from `--registry` or the references' prefix; strip that prefix."""
    registry = _match_registry(config, wanted, references, insecure)
    prefixes = {f"{registry.name}/", f"{registry.host}/", f"{registry.url}/"}
    stripped = []
    for reference in references:
        for prefix in sorted(prefixes, key=len, reverse=True):
            if reference.startswith(prefix):
                reference = reference[len(prefix):]
                break
        stripped.append(reference)
    read_only = config.effective_read_only(registry, read_only_flag)
    return Session(config, registry, read_only), stripped


def select_registries(config: Config, wanted: str | None,
                      insecure: bool = False) -> list[RegistryConfig]:
    """`--registry` names a configured entry or is a URL (configured or ad hoc)."""
    if wanted:
        found = config.find(wanted)
        if found is not None:
            return [found]
        if "://" in wanted or "." in wanted or ":" in wanted or wanted == "localhost":
            return [adhoc_registry(wanted, insecure=insecure)]
        known = ", ".join(r.name for r in config.registries) or "none configured"
        raise UsageError(f"--registry {wanted!r} is neither a configured registry ({known}) "
                         "nor a URL")
    if not config.registries:
        where = config.path or "the config file"
        raise UsageError(f"no registry to read: pass --registry URL or add [[registries]] to "
                         f"{where}")
    return list(config.registries)


def _match_registry(config: Config, wanted: str | None, references: Sequence[str],
                    insecure: bool) -> RegistryConfig:
    if wanted:
        return select_registries(config, wanted, insecure)[0]
    for registry in config.registries:
        if references and all(r.startswith((f"{registry.name}/", f"{registry.host}/"))
                              for r in references):
            return registry
    if len(config.registries) == 1 and not references:
        return config.registries[0]
    raise UsageError("which registry? pass --registry NAME_OR_URL or prefix every reference "
                     "with a configured registry name (REGISTRY/REPO:TAG)")


def parse_target(reference: str) -> Target:
    """`repo:tag` or `repo@sha256:...`; the tag is what follows the last `:` after the last `/`."""
    if "@" in reference:
        repository, _, digest = reference.partition("@")
        if not is_digest(digest) or not repository:
            raise UsageError(f"{reference!r}: expected REPO@sha256:<64 hex digits>")
        return Target(repository, digest=digest)
    head, slash, last = reference.rpartition("/")
    name, colon, tag = last.partition(":")
    if not colon or not tag or not name:
        raise UsageError(f"{reference!r}: expected REPO:TAG (or REPO@DIGEST)")
    return Target(f"{head}{slash}{name}", tag=tag)


def print_plan(plan: DeletePlan, out: TextIO) -> None:
    """The impact preview, as the operator reads it before saying yes."""
    out.write("\n".join(plan_lines(plan, full_digest=True, limit=None)) + "\n")


def _summary(results: Sequence[DeleteResult], out: TextIO) -> int:
    failed = [r for r in results if not r.ok]
    for result in results:
        out.write(f"{safe_text(str(result.target), 300)}: {safe_text(result.outcome, 1000)}\n")
    out.write(outcome_count(results) + "\n")
    return 1 if failed else 0


async def run_delete(args: argparse.Namespace, config: Config) -> int:
    session, references = session_for(config, args.registry, args.read_only, args.references,
                                       insecure=bool(args.insecure))
    ops = session.operations()
    try:
        targets = await _targets(ops, references, all_tags=args.all_tags)
        plan = await ops.plan(targets)
        print_plan(plan, sys.stdout)
        if plan.problems:
            return 1
        if args.dry_run or not args.yes:
            if not args.dry_run:
                print(f"{PROG}: preview only; add --yes to delete", file=sys.stderr)
            return 0
        command = shlex.join([PROG, "delete", *args.references, "--yes"])
        return _summary(await ops.delete(plan, assume_yes=True, command=command), sys.stdout)
    finally:
        await ops.inventory.aclose()


async def _targets(ops: OperationsService, references: Sequence[str], *,
                   all_tags: bool) -> list[Target]:
    if not all_tags:
        return [parse_target(r) for r in references]
    return await ops.repository_targets(references)


async def run_retention(args: argparse.Namespace, config: Config) -> int:
    policy = RetentionPolicy(
        match=compile_pattern("--match", args.match),
        protect=compile_pattern("--protect", args.protect),
        older_than=parse_duration(args.older_than) if args.older_than else None,
        keep_last=args.keep_last,
    )
    session, _ = session_for(config, args.registry, args.read_only, insecure=bool(args.insecure))
    ops = session.operations()
    try:
        chosen, plan = await ops.retention_plan(policy, repositories=args.repository)
        print_plan(plan, sys.stdout)
        if not args.apply:
            print(f"{PROG}: dry run: {len(chosen)} tags would be deleted; add --apply",
                  file=sys.stderr)
            return 0
        results = await ops.delete(plan, assume_yes=True, command=shlex.join(
            [PROG, "retention", *sys.argv[2:]] if "--apply" in sys.argv else [PROG, "retention"]),
            progress=_stderr_progress)
        return _summary(results, sys.stdout)
    finally:
        await ops.inventory.aclose()


def _stderr_progress(done: int, total: int, line: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r[{done}/{total}] {safe_text(line, 100)}\x1b[K")
        if done == total:
            sys.stderr.write("\n")


async def run_gc(args: argparse.Namespace, config: Config) -> int:
    session, _ = session_for(config, args.registry, args.read_only, insecure=bool(args.insecure))
    ops = session.operations()
    try:
        ops.gc_runner()  # a registry without [registries.gc] is an error before anything else
        dry = await ops.collect_garbage(dry_run=True, delete_untagged=args.delete_untagged,
                                        on_line=_print_gc_line)
        _print_gc_result(dry)
        if dry.exit_code != 0:
            return 1
        if args.dry_run or not args.yes:
            if not args.dry_run:
                print(f"{PROG}: dry run only; add --yes to collect", file=sys.stderr)
            return 0
        real = await ops.collect_garbage(dry_run=False, delete_untagged=args.delete_untagged,
                                         on_line=_print_gc_line)
        _print_gc_result(real)
        return 0 if real.exit_code == 0 else 1
    finally:
        await ops.inventory.aclose()


def _print_gc_line(line: str, progress: GcProgress) -> None:
    print(safe_text(line, 4000), flush=True)


def _print_gc_result(run: GcRun) -> None:
    freed = run.bytes_freed
    extra = f"; storage {run.bytes_before} -> {run.bytes_after} bytes" if freed is not None else ""
    print(f"{PROG}: garbage-collect ({run.mode}) exited {run.exit_code}{extra}", file=sys.stderr)
