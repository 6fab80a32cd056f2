"""What the Harbor, Hub and Nexus doubles share: a loopback server, template routing, spec
checks and the request plumbing.

Every request to a spec'd route is checked against the subset (operation, query parameters,
JSON body) before it is handled, and every JSON answer before it is sent. A violation is
recorded on the double, the client gets an error status (500, or what the vendor answers a
bad request with), and the test's fixture fails on it.

A double's handler subclasses `SpecHandler`, names its `routes`, and implements `serve_route`
(auth, then the route's method); `outside_routes` takes what is not in the vendor's spec
(a token service, `/v2` forwarded to the lab) before routing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Final
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from tests.doubles.subset import SpecViolation, SubsetSpec

Json = Any
Route = tuple[str, str, str]
"""(method, path template, handler method name)."""
FORWARD_HEADERS: Final = ("docker-content-digest", "docker-distribution-api-version", "etag",
                          "location", "link")


class Recorder:
    """State every double keeps: requests seen, spec violations, a lock."""

    def __init__(self, spec: SubsetSpec) -> None:
        self.spec = spec
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.violations: list[str] = []
        self.corrupt: dict[str, Callable[[Json], Json]] = {}
        """Template -> function applied to an answer before validation (drift tests)."""

    def count(self, method: str | None = None, prefix: str = "",
              contains: str = "") -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests
                       if (method is None or m == method) and p.startswith(prefix)
                       and contains in p)

    def violation(self, message: str) -> None:
        with self.lock:
            self.violations.append(message)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], owner: object,
            name: str) -> Iterator[str]:
    """Serve on 127.0.0.1 in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.double = owner  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def match(routes: list[Route], method: str, path: str, prefix: str = "", *,
          strict_slash: bool = True) -> tuple[str, str, list[str]] | None:
    """(template, handler name, path arguments) of the route a request path takes; with
    `strict_slash` a trailing slash must be in the template too (Hub's Django routes)."""
    if not path.startswith(prefix):
        return None
    trailing = path.endswith("/") and path != prefix + "/"
    segments = [unquote(s) for s in path[len(prefix):].strip("/").split("/")]
    for route_method, template, handler in routes:
        parts = template.strip("/").split("/")
        if route_method != method or len(parts) != len(segments):
            continue
        if strict_slash and template.endswith("/") != trailing:
            continue
        if all(p == s or p.startswith("{") for p, s in zip(parts, segments, strict=True)):
            args = [s for p, s in zip(parts, segments, strict=True) if p.startswith("{")]
            return template, handler, args
    return None


