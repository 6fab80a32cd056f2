"""The real lab: a CNCF distribution registry and Prometheus on loopback, seeded.

Integration tests and `regtui demo` run against this instead of mocks. Everything lives in
one temporary directory and dies with the lab: context manager, `stop()`, atexit, and the
kernel's parent-death signal for the case where Python itself is killed.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from regtui.lab.process import Child, LabError, free_port, require_binary
from regtui.lab.prometheus import JOB, start_prometheus
from regtui.lab.push_times import settle_push_times
from regtui.lab.registry import RegistryAuth, registry_config, start_registry, write_config
from regtui.lab.seed import DATASETS, SeedResult, run_seed

if TYPE_CHECKING:
    from regtui.lab.token_server import TokenServer

__all__ = ["AUTH_KINDS", "Lab", "LabError", "start_lab"]

AUTH_KINDS = ("none", "htpasswd", "token")
TOKEN_SERVICE = "regtui-lab"
TOKEN_ISSUER = "regtui-lab-token"
USERNAME = "regtui"
PASSWORD_ENV = "REGTUI_LAB_PASSWORD"
KEEP_ENV = "REGTUI_LAB_KEEP"
"""Set it to keep a temporary lab directory (logs, storage) after `stop()` for debugging."""

_LIVE: dict[int, Lab] = {}


@dataclass(eq=False)
class Lab:
    """A running lab; `stop()` (or leaving the `with` block) tears all of it down."""

    root: Path
    url: str
    debug_url: str
    prometheus_url: str | None
    storage_dir: Path
    log_file: Path
    config_file: Path
    auth: str
    username: str | None
    password: str | None
    token_url: str | None
    ca_file: Path | None
    dataset: str
    seeded: SeedResult | None = None
    owns_root: bool = False
    children: dict[str, Child] = field(default_factory=dict)
    token_server: TokenServer | None = None

    @property
    def pids(self) -> list[int]:
        """Pids of the lab's processes, so a test can check none survive `stop()`."""
        return [child.pid for child in self.children.values()]

    def stop(self) -> None:
        """Stop Prometheus, the registry and the token server; remove a temp root.

        Safe to call twice. The root is kept when the caller gave it, or with REGTUI_LAB_KEEP.
        """
        for name in ("prometheus", "registry"):
            child = self.children.pop(name, None)
            if child is not None:
                child.stop()
        server, self.token_server = self.token_server, None
        if server is not None:
            server.stop()
        _LIVE.pop(id(self), None)
        if self.owns_root and not os.environ.get(KEEP_ENV):
            shutil.rmtree(self.root, ignore_errors=True)

    def restart_registry(self) -> None:
        """Restart on the same storage and config, e.g. after an offline garbage-collect."""
        child = self.children.pop("registry", None)
        if child is not None:
            child.stop()
        self.children["registry"] = start_registry(self.config_file, self.log_file, self.url)

    def regtui_config_toml(self) -> str:
        """A regtui `config.toml` pointing at this lab (password via REGTUI_LAB_PASSWORD)."""
        lines = [
            "[[registries]]",
            'name = "lab"',
            f"url = {_q(self.url)}",
            'flavor = "distribution"',
        ]
        if self.auth != "none":
            lines += [
                "",
                "[registries.auth]",
                f"username = {_q(self.username or '')}",
                f"password_env = {_q(PASSWORD_ENV)}",
            ]
        if self.prometheus_url:
            lines += [
                "",
                "[registries.prometheus]",
                f"url = {_q(self.prometheus_url)}",
                f"selector = 'job=\"{JOB}\"'",
            ]
        lines += [
            "",
            "[[registries.logs]]",
            'type = "file"',
            f"path = {_q(str(self.log_file))}",
            "",
            "[registries.gc]",
            'command = "docker-registry garbage-collect {flags} {config}"',
            f"config = {_q(str(self.config_file))}",
        ]
        return "\n".join(lines) + "\n"

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _q(text: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these values)."""
    return json.dumps(text)


def _stop_all() -> None:
    for lab in list(_LIVE.values()):
        lab.stop()


atexit.register(_stop_all)


def _check_args(auth: str, dataset: str) -> None:
    if auth not in AUTH_KINDS:
        raise LabError(f"unknown lab auth {auth!r}: use one of {', '.join(AUTH_KINDS)}")
    if dataset not in DATASETS:
        raise LabError(f"unknown lab dataset {dataset!r}: use one of {', '.join(DATASETS)}")


def _new_lab(auth: str, dataset: str, root: Path | None) -> Lab:
    owns = root is None
    base = Path(tempfile.mkdtemp(prefix="regtui-lab-")) if root is None else root
    base.mkdir(parents=True, exist_ok=True)
    return Lab(
        root=base,
        url=f"http://127.0.0.1:{free_port()}",
        debug_url=f"http://127.0.0.1:{free_port()}",
        prometheus_url=None,
        storage_dir=base / "storage",
        log_file=base / "registry.log",
        config_file=base / "config.yml",
        auth=auth,
        username=None,
        password=None,
        token_url=None,
        ca_file=None,
        dataset=dataset,
        owns_root=owns,
    )


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _write_config(lab: Lab, auth: RegistryAuth | None) -> None:
    config = registry_config(lab.storage_dir, _port(lab.url), _port(lab.debug_url), auth)
    write_config(lab.config_file, config)


def _htpasswd_auth(lab: Lab) -> RegistryAuth:
    """A bcrypt htpasswd file made by the real `htpasswd -Bbn`."""
    binary = require_binary("htpasswd")
    assert lab.username is not None and lab.password is not None
    done = subprocess.run(
        [binary, "-Bbn", lab.username, lab.password], capture_output=True, check=False
    )
    if done.returncode != 0:
        raise LabError(f"htpasswd failed ({done.returncode}): {done.stderr.decode().strip()}")
    path = lab.root / "htpasswd"
    path.write_bytes(done.stdout)
    return RegistryAuth("htpasswd", htpasswd_file=path)


def _token_auth(lab: Lab) -> RegistryAuth:
    """Start the token server and give the registry its certificate as the root bundle."""
    from regtui.lab.token_server import SigningKey, TokenIssuer, TokenServer

    assert lab.username is not None and lab.password is not None
    key = SigningKey.generate()
    lab.ca_file = lab.root / "token-ca.pem"
    key.write_cert(lab.ca_file)
    server = TokenServer(TokenIssuer(key, TOKEN_ISSUER, {lab.username: lab.password}))
    server.start()
    lab.token_server = server
    lab.token_url = server.url
    return RegistryAuth(
        "token",
        token_realm=server.url,
        token_service=TOKEN_SERVICE,
        token_issuer=TOKEN_ISSUER,
        ca_file=lab.ca_file,
    )


def _switch_on_auth(lab: Lab) -> None:
    """Seeding ran open; restart the registry on the same storage with auth required."""
    lab.username, lab.password = USERNAME, secrets.token_urlsafe(12)
    auth = _htpasswd_auth(lab) if lab.auth == "htpasswd" else _token_auth(lab)
    _write_config(lab, auth)
    lab.restart_registry()


PORT_ATTEMPTS = 3


def _port_taken(error: LabError) -> bool:
    """Another process bound the port between our probe and the child's bind."""
    return "address already in use" in str(error)


