"""The real CNCF distribution registry (`docker-registry serve`), configured for the lab.

What distribution 2.8.2 really does, checked against the binary (tests/test_lab.py keeps
the catalog and null-tags facts true):
- `GET /v2/_catalog` without `n` answers at most 100 repositories (sorted) and a
  `Link: </v2/_catalog?last=...&n=100>; rel="next"` header (path only, no host); `n` is
  capped at 1000: `n=1001` answers 400 `PAGINATION_NUMBER_INVALID`; `n=0` answers 200
  `{"repositories": []}` with no `Link`. Clients must follow `Link` until it is absent.
- `GET /v2/<repo>/tags/list` ignores `n` (no paging, no `Link`) and answers the tags in
  storage (directory) order, NOT sorted: sort client-side.
- The tag list of a repository whose every tag was removed (the tagged manifest deleted by
  digest) answers 200 `{"name": ..., "tags": null}`; an unknown repository answers 404
  `NAME_UNKNOWN`.
- `DELETE /v2/<repo>/manifests/<tag>` is refused with 400 `DIGEST_INVALID` (only digests
  can be deleted); deleting a manifest by digest removes every tag that pointed at it.
The config is written as JSON, which is valid YAML, so the lab needs no YAML library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from regtui.lab.process import Child, require_binary, spawn, wait_ready

READY_TIMEOUT = 20.0


@dataclass(frozen=True)
class RegistryAuth:
    """The `auth:` section to switch on; None of these means an open registry."""

    kind: str
    htpasswd_file: Path | None = None
    token_realm: str | None = None
    token_service: str | None = None
    token_issuer: str | None = None
    ca_file: Path | None = None


def _auth_section(auth: RegistryAuth | None) -> dict[str, Any]:
    if auth is None or auth.kind == "none":
        return {}
    if auth.kind == "htpasswd":
        return {"htpasswd": {"realm": "regtui-lab", "path": str(auth.htpasswd_file)}}
    return {
        "token": {
            "realm": auth.token_realm,
            "service": auth.token_service,
            "issuer": auth.token_issuer,
            "rootcertbundle": str(auth.ca_file),
        }
    }


def registry_config(
    storage_dir: Path, port: int, debug_port: int, auth: RegistryAuth | None
) -> dict[str, Any]:
    """The registry's config.yml as a dict: deletes on, JSON logs, metrics on the debug port."""
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "json", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"127.0.0.1:{port}",
            "secret": "regtui-lab-not-a-secret",
            "debug": {
                "addr": f"127.0.0.1:{debug_port}",
                "prometheus": {"enabled": True, "path": "/metrics"},
            },
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
    }
    section = _auth_section(auth)
    if section:
        config["auth"] = section
    return config


def write_config(path: Path, config: dict[str, Any]) -> None:
    path.write_text(json.dumps(config, indent=2) + "\n")


def _answers_v2(response: httpx.Response) -> bool:
    return response.status_code in (200, 401)


def start_registry(config_file: Path, log_file: Path, url: str) -> Child:
    """`docker-registry serve CONFIG`, polled until `/v2/` answers (200, or 401 with auth)."""
    binary = require_binary("docker-registry")
    child = spawn("docker-registry", [binary, "serve", str(config_file)], log_file)
    wait_ready(child, url + "/v2/", _answers_v2, READY_TIMEOUT)
    return child
