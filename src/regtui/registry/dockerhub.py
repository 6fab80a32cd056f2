"""Docker Hub: manifests through `registry-1.docker.io`, everything else through the Hub API.

Docker Hub has no `/v2/_catalog`, so repositories come from the Hub API's namespace listing
(or a configured list), and tags with their push and pull times from its tag API. Every
manifest GET counts as a pull against the account's pull rate limit, so this backend reads
tags by HEAD only (a HEAD is free), never falls back to a GET when a HEAD lacks a digest,
counts the manifest GETs it does make (digests are cached, so they are rare), and reports
the `ratelimit-*` headers of each HEAD.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import httpx

from regtui.errors import AuthError, NotFoundError, ProtocolError, RegistryError
from regtui.registry import mediatypes as mt
from regtui.registry.auth import LOGIN_HINT, NO_CREDENTIALS, Credentials
from regtui.registry.backend import Capabilities, ManifestHead
from regtui.registry.cache import ContentCache, is_digest
from regtui.registry.distribution import (
    MAX_LIST_BYTES,
    DistributionBackend,
    _read_bounded,
)
from regtui.registry.models import Gauge, Health, Manifest, RegistryInfo, TagActivity
from regtui.registry.parse import api_json, page_objects, parse_time
from regtui.registry.transport import TOKEN_REQUEST, describe_http_error
from regtui.text import Untrusted, untrusted

HUB_API: Final = "https://hub.docker.com"
HUB_REGISTRY: Final = "https://registry-1.docker.io"
DOCKERHUB_CAPABILITIES: Final = Capabilities(
    has_catalog=False, can_delete_manifest=False, can_delete_tag=True, tag_activity=True)
STATUS_LIMIT: Final = 40
"""A tag's `status` is one word; more is not kept (it reaches the snapshot and the pane)."""
TOKEN_LIFETIME: Final = 600.0
"""`POST /v2/auth/token` tokens are valid for 10 minutes."""
TOKEN_MARGIN: Final = 60.0
PAGE_SIZE: Final = 100
"""The tag API's `page_size` maximum."""
MAX_PAGES: Final = 10_000
WARN_RATIO: Final = 0.10
PROBE: Final = ("ratelimitpreview/test", "latest")
LIMIT_BURST_S: Final = 2.0
"""Answers this close together are one burst: their order of arrival is not their order."""
"""Docker's documented repository for reading the pull limit with a HEAD."""
PULL_LIMIT_TEXT: Final = "pull rate limit"
MAX_API_WAIT: Final = 60.0
CredentialSource = Callable[[], Credentials | None]


class PullLimitError(RegistryError):
    """The registry refused a pull: the account's pull quota for the window is spent."""


class HubRateLimitError(RegistryError):
    """The Hub API's own request limit (abuse protection), not the pull limit."""


@dataclass(frozen=True, slots=True)
class PullLimit:
    """`ratelimit-limit` / `ratelimit-remaining` (`N;w=SECONDS`) of one registry answer."""

    limit: int
    remaining: int
    window_seconds: int
    source: str = ""

    @property
    def low(self) -> bool:
        return self.remaining < self.limit * WARN_RATIO


@dataclass(frozen=True, slots=True)
class HubTag:
    """What the Hub tag API says about a tag, without touching its manifest."""

    name: str
    full_size: int | None
    last_updated: datetime | None
    last_pushed: datetime | None
    last_pulled: datetime | None
    status: Untrusted
    """`active`/`inactive`: the Hub's word, marked and bounded where parsed."""
    digests: tuple[str, ...]
    platforms: tuple[str, ...]


def _count_and_window(value: str) -> tuple[int, int] | None:
    """`100;w=21600` -> (100, 21600); a missing window is 0."""
    count, _, rest = value.partition(";")
    if not count.strip().isdigit():
        return None
    window = 0
    for part in rest.split(";"):
        key, _, number = part.strip().partition("=")
        if key == "w" and number.isdigit():
            window = int(number)
    return int(count.strip()), window


def parse_pull_limit(headers: Mapping[str, str]) -> PullLimit | None:
    """The pull limit of an answer; None when the headers are absent (no limit applies)."""
    limit = _count_and_window(headers.get("ratelimit-limit", ""))
    remaining = _count_and_window(headers.get("ratelimit-remaining", ""))
    if limit is None or remaining is None:
        return None
    return PullLimit(limit[0], remaining[0], limit[1] or remaining[1],
                     headers.get("docker-ratelimit-source", "")[:80])


