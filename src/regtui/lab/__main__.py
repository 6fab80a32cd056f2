"""`python -m regtui.lab`: start a lab, print where it is, run until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from regtui.errors import RegtuiError
from regtui.lab import AUTH_KINDS, PASSWORD_ENV, Lab, start_lab
from regtui.lab.seed import DATASETS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m regtui.lab", description=__doc__)
    parser.add_argument("--auth", choices=AUTH_KINDS, default="none")
    parser.add_argument("--dataset", choices=list(DATASETS), default="default")
    parser.add_argument("--no-prometheus", action="store_true")
    parser.add_argument("--root", type=Path, default=None, help="lab directory (kept on exit)")
    return parser.parse_args(argv)


def describe(lab: Lab) -> str:
    """What an operator needs to point regtui (or curl) at the lab."""
    lines = [
        f"registry:   {lab.url}",
        f"metrics:    {lab.debug_url}/metrics",
        f"prometheus: {lab.prometheus_url or '(off)'}",
        f"log file:   {lab.log_file}",
        f"config:     {lab.config_file}",
        f"dataset:    {lab.dataset}",
    ]
    if lab.auth != "none":
        lines += [
            f"auth:       {lab.auth}",
            f"username:   {lab.username}",
            f"password:   {lab.password}  (export {PASSWORD_ENV}={lab.password})",
        ]
    if lab.token_url:
        lines.append(f"token url:  {lab.token_url}")
    return "\n".join(lines)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM, so both end in the same orderly teardown."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop.wait(0.5):
        pass


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM while seeding cleans up like Ctrl-C
    try:
        lab = start_lab(
            auth=args.auth, dataset=args.dataset, prometheus=not args.no_prometheus, root=args.root
        )
    except RegtuiError as error:
        print(f"regtui lab: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("regtui lab: interrupted while starting; stopped.", file=sys.stderr)
        return 130
    with lab:
        print(describe(lab), "\n\nregtui config:\n" + lab.regtui_config_toml(), flush=True)
        print("Ctrl-C to stop.", flush=True)
        wait_for_signal()
    print("lab stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