class SpecHandler(BaseHTTPRequestHandler):
    """Request plumbing: parse, route, check against the spec, answer JSON validated by it."""

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer
    recorder_attr = "recorder"
    routes: ClassVar[list[Route]] = []
    prefix: ClassVar[str] = ""
    """Where the spec's paths start (`/service/rest`, `/api/v2.0`)."""
    strict_slash: ClassVar[bool] = True
    not_found: ClassVar[tuple[bytes, str]] = (b'{"detail":"Not Found"}', "application/json")
    """The body and type of the 404 for a path that is no route."""
    bad_request_status: ClassVar[int] = 500
    """What a request outside the spec is answered with (Harbor: 400, as Harbor would)."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        """Record, take what is outside the spec, route, check the request, then handle."""
        path, query, body = self.read_request(method)
        if self.outside_routes(method, path):
            return
        route = match(self.routes, method, self.route_path(path), self.prefix,
                      strict_slash=self.strict_slash)
        if route is None:
            self.send(404, *self.not_found)
            return
        template, handler, args = route
        if self.check_request(method, template, query, body):
            self.serve_route(method, template, handler, args, query, body)

    def outside_routes(self, method: str, path: str) -> bool:
        """Answer a request that no spec route covers; True when it was answered."""
        return False

    def route_path(self, path: str) -> str:
        """The path routes are matched against (Harbor decodes it once more first)."""
        return path

    def serve_route(self, method: str, template: str, handler: str, args: list[str],
               query: dict[str, list[str]], body: bytes) -> None:
        """Auth and the route's method; the request already met the spec."""
        raise NotImplementedError

    @property
    def recorder(self) -> Recorder:
        owner = self.server.double  # type: ignore[attr-defined]
        recorder: Recorder = getattr(owner, self.recorder_attr)
        return recorder

    def read_request(self, method: str) -> tuple[str, dict[str, list[str]], bytes]:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        with self.recorder.lock:
            self.recorder.requests.append((method, url.path, query))
        return url.path, query, body

    def check_request(self, method: str, template: str, query: dict[str, list[str]],
                      body: bytes) -> bool:
        """False (and a 500 sent) when the request breaks the spec."""
        parsed: Json = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode("utf-8", errors="replace")
        try:
            self.recorder.spec.check_request(method, template, query, parsed)
        except SpecViolation as exc:
            self.recorder.violation(f"request: {exc}")
            self.send(self.bad_request_status, f"double: {exc}\n".encode(), "text/plain")
            return False
        return True

    def send(self, status: int, body: bytes, content_type: str = "application/json",
             headers: dict[str, str] | None = None, method: str = "GET") -> None:
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if method != "HEAD" and body:
            self.wfile.write(body)

    def answer(self, method: str, template: str, status: int, body: Json,
               headers: dict[str, str] | None = None) -> None:
        """Validate against the subset, then send; a violation is recorded and answered 500."""
        corrupter = self.recorder.corrupt.get(template)
        if corrupter is not None:
            body = corrupter(body)
        try:
            self.recorder.spec.validate(method, template, status, body)
        except SpecViolation as exc:
            self.recorder.violation(str(exc))
            self.send(500, f"double: {exc}\n".encode(), "text/plain")
            return
        payload = b"" if body is None else json.dumps(body).encode()
        self.send(status, payload, headers=headers)

    def forward(self, upstream: str, method: str, path: str,
                extra: dict[str, str] | None = None) -> httpx.Response:
        """Pass a `/v2` request to the real lab registry and relay its answer."""
        accept = self.headers.get("accept", "*/*")
        with httpx.Client(base_url=upstream, timeout=30.0) as client:
            answer = client.request(method, path, headers={"Accept": accept})
        headers = {k: v for k, v in answer.headers.items() if k.lower() in FORWARD_HEADERS}
        headers.update(extra or {})
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
        length = answer.headers.get("content-length", str(len(answer.content)))
        self.send_header("Content-Length", length if method == "HEAD"
                         else str(len(answer.content)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(answer.content)
        return answer


def lab_names(upstream: str) -> list[str]:
    """Every repository of the real registry, following its `Link` pages."""
    names: list[str] = []
    with httpx.Client(base_url=upstream, timeout=30.0) as client:
        url: str | None = "/v2/_catalog?n=1000"
        while url:
            response = client.get(url)
            response.raise_for_status()
            names.extend(response.json().get("repositories") or [])
            url = response.links.get("next", {}).get("url")
    return names


def lab_tags(upstream: str, name: str) -> dict[str, tuple[str, int, str]]:
    """tag -> (digest, manifest size, media type), read by HEAD from the real registry."""
    from regtui.registry import mediatypes as mt
    found: dict[str, tuple[str, int, str]] = {}
    with httpx.Client(base_url=upstream, timeout=30.0) as client:
        tags = client.get(f"/v2/{name}/tags/list").json().get("tags") or []
        for tag in sorted(tags):
            head = client.head(f"/v2/{name}/manifests/{tag}",
                               headers={"Accept": mt.MANIFEST_ACCEPT})
            head.raise_for_status()
            found[tag] = (head.headers["docker-content-digest"],
                          int(head.headers.get("content-length", "0")),
                          head.headers.get("content-type", "").split(";")[0])
    return found
