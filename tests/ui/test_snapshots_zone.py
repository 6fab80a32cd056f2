"""Snapshots do not depend on the time zone or the locale: a few scenes that show times (log
times, the error line's clock, ages, chart axes, audit and GC history) are run again in a
pytest subprocess under `TZ=Pacific/Chatham` (UTC+13:45 in summer, a quarter-hour offset no
rounding hides) and `LANG=C`, against the very same stored SVGs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENES = [
    "tests/ui/test_snapshots.py::test_snapshot[fleet-80x24]",
    "tests/ui/test_snapshots.py::test_snapshot[tags-80x24]",
    "tests/ui/test_logs_screen.py::test_logs_screen_snapshot",
    "tests/ui/test_snapshots_screens.py::test_snapshot[error-line-80x24]",
    "tests/ui/test_snapshots_screens.py::test_snapshot[audit-log-80x24]",
    "tests/ui/test_snapshots_screens.py::test_snapshot[gc-history-80x24]",
    "tests/ui/test_snapshots_screens.py::test_logs_snapshot[logs-following-80x24]",
    "tests/ui/test_snapshots_screens.py::test_metrics_snapshot[80x24]",
]
ZONE = "Pacific/Chatham"


def test_the_zone_is_not_utc_here() -> None:
    """The subprocess's zone really is off UTC (else the check below proves nothing)."""
    env = {**os.environ, "TZ": ZONE}
    offset = subprocess.run([sys.executable, "-c", "import time; print(time.timezone)"],
                            env=env, capture_output=True, text=True, check=True).stdout
    assert int(offset) != 0, f"{ZONE} is not known to this machine's tzdata"


@pytest.mark.lab
def test_snapshots_match_under_another_zone_and_the_c_locale(tmp_path: Path) -> None:
    env = {**os.environ, "TZ": ZONE, "LANG": "C", "LC_ALL": "C"}
    env.pop("PYTEST_ADDOPTS", None)
    report = tmp_path / "snapshot_report.html"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--snapshot-report={report}", *SCENES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    tail = "\n".join(run.stdout.splitlines()[-30:])
    assert run.returncode == 0, (
        f"snapshots differ under TZ={ZONE} LANG=C (report: {report}):\n{tail}\n{run.stderr}")
    assert f"{len(SCENES)} passed" in run.stdout, tail
