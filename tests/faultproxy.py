"""A fault-injecting HTTP/1.1 proxy on loopback, in front of the real lab registry.

Every request is forwarded to the real registry unless the test's rule picks a fault for it;
then the proxy answers the way a broken network or a hostile registry would: an error status,
a slow or missing answer, a connection dropped or a body cut short mid-way, malformed JSON,
a body that breaks its digest, endless or self-linking pages, a huge body, a malformed
challenge, a redirect elsewhere. It runs its own event loop in a thread, so the regtui under
test can be a subprocess (the real CLI) or the same process (the TUI).

Only the standard library and httpx: it shares no code with regtui.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final
from urllib.parse import parse_qs, urlsplit

import httpx

HOP_HEADERS: Final = frozenset({"connection", "keep-alive", "transfer-encoding", "te",
                                "trailer", "upgrade", "proxy-authorization", "host",
                                "content-length"})
MB: Final = 1024 * 1024


@dataclass(frozen=True)
class Request:
    """What the proxy received: enough for a rule to pick a fault."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)


@dataclass
class Upstream:
    """The real registry's answer to the request, for faults that alter it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")


@dataclass
class Exchange:
    """One request being answered: a fault writes the answer through this."""

    request: Request
    writer: asyncio.StreamWriter
    proxy: FaultProxy

    async def upstream(self) -> Upstream:
        return await self.proxy.forward(self.request)

    async def send(self, status: int, headers: list[tuple[str, str]], body: bytes, *,
                   length: int | None = None) -> None:
        """Status line, headers (Content-Length = `length`, default the body's) and body."""
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_HEADERS]
        lines.append(f"Content-Length: {len(body) if length is None else length}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if self.request.method != "HEAD":
            self.writer.write(body)
        await self.writer.drain()

    async def relay(self, answer: Upstream | None = None) -> None:
        answer = answer or await self.upstream()
        length = answer.header("content-length") if self.request.method == "HEAD" else ""
        await self.send(answer.status, answer.headers, answer.body,
                        length=int(length) if length.isdigit() else None)


Fault = Callable[[Exchange], Awaitable[None]]
Rule = Callable[[Request, int], Fault | None]
"""(request, how many times its method + path was seen, this one included) -> a fault."""


def pass_through(request: Request, seen: int) -> Fault | None:
    return None


@dataclass
class FaultProxy:
    """`with FaultProxy(lab.url) as proxy:` then point regtui at `proxy.url`."""

    upstream_url: str
    rule: Rule = pass_through
    requests: list[Request] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _client: httpx.AsyncClient | None = None
    _stopping: asyncio.Event | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, method: str = "", path_prefix: str = "") -> int:
        """Requests received so far, filtered by method and path prefix."""
        with self._lock:
            return sum(1 for r in self.requests if (not method or r.method == method)
                       and r.path.startswith(path_prefix))

    def drain(self) -> int:
        """Forget the requests seen so far (a long run would hold them all); their count."""
        with self._lock:
            count = len(self.requests)
            self.requests.clear()
            return count

    def reset(self, rule: Rule = pass_through) -> None:
        with self._lock:
            self.rule = rule
            self.requests.clear()
            self._seen.clear()

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="faultproxy")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._request_stop)
        self._thread.join(10)

    async def stopped(self) -> None:
        assert self._stopping is not None
        await self._stopping.wait()

    def _request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    def _run(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve(ready))
        # Keep-alive connections still waiting for a request: end them before the loop goes.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        self._client = httpx.AsyncClient(base_url=self.upstream_url, timeout=60,
                                         follow_redirects=False)
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        await self._stopping.wait()
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)
        await self._client.aclose()

    # -- serving --------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await _read_request(reader)) is not None:
                with self._lock:
                    self.requests.append(request)
                    key = f"{request.method} {request.path}"
                    self._seen[key] = seen = self._seen.get(key, 0) + 1
                    fault = self.rule(request, seen)
                exchange = Exchange(request, writer, self)
                await (fault or relay)(exchange)
                if writer.is_closing():
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def forward(self, request: Request) -> Upstream:
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        response = await self._client.request(request.method, request.target, headers=headers,
                                              content=request.body or None)
        return Upstream(response.status_code, list(response.headers.multi_items()),
                        response.content)


async def relay(exchange: Exchange) -> None:
    await exchange.relay()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return Request(method, target, headers, body)


