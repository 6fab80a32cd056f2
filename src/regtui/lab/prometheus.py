"""A real Prometheus scraping the lab registry's debug `/metrics` every second."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from regtui.lab.process import Child, require_binary, spawn, wait_ready

READY_TIMEOUT = 30.0
JOB = "registry"


def prometheus_config(debug_port: int) -> str:
    """Scrape config as JSON (valid YAML); 1 s so tests see samples within seconds."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": JOB,
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [f"127.0.0.1:{debug_port}"]}],
            }
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def _argv(binary: str, root: Path, port: int) -> list[str]:
    return [
        binary,
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
        "--storage.tsdb.min-block-duration=2h",
        "--log.level=warn",
        "--web.enable-lifecycle",
    ]


def _ready(response: httpx.Response) -> bool:
    return response.status_code == 200


def start_prometheus(root: Path, port: int, debug_port: int) -> Child:
    """Write the config, start Prometheus, and poll `/-/ready`."""
    binary = require_binary("prometheus")
    (root / "prometheus.yml").write_text(prometheus_config(debug_port))
    child = spawn("prometheus", _argv(binary, root, port), root / "prometheus.log")
    wait_ready(child, f"http://127.0.0.1:{port}/-/ready", _ready, READY_TIMEOUT)
    return child
