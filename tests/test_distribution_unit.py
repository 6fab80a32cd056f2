"""Edge cases of the distribution backend and transport that a healthy registry:2 never shows.

The real registry covers the normal paths (tests/test_inventory.py); these use
`httpx.MockTransport` to play the faulty or unusual servers operators meet.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from regtui.errors import NotFoundError, ProtocolError, ReadOnlyError, RegistryError
from regtui.registry.cache import DB_NAME, ContentCache, compute_digest
from regtui.registry.distribution import DistributionBackend
from regtui.registry.transport import GuardedTransport, retry_after_seconds

Handler = Callable[[httpx.Request], httpx.Response]


def backend(handler: Handler, *, read_only: bool = True, cache: ContentCache | None = None,
            sleeps: list[float] | None = None) -> DistributionBackend:
    async def fake_sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    transport = GuardedTransport(httpx.MockTransport(handler), registry="mock",
                                 read_only=read_only, retries=3, sleep=fake_sleep)
    client = httpx.AsyncClient(base_url="http://mock", transport=transport)
    return DistributionBackend(name="mock", url="http://mock", client=client,
                               cache=cache or ContentCache(None))


async def test_catalog_follows_link_pages_to_the_end() -> None:
    names = [f"repo{i:03d}" for i in range(250)]

    def handler(request: httpx.Request) -> httpx.Response:
        last = request.url.params.get("last", "")
        start = names.index(last) + 1 if last else 0
        page = names[start:start + 100]  # the server caps pages at 100 whatever n says
        headers = {}
        if start + 100 < len(names):
            headers["Link"] = f'</v2/_catalog?last={page[-1]}&n=100>; rel="next"'
        return httpx.Response(200, json={"repositories": page}, headers=headers)

    got = [name async for name in backend(handler).repositories()]
    assert got == names


async def test_catalog_retries_with_smaller_page_when_n_is_refused() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params.get("n", ""))
        if request.url.params.get("n") == "1000":
            return httpx.Response(400, json={"errors": [{"code": "PAGINATION_NUMBER_INVALID",
                                                         "message": "n too large"}]})
        return httpx.Response(200, json={"repositories": ["a", "b"]})

    assert [n async for n in backend(handler).repositories()] == ["a", "b"]
    assert seen == ["1000", "100"]


async def test_repeating_pages_are_an_error_not_a_loop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"repositories": ["a"]},
                              headers={"Link": '</v2/_catalog?last=a&n=1>; rel="next"'})

    with pytest.raises(ProtocolError, match="pages repeat"):
        _ = [n async for n in backend(handler).repositories()]


async def test_null_tags_is_an_empty_list() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"name": "gone", "tags": None})

    assert await backend(handler).tags("gone") == []


async def test_missing_repository_is_a_named_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN",
                                                     "message": "repository name not known"}]})

    with pytest.raises(NotFoundError) as info:
        await backend(handler).tags("no/such")
    assert "no/such" in str(info.value) and "NAME_UNKNOWN" in str(info.value)


async def test_manifest_whose_body_breaks_its_digest_is_refused() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType":
                       "application/vnd.oci.image.manifest.v1+json"}).encode()
    wrong = "sha256:" + "0" * 64

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Docker-Content-Digest": wrong})

    with pytest.raises(ProtocolError, match="hashes to"):
        await backend(handler).manifest("r", "latest")


async def test_manifest_by_digest_comes_from_cache_the_second_time(tmp_path: Path) -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType":
                       "application/vnd.oci.image.manifest.v1+json", "layers": []}).encode()
    digest = compute_digest(body)
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, content=body, headers={"Docker-Content-Digest": digest})

    first = await backend(handler, cache=ContentCache(tmp_path)).manifest("r", digest)
    second = await backend(handler, cache=ContentCache(tmp_path)).manifest("r", digest)
    assert first.digest == second.digest == digest
    assert len(calls) == 1


def test_corrupt_cache_entry_is_dropped(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path)
    data = b'{"a": 1}'
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    cache.put(digest, data)
    cache.flush()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("UPDATE blobs SET data = ? WHERE digest = ?", (b"tampered", digest))
    assert ContentCache(tmp_path).get(digest) is None
    cache.flush()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("SELECT count(*) FROM blobs").fetchone() == (0,)


async def test_retries_honour_retry_after_then_succeed() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}),
                    httpx.Response(503), httpx.Response(200, json={"name": "r", "tags": ["x"]})])
    sleeps: list[float] = []

    assert await backend(lambda _: next(answers), sleeps=sleeps).tags("r") == ["x"]
    assert sleeps[0] == 7.0 and len(sleeps) == 2


async def test_retries_give_up_with_a_one_line_error() -> None:
    with pytest.raises(RegistryError, match="HTTP 503") as info:
        await backend(lambda _: httpx.Response(503), sleeps=[]).tags("r")
    assert "\n" not in str(info.value)


def test_retry_after_accepts_http_dates() -> None:
    response = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(response, now=1445412470.0) == 10.0


@pytest.mark.parametrize("method", ["DELETE", "PUT", "POST", "PATCH"])
async def test_read_only_transport_refuses_writes_before_sending(method: str) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(202)

    client = backend(handler).client
    with pytest.raises(ReadOnlyError, match="read-only"):
        await client.request(method, "/v2/r/manifests/sha256:" + "a" * 64)
    assert sent == []


async def test_read_only_transport_lets_token_requests_through() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token": "t"})

    client = backend(handler).client
    response = await client.post("/token", extensions={"regtui_token_request": True})
    assert response.status_code == 200


async def test_oversized_answer_is_refused_not_buffered() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{" + b" " * (70 * 1024 * 1024) + b"}")

    with pytest.raises(ProtocolError, match="larger than"):
        await backend(handler).tags("r")


async def test_quay_style_next_page_paging_and_duplicates() -> None:
    pages = {"": (["a", "b"], "/v2/_catalog?next_page=p2"), "p2": (["b", "c"],
             "/v2/_catalog?next_page=p3"), "p3": (["d"], None)}

    def handler(request: httpx.Request) -> httpx.Response:
        names, link = pages[request.url.params.get("next_page", "")]
        headers = {"Link": f'<{link}>; rel="next"'} if link else {}
        return httpx.Response(200, json={"repositories": names}, headers=headers)

    assert [n async for n in backend(handler).repositories()] == ["a", "b", "c", "d"]


async def test_page_links_to_another_host_are_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"repositories": ["a"]},
                              headers={"Link": '<https://evil.example/v2/_catalog?last=a>; '
                                               'rel="next"'})

    with pytest.raises(ProtocolError, match="another origin"):
        _ = [n async for n in backend(handler).repositories()]


async def test_a_change_is_not_resent_after_a_read_error_or_a_502() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        if len(sent) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(502)

    client = backend(handler, read_only=False, sleeps=[]).client
    with pytest.raises(httpx.ReadTimeout):
        await client.delete("/v2/r/manifests/sha256:" + "a" * 64)
    assert (await client.delete("/v2/r/manifests/sha256:" + "b" * 64)).status_code == 502
    assert sent == ["DELETE", "DELETE"]


class _CutStream(httpx.AsyncByteStream):
    """Half a body, then the connection goes: what a dropped link looks like mid-read."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body[: len(self.body) // 2]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


