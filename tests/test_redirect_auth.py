"""A registry that redirects its own requests: credentials stay with the registry's host.

docker/distribution answers a blob GET with a redirect to its storage (S3, GCS, a CDN) when
`storage.redirect` is on. The fault proxy in front of the real htpasswd lab plays that part:
it redirects config blob GETs to a "storage" server on another loopback address, which
records what it receives and serves the blob. The Basic credentials the registry asked for
must not go there; a redirect to the registry's own host keeps them, and keeps working.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from regtui.config import load_config
from regtui.lab import Lab
from regtui.registry.models import ArtifactKind, TagRecord
from regtui.services.inventory import open_registry
from tests import faultproxy as fp
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.lab
STORAGE_HOST = "127.0.0.2"
"""Another loopback address: another host to the client, and still no traffic off-box."""


class Storage:
    """The storage a registry redirects blob reads to: records headers, serves the blob."""

    def __init__(self, lab: Lab, *, status: int = 200) -> None:
        self.lab, self.status = lab, status
        self.headers: list[dict[str, str]] = []
        self.server = ThreadingHTTPServer((STORAGE_HOST, 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://{STORAGE_HOST}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        storage = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                storage.headers.append({k.lower(): v for k, v in self.headers.items()})
                if storage.status != 200:
                    self.send_response(storage.status)
                    self.send_header("WWW-Authenticate", 'Basic realm="storage"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = httpx.get(storage.lab.url + self.path, auth=(
                    storage.lab.username or "", storage.lab.password or "")).content
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(htpasswd_lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy(htpasswd_lab.url) as started:
        yield started


def blob_redirect(location: str) -> fp.Rule:
    """Redirect the first GET of each blob to `location` + its path (+ a query string)."""
    def rule(request: fp.Request, seen: int) -> fp.Fault | None:
        if request.method == "GET" and "/blobs/" in request.path and seen == 1:
            return fp.redirect(f"{location}{request.path}?redirected=1")
        return None
    return rule


def read_app(lab: Lab, proxy: FaultProxy, tmp: Path,
             monkeypatch: pytest.MonkeyPatch) -> list[TagRecord]:
    monkeypatch.setenv("REGTUI_LAB_PASSWORD", lab.password or "")
    toml = tmp / "config.toml"
    toml.write_text(lab.regtui_config_toml().replace(lab.url, proxy.url))
    config = load_config(toml)

    async def read() -> list[TagRecord]:
        service = open_registry(config.registries[0], config, read_only=True)
        try:
            return await service.tag_records("app")
        finally:
            await service.aclose()

    return asyncio.run(read())


def assert_read(records: list[TagRecord]) -> None:
    """Every tag read, every image with the created time from its config blob."""
    images = [r for r in records if r.artifact_kind is ArtifactKind.IMAGE]
    assert images and all(r.created is not None for r in images), images
    assert not any(r.unreadable or r.error for r in records), [r.error for r in records]


def test_a_blob_redirected_to_another_host_gets_no_credentials(
        htpasswd_lab: Lab, proxy: FaultProxy, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    storage = Storage(htpasswd_lab)
    try:
        proxy.reset(blob_redirect(storage.url))
        records = read_app(htpasswd_lab, proxy, tmp_path, monkeypatch)
    finally:
        storage.close()
    assert storage.headers, "the config blobs were read from the storage host"
    assert all("authorization" not in h for h in storage.headers), storage.headers
    assert_read(records)
    assert any(r.headers.get("authorization", "").startswith("Basic ")
               for r in proxy.requests), "the registry itself did get the credentials"


def test_a_blob_redirected_to_the_same_host_keeps_its_credentials(
        htpasswd_lab: Lab, proxy: FaultProxy, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.reset(blob_redirect(proxy.url))
    records = read_app(htpasswd_lab, proxy, tmp_path, monkeypatch)
    redirected = [r for r in proxy.requests if "redirected=1" in r.target]
    assert redirected, "the walk followed the redirect"
    assert all(r.headers.get("authorization", "").startswith("Basic ") for r in redirected)
    assert_read(records)


def test_a_401_from_the_storage_host_is_its_answer_not_a_login_failure(
        htpasswd_lab: Lab, proxy: FaultProxy, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Storage refusing a presigned URL is not the registry refusing the operator's login:
    nothing is sent there again with credentials, and the row names where the 401 came from."""
    storage = Storage(htpasswd_lab, status=401)
    try:
        proxy.reset(blob_redirect(storage.url))
        records = read_app(htpasswd_lab, proxy, tmp_path, monkeypatch)
    finally:
        storage.close()
    assert all("authorization" not in h for h in storage.headers), storage.headers
    broken = [r for r in records if r.error]
    assert broken, "the tags whose config could not be read say so"
    for record in broken:
        assert "authentication failed" not in record.error, record.error
        assert STORAGE_HOST in record.error and "401" in record.error, record.error
