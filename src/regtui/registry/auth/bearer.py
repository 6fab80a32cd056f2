"""docker's token dance (distribution's token spec) as an `httpx.Auth` for one registry.

On a 401, `RegistryAuth` reads `WWW-Authenticate`; for Basic it resends with credentials,
for Bearer it checks the realm (`realm.check_realm`, before anything is sent there), fetches
a token for the request's scope and caches it per scope. Redirects of a token request are
re-checked by the transport through `URL_GUARD`. No secret is put in a message, and every
token received is remembered so an echo of it is cut from error text.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx

from regtui.config import RegistryConfig
from regtui.errors import AuthError
from regtui.redact import remember_secret
from regtui.registry.auth.challenge import Challenge, parse_www_authenticate
from regtui.registry.auth.credentials import Credentials, first_line
from regtui.registry.auth.realm import check_realm, realm_refusal
from regtui.registry.auth.sources import LOGIN_HINT, resolve_credentials
from regtui.registry.transport import TOKEN_REQUEST, URL_GUARD

TOKEN_REQUEST_EXTENSION = TOKEN_REQUEST
DEFAULT_TOKEN_LIFETIME = 60.0


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
                return first_line(text)
        for key in ("error_description", "details", "message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return first_line(body[key])
    return f"{response.status_code} {response.reason_phrase}".strip()


def _same_origin(one: httpx.Request, other: httpx.Request) -> bool:
    return (one.url.scheme, one.url.host, one.url.port) == (
        other.url.scheme, other.url.host, other.url.port)


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
        self._registry, self._name, self._host = registry, registry.name, registry.host
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
            if response.status_code != 401 or not _same_origin(response.request, request):
                return  # a 401 from where a redirect led (storage) is not the registry's
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
            f"registry {self._name} requires a login: set [registries.auth] or use {LOGIN_HINT}"
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
        if challenge.is_basic:
            credentials = await self._credentials()
            if credentials is None:
                raise self._login_required()
            if sent.startswith("Basic "):
                raise self._failed(response, credentials)
            self._basic = True
            return
        self._realm(challenge)  # refused here, before credentials are even looked up
        self._bearer = Challenge(
            challenge.scheme,
            {k: v for k, v in challenge.params.items() if k in ("realm", "service")},
        )
        for scope, token in list(self._tokens.items()):
            if sent == f"Bearer {token.value}":
                del self._tokens[scope]

    # -- the token endpoint -----------------------------------------------------------------

    def _realm(self, challenge: Challenge) -> httpx.URL:
        """The realm, refused (`AuthError`) unless credentials may go there."""
        return check_realm(self._registry, challenge.params.get("realm", ""))

    def _guard(self, url: httpx.URL) -> None:
        """Run by the transport on every URL a token request reaches, redirects included."""
        reason = realm_refusal(self._registry, url)
        if reason is not None:
            raise AuthError(
                f"registry {self._name}: refused a redirect of its token request to "
                f"{url.copy_with(query=None)} ({reason}); nothing was sent to it"
            )

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
        extensions: dict[str, Any] = {TOKEN_REQUEST_EXTENSION: True, URL_GUARD: self._guard}
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
        remember_secret(value)
        return _Token(value, self._clock() + _early(_lifetime(answer)))

    def _store(self, scope: str, token: _Token) -> None:
        self._tokens[scope] = token