async def test_a_body_cut_while_reading_is_read_again() -> None:
    body = json.dumps({"name": "r", "tags": ["a", "b"]}).encode()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(200, stream=_CutStream(body))
        return httpx.Response(200, content=body)

    assert await backend(handler, sleeps=[]).tags("r") == ["a", "b"]
    assert len(calls) == 2


async def test_a_body_always_cut_gives_up_naming_the_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_CutStream(b'{"tags": ["a"]}'))

    with pytest.raises(RegistryError, match=r"GET /v2/r/tags/list .*while reading the answer"):
        await backend(handler, sleeps=[]).tags("r")


async def test_the_deadline_covers_every_attempt_and_names_the_request() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"tags": []})

    transport = GuardedTransport(httpx.MockTransport(slow), registry="mock", read_only=True,
                                 retries=3, deadline=0.3)
    client = httpx.AsyncClient(base_url="http://mock", transport=transport)
    started = time.monotonic()
    with pytest.raises(RegistryError, match=r"registry mock: GET /v2/r/tags/list.*0\.3 s"):
        await DistributionBackend(name="mock", url="http://mock", client=client,
                                  cache=ContentCache(None)).tags("r")
    assert time.monotonic() - started < 2


async def test_paging_stops_at_max_names() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        last = int(request.url.params.get("last", "0"))
        return httpx.Response(200, json={"repositories": [f"r{last + 1}"]}, headers={
            "Link": f'</v2/_catalog?last={last + 1}&n=1000>; rel="next"'})

    mock = backend(handler)
    mock.max_names = 5000
    with pytest.raises(ProtocolError, match="max_names = 5000") as info:
        _ = [n async for n in mock.repositories()]
    assert "stopped after 5 pages" in str(info.value)
