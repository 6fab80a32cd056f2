"""The configuration: one TOML file -> frozen dataclasses, strictly checked, env beats file.

Every mistake becomes a one-line `ConfigError` naming the file, the key path, what was found
and what was expected, so an operator fixes it without reading a traceback.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

from regtui.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]

DEFAULT_THEME = "regtui-dusk"
"""The gallery's dark theme; Textual's own themes stay available by name."""

FLAVORS = (
    "distribution",
    "harbor",
    "dockerhub",
    "nexus",
    "ecr",
    "acr",
    "gcr",
    "ghcr",
    "quay",
    "oci",
)
LOG_TYPES = ("file", "command")


class FrozenMap(Mapping[str, str]):
    """A read-only, hashable str -> str mapping, so frozen configs stay hashable."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._data) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


_EMPTY: Mapping[str, str] = FrozenMap()
_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")
T = TypeVar("T")


@dataclass(frozen=True)
class AuthConfig:
    """How to log in to one registry; empty means docker's config.json or anonymous."""

    username: str = ""
    """User name sent with the password below (Basic or to the token endpoint)."""
    password_env: str = ""
    """Name of the environment variable that holds the password (never the password itself)."""
    password_command: str = ""
    """Shell command printing the password, e.g. `aws ecr get-login-password`."""
    docker_config: bool = True
    """Fall back to the files login commands leave: podman/skopeo/buildah's auth.json and
    docker's config.json (auths, credsStore, credHelpers)."""
    token_realms: tuple[str, ...] = ()
    """Token realm hosts trusted besides the registry's own domain: `host`, `host:port`, or
    `http://host[:port]` to allow a plain-http realm for an https registry."""


@dataclass(frozen=True)
class PrometheusConfig:
    """Where the registry's metrics are scraped into, for the metrics pane."""

    url: str
    """Prometheus base URL, normalized without a trailing slash."""
    selector: str = ""
    """Label matchers selecting this registry's series, e.g. `job="registry"`."""
    bearer_token_env: str = ""
    """Environment variable holding a bearer token for Prometheus."""
    username: str = ""
    """Basic-auth user for Prometheus."""
    password_env: str = ""
    """Environment variable holding the Basic-auth password for Prometheus."""
    ca_file: Path | None = None
    """CA bundle for Prometheus' TLS certificate (`~` expanded)."""
    insecure: bool = False
    """Skip TLS verification for Prometheus."""
    queries: Mapping[str, str] = field(default=_EMPTY)
    """Query id -> PromQL overriding the built-in queries."""
    node_selector: str = ""
    """node_exporter matchers for the storage volume, e.g. `mountpoint="/var/lib/registry"`."""
    push_failure_warn: float = 0.01
    """Push failure ratio shown as a warning (0.01 is 1 %)."""
    push_failure_critical: float = 0.05
    """Push failure ratio shown as critical."""


@dataclass(frozen=True)
class LogSourceConfig:
    """One place the registry's logs come from."""

    type: str
    """`file` (tail a file) or `command` (read a command's stdout, e.g. journalctl -f)."""
    path: Path | None = None
    """The log file, for `type = "file"`."""
    command: str = ""
    """The shell command, for `type = "command"`."""
    name: str = ""
    """Label shown in the logs pane; defaults to the path or command."""


@dataclass(frozen=True)
class GcConfig:
    """How to run the registry's garbage collector (distribution only)."""

    command: str = "docker-registry garbage-collect {flags} {config}"
    """Command template; `{flags}` and `{config}` are filled in at run time."""
    config: str = ""
    """The registry's own config.yml, passed as `{config}`."""


SCAN_LEVELS = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class ScanConfig:
    """Where vulnerability reports come from beyond the registry itself, and what is too many."""

    reports_dir: Path | None = None
    """Trivy JSON reports (`trivy image -f json -o ...`), matched by `Metadata.RepoDigests`."""
    command: str = ""
    """Scan command template for registries without a scan API; `{ref}` is the image."""
    fail_on: tuple[tuple[str, int], ...] = ()
    """(severity, count) pairs: a tag with at least `count` findings of one is failing.
    `fail_on = "high"` means one high or critical; a table gives counts per severity."""
    stale_after_days: float = 30.0
    """A scan older than this is marked stale."""