def _reason(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# -- the faults ---------------------------------------------------------------------------------

def status(code: int, *, headers: dict[str, str] | None = None, body: bytes = b"") -> Fault:
    """Answer `code` without asking the registry (5xx, 429 + Retry-After, 401 ...)."""
    async def fault(exchange: Exchange) -> None:
        await exchange.send(code, list((headers or {}).items()), body)
    return fault


def error_status(code: int, message: str = "injected") -> Fault:
    body = json.dumps({"errors": [{"code": "UNKNOWN", "message": message}]}).encode()
    return status(code, headers={"Content-Type": "application/json"}, body=body)


def delay(seconds: float) -> Fault:
    """Answer correctly, but only after `seconds`."""
    async def fault(exchange: Exchange) -> None:
        await asyncio.sleep(seconds)
        await exchange.relay()
    return fault


async def never_answer(exchange: Exchange) -> None:
    """Read the request, then say nothing until the proxy stops."""
    await exchange.proxy.stopped()
    exchange.writer.close()


def _cut(*, abort: bool) -> Fault:
    async def fault(exchange: Exchange) -> None:
        answer = await exchange.upstream()
        body = answer.body or b'{"padding": "' + b"x" * 4096 + b'"}'
        half = body[: max(1, len(body) // 2)]
        await exchange.send(answer.status, answer.headers, half, length=len(body))
        if abort:
            exchange.writer.transport.abort()  # an RST, as a dead middlebox would send
        else:
            exchange.writer.close()
    return fault


drop_mid_body: Final = _cut(abort=True)
"""Half the body, then the connection is reset."""
truncate: Final = _cut(abort=False)
"""Half the body of the length announced, then a clean close."""


async def malformed_json(exchange: Exchange) -> None:
    answer = await exchange.upstream()
    await exchange.send(answer.status, answer.headers, answer.body[: len(answer.body) // 2])


async def wrong_digest(exchange: Exchange) -> None:
    """The same JSON with a byte more: valid, but no longer the content its digest names."""
    answer = await exchange.upstream()
    await exchange.send(answer.status, answer.headers, answer.body + b"\n")


async def self_link(exchange: Exchange) -> None:
    """The real page, with a `Link` to itself."""
    answer = await exchange.upstream()
    headers = [(k, v) for k, v in answer.headers if k.lower() != "link"]
    headers.append(("Link", f'<{exchange.request.target}>; rel="next"'))
    await exchange.send(answer.status, headers, answer.body)


def endless_link(key: str = "repositories") -> Fault:
    """A fresh page of one new name each time, linking to the next, forever."""
    async def fault(exchange: Exchange) -> None:
        last = exchange.request.query.get("last", ["p0"])[0]
        number = int(last[1:]) + 1 if last[1:].isdigit() else 1
        body = json.dumps({key: [f"p{number}"]}).encode()
        link = f'<{exchange.request.path}?last=p{number}&n=1000>; rel="next"'
        await exchange.send(200, [("Content-Type", "application/json"), ("Link", link)], body)
    return fault


def huge_body(size: int = 50 * MB) -> Fault:
    """A 200 announcing and sending `size` bytes (spaces in a JSON object), 1 MB at a time."""
    async def fault(exchange: Exchange) -> None:
        await exchange.send(200, [("Content-Type", "application/json")], b"{", length=size)
        chunk = b" " * MB
        sent = 1
        while sent < size - 1:
            part = chunk[: min(MB, size - 1 - sent)]
            exchange.writer.write(part)
            await exchange.writer.drain()
            sent += len(part)
        exchange.writer.write(b"}")
        await exchange.writer.drain()
    return fault


def challenge(value: str) -> Fault:
    """401 with the given `WWW-Authenticate` value (malformed ones included)."""
    return status(401, headers={"WWW-Authenticate": value, "Content-Type": "application/json"},
                  body=b'{"errors": [{"code": "UNAUTHORIZED", "message": "authentication '
                       b'required"}]}')


async def echo_authorization(exchange: Exchange) -> None:
    """A 500 quoting the request's Authorization header in its error body, as careless
    proxies and registries do; a request without one is forwarded (so the registry still
    challenges for it)."""
    sent = exchange.request.headers.get("authorization")
    if sent is None:
        await exchange.relay()
        return
    body = json.dumps({"errors": [{"code": "UNKNOWN", "message": f"bad request with "
                                   f"Authorization: {sent}"}]}).encode()
    await exchange.send(500, [("Content-Type", "application/json")], body)


def redirect(location: str) -> Fault:
    return status(307, headers={"Location": location})


def random_failures(rate: float, rng: random.Random) -> Rule:
    """Fail `rate` of all requests with a random fault of the cheap kinds (for the soak)."""
    kinds: list[Fault] = [error_status(500), error_status(503), status(429, headers={
        "Retry-After": "1"}), drop_mid_body, truncate, malformed_json, delay(0.5)]

    def rule(request: Request, seen: int) -> Fault | None:
        return rng.choice(kinds) if rng.random() < rate else None
    return rule


@contextlib.contextmanager
def proxy_for(upstream: str, rule: Rule = pass_through) -> Iterator[FaultProxy]:
    with FaultProxy(upstream, rule) as proxy:
        yield proxy
