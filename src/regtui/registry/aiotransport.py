"""An httpx transport on aiohttp: the httpx API the code is written against, at aiohttp's cost.

httpcore's pool bookkeeping and the anyio layer under it cost more CPU per request than the
registry spends answering it (issue 10: 1.39 ms against aiohttp's 0.30 ms). This puts
aiohttp's connection pool and C HTTP parser under `httpx.AsyncClient`.

Why not `httpx_aiohttp.AiohttpTransport` as is: it maps every `aiohttp.ClientConnectionError`
(a server that closed the connection mid-answer, too) to `httpx.ConnectTimeout`, which says
"nothing reached the server" and so lets a change be sent twice. Here only failures before a
connection exists are connect errors; everything after is a read or protocol error.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
import httpx
from yarl import URL

CHUNK: Final = 64 * 1024


def _mapped(exc: BaseException) -> httpx.TransportError:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientConnectorSSLError):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, aiohttp.SocketTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError
                  | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message)
    return httpx.ReadError(message)


class _Body(httpx.AsyncByteStream):
    """The answer's body, read in chunks; closing it returns the connection to the pool."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        self._response.release()


async def _request_body(request: httpx.Request) -> bytes | AsyncIterator[bytes] | None:
    try:
        data = request.content
    except httpx.RequestNotRead:
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):
            # A followed redirect carries the original's bytes unread: framing them as chunks
            # would send a GET with `Transfer-Encoding: chunked`, which storage refuses.
            return b"".join(stream) or None
        assert isinstance(stream, httpx.AsyncByteStream)
        request.headers.pop("transfer-encoding", None)  # aiohttp frames the stream itself

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in stream:
                yield chunk

        return chunks()
    return data or None


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (one keep-alive pool) per registry, created on first use."""

    def __init__(self, *, verify: ssl.SSLContext | bool, max_connections: int,
                 keepalive_expiry: float = 30.0) -> None:
        self._ssl: ssl.SSLContext | bool = verify
        self._max_connections = max_connections
        self._keepalive = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl,
                                         keepalive_timeout=self._keepalive)
        # httpx keeps cookies and decodes bodies itself; aiohttp must do neither.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     auto_decompress=False, skip_auto_headers=("User-Agent",))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None or self._session.closed:
            self._session = self._open()
        timeout: dict[str, Any] = request.extensions.get("timeout", {})
        try:
            response = await self._session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=list(request.headers.multi_items()),
                data=await _request_body(request),
                allow_redirects=False,
                compress=None,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout.get("connect"),
                                              sock_read=timeout.get("read"),
                                              connect=timeout.get("pool")),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            extensions={"http_version": b"HTTP/1.1",
                        "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
