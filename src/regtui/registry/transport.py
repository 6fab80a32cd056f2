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
from regtui.errors import ProtocolError, ReadOnlyError, RegistryError
from regtui.registry.pacing import AdaptiveLimit, PacedTransport

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
NOT_PROCESSED: Final = frozenset({429, 503})
"""Answers that say the request was not carried out: safe to send a change again."""
MAX_RETRY_DELAY: Final = 30.0
DEFAULT_DEADLINE: Final = 60.0
"""Seconds one request may take in all, every retry and wait included."""
PURPOSE: Final = "regtui_purpose"
"""Request extension: what the request is for (`tag list of app`), named by its errors."""
BODY_LIMIT: Final = "regtui_body_limit"
"""Request extension: read the body in the transport, at most this many bytes."""
TOKEN_REQUEST: Final = "regtui_token_request"
URL_GUARD: Final = "regtui_url_guard"
"""A request extension: a callable vetting each URL the request reaches (redirects too,
which share the extensions) before it is sent; it raises to refuse."""
CERTS_D: Final = Path("/etc/docker/certs.d")

Sleep = Callable[[float], Awaitable[None]]


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """Read `Retry-After` as seconds or an HTTP date, or Docker Hub's `X-Retry-After` (a Unix
    time); None when absent or unreadable."""
    clock = time.time() if now is None else now
    value = response.headers.get("retry-after", "").strip()
    unix = response.headers.get("x-retry-after", "").strip()
    if not value and unix.isdigit():
        return max(0.0, float(unix) - clock)
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - clock)


def exhausted_quota(response: httpx.Response) -> bool:
    """A 429 that says the quota is spent for its window (`ratelimit-remaining: 0;w=...`), or
    asks for a wait longer than any retry here: retrying would only fail again."""
    remaining = response.headers.get("ratelimit-remaining", "").split(";", 1)[0].strip()
    wait = retry_after_seconds(response)
    return remaining == "0" or (wait is not None and wait > MAX_RETRY_DELAY)