@dataclass(frozen=True)
class RegistryConfig:
    """One registry the dashboard watches."""

    name: str
    """Short unique name, used on the command line and in env overrides."""
    url: str
    """Normalized `scheme://host[:port]`, no trailing slash."""
    flavor: str = "distribution"
    """Which backend speaks to it; one of `FLAVORS`."""
    concurrency: int = 8
    """Requests in flight to start with (1..64); the limit then follows the registry's knee."""
    max_concurrency: int = 32
    """Most requests in flight the adaptive limit may grow to (1..256)."""
    max_requests_per_second: float | None = None
    """Cap on requests per second to this registry, every request counted; None: no cap."""
    timeout: float = 30.0
    """Seconds before a request is given up."""
    retries: int = 3
    """Retries of idempotent requests on connection errors, cut bodies and 5xx."""
    deadline: float = 60.0
    """Seconds one request may take in all, retries and waits included."""
    refresh_deadline: float = 600.0
    """Seconds one walk of the registry (a refresh, `inventory`) may take in all."""
    max_names: int = 1_000_000
    """More names than this in a catalog or tag list is not plausible: paging stops."""
    insecure: bool = False
    """Allow plain http to a non-loopback host and skip TLS verification."""
    ca_file: Path | None = None
    """CA bundle for the registry's certificate (`~` expanded, checked when used)."""
    read_only: bool | None = None
    """None inherits the global `read_only`."""
    auth: AuthConfig = field(default_factory=AuthConfig)
    """How to log in."""
    prometheus: PrometheusConfig | None = None
    """Metrics source, if any."""
    logs: tuple[LogSourceConfig, ...] = ()
    """Log sources, if any."""
    gc: GcConfig | None = None
    """Garbage collection, if this registry allows it."""
    alias: str = ""
    """Short name shown instead of a long host (`prod-ecr` for `1234....amazonaws.com`)."""
    repositories: tuple[str, ...] = ()
    """Repositories to show where there is no catalog: `ns/repo`, or `ns/*` for a namespace."""
    api_url: str = ""
    """The vendor API when it is not `url` (Docker Hub: `https://hub.docker.com`)."""
    scans: ScanConfig | None = None
    """Vulnerability report sources and thresholds, if any."""
    theme: str | None = None
    """Theme while this registry is on screen (production can look unlike staging)."""

    @property
    def host(self) -> str:
        """`host[:port]`, the name docker files credentials and certs.d entries under."""
        return urlsplit(self.url).netloc

    @property
    def shown_host(self) -> str:
        """What the UI shows for the host: the alias when one is set."""
        return self.alias or self.host


def _default_dir(env: Mapping[str, str], xdg: str, fallback: str) -> Path:
    base = env.get(xdg)
    return Path(base).expanduser() / "regtui" if base else Path(fallback).expanduser() / "regtui"


def default_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Cache of manifests and configs: `$XDG_CACHE_HOME/regtui`, else `~/.cache/regtui`."""
    return _default_dir(env, "XDG_CACHE_HOME", "~/.cache")


def default_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Audit log and UI state: `$XDG_STATE_HOME/regtui`, else `~/.local/state/regtui`."""
    return _default_dir(env, "XDG_STATE_HOME", "~/.local/state")


