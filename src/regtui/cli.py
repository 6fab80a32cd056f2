"""`regtui` entry point: the TUI by default, headless subcommands for scripts and on-call.

Global options are accepted before or after the subcommand, as operators type them either way.
Every failure an operator can cause ends as one line on stderr and an exit status:
0 success, 1 a registry could not be read, 2 usage or config error, 3 refused by read-only mode,
4 `scans --fail-on` reached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from regtui import __version__
from regtui.cli_ops import (
    add_operation_parsers,
    run_delete,
    run_gc,
    run_retention,
    select_registries,
)
from regtui.cli_scans import add_scan_parsers, run_scan, run_scans
from regtui.cli_storage import add_storage_parser, run_storage
from regtui.config import Config, RegistryConfig, load_config
from regtui.errors import RegtuiError, UsageError
from regtui.registry.cache import take_notices
from regtui.services.export import CONFIG_FIELDS, FIELDS, FORMATS, parse_fields, write_records
from regtui.services.inventory import InventoryService, open_registry
from regtui.services.snapshot import SnapshotError, SnapshotWriter
from regtui.services.snapshot_walk import WalkRecorder, print_cached

PROG = "regtui"
OPERATIONS = {"delete": run_delete, "retention": run_retention, "gc": run_gc,
              "storage": run_storage, "scans": run_scans, "scan": run_scan}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors become our one-line UsageError (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{PROG} --help`)")


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Same options on the main parser and on every subcommand; subcommands never reset them."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--registry", metavar="NAME_OR_URL", default=default,
                        help="a configured registry's name, or any registry URL")
    parser.add_argument("--config", metavar="PATH", type=Path, default=default,
                        help="config file (default: $REGTUI_CONFIG or "
                             "$XDG_CONFIG_HOME/regtui/config.toml)")
    parser.add_argument("--insecure", action="store_const", const=True, default=default,
                        help="with --registry URL: allow plain HTTP / unverified TLS to it")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--read-only", dest="read_only", action="store_const", const=True,
                      default=default, help="on-call mode: nothing can be changed")
    mode.add_argument("--write", dest="read_only", action="store_const", const=False,
                      default=default, help="allow changes for this session, whatever the config")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="A terminal dashboard for container registries.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    inventory = commands.add_parser("inventory", help="print one record per tag (headless)")
    _add_global_options(inventory, suppress=True)
    inventory.add_argument("--format", choices=FORMATS, default="jsonl")
    inventory.add_argument("--repository", action="append", metavar="NAME",
                           help="only this repository (repeatable)")
    inventory.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                           help="progress bar on stderr (auto: when stderr is a terminal)")
    inventory.add_argument("--fields", metavar="LIST",
                           help="comma-separated fields to print, in that order (default: "
                                f"{','.join(FIELDS)}); image configs are fetched only for "
                                "created or platforms, and only a walk of every field "
                                "updates the snapshot")
    inventory.add_argument("--cached", action="store_true",
                           help="print the last snapshot (written by every walk) without "
                                "contacting the registry")

    add_operation_parsers(commands, lambda p: _add_global_options(p, suppress=True))
    add_storage_parser(commands, lambda p: _add_global_options(p, suppress=True))
    add_scan_parsers(commands, lambda p: _add_global_options(p, suppress=True))

    demo = commands.add_parser("demo", help="start the demo lab and open the app on it")
    _add_global_options(demo, suppress=True)
    demo.add_argument("--dataset", choices=("minimal", "default", "large"), default="default")
    demo.add_argument("--auth", choices=("none", "htpasswd", "token"), default="none")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except RegtuiError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `regtui inventory | head`: the reader has what it wanted; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return _run_demo(args)
    config = load_config(args.config)
    if args.command == "inventory":
        return asyncio.run(_inventory(args, config))
    if args.command in OPERATIONS:
        return asyncio.run(OPERATIONS[args.command](args, config))
    return _run_app(config, args)


async def _inventory(args: argparse.Namespace, config: Config) -> int:
    try:
        args.fields = parse_fields(args.fields)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    registries = select_registries(config, args.registry, bool(args.insecure))
    if args.cached:
        return await _inventory_cached(registries, args, config)
    read_only = True  # inventory only reads, whatever the mode
    show_progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    status = 0
    for registry in registries:
        service = open_registry(registry, config, read_only=read_only)
        for notice in take_notices():
            print(f"{PROG}: {notice}", file=sys.stderr)
        service.configs = bool(CONFIG_FIELDS & set(args.fields))
        whole = args.fields == FIELDS or set(args.fields) == set(FIELDS)
        writer = SnapshotWriter.for_registry(config.cache_dir, registry.url) if whole else None
        try:
            status = max(status, await _inventory_one(service, args, show_progress, writer))
        finally:
            if writer is not None:
                writer.close()
                for line in (writer.notice, writer.failed and f"{writer.failed}; not updated"):
                    if line:
                        print(f"{PROG}: {line}", file=sys.stderr)
            await service.aclose()
    return status


async def _inventory_cached(registries: Sequence[RegistryConfig], args: argparse.Namespace,
                            config: Config) -> int:
    """`inventory --cached`: the snapshot's records, same formats, no request sent."""
    status = 0
    for registry in registries:
        try:
            count, note = await print_cached(registry, config.cache_dir, args.format,
                                             args.repository, sys.stdout, args.fields)
        except SnapshotError as error:
            print(f"{PROG}: {error}", file=sys.stderr)
            status = 1
            continue
        print(f"{PROG}: registry {registry.name}: {count} records {note}", file=sys.stderr)
        if "incomplete" in note:
            status = 1
    return status


