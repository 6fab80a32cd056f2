"""Logging in to registries: where credentials come from, and docker's token dance.

Credentials are looked up the way docker does (env > regtui config > config.json with its
credential helpers), so `docker login` is enough for most operators and ECR/ACR/GCR work
through their helpers. `RegistryAuth` implements the distribution token spec: on a 401 it
reads `WWW-Authenticate`, fetches a bearer token for the request's scope and caches it.
No secret is ever put in a message or a log line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx

from regtui.config import RegistryConfig, registry_env_prefix
from regtui.errors import AuthError

TOKEN_REQUEST_EXTENSION = "regtui_token_request"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = frozenset({"registry-1.docker.io", "docker.io", "index.docker.io"})
IDENTITY_TOKEN_USER = "<token>"
HELPER_TIMEOUT = 30.0
DEFAULT_TOKEN_LIFETIME = 60.0
_NOT_FOUND = "credentials not found"


@dataclass(frozen=True)
class Credentials:
    """A user and a secret; with `identity_token` the secret is an OAuth2 refresh token."""

    username: str
    """The login name; `<token>` for an identity token from docker's config or a helper."""
    password: str = field(repr=False)
    """The secret; kept out of `repr` so it cannot end up in a log or a traceback."""
    identity_token: bool = False
    """True when `password` is an OAuth2 refresh token for the token endpoint."""


# ---------------------------------------------------------------------------------------------
# Where credentials come from


def resolve_credentials(
    registry: RegistryConfig, env: Mapping[str, str] = os.environ
) -> Credentials | None:
    """Env override > `[registries.auth]` > docker's config.json; None means anonymous."""
    found = _from_env(registry, env) or _from_config(registry, env)
    if found is None and registry.auth.docker_config:
        found = _from_docker_config(registry.host, env)
    if found is None and registry.auth.username:
        raise AuthError(
            f"registry {registry.name}: auth.username is set but no password was found "
            "(set password_env or password_command, or docker login)"
        )
    return found


def _from_env(registry: RegistryConfig, env: Mapping[str, str]) -> Credentials | None:
    prefix = registry_env_prefix(registry.name)
    password = env.get(f"{prefix}_PASSWORD")
    if not password:
        return None
    username = env.get(f"{prefix}_USERNAME") or registry.auth.username
    if not username:
        raise AuthError(
            f"registry {registry.name}: {prefix}_PASSWORD is set but no user name "
            f"({prefix}_USERNAME or auth.username)"
        )
    return Credentials(username, password)


def _from_config(registry: RegistryConfig, env: Mapping[str, str]) -> Credentials | None:
    auth = registry.auth
    username = env.get(f"{registry_env_prefix(registry.name)}_USERNAME") or auth.username
    if not username:
        return None
    if auth.password_env:
        password = env.get(auth.password_env)
        if not password:
            state = "is empty" if password == "" else "is not set"
            raise AuthError(
                f"registry {registry.name}: environment variable {auth.password_env} "
                f"(auth.password_env) {state}"
            )
        return Credentials(username, password)
    if auth.password_command:
        return Credentials(username, _run_password_command(registry.name, auth.password_command))
    return None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else ""


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
        reason = _first_line(done.stderr) or f"exit status {done.returncode}"
        raise AuthError(f"registry {name}: auth.password_command failed: {reason}")
    password = done.stdout.strip()
    if not password:
        raise AuthError(f"registry {name}: auth.password_command printed nothing")
    return password


# ---------------------------------------------------------------------------------------------
# docker's config.json


def docker_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]).expanduser() / "config.json"
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".docker" / "config.json"


