"""Logging in to registries, along the seams go-containerregistry keeps apart.

- `credentials`: what a login is (`Credentials`).
- `sources`, `files`, `helpers`: where it comes from: env, `[registries.auth]`, the files
  podman/skopeo/buildah and docker leave, docker credential helpers.
- `challenge`: parsing `WWW-Authenticate`.
- `realm`: where a bearer challenge may send credentials.
- `bearer`: the token flow itself, `RegistryAuth`.
The names below are the package's API; the modules are its parts.
"""

from regtui.registry.auth.bearer import RegistryAuth, registry_message, scope_for
from regtui.registry.auth.challenge import Challenge, parse_www_authenticate
from regtui.registry.auth.credentials import IDENTITY_TOKEN_USER, Credentials
from regtui.registry.auth.files import auth_files, docker_config_path
from regtui.registry.auth.helpers import run_credential_helper
from regtui.registry.auth.realm import check_realm
from regtui.registry.auth.sources import LOGIN_HINT, NO_CREDENTIALS, resolve_credentials

__all__ = [
    "IDENTITY_TOKEN_USER",
    "LOGIN_HINT",
    "NO_CREDENTIALS",
    "Challenge",
    "Credentials",
    "RegistryAuth",
    "auth_files",
    "check_realm",
    "docker_config_path",
    "parse_www_authenticate",
    "registry_message",
    "resolve_credentials",
    "run_credential_helper",
    "scope_for",
]