def _start_open_registry(lab: Lab) -> None:
    """First start, auth off; on a port race pick new ports and try again."""
    for attempt in range(PORT_ATTEMPTS):
        _write_config(lab, None)
        try:
            lab.children["registry"] = start_registry(lab.config_file, lab.log_file, lab.url)
            return
        except LabError as error:
            if not _port_taken(error) or attempt == PORT_ATTEMPTS - 1:
                raise
            lab.url = f"http://127.0.0.1:{free_port()}"
            lab.debug_url = f"http://127.0.0.1:{free_port()}"


def _start_prometheus(lab: Lab) -> None:
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        try:
            child = start_prometheus(lab.root, port, _port(lab.debug_url))
        except LabError as error:
            if not _port_taken(error) or attempt == PORT_ATTEMPTS - 1:
                raise
            continue
        lab.children["prometheus"] = child
        lab.prometheus_url = f"http://127.0.0.1:{port}"
        return


def _boot(lab: Lab, prometheus: bool) -> None:
    require_binary("docker-registry")
    if prometheus:
        require_binary("prometheus")
    _start_open_registry(lab)
    lab.seeded = run_seed(lab.url, lab.dataset)
    settle_push_times(lab.storage_dir)  # the same push times (and retention plans) every run
    if lab.auth != "none":
        _switch_on_auth(lab)
    if prometheus:
        _start_prometheus(lab)


def start_lab(
    *,
    auth: str = "none",
    dataset: str = "default",
    prometheus: bool = True,
    root: Path | None = None,
) -> Lab:
    """Start, seed and return a lab; on any failure everything started so far is stopped."""
    _check_args(auth, dataset)
    lab = _new_lab(auth, dataset, root)
    _LIVE[id(lab)] = lab
    try:
        _boot(lab, prometheus)
    except BaseException:
        lab.stop()
        raise
    return lab
