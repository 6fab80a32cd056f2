"""Where a registry's credentials come from, in order: env, regtui config, login files.

`REGTUI_<NAME>_PASSWORD` > `[registries.auth]` (password_env / password_command) > the
files login commands leave (podman/skopeo/buildah's auth.json, docker's config.json and
its helpers). The user name is `auth.username`, which config.py has already overridden
with `REGTUI_<NAME>_USERNAME`; it is read from the environment there and nowhere else.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from regtui.config import RegistryConfig, registry_env_prefix
from regtui.errors import AuthError
from regtui.registry.auth.credentials import HELPER_TIMEOUT, Credentials, first_line
from regtui.registry.auth.files import from_auth_files

LOGIN_HINT = "docker login, podman login or skopeo login"
"""What an operator can run to leave credentials regtui finds; Docker is not assumed."""
NO_CREDENTIALS = f"no credentials are configured (set [registries.auth] or use {LOGIN_HINT})"
"""The end of an access-denied error where regtui sent no credentials at all."""


def resolve_credentials(
    registry: RegistryConfig, env: Mapping[str, str] = os.environ
) -> Credentials | None:
    """Env override > `[registries.auth]` > login files; None means anonymous."""
    found = _from_env(registry, env) or _from_config(registry, env)
    if found is None and registry.auth.docker_config:
        found = from_auth_files(registry.host, env)
    if found is None and registry.auth.username:
        raise AuthError(
            f"registry {registry.name}: auth.username is set but no password was found "
            f"(set password_env or password_command, or use {LOGIN_HINT})"
        )
    return found


def _from_env(registry: RegistryConfig, env: Mapping[str, str]) -> Credentials | None:
    prefix = registry_env_prefix(registry.name)
    password = env.get(f"{prefix}_PASSWORD")
    if not password:
        return None
    if not registry.auth.username:
        raise AuthError(
            f"registry {registry.name}: {prefix}_PASSWORD is set but no user name "
            f"({prefix}_USERNAME or auth.username)"
        )
    return Credentials(registry.auth.username, password)


def _from_config(registry: RegistryConfig, env: Mapping[str, str]) -> Credentials | None:
    auth = registry.auth
    if not auth.username:
        return None
    if auth.password_env:
        password = env.get(auth.password_env)
        if not password:
            state = "is empty" if password == "" else "is not set"
            raise AuthError(
                f"registry {registry.name}: environment variable {auth.password_env} "
                f"(auth.password_env) {state}"
            )
        return Credentials(auth.username, password)
    if auth.password_command:
        password = _run_password_command(registry.name, auth.password_command)
        return Credentials(auth.username, password)
    return None


def _run_password_command(name: str, command: str) -> str:
    """Run through the shell like the operator would; only stderr reaches the message."""
    try:
        done = subprocess.run(
            command,
            shell=True,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AuthError(
            f"registry {name}: auth.password_command timed out after {HELPER_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        raise AuthError(f"registry {name}: auth.password_command failed: {exc.strerror}") from None
    if done.returncode != 0:
        reason = first_line(done.stderr) or f"exit status {done.returncode}"
        raise AuthError(f"registry {name}: auth.password_command failed: {reason}")
    password = done.stdout.strip()
    if not password:
        raise AuthError(f"registry {name}: auth.password_command printed nothing")
    return password