def window_text(seconds: int) -> str:
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def parse_hub_tag(item: Mapping[str, Any]) -> HubTag:
    """One tag object; `images` is one object in the spec and an array in live answers."""
    images = item.get("images")
    listed = images if isinstance(images, list) else [images] if isinstance(images, dict) else []
    digests: list[str] = []
    platforms: list[str] = []
    for image in listed:
        if not isinstance(image, dict):
            continue
        if isinstance(image.get("digest"), str) and is_digest(image["digest"]):
            digests.append(image["digest"])
        parts = [str(image.get(k) or "") for k in ("os", "architecture", "variant")]
        platform = "/".join(p for p in parts if p)
        if platform and platform != "unknown/unknown":
            platforms.append(platform)
    size = item.get("full_size")
    return HubTag(
        name=str(item.get("name", "")),
        full_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        last_updated=parse_time(item.get("last_updated")),
        last_pushed=parse_time(item.get("tag_last_pushed")),
        last_pulled=parse_time(item.get("tag_last_pulled")),
        status=untrusted(status[:STATUS_LIMIT] if isinstance(status := item.get("status"), str)
                         else ""),
        digests=tuple(digests),
        platforms=tuple(dict.fromkeys(platforms)),
    )


class DockerHubBackend(DistributionBackend):
    """Docker Hub: `/v2` content from the parent, repositories, tags and deletes from the API."""

    def __init__(self, *, name: str, url: str, client: httpx.AsyncClient, cache: ContentCache,
                 concurrency: int = 8, api_url: str = HUB_API,
                 credentials: CredentialSource | None = None,
                 configured: tuple[str, ...] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name=name, url=url, client=client, cache=cache,
                         concurrency=concurrency, capabilities=DOCKERHUB_CAPABILITIES,
                         configured=configured)
        self.api_url = api_url.rstrip("/")
        self._credential_source = credentials or (lambda: None)
        self.clock = clock
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()
        self._login: Credentials | bool | None = False  # False: not looked up yet
        self.login_route = ""
        """`/v2/auth/token`, or `/v2/users/login` where the newer route is missing."""
        self.pull_limit: PullLimit | None = None
        self.pull_limit_seen = False
        """True once a registry answer was read: no headers then means no limit."""
        self._pull_limit_at = 0.0
        self.api_limit: tuple[int, int] | None = None
        """(remaining, limit) from the Hub API's `X-RateLimit-*` headers."""
        self.api_reset: float | None = None
        """`X-RateLimit-Reset`: when the Hub API's window starts again (Unix time)."""
        self.wall_clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.manifest_gets = 0
        self.page_size = PAGE_SIZE
        self.hub_tags: dict[tuple[str, str], HubTag] = {}

    # -- the registry side: count GETs, read the pull limit ---------------------------------------

    async def _fetch(self, method: str, path: str, *, what: str, accept: str | None = None,
                     params: dict[str, str] | None = None, limit: int = 4 * 1024 * 1024,
                     ok_statuses: Collection[int] = (200,)) -> tuple[httpx.Response, bytes]:
        if method == "GET" and "/manifests/" in path:
            self.manifest_gets += 1  # each one is a pull against the limit
        response, body = await super()._fetch(method, path, what=what, accept=accept,
                                              params=params, limit=limit,
                                              ok_statuses=ok_statuses)
        self._note_pull_limit(response)
        return response, body

    def _note_pull_limit(self, response: httpx.Response) -> None:
        """The latest reading, except one that answers of a concurrent burst delivered out of
        order: a higher remaining count within LIMIT_BURST_S of the last reading is older."""
        if "/manifests/" not in response.url.path:
            return
        found, now, last = parse_pull_limit(response.headers), self.clock(), self.pull_limit
        stale = (found is not None and last is not None and found.limit == last.limit
                 and found.remaining > last.remaining
                 and now - self._pull_limit_at < LIMIT_BURST_S)
        if not stale:
            self.pull_limit, self._pull_limit_at = found, now
        self.pull_limit_seen = True

    def _status_error(self, response: httpx.Response, body: bytes, what: str) -> RegistryError:
        self._note_pull_limit(response)
        if response.status_code == 429:
            text = body.decode("utf-8", errors="replace").lower()
            where = f"{what} on registry {self.name} ({self.url})"
            if PULL_LIMIT_TEXT in text or (self.pull_limit and self.pull_limit.remaining == 0):
                shown = self._limit_text() or "the pull limit"
                return PullLimitError(f"{where}: Docker Hub pull rate limit reached ({shown}); "
                                      "regtui itself reads tags by HEAD, which costs no pull")
            return HubRateLimitError(f"{where}: Docker Hub rate limit (HTTP 429): "
                                     "too many requests, try again later")
        return super()._status_error(response, body, what)

    def _limit_text(self) -> str:
        found = self.pull_limit
        if found is None:
            return ""
        return f"{found.remaining}/{found.limit} left per {window_text(found.window_seconds)}"

    async def resolve_tag(self, repository: str, tag: str, hint: str | None = None) -> Manifest:
        """HEAD first, always: on Docker Hub a HEAD is free and a GET is a pull, so a tag costs
        a pull only when its digest is not cached (and aliases of one digest cost one)."""
        head = await self.head_manifest(repository, tag)
        return await self.manifest(repository, head.digest)

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead:
        """HEAD only: a HEAD without a digest is an error here, never a GET (a GET is a pull)."""
        path = f"/v2/{quote(repository, safe='/:@')}/manifests/{quote(reference, safe=':@')}"
        what = f"manifest {repository}:{reference}"
        response, _ = await self._fetch("HEAD", path, what=what, accept=mt.MANIFEST_ACCEPT)
        digest = response.headers.get("docker-content-digest", "")
        length = response.headers.get("content-length", "")
        if not is_digest(digest) or not length.isdigit():
            raise ProtocolError(f"{what} on {self.name}: HEAD answered without a digest; "
                                "regtui does not GET it (that would spend a pull)")
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        return ManifestHead(digest, media_type, int(length))

    async def ping(self) -> RegistryInfo:
        info = await super().ping()
        with contextlib.suppress(NotFoundError):
            await self.head_manifest(*PROBE)
        return info

    # -- the Hub API ------------------------------------------------------------------------------

    async def _credentials(self) -> Credentials | None:
        if self._login is False:
            self._login = await asyncio.to_thread(self._credential_source)
        return self._login if isinstance(self._login, Credentials) else None

    async def _bearer(self) -> str | None:
        """A Hub JWT, fetched again a minute before its 10 minutes are up."""
        credentials = await self._credentials()
        if credentials is None:
            return None
        async with self._token_lock:
            if self._token is not None and self.clock() < self._token[1]:
                return self._token[0]
            token = await self._log_in(credentials)
            self._token = (token, self.clock() + TOKEN_LIFETIME - TOKEN_MARGIN)
            return token

    async def _log_in(self, credentials: Credentials) -> str:
        """`POST /v2/auth/token`; the deprecated `/v2/users/login` only where it is missing."""
        body = {"identifier": credentials.username, "secret": credentials.password}
        response, data = await self._api_call("POST", "/v2/auth/token", what="Docker Hub login",
                                              json_body=body, ok=(200, 404, 405), token=None)
        if response.status_code == 200:
            self.login_route = "/v2/auth/token"
            return _string_field(data, "access_token", "Docker Hub login")
        body = {"username": credentials.username, "password": credentials.password}
        _, data = await self._api_call("POST", "/v2/users/login", what="Docker Hub login "
                                       "(deprecated route)", json_body=body, token=None)
        self.login_route = "/v2/users/login"
        return _string_field(data, "token", "Docker Hub login")

    async def _api_call(self, method: str, path: str, *, what: str,
                        params: Mapping[str, str] | None = None, json_body: object = None,
                        ok: Collection[int] = (200,), token: str | bool | None = True,
                        ) -> tuple[httpx.Response, Any]:
        """One Hub API call with the JWT (`token=True`), as JSON; errors are one line."""
        bearer = await self._bearer() if token is True else token or None
        headers = {"Accept": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        content = None if json_body is None else json.dumps(json_body).encode()
        if content is not None:
            headers["Content-Type"] = "application/json"
        url = self.api_url + path
        where = f"{what} on registry {self.name} ({method} {url})"
        extensions = {TOKEN_REQUEST: True} if token is None else {}
        await self._respect_api_limit()
        async with self._limit:
            try:
                async with self.client.stream(method, url, params=params, headers=headers,
                                              content=content, auth=None,
                                              extensions=extensions) as response:
                    raw = await _read_bounded(response, MAX_LIST_BYTES, where)
            except httpx.HTTPError as exc:
                raise describe_http_error(exc, registry=self.name, url=self.api_url) from exc
        self._note_api_limit(response)
        if response.status_code not in ok:
            raise self._api_error(response, raw, where, bearer is not None)
        return response, api_json(raw, where)

    def _note_api_limit(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining", "").strip()
        limit = response.headers.get("x-ratelimit-limit", "").strip()
        reset = response.headers.get("x-ratelimit-reset", "").strip()
        if remaining.isdigit() and limit.isdigit():
            self.api_limit = (int(remaining), int(limit))
            self.api_reset = float(reset) if reset.isdigit() else None

    async def _respect_api_limit(self) -> None:
        """With none left, wait for `X-RateLimit-Reset` (a Unix time) rather than be
        refused; a reset further away than MAX_API_WAIT is left to the 429 to tell."""
        if self.api_limit is None or self.api_limit[0] > 0 or self.api_reset is None:
            return
        wait = self.api_reset - self.wall_clock()
        if 0 < wait <= MAX_API_WAIT:
            await self.sleep(wait)
        self.api_limit = None  # the next answer says again

    def _api_error(self, response: httpx.Response, raw: bytes, where: str,
                   authenticated: bool) -> RegistryError:
        status = response.status_code
        detail = _hub_detail(raw)
        if status == 429:
            reset = response.headers.get("x-retry-after", "").strip()
            when = (f"; retry after {datetime.fromtimestamp(int(reset), UTC):%H:%M:%S} UTC"
                    if reset.isdigit() else "")
            return HubRateLimitError(f"{where}: Docker Hub API rate limit (HTTP 429){when}")
        if status == 404:
            return NotFoundError(f"{where}: not found (404{detail})")
        if status in (401, 403):
            hint = "" if authenticated else f"; {NO_CREDENTIALS}"
            return AuthError(f"{where}: access denied ({status}{detail}){hint}")
        return RegistryError(f"{where}: HTTP {status}{detail}")

    # -- repositories --------------------------------------------------------------------------

    async def repositories(self) -> AsyncIterator[Untrusted]:
        """Configured names as given; `ns/*` and no configuration through the Hub API."""
        exact = [n for n in self.configured if not n.endswith("/*")]
        namespaces = [n[:-2] for n in self.configured if n.endswith("/*")]
        notes: list[str] = []
        if exact:
            noun = "repository" if len(exact) == 1 else "repositories"
            notes.append(f"{len(exact)} {noun} from the configured list")
        if not self.configured:
            credentials = await self._credentials()
            if credentials is None:
                raise AuthError(f"registry {self.name}: Docker Hub has no catalog: set "
                                'repositories = ["namespace/*"], or log in to list your own '
                                f"(set [registries.auth] or use {LOGIN_HINT})")
            namespaces = [credentials.username]
        seen = set(exact)
        for name in exact:
            yield untrusted(name)
        for namespace in namespaces:
            found: list[str] = []
            route, private = await self._namespace(namespace, found)
            notes.append(f"{namespace}/*: {len(found)} from the Hub API ({route})")
            if found and not private and await self._credentials() is not None:
                notes.append(f"{namespace}/*: only public repositories were listed; a token "
                             "without repository-list scope sees no private ones")
            for name in found:
                if name not in seen:
                    seen.add(name)
                    yield untrusted(name)
        self.source_note = "repositories: " + "; ".join(notes) if notes else ""

    async def _namespace(self, namespace: str, found: list[str]) -> tuple[str, bool]:
        """Fill `found`; (route used, whether any private repository was seen)."""
        routes = (f"/v2/namespaces/{quote(namespace, safe='')}/repositories",
                  f"/v2/repositories/{quote(namespace, safe='')}/")
        for position, route in enumerate(routes):
            try:
                private = False
                async for item in self._pages(route, f"repositories of {namespace}"):
                    name = item.get("name")
                    if isinstance(name, str) and name:
                        found.append(f"{namespace}/{name}")
                        private = private or item.get("is_private") is True
                return route, private
            except NotFoundError:
                if position == len(routes) - 1 or found:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pages(self, path: str, what: str) -> AsyncIterator[dict[str, Any]]:
        """Django pages: `page` from 1 until `next` is null (the link itself is never
        followed: it names hub.docker.com, and credentials stay on the configured host)."""
        for page in range(1, MAX_PAGES + 1):
            params = {"page": str(page), "page_size": str(self.page_size)}
            _, data = await self._api_call("GET", path, what=what, params=params)
            results = page_objects(data, "results", f"{what} on registry {self.name}")
            for item in results:
                yield item
            if not data.get("next") or not results:
                return
        raise ProtocolError(f"{what} on registry {self.name}: more than {MAX_PAGES} pages")

    # -- tags ----------------------------------------------------------------------------------

    async def tags(self, repository: str) -> list[Untrusted]:
        namespace, name = split_hub(repository)
        path = (f"/v2/namespaces/{quote(namespace, safe='')}/repositories/"
                f"{quote(name, safe='')}/tags")
        names: list[Untrusted] = []
        async for item in self._pages(path, f"tag list of {repository}"):
            tag = parse_hub_tag(item)
            if tag.name:
                self.hub_tags[(repository, tag.name)] = tag
                names.append(untrusted(tag.name))
        return names

    def pushed_at(self, repository: str, tag: str) -> datetime | None:
        """`tag_last_pushed` (else `last_updated`) from the last tag listing."""
        found = self.hub_tags.get((repository, tag))
        return None if found is None else found.last_pushed or found.last_updated

    def tag_activity(self, repository: str, tag: str) -> TagActivity | None:
        """Push and pull times and `status` from the last tag listing: no pull spent."""
        found = self.hub_tags.get((repository, tag))
        if found is None:
            return None
        return TagActivity(found.last_pushed or found.last_updated, found.last_pulled,
                           found.status)

    async def delete_tag(self, repository: str, tag: str) -> None:
        """The Hub's tag delete: the tag goes, the image and its other tags stay."""
        namespace, name = split_hub(repository)
        path = (f"/v2/repositories/{quote(namespace, safe='')}/{quote(name, safe='')}/tags/"
                f"{quote(tag, safe='')}/")
        await self._api_call("DELETE", path, what=f"deleting tag {repository}:{tag}",
                             ok=(200, 202, 204))

    async def audit_log(self, account: str, *, since: datetime | None = None,
                        pages: int = 10) -> list[dict[str, Any]]:
        """Recent Hub audit events of an account, newest first (needs an org owner's token)."""
        path = f"/v2/auditlogs/{quote(account, safe='')}"
        events: list[dict[str, Any]] = []
        for page in range(1, pages + 1):
            params = {"page": str(page), "page_size": str(PAGE_SIZE)}
            if since is not None:
                params["from"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            _, data = await self._api_call("GET", path, what=f"Hub audit log of {account}",
                                           params=params)
            logs = data.get("logs") if isinstance(data, dict) else None
            if not isinstance(logs, list):
                raise ProtocolError(f"Hub audit log of {account} on {self.name}: no 'logs'")
            events.extend(item for item in logs if isinstance(item, dict))
            if len(logs) < PAGE_SIZE:
                break
        return events

    # -- what the fleet shows ------------------------------------------------------------------

    def health(self) -> Health:
        gauges: list[Gauge] = []
        found = self.pull_limit
        if found is not None:
            gauges.append(Gauge("pulls", found.remaining, found.limit,
                                detail=f"per {window_text(found.window_seconds)}",
                                warn=found.low))
        elif self.pull_limit_seen:
            gauges.append(Gauge("pulls", None, None, detail="no limit (no rate-limit headers)"))
        if self.api_limit is not None:
            remaining, limit = self.api_limit
            gauges.append(Gauge("Hub API", remaining, limit,
                                warn=remaining < limit * WARN_RATIO))
        gauges.append(Gauge("manifest GETs", self.manifest_gets, None))
        notes = [self.source_note] if self.source_note else []
        if self.login_route == "/v2/users/login":
            notes.append("logged in through the deprecated /v2/users/login")
        return Health(tuple(gauges), tuple(notes))


def split_hub(repository: str) -> tuple[str, str]:
    """`nginx` is `library/nginx`; every Hub repository is `namespace/name`."""
    namespace, _, name = repository.partition("/")
    if not name:
        return "library", namespace
    if "/" in name:
        raise NotFoundError(f"repository {repository!r} is not a Docker Hub name "
                            "(namespace/name)")
    return namespace, name


def _string_field(data: Any, key: str, what: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{what}: the answer has no {key!r}")
    return value


def _hub_detail(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    text = str(data.get("detail") or data.get("message") or "")
    text = " ".join(text.split())[:200]
    return f", {text}" if text else ""
