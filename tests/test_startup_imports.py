"""Start-up imports only what the first frame needs (issue 10: first frame < 1 s).

The HTTP client stack (aiohttp), the Prometheus client (requests) and YAML are loaded when a
registry client, a metrics query or a GC plan first needs them, after the snapshot is shown.
"""

from __future__ import annotations

import json
import subprocess
import sys

DEFERRED = ("aiohttp", "requests", "urllib3", "prometheus_api_client", "yaml")


def _loaded_after(code: str) -> list[str]:
    script = (f"import json, sys\n{code}\n"
              f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & "
              f"set({DEFERRED!r}))))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_and_the_app_loads_no_client_stack() -> None:
    assert _loaded_after("import regtui.cli, regtui.ui.app") == []


def test_the_check_sees_a_client_being_built() -> None:
    """Guard against a check that cannot fail: building a client does load aiohttp."""
    code = ("from regtui.registry.transport import build_client\n"
            "build_client(name='t', url='http://127.0.0.1:9', host='127.0.0.1:9', read_only=True)")
    assert "aiohttp" in _loaded_after(code)
