"""Credentials that login commands left in files: podman/skopeo/buildah's, then docker's.

The files are searched in the order the containers tools use (containers-auth.json(5)):
the primary file (`$REGISTRY_AUTH_FILE` when set, else `$XDG_RUNTIME_DIR/containers/
auth.json`, else `/run/containers/<uid>/auth.json`), then `$XDG_CONFIG_HOME/containers/
auth.json` (`~/.config/...`), then docker's `config.json`. The first file with an entry for
the registry wins. Unlike the containers tools, an explicit `$REGISTRY_AUTH_FILE` does not
end the search: regtui reads, never writes, so docker's login still counts after it.
Within one file: `credHelpers[host]` > `credsStore` > `auths[host]`, as `docker pull` does.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regtui.errors import AuthError
from regtui.registry.auth.credentials import IDENTITY_TOKEN_USER, Credentials
from regtui.registry.auth.helpers import run_credential_helper

DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = frozenset({"registry-1.docker.io", "docker.io", "index.docker.io"})
CONTAINERS_AUTH = Path("containers") / "auth.json"


@dataclass(frozen=True)
class AuthFile:
    """One file to search, and whose conventions it follows."""

    path: Path
    docker: bool
    """docker's config.json (helpers asked with docker's server names) or a containers file."""

    @property
    def noun(self) -> str:
        return "docker config" if self.docker else "containers auth file"


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def docker_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]).expanduser() / "config.json"
    return _home(env) / ".docker" / "config.json"


def containers_auth_paths(env: Mapping[str, str] = os.environ) -> list[Path]:
    """podman/skopeo/buildah's files, primary first (containers-auth.json(5))."""
    if env.get("REGISTRY_AUTH_FILE"):
        primary = Path(env["REGISTRY_AUTH_FILE"]).expanduser()
    elif env.get("XDG_RUNTIME_DIR"):
        primary = Path(env["XDG_RUNTIME_DIR"]) / CONTAINERS_AUTH
    else:
        primary = Path("/run/containers") / str(os.getuid()) / "auth.json"
    config_home = env.get("XDG_CONFIG_HOME")
    user = (Path(config_home) if config_home else _home(env) / ".config") / CONTAINERS_AUTH
    return list(dict.fromkeys([primary, user]))


def auth_files(env: Mapping[str, str] = os.environ) -> list[AuthFile]:
    """Every file searched for credentials, in search order."""
    files = [AuthFile(path, docker=False) for path in containers_auth_paths(env)]
    return [*files, AuthFile(docker_config_path(env), docker=True)]


def from_auth_files(host: str, env: Mapping[str, str] = os.environ) -> Credentials | None:
    """The first file's credentials for `host`; None when no file has an entry."""
    for file in auth_files(env):
        found = _from_file(file, host)
        if found is not None:
            return found
    return None


def docker_hostname(key: str) -> str:
    """docker's ConvertToHostname: drop the scheme and anything after the first `/`."""
    for scheme in ("http://", "https://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
    return key.split("/", 1)[0]


def is_docker_hub(host: str) -> bool:
    return host in DOCKER_HUB_HOSTS


def credential_server(host: str, *, docker: bool = True) -> str:
    """The name a host's credentials are filed under: docker files Hub under its v1 URL,
    the containers tools under `docker.io`."""
    if not is_docker_hub(host):
        return host
    return DOCKER_HUB_SERVER if docker else "docker.io"


def _load(file: AuthFile) -> dict[str, Any] | None:
    path = file.path
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"{path}: cannot read {file.noun}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuthError(
            f"{path}: malformed {file.noun}: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise AuthError(f"{path}: malformed {file.noun}: expected a JSON object")
    return data


def _section(data: Mapping[str, Any], key: str, file: AuthFile) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuthError(f"{file.path}: malformed {file.noun}: {key} must be an object")
    return value


def _matching(section: Mapping[str, Any], host: str) -> tuple[str, Any] | None:
    """Exact key first, then any key naming the same host the way docker normalizes them
    (a containers namespace key, `quay.io/team`, counts for its whole registry)."""
    wanted = DOCKER_HUB_HOSTS if is_docker_hub(host) else {host}
    hub = (credential_server(host, docker=True), credential_server(host, docker=False))
    for candidate in (host, f"https://{host}", f"http://{host}", *hub):
        if candidate in section:
            return candidate, section[candidate]
    for key, value in section.items():
        if docker_hostname(key) in wanted:
            return key, value
    return None


def _from_file(file: AuthFile, host: str) -> Credentials | None:
    data = _load(file)
    if data is None:
        return None
    server = credential_server(host, docker=file.docker)
    helper = _matching(_section(data, "credHelpers", file), host)
    if helper is not None:
        return run_credential_helper(_helper_name(helper[1], file), server)
    store = data.get("credsStore")
    if store:
        found = run_credential_helper(_helper_name(store, file), server)
        if found is not None:
            return found
    entry = _matching(_section(data, "auths", file), host)
    return _auth_entry(entry[0], entry[1], file) if entry else None


def _helper_name(value: object, file: AuthFile) -> str:
    if not isinstance(value, str) or not value:
        raise AuthError(f"{file.path}: malformed {file.noun}: helper names must be strings")
    return value


def _auth_entry(key: str, entry: object, file: AuthFile) -> Credentials | None:
    """One `auths` entry: `identitytoken`, `auth` (base64 user:pass) or username/password."""
    if not isinstance(entry, dict):
        raise AuthError(f"{file.path}: malformed {file.noun}: auths[{key!r}] must be an object")
    username, password = _entry_user_password(key, entry, file)
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(username or IDENTITY_TOKEN_USER, token, identity_token=True)
    if username and password:
        return Credentials(username, password)
    return None


def _entry_user_password(key: str, entry: Mapping[str, Any], file: AuthFile) -> tuple[str, str]:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, sep, password = decoded.partition(":")
        if not sep:
            raise AuthError(
                f"{file.path}: malformed {file.noun}: auths[{key!r}].auth is not base64 "
                "user:password"
            )
        return user, password
    return str(entry.get("username") or ""), str(entry.get("password") or "")
