"""Nothing outside `regtui.ui` imports Textual (harlequin keeps its core UI-free the same way).

The import-linter contracts in pyproject.toml (`make lint`) also forbid Rich below the UI;
they are static because httpx itself pulls Rich into `sys.modules` (its CLI, when installed).
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import regtui

SKIP = {"regtui.__main__"}  # runs the CLI on import


def non_ui_modules() -> list[str]:
    names = [info.name for info in pkgutil.walk_packages(regtui.__path__, "regtui.")]
    return sorted(n for n in names if not n.startswith("regtui.ui") and n not in SKIP)


def test_the_walk_finds_the_data_layer() -> None:
    modules = non_ui_modules()
    assert "regtui.render.tags" in modules and "regtui.config" in modules
    assert not any(name.startswith("regtui.ui") for name in modules)


def test_no_non_ui_module_imports_textual() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {non_ui_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'textual' "
        "or m.startswith('textual.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_check_would_catch_a_textual_import() -> None:
    """Guard against a check that cannot fail: importing the UI does pull Textual in."""
    script = "import sys, regtui.ui.app; print('textual' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.stdout.strip() == "True", done.stderr
