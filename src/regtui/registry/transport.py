"""The one HTTP transport every backend uses: TLS, retries, timeouts and the read-only guard.

The read-only guard lives here, below every backend and service, so that read-only mode does
not depend on the UI remembering to hide a key: a request that could change a registry is
refused before it leaves the process.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import httpx

from regtui import __version__
from regtui.errors import ReadOnlyError, RegistryError
from regtui.registry.aiotransport import AiohttpTransport
from regtui.registry.pacing import AdaptiveLimit, PacedTransport

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
NOT_PROCESSED: Final = frozenset({429, 503})
"""Answers that say the request was not carried out: safe to send a change again."""
MAX_RETRY_DELAY: Final = 30.0
TOKEN_REQUEST: Final = "regtui_token_request"
CERTS_D: Final = Path("/etc/docker/certs.d")

Sleep = Callable[[float], Awaitable[None]]


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """Read `Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float = 0.25) -> float:
    """Exponential backoff with jitter, so many workers do not retry in lockstep."""
    return min(MAX_RETRY_DELAY, base * (2.0**attempt)) * (0.5 + random.random() / 2)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport: refuses writes when read-only, retries what is safe to retry."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        registry: str,
        read_only: bool,
        retries: int = 3,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._inner = inner
        self._registry = registry
        self.read_only = read_only
        self._retries = retries
        self._sleep = sleep
        self.requests_sent = 0

    def check_allowed(self, request: httpx.Request) -> None:
        """The second lock of read-only mode (the operations service is the first)."""
        if not self.read_only or request.method in SAFE_METHODS:
            return
        if request.extensions.get(TOKEN_REQUEST):
            return
        raise ReadOnlyError(
            f"read-only mode: refused {request.method} {request.url.path} on registry "
            f"{self._registry} before sending it"
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.check_allowed(request)
        attempt = 0
        while True:
            try:
                response = await self._inner.handle_async_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                # Nothing reached the server, so any method may be tried again.
                if attempt >= self._retries:
                    raise
            except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError):
                # A change that may have happened is never sent twice: a retried DELETE would
                # answer 404 and hide that the first one worked.
                if attempt >= self._retries or request.method not in SAFE_METHODS:
                    raise
            else:
                self.requests_sent += 1
                if not self._should_retry(request, response, attempt):
                    return response
                delay = retry_after_seconds(response)
                await response.aclose()
                await self._sleep(min(MAX_RETRY_DELAY, delay) if delay is not None
                                  else backoff_delay(attempt))
                attempt += 1
                continue
            await self._sleep(backoff_delay(attempt))
            attempt += 1

    def _should_retry(self, request: httpx.Request, response: httpx.Response, attempt: int) -> bool:
        if attempt >= self._retries or response.status_code not in RETRY_STATUSES:
            return False
        return request.method in SAFE_METHODS or response.status_code in NOT_PROCESSED

    async def aclose(self) -> None:
        await self._inner.aclose()


def ssl_context(host: str, *, ca_file: Path | None, insecure: bool,
                certs_d: Path = CERTS_D) -> ssl.SSLContext | bool:
    """Verification on by default; a per-registry CA and docker's certs.d are honoured."""
    if insecure:
        return False
    context = ssl.create_default_context()
    extra = [p for p in (ca_file, certs_d / host / "ca.crt") if p is not None]
    for path in extra:
        if path is ca_file and not path.is_file():
            raise RegistryError(f"registry {host}: ca_file {path} does not exist")
        if path.is_file():
            try:
                context.load_verify_locations(cafile=str(path))
            except (ssl.SSLError, OSError) as exc:
                raise RegistryError(f"registry {host}: cannot load CA file {path}: {exc}") from exc
    return context


class RegistryClient(httpx.AsyncClient):
    """The httpx client of one registry, with what its pacing layer knows about it."""

    pacing: PacedTransport | None = None

    @property
    def requests_sent(self) -> int:
        """Requests this process sent to the registry (each retry and token request too)."""
        return self.pacing.meter.sent if self.pacing is not None else 0

    def request_rate(self, window: float = 10.0) -> float:
        """regtui's own requests per second to the registry over the last `window` seconds."""
        return self.pacing.meter.rate(window) if self.pacing is not None else 0.0


def inner_transport(kind: str, *, verify: ssl.SSLContext | bool,
                    connections: int) -> httpx.AsyncBaseTransport:
    """The transport that does the I/O: aiohttp's pool and parser, or httpx's own httpcore."""
    if kind == "aiohttp":
        return AiohttpTransport(verify=verify, max_connections=connections)
    if kind == "httpcore":
        return httpx.AsyncHTTPTransport(verify=verify, limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections))
    raise ValueError(f"unknown inner transport {kind!r}")


def build_client(
    *,
    name: str,
    url: str,
    host: str,
    read_only: bool,
    auth: httpx.Auth | None = None,
    concurrency: int = 8,
    max_concurrency: int = 32,
    max_requests_per_second: float | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    ca_file: Path | None = None,
    insecure: bool = False,
    inner: str = "aiohttp",
) -> RegistryClient:
    """One pooled client per registry: keep-alive pool, pacing, read-only guard outermost."""
    verify = ssl_context(host, ca_file=ca_file, insecure=insecure)
    cap = max(concurrency, max_concurrency)
    pacing = PacedTransport(inner_transport(inner, verify=verify, connections=cap),
                            limit=AdaptiveLimit(concurrency, max_concurrency),
                            rate=max_requests_per_second)
    transport = GuardedTransport(pacing, registry=name, read_only=read_only, retries=retries)
    client = RegistryClient(
        base_url=url,
        transport=transport,
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": f"regtui/{__version__}"},
        follow_redirects=True,
    )
    client.pacing = pacing
    return client


def describe_http_error(exc: httpx.HTTPError, *, registry: str, url: str) -> RegistryError:
    """Turn an httpx failure into the one line an operator needs."""
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return RegistryError(
            f"registry {registry} at {url}: TLS verification failed ({cause.verify_message}); "
            "set ca_file for it, put the CA in /etc/docker/certs.d/<host>/ca.crt, "
            "or insecure = true if you must"
        )
    if isinstance(cause, ssl.SSLError):
        return RegistryError(f"registry {registry} at {url}: TLS error: {cause.reason or cause}")
    if isinstance(exc, httpx.TimeoutException):
        return RegistryError(f"registry {registry} at {url}: timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return RegistryError(f"registry {registry} at {url}: cannot connect: {_short(cause)}")
    return RegistryError(f"registry {registry} at {url}: {type(exc).__name__}: {_short(cause)}")


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        assert nxt is not None
        exc = nxt
    return exc


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]
