"""Type-ahead through a real pty: a burst written at once after `/` or `:` lands in the bar.

The app runs as a process on a pseudo-terminal with Textual's own driver, over the real lab;
`tests/ui/pty_app.py` reports what it shows. Each burst is ONE write to the pty, so the
driver reads `/` and the keys after it together, before the bar could have been drawn:
that is how a paste or a slow SSH link delivers them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from regtui.lab import Lab
from tests.ui.terminal import PtyApp

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
State = dict[str, Any]


@pytest.fixture
def dashboard(lab: Lab, tmp_path: Path) -> Iterator[tuple[PtyApp, Callable[[], State]]]:
    config = tmp_path / "config.toml"
    config.write_text(lab.regtui_config_toml(), encoding="utf-8")
    state_file = tmp_path / "state.json"
    env = {**os.environ, "TERM": "xterm-256color", "REGTUI_CACHE_DIR": str(tmp_path / "cache"),
           "REGTUI_STATE_DIR": str(tmp_path / "state"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    env.pop("NO_COLOR", None)
    app = PtyApp([sys.executable, "-m", "tests.ui.pty_app", str(config), str(state_file)],
                 env=env, size=(120, 40), cwd=str(ROOT))

    def read() -> State:
        try:
            return dict(json.loads(state_file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    try:
        yield app, read
    finally:
        app.close()


def wait_for(app: PtyApp, read: Callable[[], State], condition: Callable[[State], bool],
             what: str, seconds: float = 60) -> State:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = read()
        if shown and condition(shown):
            return shown
        time.sleep(0.05)
    raise AssertionError(f"never {what}; last state: {read()}; the app wrote (end): "
                         f"{bytes(app.output[-1500:])!r}")


def leaves(shown: State) -> list[str]:
    """The repositories the repositories pane lists (not the namespace rows above them)."""
    return sorted(key for key in shown["tables"].get("repos", []) if not key.startswith("ns:"))


def test_bursts_after_slash_and_colon_land_in_the_bars(
        dashboard: tuple[PtyApp, Callable[[], State]]) -> None:
    app, read = dashboard
    wait_for(app, read, lambda s: bool(s.get("loaded")) and s["stack"] == ["FleetScreen"],
             "showed the fleet with the lab loaded")
    app.write(b"\r")  # Enter: open the lab
    shown = wait_for(app, read, lambda s: s["stack"] == ["FleetScreen", "RegistryScreen"]
                     and s["focused"] == "repos" and len(s["tables"].get("repos", [])) > 1,
                     "opened the lab")
    names = shown["names"]
    expected = [name for name in names if "img-11" in name]
    assert expected, "the lab's catalog has no repository to find with img-11"

    app.write(b"/img-11")  # one write: `/` and six keys, `g` and `i` among them
    shown = wait_for(app, read, lambda s: s["bars"].get("filter-bar") == "img-11"
                     and leaves(s) == sorted(expected),
                     "put the whole burst in the filter bar and filtered by it", seconds=15)
    assert shown["focused"] == "filter-bar"
    app.write(b"\r")
    wait_for(app, read, lambda s: s["focused"] == "repos", "closed the filter bar")
    tree = read()["tree_mode"]

    # `l` (logs), `t` (tree), `e`, `r` (refresh), `a` are all keys of this screen
    app.write(b":lab/team-a/releases\r")
    shown = wait_for(app, read, lambda s: s["repository"] == "team-a/releases",
                     "jumped to team-a/releases", seconds=15)
    time.sleep(0.5)  # anything a stray hotkey started would show by now
    shown = read()
    assert shown["stack"] == ["FleetScreen", "RegistryScreen"], shown["stack"]
    assert (shown["registry"], shown["repository"]) == ("lab", "team-a/releases")
    assert shown["tree_mode"] == tree, "`t` ran as a hotkey"
    shown = wait_for(app, read, lambda s: "latest" in s["tables"].get("tags", []),
                     "showed team-a/releases' tags")
    assert shown["repository"] == "team-a/releases" and len(shown["stack"]) == 2
    assert "no registry or repository" not in shown["error"]