@dataclass(frozen=True)
class Config:
    """Everything regtui was told, after env overrides."""

    registries: tuple[RegistryConfig, ...] = ()
    """Registries in file order."""
    read_only: bool = False
    """Global read-only mode; a registry's own `read_only` wins over it."""
    refresh_interval: float = 30.0
    """Seconds between checks of what is on screen (the repository shown, the fleet)."""
    background_refresh_interval: float = 300.0
    """Seconds between cheap checks of everything else (catalog, tag lists, or Prometheus'
    manifest write counter when configured); only what changed is resolved again."""
    theme: str = DEFAULT_THEME
    """Theme name: the gallery's (`regtui-dusk`, `regtui-paper`, `regtui-contrast`,
    `regtui-ansi`), a user theme from `$XDG_CONFIG_HOME/regtui/themes/`, or Textual's own."""
    keymap: Mapping[str, str] = field(default=_EMPTY)
    """Binding id -> comma-separated keys, applied with `App.set_keymap`."""
    read_only_env: bool | None = None
    """`REGTUI_READ_ONLY` when set: beats every read_only in the file."""
    log_buffer_lines: int = 100_000
    """Log lines kept in memory per source; older ones are re-read from the file."""
    cache_dir: Path = field(default_factory=default_cache_dir)
    """Where cached manifests live."""
    state_dir: Path = field(default_factory=default_state_dir)
    """Where the audit log and UI state live."""
    path: Path | None = None
    """The file this was loaded from; None when no file existed."""

    def find(self, name_or_url: str) -> RegistryConfig | None:
        """The registry an operator means by a name, URL, host or alias; None if none is."""
        return next((reg for reg in self.registries
                     if name_or_url in (reg.name, reg.url, reg.host)
                     or (reg.alias and name_or_url == reg.alias)), None)

    def registry(self, name_or_url: str) -> RegistryConfig:
        """Find a registry by name, URL or host, as an operator types it."""
        found = self.find(name_or_url)
        if found is not None:
            return found
        known = ", ".join(r.name for r in self.registries) or "none configured"
        where = f" in {self.path}" if self.path else ""
        raise ConfigError(f"no registry named {name_or_url!r}{where} (known: {known})")

    def effective_read_only(self, registry: RegistryConfig | None, flag: bool | None) -> bool:
        """Command-line flag > `REGTUI_READ_ONLY` > the registry's setting > the global one.

        The environment beats the file: an on-call shell with REGTUI_READ_ONLY=1 stays
        read-only whatever a registry entry says; only `--write` lowers it.
        """
        return self.read_only_source(registry, flag) is not None

    def read_only_source(self, registry: RegistryConfig | None, flag: bool | None) -> str | None:
        """Why changes are refused, for the screen to say (None: they are allowed)."""
        if flag is not None:
            return "--read-only" if flag else None
        if self.read_only_env is not None:
            return "REGTUI_READ_ONLY" if self.read_only_env else None
        if registry is not None and registry.read_only is not None:
            return f"read_only = true for {registry.name}" if registry.read_only else None
        return "read_only = true" if self.read_only else None