def backoff_delay(attempt: int, base: float = 0.25) -> float:
    """Exponential backoff with jitter, so many workers do not retry in lockstep."""
    return min(MAX_RETRY_DELAY, base * (2.0**attempt)) * (0.5 + random.random() / 2)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport: refuses writes when read-only, retries what is safe to retry.

    Every request has one total deadline covering all its attempts and waits. Reads that ask
    for it (`BODY_LIMIT` in the request's extensions) get their body read here, bounded, so
    a connection dropped or a body cut short while reading is retried like a 5xx answer.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        registry: str,
        read_only: bool,
        retries: int = 3,
        deadline: float = DEFAULT_DEADLINE,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._inner = inner
        self._registry = registry
        self.read_only = read_only
        self._retries = retries
        self._deadline = deadline
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
        guard = request.extensions.get(URL_GUARD)
        if guard is not None:
            guard(request.url)
        attempts: list[str] = []
        try:
            async with asyncio.timeout(self._deadline) as scope:
                return await self._attempts(request, attempts, time.monotonic())
        except TimeoutError:
            if not scope.expired():
                raise
            tried = f"; {len(attempts)} attempts: {', '.join(attempts[-3:])}" if attempts else ""
            raise RegistryError(
                f"registry {self._registry}: {request_label(request)}: no complete answer "
                f"within the {self._deadline:g} s deadline{tried}") from None

    async def _attempts(self, request: httpx.Request, attempts: list[str],
                        started: float) -> httpx.Response:
        while True:
            try:
                response = await self._inner.handle_async_request(request)
                self.requests_sent += 1
                response = await self._buffered(request, response)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the server, so any method may be tried again.
                attempts.append(type(exc).__name__)
                delay = backoff_delay(len(attempts) - 1)
                if not self._may_retry(len(attempts), started, delay):
                    raise
            except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # A change that may have happened is never sent twice: a retried DELETE would
                # answer 404 and hide that the first one worked.
                attempts.append(type(exc).__name__)
                delay = backoff_delay(len(attempts) - 1)
                if request.method not in SAFE_METHODS or not self._may_retry(
                        len(attempts), started, delay):
                    raise
            else:
                attempts.append(f"HTTP {response.status_code}")
                if not self._should_retry(request, response):
                    return response
                after = retry_after_seconds(response)
                delay = min(MAX_RETRY_DELAY, after) if after is not None else backoff_delay(
                    len(attempts) - 1)
                if not self._may_retry(len(attempts), started, delay):
                    return response
                await response.aclose()
            await self._sleep(delay)

    def _may_retry(self, attempts: int, started: float, delay: float) -> bool:
        """Within the retry count, and the wait still leaves time before the deadline."""
        return attempts <= self._retries and (
            time.monotonic() + delay < started + self._deadline)

    def _should_retry(self, request: httpx.Request, response: httpx.Response) -> bool:
        if response.status_code not in RETRY_STATUSES:
            return False
        if response.status_code == 429 and exhausted_quota(response):
            return False
        return request.method in SAFE_METHODS or response.status_code in NOT_PROCESSED

    async def _buffered(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        """Read a safe request's body here, at most `BODY_LIMIT` bytes, so failures retry."""
        limit = request.extensions.get(BODY_LIMIT)
        if not isinstance(limit, int) or request.method not in SAFE_METHODS:
            return response
        chunks: list[bytes] = []
        total = 0
        try:
            async for chunk in response.stream:  # type: ignore[union-attr]
                total += len(chunk)
                if total > limit:
                    raise ProtocolError(
                        f"registry {self._registry}: {request_label(request)}: answer larger "
                        f"than {limit} bytes, refused")
                chunks.append(chunk)
        finally:
            await response.aclose()
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=httpx.ByteStream(b"".join(chunks)),
                              extensions=response.extensions, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def request_label(request: httpx.Request) -> str:
    """`GET /v2/app/tags/list (tag list of app)`: the method, path (no query string) and
    purpose an error line names."""
    purpose = request.extensions.get(PURPOSE)
    label = f"{request.method} {_short(request.url.path)}"
    return f"{label} ({_short(str(purpose))})" if purpose else label


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
        # imported on the first client, not at start-up: aiohttp's import (its default TLS
        # contexts included) is a large share of the time to the first frame
        from regtui.registry.aiotransport import AiohttpTransport

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
    deadline: float = DEFAULT_DEADLINE,
    inner: str = "aiohttp",
    shared_with: RegistryClient | None = None,
) -> RegistryClient:
    """One pooled client per registry: keep-alive pool, pacing, read-only guard outermost.

    `shared_with`: another endpoint of the same registry (a Nexus connector) whose rate cap,
    in-flight limit and request count this client shares.
    """
    verify = ssl_context(host, ca_file=ca_file, insecure=insecure)
    cap = max(concurrency, max_concurrency)
    io = inner_transport(inner, verify=verify, connections=cap)
    same = shared_with.pacing if shared_with is not None else None
    pacing = (PacedTransport(io, limit=same.limit, bucket=same.bucket, meter=same.meter)
              if same is not None else
              PacedTransport(io, limit=AdaptiveLimit(concurrency, max_concurrency),
                             rate=max_requests_per_second))
    transport = GuardedTransport(pacing, registry=name, read_only=read_only, retries=retries,
                                 deadline=deadline)
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


def describe_http_error(exc: httpx.HTTPError, *, registry: str, url: str,
                        request: str = "") -> RegistryError:
    """Turn an httpx failure into the one line an operator needs: where, which request, what.

    A failure on the way to the token endpoint names that endpoint, not the registry.
    """
    sent = _request_of(exc)
    if sent is not None and sent.extensions.get(TOKEN_REQUEST):
        realm = f"{sent.url.scheme}://{sent.url.netloc.decode()}{sent.url.path}"
        where = (f"registry {registry}: token endpoint {_short(realm)}"
                 f"{f' (for {request})' if request else ''}")
    else:
        where = f"registry {registry} at {url}{f': {request}' if request else ''}"
        if sent is not None and _origin(str(sent.url)) != _origin(url):
            where += f" (redirected to {_short(_origin(str(sent.url)))})"
    return RegistryError(f"{where}: {_what_failed(exc)}")


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _what_failed(exc: httpx.HTTPError) -> str:
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (f"TLS verification failed ({cause.verify_message}); set ca_file for it, put "
                "the CA in /etc/docker/certs.d/<host>/ca.crt, or insecure = true if you must")
    if isinstance(cause, ssl.SSLError):
        return f"TLS error: {cause.reason or cause}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {_short(cause)}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"connection failed while reading the answer ({type(exc).__name__}: {_short(cause)})"
    return f"{type(exc).__name__}: {_short(cause)}"


def _request_of(exc: httpx.HTTPError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # raised without a request attached
        return None


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        assert nxt is not None
        exc = nxt
    return exc


def _short(value: BaseException | str) -> str:
    text = str(value) or type(value).__name__
    return " ".join(text.split())[:300]
