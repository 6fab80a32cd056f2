"""Shared test set-up. The lab fixtures come from `tests/lab_fixtures.py` (the real binaries)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from regtui.registry.cache import take_notices
from tests.lab_fixtures import *  # noqa: F403  (fixtures: lab, htpasswd_lab, token_lab ...)

REQUIRE_LAB = bool(os.environ.get("REGTUI_REQUIRE_LAB") or os.environ.get("CI"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a lab test that skips (a missing binary, say) is a failure, loudly."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_LAB and report.skipped and item.get_closest_marker("lab") is not None:
        report.outcome = "failed"
        report.longrepr = f"lab test skipped in CI, which is not allowed: {report.longrepr}"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's config, docker login, cache or audit log."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_STATE_HOME", "state"), ("DOCKER_CONFIG", "docker"),
                     ("XDG_RUNTIME_DIR", "runtime")):
        path = Path(home, sub)
        path.mkdir()
        monkeypatch.setenv(var, str(path))
    take_notices()  # a notice another test left queued would print in this test's CLI run
    for var in ("REGTUI_CONFIG", "REGTUI_READ_ONLY", "REGTUI_CACHE_DIR", "REGTUI_STATE_DIR",
                "NO_COLOR", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(var, raising=False)