def registry_env_prefix(name: str) -> str:
    """`REGTUI_<NAME>` with NAME upper-cased and non-alphanumerics turned into `_`."""
    return "REGTUI_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def env_username(name: str, env: Mapping[str, str], default: str = "") -> str:
    """`REGTUI_<NAME>_USERNAME` over `default`: the one place that variable is read."""
    return env.get(f"{registry_env_prefix(name)}_USERNAME") or default


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """`REGTUI_CONFIG`, else `$XDG_CONFIG_HOME/regtui/config.toml`, else `~/.config/...`."""
    explicit = env.get("REGTUI_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return _default_dir(env, "XDG_CONFIG_HOME", "~/.config") / "config.toml"


# ---------------------------------------------------------------------------------------------
# Describing values and raising errors


def _describe(value: object) -> str:
    """How a found value is shown in an error: strings quoted, tables and arrays named."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime | date | time):
        return f"a date/time ({value})"
    return type(value).__name__


@dataclass(frozen=True)
class _Where:
    """A position in the file: which file and which key path, for error messages."""

    source: str
    path: str = ""

    def child(self, key: str | int) -> _Where:
        if isinstance(key, int):
            return _Where(self.source, f"{self.path}[{key}]")
        return _Where(self.source, f"{self.path}.{key}" if self.path else key)

    def error(self, message: str) -> ConfigError:
        if not self.path:
            return ConfigError(f"{self.source}: {message}")
        return ConfigError(f"{self.source}: {self.path}: {message}")


def _check_keys(table: Mapping[str, Any], known: tuple[str, ...], where: _Where) -> None:
    """Unknown keys are errors, with the closest known key suggested (typos are common)."""
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
        raise where.child(key).error(f"unknown key{hint}")


def _expect(value: object, kind: type[T] | tuple[type, ...], noun: str, where: _Where) -> T:
    """Type check that treats TOML booleans as never being numbers."""
    ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
    if not ok:
        raise where.error(f"expected {noun}, got {_describe(value)}")
    return value  # type: ignore[return-value]


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _string(table: Mapping[str, Any], key: str, where: _Where, default: str = "") -> str:
    if key not in table:
        return default
    return _expect(table[key], str, "a string", where.child(key))


def _required_string(table: Mapping[str, Any], key: str, where: _Where) -> str:
    if key not in table:
        raise where.child(key).error("missing required key (expected a string)")
    value = _string(table, key, where)
    if not value.strip():
        raise where.child(key).error('expected a non-empty string, got ""')
    return value


def _bool(table: Mapping[str, Any], key: str, where: _Where, default: bool) -> bool:
    if key not in table:
        return default
    return _expect(table[key], bool, "a boolean", where.child(key))


def _int(table: Mapping[str, Any], key: str, where: _Where, default: int, lo: int, hi: int) -> int:
    if key not in table:
        return default
    value: int = _expect(table[key], int, "an integer", where.child(key))
    if not lo <= value <= hi:
        rng = f"from {lo} to {hi}" if hi < sys.maxsize else f"of at least {lo}"
        raise where.child(key).error(f"expected an integer {rng}, got {value}")
    return value


def _positive(table: Mapping[str, Any], key: str, where: _Where, default: float) -> float:
    if key not in table:
        return default
    value = float(_expect(table[key], (int, float), "a number", where.child(key)))
    if not value > 0:
        found = _describe(table[key])
        raise where.child(key).error(f"expected a number greater than 0, got {found}")
    return value


def _path(table: Mapping[str, Any], key: str, where: _Where) -> Path | None:
    text = _string(table, key, where)
    return Path(text).expanduser() if text else None


def _table(value: object, where: _Where) -> Mapping[str, Any]:
    return _expect(value, dict, "a table", where)


def _string_map(table: Mapping[str, Any], key: str, where: _Where) -> Mapping[str, str]:
    if key not in table:
        return _EMPTY
    sub = _table(table[key], where.child(key))
    return FrozenMap({k: _string(sub, k, where.child(key)) for k in sub})


def _choice(value: str, choices: tuple[str, ...], where: _Where) -> str:
    if value not in choices:
        raise where.error(f"expected one of {', '.join(choices)}, got {_describe(value)}")
    return value


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _sub(table: Mapping[str, Any], key: str, where: _Where, build: Callable[..., T]) -> T | None:
    """Build an optional sub-table with `build(table, where)`."""
    if key not in table:
        return None
    return build(_table(table[key], where.child(key)), where.child(key))


# ---------------------------------------------------------------------------------------------
# URLs


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 and ::1: where docker allows plain http without being told."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_url(raw: str, where: _Where, *, insecure: bool, strict_http: bool = True) -> str:
    """`scheme://host[:port]`: https by default, http only for loopback unless insecure."""
    text = raw.strip()
    if "://" not in text:
        host = urlsplit("//" + text).hostname or ""
        text = ("http://" if is_loopback(host) else "https://") + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        message = f"expected a URL like https://host[:port], got {_describe(raw)} ({exc})"
        raise where.error(message) from None
    hostname = parts.hostname or ""
    if "@" in parts.netloc:
        raise where.error("credentials do not belong in the URL; use the [auth] table")
    bad = parts.scheme not in ("http", "https") or not hostname or parts.username is not None
    if bad or parts.path.strip("/") or parts.query or parts.fragment:
        message = f"expected a URL like https://host[:port] (no path), got {_describe(raw)}"
        raise where.error(message)
    if strict_http and parts.scheme == "http" and not insecure and not is_loopback(hostname):
        raise where.error(
            f"plain http to non-loopback host {hostname} needs insecure = true, "
            f"got {_describe(raw)}"
        )
    netloc = parts.netloc.lower() if port is not None else parts.netloc.lower().rstrip(":")
    return f"{parts.scheme}://{netloc}"


# ---------------------------------------------------------------------------------------------
# Building the dataclasses


def _realm_host(value: object, where: _Where) -> str:
    """`host[:port]` or `http(s)://host[:port]`, lower-cased; nothing else is a realm host."""
    text = _expect(value, str, "a string", where).strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    if not _bare_host(parts):
        raise where.error(f"expected a host like auth.example.com, host:port or "
                          f"http://host:port, got {_describe(value)}")
    return f"{parts.scheme}://{parts.netloc.lower()}" if parts.scheme else parts.netloc.lower()


def _bare_host(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return False
    extra = parts.path.strip("/") or parts.query or parts.fragment or "@" in parts.netloc
    return bool(parts.hostname) and not extra and parts.scheme in ("", "http", "https")


def _realm_hosts(table: Mapping[str, Any], where: _Where) -> tuple[str, ...]:
    if "token_realms" not in table:
        return ()
    here = where.child("token_realms")
    items: list[Any] = _expect(table["token_realms"], list, "an array of strings", here)
    return tuple(_realm_host(item, here.child(i)) for i, item in enumerate(items))


def _auth(table: Mapping[str, Any], where: _Where) -> AuthConfig:
    _check_keys(table, _names(AuthConfig), where)
    auth = AuthConfig(
        username=_string(table, "username", where),
        password_env=_string(table, "password_env", where),
        password_command=_string(table, "password_command", where),
        docker_config=_bool(table, "docker_config", where, True),
        token_realms=_realm_hosts(table, where),
    )
    if auth.password_env and auth.password_command:
        raise where.error("set password_env or password_command, not both")
    return auth


def _prometheus(table: Mapping[str, Any], where: _Where) -> PrometheusConfig:
    _check_keys(table, _names(PrometheusConfig), where)
    insecure = _bool(table, "insecure", where, False)
    url = _required_string(table, "url", where)
    config = PrometheusConfig(
        url=normalize_url(url, where.child("url"), insecure=insecure, strict_http=False),
        selector=_string(table, "selector", where),
        bearer_token_env=_string(table, "bearer_token_env", where),
        username=_string(table, "username", where),
        password_env=_string(table, "password_env", where),
        ca_file=_path(table, "ca_file", where),
        insecure=insecure,
        queries=_string_map(table, "queries", where),
        node_selector=_string(table, "node_selector", where),
        push_failure_warn=_ratio(table, "push_failure_warn", where, 0.01),
        push_failure_critical=_ratio(table, "push_failure_critical", where, 0.05),
    )
    if config.push_failure_warn > config.push_failure_critical:
        raise where.child("push_failure_warn").error(
            f"must not exceed push_failure_critical ({config.push_failure_critical})")
    return config


def _ratio(table: Mapping[str, Any], key: str, where: _Where, default: float) -> float:
    if key not in table:
        return default
    value = float(_expect(table[key], (int, float), "a number", where.child(key)))
    if not 0 <= value <= 1:
        raise where.child(key).error(f"expected a ratio from 0 to 1 (0.01 is 1 %), got {value}")
    return value


def _log_source(table: Mapping[str, Any], where: _Where) -> LogSourceConfig:
    _check_keys(table, _names(LogSourceConfig), where)
    kind = _choice(_required_string(table, "type", where), LOG_TYPES, where.child("type"))
    source = LogSourceConfig(
        type=kind,
        path=_path(table, "path", where),
        command=_string(table, "command", where),
        name=_string(table, "name", where),
    )
    if kind == "file" and source.path is None:
        raise where.child("path").error('missing: type = "file" needs a path')
    if kind == "command" and not source.command:
        raise where.child("command").error('missing: type = "command" needs a command')
    return source


def _logs(table: Mapping[str, Any], where: _Where) -> tuple[LogSourceConfig, ...]:
    if "logs" not in table:
        return ()
    items: list[Any] = _expect(table["logs"], list, "an array of tables", where.child("logs"))
    here = where.child("logs")
    return tuple(
        _log_source(_table(item, here.child(i)), here.child(i)) for i, item in enumerate(items)
    )


def _gc(table: Mapping[str, Any], where: _Where) -> GcConfig:
    _check_keys(table, _names(GcConfig), where)
    return GcConfig(
        command=_string(table, "command", where, GcConfig.command),
        config=_string(table, "config", where),
    )


def _fail_on(value: object, where: _Where) -> tuple[tuple[str, int], ...]:
    if isinstance(value, str):
        level = _choice(value.lower(), SCAN_LEVELS, where)
        return tuple((name, 1) for name in SCAN_LEVELS[: SCAN_LEVELS.index(level) + 1])
    table = _table(value, where)
    _check_keys(table, SCAN_LEVELS, where)
    return tuple((name, _int(table, name, where, 1, 1, sys.maxsize))
                 for name in SCAN_LEVELS if name in table)


def _scans(table: Mapping[str, Any], where: _Where) -> ScanConfig:
    _check_keys(table, _names(ScanConfig), where)
    command = _string(table, "command", where)
    if command and "{ref}" not in command:
        raise where.child("command").error("the scan command needs {ref}, the image to scan")
    return ScanConfig(
        reports_dir=_path(table, "reports_dir", where),
        command=command,
        fail_on=_fail_on(table["fail_on"], where.child("fail_on")) if "fail_on" in table else (),
        stale_after_days=_positive(table, "stale_after_days", where, 30.0),
    )


def _env_string(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    return value if value else default


def _registry(table: Mapping[str, Any], where: _Where, env: Mapping[str, str]) -> RegistryConfig:
    _check_keys(table, _names(RegistryConfig), where)
    name = _required_string(table, "name", where)
    prefix = registry_env_prefix(name)
    insecure = _bool(table, "insecure", where, False)
    url_var = f"{prefix}_URL"
    raw_url, url_where = (
        (env[url_var], _Where(url_var))
        if env.get(url_var)
        else (_required_string(table, "url", where), where.child("url"))
    )
    auth = _sub(table, "auth", where, _auth) or AuthConfig()
    username = env_username(name, env, auth.username)
    if (auth.password_env or auth.password_command) and not username:
        raise (
            where.child("auth")
            .child("username")
            .error("missing: password_env/password_command need a username")
        )
    read_only = _bool(table, "read_only", where, False) if "read_only" in table else None
    return RegistryConfig(
        name=name,
        url=normalize_url(raw_url, url_where, insecure=insecure),
        flavor=_choice(
            _string(table, "flavor", where, "distribution"), FLAVORS, where.child("flavor")
        ),
        concurrency=_int(table, "concurrency", where, 8, 1, 64),
        max_concurrency=_int(table, "max_concurrency", where, 32, 1, 256),
        max_requests_per_second=(_positive(table, "max_requests_per_second", where, 1.0)
                                 if "max_requests_per_second" in table else None),
        timeout=_positive(table, "timeout", where, 30.0),
        retries=_int(table, "retries", where, 3, 0, sys.maxsize),
        deadline=_positive(table, "deadline", where, 60.0),
        refresh_deadline=_positive(table, "refresh_deadline", where, 600.0),
        max_names=_int(table, "max_names", where, 1_000_000, 1, sys.maxsize),
        insecure=insecure,
        ca_file=_path(table, "ca_file", where),
        read_only=read_only,
        auth=replace(auth, username=username),
        prometheus=_sub(table, "prometheus", where, _prometheus),
        logs=_logs(table, where),
        gc=_sub(table, "gc", where, _gc),
        alias=_string(table, "alias", where).strip(),
        repositories=_repository_list(table, where),
        api_url=(normalize_url(_string(table, "api_url", where), where.child("api_url"),
                               insecure=insecure) if _string(table, "api_url", where) else ""),
        scans=_sub(table, "scans", where, _scans),
        theme=_string(table, "theme", where) or None,
    )


_REPOSITORY_PATTERN = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
                                 r"(?:/\*)?$")


def _repository_list(table: Mapping[str, Any], where: _Where) -> tuple[str, ...]:
    """`repositories = ["library/nginx", "myorg/*"]`: names checked now, not at first use."""
    if "repositories" not in table:
        return ()
    here = where.child("repositories")
    items: list[Any] = _expect(table["repositories"], list, "an array of strings", here)
    names: list[str] = []
    for i, item in enumerate(items):
        name = _expect(item, str, "a string", here.child(i)).strip()
        if not _REPOSITORY_PATTERN.match(name) or name == "*":
            raise here.child(i).error(f"expected a repository name like library/nginx or a "
                                      f"namespace pattern like myorg/*, got {_describe(item)}")
        if name not in names:
            names.append(name)
    return tuple(names)


def _registries(
    doc: Mapping[str, Any], where: _Where, env: Mapping[str, str]
) -> tuple[RegistryConfig, ...]:
    if "registries" not in doc:
        return ()
    here = where.child("registries")
    items: list[Any] = _expect(doc["registries"], list, "an array of tables ([[registries]])", here)
    result: list[RegistryConfig] = []
    for i, item in enumerate(items):
        reg = _registry(_table(item, here.child(i)), here.child(i), env)
        for j, seen in enumerate(result):
            if seen.name == reg.name:
                raise (
                    here.child(i)
                    .child("name")
                    .error(f"duplicate registry name {_describe(reg.name)} (also registries[{j}])")
                )
        result.append(reg)
    return tuple(result)


_TOP_KEYS = (
    "registries",
    "read_only",
    "refresh_interval",
    "background_refresh_interval",
    "theme",
    "keymap",
    "log_buffer_lines",
    "cache_dir",
    "state_dir",
)


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"{name}: expected 1/true/yes or 0/false/no, got {_describe(value)}")


def _env_interval(env: Mapping[str, str], default: float) -> float:
    value = env.get("REGTUI_REFRESH_INTERVAL")
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0 or number == float("inf"):
        raise ConfigError(
            f"REGTUI_REFRESH_INTERVAL: expected a number greater than 0, got {_describe(value)}"
        )
    return number


def _dir(
    env: Mapping[str, str],
    var: str,
    doc: Mapping[str, Any],
    key: str,
    where: _Where,
    default: Callable[[Mapping[str, str]], Path],
) -> Path:
    if env.get(var):
        return Path(env[var]).expanduser()
    return _path(doc, key, where) or default(env)


def _build(
    doc: Mapping[str, Any], where: _Where, env: Mapping[str, str], path: Path | None
) -> Config:
    _check_keys(doc, _TOP_KEYS, where)
    return Config(
        registries=_registries(doc, where, env),
        read_only=_env_bool(env, "REGTUI_READ_ONLY", _bool(doc, "read_only", where, False)),
        read_only_env=(_env_bool(env, "REGTUI_READ_ONLY", False)
                       if env.get("REGTUI_READ_ONLY", "").strip() else None),
        refresh_interval=_env_interval(env, _positive(doc, "refresh_interval", where, 30.0)),
        background_refresh_interval=_positive(doc, "background_refresh_interval", where, 300.0),
        theme=_env_string(env, "REGTUI_THEME", _string(doc, "theme", where, DEFAULT_THEME)),
        keymap=_string_map(doc, "keymap", where),
        log_buffer_lines=_int(doc, "log_buffer_lines", where, 100_000, 1_000, 10_000_000),
        cache_dir=_dir(env, "REGTUI_CACHE_DIR", doc, "cache_dir", where, default_cache_dir),
        state_dir=_dir(env, "REGTUI_STATE_DIR", doc, "state_dir", where, default_state_dir),
        path=path,
    )


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _parse_toml(path: Path) -> dict[str, Any]:
    """Read and parse, turning OS and syntax errors into one line with file:line:column."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, text, str(exc)) from None


def _syntax_error(path: Path, text: str, message: str) -> ConfigError:
    """tomllib puts the position in the message: `(at line L, column C)` or `(at end...)`."""
    match = _TOML_POSITION.search(message)
    if match:
        reason, line, column = message[: match.start()], int(match[1]), int(match[2])
    else:
        reason = re.sub(r"\s*\(at end of document\)\s*$", "", message)
        line, column = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
    return ConfigError(
        f"{path}:{line}:{column}: TOML syntax error at line {line}, column {column}: {reason}"
    )


def load_config(path: Path | None = None, env: Mapping[str, str] = os.environ) -> Config:
    """Load, validate and apply env overrides; a missing default file means no registries."""
    explicit = path is not None or bool(env.get("REGTUI_CONFIG"))
    target = path if path is not None else config_path(env)
    if not target.exists():
        if explicit:
            raise ConfigError(f"{target}: config file not found")
        return _build({}, _Where("(environment)"), env, None)
    doc = _parse_toml(target)
    return _build(doc, _Where(str(target)), env, target)


def adhoc_registry(url: str, *, insecure: bool = False,
                   env: Mapping[str, str] = os.environ) -> RegistryConfig:
    """A registry from `--registry URL` with no config file: named after its host."""
    normalized = normalize_url(url, _Where("--registry"), insecure=insecure)
    name = RegistryConfig(name="", url=normalized).host
    username = env_username(name, env)
    return RegistryConfig(name=name, url=normalized, insecure=insecure,
                          auth=AuthConfig(username=username))
