"""The OCI distribution API backend: registry:2 and everything that speaks `/v2/`.

Harbor's `/v2`, GHCR, Quay, ECR, ACR and Nexus docker connectors all answer this API; their
own management APIs come with their own backends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Collection
from typing import Any, Final
from urllib.parse import quote

import httpx

from regtui.errors import (
    AuthError,
    NotFoundError,
    ProtocolError,
    RegistryError,
    UnknownRepositoryError,
)
from regtui.registry import mediatypes as mt
from regtui.registry.backend import Capabilities, ManifestHead
from regtui.registry.cache import ContentCache, compute_digest, is_digest, verify_digest
from regtui.registry.jws import manifest_digest_content
from regtui.registry.kinds import kind_of_type, subject_of_tag
from regtui.registry.models import (
    ArtifactKind,
    Health,
    ImageConfig,
    Manifest,
    Referrer,
    RegistryInfo,
)
from regtui.registry.parse import (
    load_json_object,
    parse_config,
    parse_manifest,
    schema1_config,
)
from regtui.registry.transport import BODY_LIMIT, PURPOSE, describe_http_error
from regtui.text import Untrusted, untrusted

MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024
MAX_CONFIG_BYTES: Final = 8 * 1024 * 1024
MAX_LIST_BYTES: Final = 64 * 1024 * 1024
PAGE_SIZE: Final = 1000
FALLBACK_PAGE_SIZE: Final = 100
DEFAULT_MAX_NAMES: Final = 1_000_000
"""More repositories (or tags of one repository) than this is not a plausible answer."""
DEFAULT_LIST_DEADLINE: Final = 600.0
SUPPLEMENT_SUFFIXES: Final = (".sig", ".att", ".sbom")
REFERRERS_TTL: Final = 300.0
"""Seconds a referrer answer is reused; the tag-schema key also changes when tags do."""
MAX_REFERRER_ENTRIES: Final = 100_000
REFUSED_CATALOG: Final = frozenset({"HTTP 401", "HTTP 403", "HTTP 404", "HTTP 405"})
"""GHCR, GitLab and some ECR setups answer these for `/v2/_catalog`."""


class DistributionBackend:
    """Read access to one registry over the distribution API, with bounded concurrency."""

    def __init__(
        self,
        *,
        name: str,
        url: str,
        client: httpx.AsyncClient,
        cache: ContentCache,
        concurrency: int = 8,
        capabilities: Capabilities | None = None,
        configured: tuple[str, ...] = (),
        max_names: int = DEFAULT_MAX_NAMES,
        list_deadline: float = DEFAULT_LIST_DEADLINE,
    ) -> None:
        self.name = name
        self.url = url
        self.client = client
        self.cache = cache
        self.capabilities = capabilities or Capabilities()
        self.configured = configured
        """`repositories = [...]` from the config: used where the catalog is missing."""
        self.source_note = ""
        """Where the last repository list came from, when that is not the catalog."""
        self.max_names = max_names
        self.list_deadline = list_deadline
        self._limit = asyncio.Semaphore(concurrency)
        self._referrers_api: bool | None = None
        self._inflight: dict[str, asyncio.Future[bytes]] = {}
        self._referrers: dict[tuple[str, str, frozenset[str] | None],
                              tuple[float, list[Referrer]]] = {}

    # -- plumbing ---------------------------------------------------------------------------

    async def _fetch(
        self,
        method: str,
        path: str,
        *,
        what: str,
        accept: str | None = None,
        params: dict[str, str] | None = None,
        limit: int = MAX_MANIFEST_BYTES,
        ok_statuses: Collection[int] = (200,),
    ) -> tuple[httpx.Response, bytes]:
        """One request under the concurrency bound; the body is read up to `limit` bytes.

        The transport reads the body (and retries a read that fails); the bounded read here
        only sees decoded bytes, so a compressed answer cannot grow past `limit` either.
        """
        headers = {"Accept": accept} if accept else {}
        label = f"{method} {_short_url(httpx.URL(path).path)}"
        async with self._limit:
            try:
                async with self.client.stream(method, path, params=params, headers=headers,
                                              extensions={BODY_LIMIT: limit, PURPOSE: what}) as rsp:
                    body = await _read_bounded(rsp, limit, self._where(what, method, path))
            except httpx.HTTPError as exc:
                raise describe_http_error(exc, registry=self.name, url=self.url,
                                          request=f"{label} ({what})") from exc
        if rsp.status_code not in ok_statuses:
            raise self._status_error(rsp, body, f"{what} ({label})")
        return rsp, body

    def _status_error(self, response: httpx.Response, body: bytes, what: str) -> RegistryError:
        detail = _error_detail(body)
        where = f"{what} on registry {self.name} ({self.url})"
        answered = response.request.url
        if (answered.scheme, answered.host, answered.port) != (
                (base := httpx.URL(self.url)).scheme, base.host, base.port):
            # The answer came from where the registry sent us (storage), not from it.
            where += f" redirected to {answered.scheme}://{answered.netloc.decode()}"
        status = response.status_code
        if status == 404:
            unknown = _error_fields(body)[0] == "NAME_UNKNOWN"
            return (UnknownRepositoryError if unknown else NotFoundError)(
                f"{where}: not found (404{detail})")
        if status in (401, 403):
            return AuthError(f"{where}: access denied ({status}{detail})")
        return RegistryError(f"{where}: HTTP {status}{detail}")

    # -- reading ----------------------------------------------------------------------------

    async def ping(self) -> RegistryInfo:
        response, _ = await self._fetch("GET", "/v2/", what="API check", ok_statuses=(200,))
        version = response.headers.get("docker-distribution-api-version", "")
        return RegistryInfo(url=self.url, api_version=untrusted(version), reachable=True)

    async def repositories(self) -> AsyncIterator[Untrusted]:
        """The catalog; the configured list where there is none or it is refused."""
        if not self.capabilities.has_catalog and self.configured:
            self.source_note = "repositories: configured list (this flavor has no catalog)"
            for name in self._configured_names():
                yield name
            return
        try:
            names = [name async for name in self._paged("/v2/_catalog", "repositories",
                                                        "catalog")]
        except RegistryError as refused:
            status = _status_of(refused) or ("HTTP 401" if isinstance(refused, AuthError) else "")
            if not self.configured or status not in REFUSED_CATALOG:
                raise
            reason = "refused" if status in ("HTTP 401", "HTTP 403") else "missing"
            self.source_note = f"repositories: configured list (the catalog is {reason}: {status})"
            names = self._configured_names()
        else:
            self.source_note = ""
        for name in names:
            yield name

    def _configured_names(self) -> list[Untrusted]:
        """Exact names only: a `ns/*` pattern needs a listing API this registry lacks."""
        patterns = [n for n in self.configured if n.endswith("/*")]
        if patterns:
            self.source_note += (f"; {', '.join(patterns)} skipped: a namespace pattern needs "
                                 "a listing this registry does not offer")
        return [untrusted(n) for n in self.configured if not n.endswith("/*")]

    def health(self) -> Health:
        """What reading taught us; the base backend knows only its repository source."""
        return Health(notes=(self.source_note,) if self.source_note else ())

    async def tags(self, repository: str) -> list[Untrusted]:
        path = f"/v2/{_quote(repository)}/tags/list"
        what = f"tag list of {repository}"
        return [tag async for tag in self._paged(path, "tags", what)]

    async def _paged(self, path: str, key: str, what: str) -> AsyncIterator[Untrusted]:
        """Follow `Link` pages to the end; fall back to `n`/`last` only when the server caps `n`.

        Bounded by plausibility (pages x page size may not pass `max_names`) and by time
        (`list_deadline`), so a registry that links page after fresh page ends with an error.
        """
        params: dict[str, str] | None = {"n": str(PAGE_SIZE)}
        url: str = path
        seen_pages: set[str] = set()
        seen_items: set[str] = set()
        started = time.monotonic()
        pages = 0
        page_size = PAGE_SIZE
        while True:
            response, body, asked = await self._first_page_aware_fetch(url, params, what)
            page_size = asked or page_size
            pages += 1
            where = f"{what} on registry {self.name} (GET {_short_url(response.url.path)})"
            for item in _list_field(body, key, where):
                if item not in seen_items:  # a name listed twice is one repository
                    seen_items.add(item)
                    yield item
            next_url = _next_link(response)
            if next_url is None:
                return
            self._check_same_origin(next_url, what)
            if next_url in seen_pages:
                raise ProtocolError(f"{where}: the registry's pages repeat "
                                    f"({_short_url(next_url)})")
            seen_pages.add(next_url)
            self._check_paging_bounds(where, pages, page_size, time.monotonic() - started)
            url, params = next_url, None

    def _check_paging_bounds(self, where: str, pages: int, page_size: int,
                             elapsed: float) -> None:
        if pages * page_size >= self.max_names:
            raise ProtocolError(
                f"{where}: stopped after {pages} pages of up to {page_size} names: more than "
                f"max_names = {self.max_names} is not plausible (raise max_names if it is)")
        if elapsed > self.list_deadline:
            raise ProtocolError(
                f"{where}: stopped after {pages} pages in {elapsed:.0f} s "
                f"(refresh_deadline = {self.list_deadline:g} s)")

    def _check_same_origin(self, link: str, what: str) -> None:
        """Credentials go with every request: never follow a page link to another host."""
        target, base = httpx.URL(link), httpx.URL(self.url)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise ProtocolError(f"{what} on registry {self.name}: refusing to follow a page "
                                f"link to another origin ({_short_url(link)})")

    async def _first_page_aware_fetch(
        self, url: str, params: dict[str, str] | None, what: str
    ) -> tuple[httpx.Response, bytes, int | None]:
        """One page, and the page size asked for when this request set one.

        The page size that counts is ours: a registry linking pages of one name each while
        asked for a thousand is exactly the implausible answer `max_names` stops.
        """
        try:
            response, body = await self._fetch("GET", url, params=params, what=what,
                                               limit=MAX_LIST_BYTES)
            return response, body, PAGE_SIZE if params is not None else None
        except RegistryError as exc:
            # distribution 3 answers 400 PAGINATION_NUMBER_INVALID when n > catalog.maxentries.
            if params is None or "HTTP 400" not in str(exc):
                raise
        retry = {"n": str(FALLBACK_PAGE_SIZE)}
        response, body = await self._fetch("GET", url, params=retry, what=what,
                                           limit=MAX_LIST_BYTES)
        return response, body, FALLBACK_PAGE_SIZE

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead:
        path = f"/v2/{_quote(repository)}/manifests/{_quote(reference)}"
        what = _describe(repository, reference)
        response, _ = await self._fetch("HEAD", path, what=what, accept=mt.MANIFEST_ACCEPT)
        digest = response.headers.get("docker-content-digest", "")
        length = response.headers.get("content-length", "")
        if not is_digest(digest) or not length.isdigit():
            # Some registries answer HEAD without the digest; GET tells the truth.
            manifest = await self.manifest(repository, reference)
            return ManifestHead(manifest.digest, manifest.media_type, manifest.size)
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        return ManifestHead(digest, media_type, int(length))

    async def resolve_tag(self, repository: str, tag: str, hint: str | None = None) -> Manifest:
        """A tag's manifest in the fewest requests: one GET by tag, or HEAD + the cache.

        A GET by tag answers the digest header and the body at once. A HEAD first pays off
        only when the cache can answer the body, which `hint` (the digest the tag had when last
        read) says; if the tag moved, the new manifest is fetched by its digest.
        """
        if hint is not None and self.cache.has(hint):
            head = await self.head_manifest(repository, tag)
            return await self.manifest(repository, head.digest)
        return await self.manifest(repository, tag)

    def tag_hints(self, repository: str) -> dict[str, str]:
        return self.cache.tag_hints(self.url, repository)

    def remember_tags(self, repository: str, tags: dict[str, str]) -> None:
        self.cache.remember_tags(self.url, repository, tags)

    async def manifest(self, repository: str, reference: str) -> Manifest:
        what = _describe(repository, reference)
        if is_digest(reference) and (cached := self.cache.get(reference)) is not None:
            return parse_manifest(cached, digest=reference, content_type="",
                                  what=f"{what} on registry {self.name}")
        path = f"/v2/{_quote(repository)}/manifests/{_quote(reference)}"
        response, body = await self._fetch("GET", path, what=what, accept=mt.MANIFEST_ACCEPT)
        digest = self._checked_digest(reference, response, body, self._where(what, "GET", path))
        self.cache.put(digest, body)
        return parse_manifest(body, digest=digest,
                              content_type=response.headers.get("content-type", ""),
                              what=f"{what} on registry {self.name}")

    def _where(self, what: str, method: str, path: str) -> str:
        """`manifest app:1 on registry lab (GET /v2/app/manifests/1)`: what, where, which."""
        return f"{what} on registry {self.name} ({method} {_short_url(path)})"

    def _checked_digest(self, reference: str, response: httpx.Response, body: bytes,
                        where: str) -> str:
        """Digests are the registry's promise of content: a body that breaks it is refused.

        A signed schema1 manifest is named by its payload (the body without its JWS
        signatures), as the registry names it; its served bytes hash to something else.
        """
        content = manifest_digest_content(body)
        if is_digest(reference):
            if not verify_digest(reference, content):
                raise ProtocolError(f"{where}: content does not match its digest")
            return reference
        header = str(response.headers.get("docker-content-digest", ""))
        if is_digest(header):
            if not verify_digest(header, content):
                raise ProtocolError(
                    f"{where}: content does not match its digest (registry says {header}, "
                    f"the content hashes to {compute_digest(content)})")
            return header
        return compute_digest(content)

    async def blob(self, repository: str, digest: str, *, limit: int, what: str) -> bytes:
        """A small blob (config, signature payload), verified and cached by digest."""
        if (cached := self.cache.get(digest)) is not None:
            return cached
        # Repositories share configs: one download per digest, however many ask at once.
        task = self._inflight.get(digest)
        if task is None:
            task = asyncio.ensure_future(
                self._download_blob(repository, digest, limit=limit, what=what))
            self._inflight[digest] = task
            task.add_done_callback(lambda done: self._settle(digest, done))
        return await asyncio.shield(task)

    def _settle(self, digest: str, task: asyncio.Future[bytes]) -> None:
        if self._inflight.get(digest) is task:
            del self._inflight[digest]
        if not task.cancelled():
            task.exception()  # retrieved: a failure every waiter left is still not "lost"

    async def _download_blob(self, repository: str, digest: str, *, limit: int,
                             what: str) -> bytes:
        path = f"/v2/{_quote(repository)}/blobs/{_quote(digest)}"
        _, body = await self._fetch("GET", path, what=what, limit=limit)
        if not verify_digest(digest, body):
            raise ProtocolError(f"{self._where(what, 'GET', path)}: content does not match "
                                "its digest")
        self.cache.put(digest, body)
        return body

    async def image_config(self, repository: str, descriptor_digest: str) -> ImageConfig:
        what = f"config {descriptor_digest} of {repository}"
        data = await self.blob(repository, descriptor_digest, limit=MAX_CONFIG_BYTES, what=what)
        return parse_config(data, digest=descriptor_digest, what=f"{what} on registry {self.name}")

    async def config_of(self, repository: str, manifest: Manifest) -> ImageConfig | None:
        """The image config of a manifest, or None for artifacts and schema1 without history."""
        if manifest.is_schema1:
            return schema1_config(manifest)
        if manifest.config is None or manifest.config.media_type not in mt.IMAGE_CONFIG_TYPES:
            return None
        return await self.image_config(repository, manifest.config.digest)

    async def referrers(self, repository: str, digest: str,
                        tags: Collection[str] | None = None) -> list[Referrer]:
        """The referrers API when the registry has it, else the tag schema fallback.

        Cached by digest like manifests: opening a tag twice probes once. For the tag schema
        the key includes which candidate tags exist, so a new `.sig` tag is seen.
        """
        base = digest.replace(":", "-", 1)
        candidates = (None if tags is None else frozenset(
            t for t in (base, *(base + suffix for suffix in SUPPLEMENT_SUFFIXES)) if t in tags))
        key = (repository, digest, candidates)
        now = time.monotonic()
        cached = self._referrers.get(key)
        if cached is not None and now - cached[0] < REFERRERS_TTL:
            return list(cached[1])
        found = await self._probe_referrers(repository, digest, tags)
        if len(self._referrers) >= MAX_REFERRER_ENTRIES:
            self._referrers.clear()
        self._referrers[key] = (now, found)
        return list(found)

    async def _probe_referrers(self, repository: str, digest: str,
                               tags: Collection[str] | None) -> list[Referrer]:
        if self._referrers_api is not False:
            found = await self._referrers_from_api(repository, digest)
            if found is not None:
                return found
        return await self._referrers_from_tags(repository, digest, tags)

    async def _referrers_from_api(self, repository: str, digest: str) -> list[Referrer] | None:
        path = f"/v2/{_quote(repository)}/referrers/{_quote(digest)}"
        what = f"referrers of {repository}@{digest}"
        try:
            response, body = await self._fetch("GET", path, what=what, accept=mt.OCI_INDEX,
                                               ok_statuses=(200, 400, 404, 405))
        except AuthError:
            return None
        media = response.headers.get("content-type", "")
        if response.status_code != 200 or mt.OCI_INDEX not in media:
            self._referrers_api = False
            return None
        self._referrers_api = True
        index = parse_manifest(body, digest=compute_digest(body), content_type=media, what=what)
        return [_referrer(d.digest, d.media_type, d.artifact_type, d.size) for d in index.manifests]

    async def _referrers_from_tags(self, repository: str, digest: str,
                                   tags: Collection[str] | None) -> list[Referrer]:
        base = digest.replace(":", "-", 1)
        candidates = [untrusted(c) for c in (base, *(base + s for s in SUPPLEMENT_SUFFIXES))]
        if tags is not None:
            candidates = [tag for tag in candidates if tag in tags]
        results = await asyncio.gather(*(self._tag_referrers(repository, tag)
                                         for tag in candidates))
        return [referrer for found in results for referrer in found]

    async def _tag_referrers(self, repository: str, tag: Untrusted) -> list[Referrer]:
        try:
            manifest = await self.manifest(repository, tag)
        except NotFoundError:
            return []
        tagged = subject_of_tag(tag)
        if manifest.is_index and tagged is not None and tagged[1] is None:
            return [_referrer(d.digest, d.media_type, d.artifact_type, d.size, tag)
                    for d in manifest.manifests]
        kind = tagged[1] if tagged and tagged[1] else ArtifactKind.ARTIFACT
        return [Referrer(manifest.digest, manifest.media_type, manifest.artifact_type, kind,
                         manifest.size, tag)]

    async def aclose(self) -> None:
        await self.client.aclose()


def _referrer(digest: str, media_type: Untrusted, artifact_type: Untrusted, size: int,
              tag: Untrusted | None = None) -> Referrer:
    kind = kind_of_type(artifact_type, media_type) or ArtifactKind.ARTIFACT
    return Referrer(digest, media_type, artifact_type, kind, size, tag)


def _status_of(error: RegistryError) -> str:
    """`HTTP 403` out of an error line that names its status, else the first words."""
    text = str(error)
    for status in ("401", "403", "404", "405"):
        if f"({status}" in text or f"HTTP {status}" in text:
            return f"HTTP {status}"
    return ""


def _short_url(url: str) -> str:
    return " ".join(url.split())[:120]


def _describe(repository: str, reference: str) -> str:
    separator = "@" if is_digest(reference) else ":"
    return f"manifest {repository}{separator}{reference}"


def _quote(value: str) -> str:
    return quote(value, safe="/:@")


async def _read_bounded(response: httpx.Response, limit: int, what: str) -> bytes:
    """Never hold more than `limit` bytes of what a server sends."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > limit:
            raise ProtocolError(f"{what}: answer larger than {limit} bytes, refused")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_detail(body: bytes) -> str:
    """`: CODE message` from a distribution error body, if there is one."""
    code, message = _error_fields(body)
    text = " ".join(f"{code} {message}".split())[:200]
    return f", {text}" if text else ""


def _error_fields(body: bytes) -> tuple[str, str]:
    """(code, message) of the first error in a distribution error body, else empty."""
    try:
        errors = json.loads(body).get("errors") or []
        first: dict[str, Any] = errors[0]
        return str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        return "", ""


def _list_field(body: bytes, key: str, what: str) -> list[Untrusted]:
    data = load_json_object(body, what)
    value = data.get(key)
    if value is None:
        return []  # registry:2 answers "tags": null once a repository's last tag is gone
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{what}: '{key}' is not a list of strings")
    return [untrusted(item) for item in value]


def _next_link(response: httpx.Response) -> str | None:
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    return str(response.url.join(link))
