"""Run every `benchmarks/bench_*.py` in turn and print their JSON lines (`make bench`).

Each script runs with its defaults (bounded: bench_quiet idles 120 s, bench_repos_load
loads 2,000 and 10,000 repositories) and is stopped after `LIMIT` seconds at most.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LIMIT = 1800


def main() -> int:
    status = 0
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"# {script.name}", flush=True)
        try:
            status |= subprocess.run([sys.executable, str(script)], timeout=LIMIT).returncode
        except subprocess.TimeoutExpired:
            print(f"# {script.name}: stopped after {LIMIT} s", flush=True)
            status |= 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