def _load_docker_config(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"{path}: cannot read docker config: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuthError(
            f"{path}: malformed docker config: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise AuthError(f"{path}: malformed docker config: expected a JSON object")
    return data


def _section(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuthError(f"{path}: malformed docker config: {key} must be an object")
    return value


def docker_hostname(key: str) -> str:
    """docker's ConvertToHostname: drop the scheme and anything after the first `/`."""
    for scheme in ("http://", "https://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
    return key.split("/", 1)[0]


def is_docker_hub(host: str) -> bool:
    return host in DOCKER_HUB_HOSTS


def credential_server(host: str) -> str:
    """The server address docker files a host under: Docker Hub has its legacy v1 URL."""
    return DOCKER_HUB_SERVER if is_docker_hub(host) else host


def _matching(section: Mapping[str, Any], host: str) -> tuple[str, Any] | None:
    """Exact key first, then any key naming the same host the way docker normalizes them."""
    wanted = DOCKER_HUB_HOSTS if is_docker_hub(host) else {host}
    for candidate in (host, f"https://{host}", f"http://{host}", credential_server(host)):
        if candidate in section:
            return candidate, section[candidate]
    for key, value in section.items():
        if docker_hostname(key) in wanted:
            return key, value
    return None


def _from_docker_config(host: str, env: Mapping[str, str]) -> Credentials | None:
    """`credHelpers[host]` > `credsStore` > `auths[host]`, as `docker pull` does."""
    path = docker_config_path(env)
    data = _load_docker_config(path)
    if data is None:
        return None
    server = credential_server(host)
    helper = _matching(_section(data, "credHelpers", path), host)
    if helper is not None:
        return run_credential_helper(_helper_name(helper[1], path), server)
    store = data.get("credsStore")
    if store:
        found = run_credential_helper(_helper_name(store, path), server)
        if found is not None:
            return found
    entry = _matching(_section(data, "auths", path), host)
    return _auth_entry(entry[0], entry[1], path) if entry else None


def _helper_name(value: object, path: Path) -> str:
    if not isinstance(value, str) or not value:
        raise AuthError(f"{path}: malformed docker config: helper names must be strings")
    return value


def _auth_entry(key: str, entry: object, path: Path) -> Credentials | None:
    """One `auths` entry: `identitytoken`, `auth` (base64 user:pass) or username/password."""
    if not isinstance(entry, dict):
        raise AuthError(f"{path}: malformed docker config: auths[{key!r}] must be an object")
    username, password = _entry_user_password(key, entry, path)
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(username or IDENTITY_TOKEN_USER, token, identity_token=True)
    if username and password:
        return Credentials(username, password)
    return None


def _entry_user_password(key: str, entry: Mapping[str, Any], path: Path) -> tuple[str, str]:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, sep, password = decoded.partition(":")
        if not sep:
            raise AuthError(
                f"{path}: malformed docker config: auths[{key!r}].auth is not base64 user:password"
            )
        return user, password
    return str(entry.get("username") or ""), str(entry.get("password") or "")


# ---------------------------------------------------------------------------------------------
# Credential helpers


def run_credential_helper(
    helper: str, server: str, *, timeout: float = HELPER_TIMEOUT
) -> Credentials | None:
    """`docker-credential-<helper> get` with the server on stdin; None when it has nothing."""
    program = f"docker-credential-{helper}"
    executable = shutil.which(program)
    if executable is None:
        raise AuthError(f"credential helper {program} (for {server}) not found on PATH")
    try:
        done = subprocess.run(
            [executable, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        message = f"credential helper {program} timed out after {timeout:g} s for {server}"
        raise AuthError(message) from None
    except OSError as exc:
        raise AuthError(f"credential helper {program} could not run: {exc.strerror}") from None
    return _helper_answer(program, server, done)


def _helper_answer(
    program: str, server: str, done: subprocess.CompletedProcess[str]
) -> Credentials | None:
    if done.returncode != 0:
        # Helpers print "credentials not found in native keychain" on stdout for a miss.
        if _NOT_FOUND in done.stdout.lower() or _NOT_FOUND in done.stderr.lower():
            return None
        reason = _first_line(done.stderr) or _first_line(done.stdout) or f"exit {done.returncode}"
        raise AuthError(f"credential helper {program} failed for {server}: {reason}")
    try:
        answer = json.loads(done.stdout)
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("Secret"), str):
        raise AuthError(
            f"credential helper {program} answered something other than "
            f'{{"ServerURL","Username","Secret"}} JSON for {server}'
        )
    username, secret = str(answer.get("Username") or ""), answer["Secret"]
    if not secret:
        return None
    if username == IDENTITY_TOKEN_USER:
        return Credentials(username, secret, identity_token=True)
    return Credentials(username, secret)


# ---------------------------------------------------------------------------------------------
# WWW-Authenticate


@dataclass(frozen=True)
class Challenge:
    """One RFC 7235 challenge; `scheme` as written, `params` keys lower-cased."""

    scheme: str
    """`Bearer`, `Basic` ... as the server wrote it; compare with `is_bearer`/`is_basic`."""
    params: Mapping[str, str] = field(default_factory=dict)
    """`realm`, `service`, `scope`, `error` ...; a bare token68 is kept under `token68`."""

    @property
    def is_bearer(self) -> bool:
        return self.scheme.lower() == "bearer"

    @property
    def is_basic(self) -> bool:
        return self.scheme.lower() == "basic"


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_BARE = re.compile(r"[^,\s]+")


class _Scanner:
    """A cursor over a header value; the challenge grammar needs one token of look-ahead."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def skip(self, chars: str = " \t") -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> str:
        found = pattern.match(self.text, self.pos)
        if not found:
            return ""
        self.pos = found.end()
        return found.group()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def quoted(self) -> str:
        """A quoted-string: backslash escapes the next character."""
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            out.append(self.text[self.pos])
            self.pos += 1
        self.pos += 1
        return "".join(out)


def _param(scan: _Scanner) -> tuple[str, str] | None:
    """`name = value`, or None (position restored) when the next thing starts a challenge."""
    start = scan.pos
    scan.skip(" \t,")
    name = scan.match(_TOKEN)
    scan.skip()
    if not name or scan.peek() != "=":
        scan.pos = start
        return None
    scan.pos += 1
    scan.skip()
    value = scan.quoted() if scan.peek() == '"' else scan.match(_BARE)
    return name.lower(), value


def _challenge(scan: _Scanner) -> Challenge | None:
    scan.skip(" \t,")
    scheme = scan.match(_TOKEN)
    if not scheme:
        return None
    scan.skip()
    params: dict[str, str] = {}
    token68 = _token68(scan)
    if token68:
        params["token68"] = token68
    while (pair := _param(scan)) is not None:
        params[pair[0]] = pair[1]
    return Challenge(scheme, params)


def _token68(scan: _Scanner) -> str:
    """A bare token68 after the scheme (e.g. `Negotiate abc==`), not a `name=value` param."""
    start = scan.pos
    value = scan.match(_TOKEN68)
    end = scan.pos
    scan.skip()
    if value and scan.peek() in ("", ","):
        scan.pos = end
        return value
    scan.pos = start
    return ""


def parse_www_authenticate(header: str | list[str]) -> list[Challenge]:
    """Every challenge in one header value (or several), in order; garbage is skipped."""
    values = [header] if isinstance(header, str) else header
    challenges: list[Challenge] = []
    for value in values:
        scan = _Scanner(value)
        while scan.pos < len(value):
            before = scan.pos
            found = _challenge(scan)
            if found is not None:
                challenges.append(found)
            if scan.pos == before:
                scan.pos += 1
    return challenges


# ---------------------------------------------------------------------------------------------
# Scopes and bearer tokens

_REPOSITORY_PATH = re.compile(
    r"^/v2/(?P<name>.+)/(?:manifests/[^/]+|blobs/uploads/[^/]*|blobs/[^/]+|tags/list"
    r"|referrers/[^/]+)/?$"
)
_PUSH_METHODS = frozenset({"PUT", "POST", "PATCH"})


def scope_for(method: str, path: str) -> str:
    """The token scope a request needs; `""` for paths naming no resource (the `/v2/` ping)."""
    if path.rstrip("/") == "/v2/_catalog":
        return "registry:catalog:*"
    match = _REPOSITORY_PATH.match(path)
    if match is None:
        return ""
    method = method.upper()
    action = "delete" if method == "DELETE" else "pull,push" if method in _PUSH_METHODS else "pull"
    return f"repository:{match['name']}:{action}"


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


def _lifetime(answer: Mapping[str, Any]) -> float:
    """`expires_in` seconds, 60 when absent or nonsense (the token spec's default)."""
    value = answer.get("expires_in")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return DEFAULT_TOKEN_LIFETIME
    return float(value)


def _early(lifetime: float) -> float:
    """Refresh a little before expiry so a token never dies in flight."""
    return lifetime - min(10.0, lifetime / 10)


def registry_message(response: httpx.Response) -> str:
    """The human part of an error answer: distribution's `errors[0].message`, OAuth2's
    `error_description`, Docker Hub's `details` ... else the status line."""
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError, httpx.ResponseNotRead):
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            text = str(errors[0].get("message") or errors[0].get("code") or "")
            if text:
                return _first_line(text)
        for key in ("error_description", "details", "message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return _first_line(body[key])
    return f"{response.status_code} {response.reason_phrase}".strip()


def _basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class RegistryAuth(httpx.Auth):
    """docker's auth flow for one registry: Basic, or bearer tokens cached per scope.

    One instance per registry client; it remembers which scheme the registry wants so later
    requests carry credentials up front instead of paying a 401 each.
    """

    requires_response_body = True

    def __init__(
        self,
        registry: RegistryConfig,
        credentials: Callable[[], Credentials | None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name, self._host = registry.name, registry.host
        self._source = credentials or (lambda: resolve_credentials(registry))
        self._clock = clock
        self._resolved: tuple[Credentials | None, AuthError | None] | None = None
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._bearer: Challenge | None = None
        self._basic = False

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("RegistryAuth works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        scope = scope_for(request.method, request.url.path)
        challenge, extra = self._bearer, cast(tuple[str, ...], ())
        for attempt in range(2):
            if challenge is not None and challenge.is_bearer and self._fresh(scope) is None:
                async with self._lock(scope):
                    if self._fresh(scope) is None:
                        credentials = await self._credentials()
                        answer = yield self._token_request(
                            request, challenge, (scope, *extra), credentials
                        )
                        await answer.aread()
                        self._store(scope, self._read_token(answer, challenge, credentials))
            sent = await self._attach(request, scope)
            response = yield request
            if response.status_code != 401:
                return
            await response.aread()  # overriding async_auth_flow skips httpx's own read
            if attempt == 1:
                raise self._failed(response, await self._credentials())
            challenge = self._challenge(response)
            extra = tuple(challenge.params.get("scope", "").split())
            await self._after_challenge(challenge, sent, response)

    # -- credentials ------------------------------------------------------------------------

    async def _credentials(self) -> Credentials | None:
        """Ask the source once, off the event loop: helpers and commands may take seconds."""
        if self._resolved is None:
            async with self._lock("\0credentials"):
                if self._resolved is None:
                    self._resolved = await asyncio.to_thread(self._resolve)
        found, error = self._resolved
        if error is not None:
            raise error
        return found

    def _resolve(self) -> tuple[Credentials | None, AuthError | None]:
        try:
            return self._source(), None
        except AuthError as exc:
            return None, exc

    def _login_required(self) -> AuthError:
        return AuthError(
            f"registry {self._name} requires a login: set [registries.auth] or docker login"
        )

    def _failed(self, response: httpx.Response, credentials: Credentials | None) -> AuthError:
        if credentials is None:
            return self._login_required()
        return AuthError(
            f"authentication failed for user {credentials.username} at {self._host}: "
            f"{registry_message(response)}"
        )

    # -- per-request steps ------------------------------------------------------------------

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _fresh(self, scope: str) -> _Token | None:
        token = self._tokens.get(scope)
        return token if token is not None and self._clock() < token.expires_at else None

    async def _attach(self, request: httpx.Request, scope: str) -> str:
        """Put what we know on the request; returns the header sent, for the retry check."""
        if self._basic:
            credentials = await self._credentials()
            if credentials is not None:
                request.headers["Authorization"] = _basic_header(credentials)
        elif (token := self._fresh(scope)) is not None:
            request.headers["Authorization"] = f"Bearer {token.value}"
        return str(request.headers.get("Authorization", ""))

    def _challenge(self, response: httpx.Response) -> Challenge:
        challenges = parse_www_authenticate(response.headers.get_list("www-authenticate"))
        bearer = [c for c in challenges if c.is_bearer]
        basic = [c for c in challenges if c.is_basic]
        if bearer or basic:
            return (bearer or basic)[0]
        raise AuthError(
            f"registry {self._name} answered 401 for {response.request.url.path} without a "
            f"Basic or Bearer challenge: {registry_message(response)}"
        )

    async def _after_challenge(
        self, challenge: Challenge, sent: str, response: httpx.Response
    ) -> None:
        """Remember the scheme; drop a token the registry just refused."""
        credentials = await self._credentials()
        if challenge.is_basic:
            if credentials is None:
                raise self._login_required()
            if sent.startswith("Basic "):
                raise self._failed(response, credentials)
            self._basic = True
            return
        self._realm(challenge)
        self._bearer = Challenge(
            challenge.scheme,
            {k: v for k, v in challenge.params.items() if k in ("realm", "service")},
        )
        for scope, token in list(self._tokens.items()):
            if sent == f"Bearer {token.value}":
                del self._tokens[scope]

    # -- the token endpoint -----------------------------------------------------------------

    def _realm(self, challenge: Challenge) -> httpx.URL:
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AuthError(
                f"registry {self._name} sent a bearer challenge with an unusable realm {realm!r}"
            )
        return httpx.URL(realm)

    def _token_request(
        self,
        original: httpx.Request,
        challenge: Challenge,
        scopes: tuple[str, ...],
        credentials: Credentials | None,
    ) -> httpx.Request:
        """GET with Basic (or anonymous), or the OAuth2 refresh-token POST for identity tokens."""
        wanted = list(dict.fromkeys(s for s in scopes if s))
        service = challenge.params.get("service", "")
        extensions: dict[str, Any] = {TOKEN_REQUEST_EXTENSION: True}
        if "timeout" in original.extensions:
            extensions["timeout"] = original.extensions["timeout"]
        headers = {"User-Agent": original.headers.get("User-Agent", "regtui")}
        if credentials is not None and credentials.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credentials.password,
                "service": service,
                "client_id": "regtui",
                "scope": " ".join(wanted),
            }
            return httpx.Request(
                "POST", self._realm(challenge), data=form, headers=headers, extensions=extensions
            )
        params: dict[str, str | list[str]] = {"scope": wanted} if wanted else {}
        if service:
            params["service"] = service
        if credentials is not None:
            params["account"] = credentials.username
            headers["Authorization"] = _basic_header(credentials)
        url = self._realm(challenge).copy_merge_params(params)
        return httpx.Request("GET", url, headers=headers, extensions=extensions)

    def _read_token(
        self, response: httpx.Response, challenge: Challenge, credentials: Credentials | None
    ) -> _Token:
        realm = challenge.params.get("realm", "")
        if response.status_code in (401, 403):
            raise self._failed(response, credentials)
        if not response.is_success:
            raise AuthError(
                f"token endpoint {realm} for registry {self._name} answered "
                f"{response.status_code}: {registry_message(response)}"
            )
        try:
            answer = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = None
        value = (
            answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
        )
        if not isinstance(value, str) or not value or not isinstance(answer, dict):
            raise AuthError(
                f"token endpoint {realm} for registry {self._name} answered without a token "
                "(expected JSON with token or access_token)"
            )
        return _Token(value, self._clock() + _early(_lifetime(answer)))

    def _store(self, scope: str, token: _Token) -> None:
        self._tokens[scope] = token