async def _inventory_one(service: InventoryService, args: argparse.Namespace,
                         show_progress: bool, writer: SnapshotWriter | None) -> int:
    progress = _Progress(service.name) if show_progress else None
    await service.ping()
    recorder = WalkRecorder(service, writer, args.repository)
    names = await recorder.names()
    records = recorder.records(service.walk(
        names, on_repository=progress.update if progress else None, on_done=recorder.done,
        listed=recorder.full))
    count = await write_records(records, args.format, sys.stdout, args.fields)
    recorder.finish()
    if progress:
        progress.finish()
    for problem in service.problems:
        print(f"{PROG}: {problem.message}", file=sys.stderr)
    if service.problems:
        print(f"{PROG}: registry {service.name}: {len(service.problems)} repositories or tags "
              f"could not be read; {count} records written", file=sys.stderr)
        return 1
    return 0


class _Progress:
    """A one-line progress bar on stderr, redrawn in place."""

    def __init__(self, name: str) -> None:
        self.name = name

    def update(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.name} [{bar}] {done}/{total} repositories")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def _run_app(config: Config, args: argparse.Namespace) -> int:
    from regtui.ui.app import run_app

    if args.registry:
        chosen = select_registries(config, args.registry, bool(args.insecure))
        known = [r for r in config.registries if r not in chosen]
        config = _with_registries(config, [*chosen, *known])
    return run_app(config, read_only=args.read_only)


def _with_registries(config: Config, registries: list[RegistryConfig]) -> Config:
    from dataclasses import replace

    return replace(config, registries=tuple(registries))


def _run_demo(args: argparse.Namespace) -> int:
    from regtui.lab import start_lab

    print(f"{PROG}: starting the demo lab (docker-registry + prometheus)...", file=sys.stderr)
    with start_lab(dataset=args.dataset, auth=args.auth) as lab:
        config_file = lab.root / "regtui.toml"
        config_file.write_text(lab.regtui_config_toml())
        if lab.password:
            os.environ["REGTUI_LAB_PASSWORD"] = lab.password
        config = load_config(config_file)
        print(f"{PROG}: lab registry at {lab.url}, config {config_file}", file=sys.stderr)
        return _run_app(config, args)
