"""Harbor: the distribution API for content, Harbor's own `/api/v2.0` for everything else.

Harbor serves `/v2/` for manifests and blobs, but `/v2/_catalog` needs a system admin, so
repositories come from the projects API. Tags are deleted through the artifact tag API,
which removes only the tag (a `/v2` DELETE by digest would take every sibling tag along).
The management API wants Basic credentials up front: anonymous calls are not refused, they
just see public projects only, so waiting for a 401 challenge would list too little.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx

from regtui.errors import AuthError, NotFoundError, ProtocolError, RegistryError
from regtui.registry.auth import LOGIN_HINT, NO_CREDENTIALS, Credentials
from regtui.registry.backend import Capabilities
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import (
    MAX_LIST_BYTES,
    DistributionBackend,
    _error_detail,
    _read_bounded,
)
from regtui.registry.harbor_models import (
    GcJob,
    HarborInfo,
    Quota,
    ScanSummary,
    parse_gc_job,
    parse_info,
    parse_push_times,
    parse_quota,
    parse_scan,
)
from regtui.registry.transport import describe_http_error
from regtui.text import Untrusted, untrusted

if TYPE_CHECKING:
    from regtui.registry.harbor_scans import HarborScans

API: Final = "/api/v2.0"
HARBOR_CAPABILITIES: Final = Capabilities(
    has_catalog=True, can_delete_manifest=True, can_delete_tag=True, can_gc=True,
    has_scans=True, has_quota=True)
API_PAGE_SIZE: Final = 100
"""Harbor's `page_size` maximum."""
MAX_API_PAGES: Final = 10_000
MAX_LOG_BYTES: Final = 16 * 1024 * 1024
SCAN_MIME_TYPES: Final = ("application/vnd.security.vulnerability.report; version=1.1, "
                          "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0")

CredentialSource = Callable[[], Credentials | None]


def split_repository(repository: str) -> tuple[str, str]:
    """`project/rest`: every Harbor repository lives in a project."""
    project, _, rest = repository.partition("/")
    if not project or not rest:
        raise NotFoundError(f"repository {repository!r} is not in a Harbor project "
                            "(expected project/name)")
    return project, rest


def repository_path(repository: str) -> str:
    """`/projects/{p}/repositories/{r}` with the name encoded twice, as Harbor requires."""
    project, rest = split_repository(repository)
    twice = quote(quote(rest, safe=""), safe="")
    return f"/projects/{quote(project, safe='')}/repositories/{twice}"


class HarborBackend(DistributionBackend):
    """A Harbor registry: `/v2` reads from the parent, projects, quotas, scans and GC here."""

    gc_path: Final = f"{API}/system/gc"

    def __init__(self, *, name: str, url: str, client: httpx.AsyncClient, cache: ContentCache,
                 concurrency: int = 8, credentials: CredentialSource | None = None,
                 page_size: int = API_PAGE_SIZE) -> None:
        super().__init__(name=name, url=url, client=client, cache=cache,
                         concurrency=concurrency, capabilities=HARBOR_CAPABILITIES)
        self._credential_source = credentials or (lambda: None)
        self._api_auth: httpx.Auth | None = None
        self._auth_ready = False
        self.page_size = page_size
        self._push_times: dict[str, dict[str, datetime]] = {}
        """repository -> tag -> push time, from the last artifact listing of it."""

    # -- the management API -------------------------------------------------------------------

    async def _auth(self) -> httpx.Auth | None:
        """Basic auth from the registry's credentials, looked up once, off the event loop."""
        if not self._auth_ready:
            found = await asyncio.to_thread(self._credential_source)
            if found is not None:
                self._api_auth = httpx.BasicAuth(found.username, found.password)
            self._auth_ready = True
        return self._api_auth

    async def _api(self, method: str, path: str, *, what: str,
                   params: Mapping[str, str] | None = None, json_body: object = None,
                   ok_statuses: Collection[int] = (200,),
                   limit: int = MAX_LIST_BYTES,
                   extra_headers: Mapping[str, str] | None = None,
                   ) -> tuple[httpx.Response, bytes]:
        """One management API call; failures become one line naming registry and URL."""
        auth = await self._auth()
        url = API + path
        where = f"{what} on registry {self.name} ({method} {self.url}{url})"
        content = None if json_body is None else json.dumps(json_body).encode()
        headers = {"Accept": "application/json", **(extra_headers or {})}
        if content is not None:
            headers["Content-Type"] = "application/json"
        async with self._limit:
            try:
                async with self.client.stream(method, url, params=params, auth=auth,
                                              content=content, headers=headers) as response:
                    body = await _read_bounded(response, limit, where)
            except httpx.HTTPError as exc:
                raise describe_http_error(exc, registry=self.name, url=self.url) from exc
        if response.status_code not in ok_statuses:
            raise self._api_error(response.status_code, body, where)
        return response, body

    def _api_error(self, status: int, body: bytes, where: str) -> RegistryError:
        detail = _error_detail(body)
        if status == 404:
            return NotFoundError(f"{where}: not found (404{detail})")
        if status in (401, 403):
            hint = "" if self._api_auth is not None else f"; {NO_CREDENTIALS}"
            return AuthError(f"{where}: access denied ({status}{detail}){hint}")
        return RegistryError(f"{where}: HTTP {status}{detail}")

    async def _api_json(self, path: str, *, what: str,
                        params: Mapping[str, str] | None = None,
                        extra_headers: Mapping[str, str] | None = None,
                        limit: int = MAX_LIST_BYTES) -> tuple[httpx.Response, Any]:
        response, body = await self._api("GET", path, what=what, params=params,
                                         extra_headers=extra_headers, limit=limit)
        try:
            return response, json.loads(body)
        except ValueError:
            raise ProtocolError(f"{what} on registry {self.name} ({self.url}{API}{path}): "
                                "answer is not JSON") from None

    async def _pages(self, path: str, what: str,
                     params: Mapping[str, str] | None = None,
                     extra_headers: Mapping[str, str] | None = None,
                     ) -> AsyncIterator[dict[str, Any]]:
        """Every object of a paged list: `page`/`page_size` until `X-Total-Count` is reached
        or a page comes back short (servers without the header)."""
        seen = 0
        previous: list[dict[str, Any]] = []
        for page in range(1, MAX_API_PAGES + 1):
            query = {**(params or {}), "page": str(page), "page_size": str(self.page_size)}
            response, items = await self._api_json(path, what=what, params=query,
                                                   extra_headers=extra_headers)
            where = f"{what} on registry {self.name} ({self.url}{API}{path})"
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ProtocolError(f"{where}: expected a JSON list of objects")
            if items and items == previous:  # a server ignoring `page` would loop forever
                raise ProtocolError(f"{where}: page {page} repeats page {page - 1}")
            previous = items
            for item in items:
                yield item
            seen += len(items)
            total = _total_count(response)
            if not items or (total is not None and seen >= total) or (
                    total is None and len(items) < self.page_size):
                return
        raise ProtocolError(f"{what} on registry {self.name}: more than {MAX_API_PAGES} pages")

    # -- reading ------------------------------------------------------------------------------

    async def system_info(self) -> HarborInfo:
        _, data = await self._api_json("/systeminfo", what="Harbor system info")
        if not isinstance(data, dict):
            raise ProtocolError(f"Harbor system info on registry {self.name}: not an object")
        return parse_info(data)

    async def projects(self) -> list[str]:
        """Project names; anonymous callers see public ones only, and none is a login problem."""
        names = [str(project["name"]) async for project in
                 self._pages("/projects", "Harbor project list", {"with_detail": "false"})
                 if isinstance(project.get("name"), str)]
        if not names and self._api_auth is None:
            raise AuthError(f"registry {self.name} ({self.url}{API}/projects) shows no project "
                            f"to anonymous callers: set [registries.auth] or use {LOGIN_HINT}")
        return names

    async def repositories(self) -> AsyncIterator[Untrusted]:
        """`project/name` for every repository the credentials can see, project by project."""
        seen: set[str] = set()
        for project in await self.projects():
            path = f"/projects/{quote(project, safe='')}/repositories"
            async for repository in self._pages(path, f"repositories of Harbor project {project}"):
                name = repository.get("name")
                if isinstance(name, str) and name and name not in seen:  # pages may overlap
                    seen.add(name)
                    yield untrusted(name)

    async def tags(self, repository: str) -> list[Untrusted]:
        """The `/v2` tag list, and when each tag was pushed (the artifact API): retention
        ages a tag by its push, which a reproducible build's 1970 `created` cannot tell."""
        names = await super().tags(repository)
        times: dict[str, datetime] = {}
        if names:
            path = f"{repository_path(repository)}/artifacts"
            params = {"with_tag": "true", "with_scan_overview": "false"}
            async for artifact in self._pages(path, f"artifacts of {repository}", params):
                times.update(parse_push_times(artifact))
        self._push_times[repository] = times
        return names

    def pushed_at(self, repository: str, tag: str) -> datetime | None:
        """The tag's Harbor `push_time`, from the last listing of `repository`; no I/O."""
        return self._push_times.get(repository, {}).get(tag)

    def scans(self) -> HarborScans:
        """The scan reports Harbor's own scanner keeps, through this backend's API client."""
        from regtui.registry.harbor_scans import HarborScans  # it builds on this module

        return HarborScans(self)

    async def quotas(self) -> list[Quota]:
        what = "Harbor quotas"
        return [parse_quota(item, what) async for item in
                self._pages("/quotas", what, {"reference": "project"})]

    async def scan_overview(self, repository: str, digest: str) -> ScanSummary | None:
        """Severity counts of the artifact's last scan; None when it was never scanned."""
        path = f"{repository_path(repository)}/artifacts/{quote(digest, safe='')}"
        what = f"scan overview of {repository}@{digest}"
        params = {"with_scan_overview": "true", "with_tag": "false"}
        _, data = await self._api_json(path, what=what, params=params)
        if not isinstance(data, dict):
            raise ProtocolError(f"{what} on registry {self.name}: artifact is not an object")
        return parse_scan(data.get("scan_overview"), what)

    # -- changing -----------------------------------------------------------------------------

    async def delete_tag(self, repository: str, tag: str) -> None:
        """Remove one tag; the artifact and its other tags stay (Harbor's tag API)."""
        reference = quote(tag, safe="")
        path = f"{repository_path(repository)}/artifacts/{reference}/tags/{reference}"
        await self._api("DELETE", path, what=f"deleting tag {repository}:{tag}")

    async def start_gc(self, *, dry_run: bool, delete_untagged: bool) -> int:
        """Trigger a manual GC; the new job's id comes from the `Location` header."""
        body = {"schedule": {"type": "Manual"},
                "parameters": {"dry_run": dry_run, "delete_untagged": delete_untagged}}
        what = "starting Harbor garbage collection"
        response, _ = await self._api("POST", "/system/gc/schedule", what=what, json_body=body,
                                      ok_statuses=(200, 201))
        location = response.headers.get("location", "")
        job = location.rstrip("/").rsplit("/", 1)[-1]
        if not job.isdigit():
            raise ProtocolError(f"{what} on registry {self.name}: no job id in the answer's "
                                f"Location header ({location[:120]!r})")
        return int(job)

    async def gc_job(self, job_id: int) -> GcJob:
        what = f"Harbor GC job {job_id}"
        _, data = await self._api_json(f"/system/gc/{job_id}", what=what)
        if not isinstance(data, dict):
            raise ProtocolError(f"{what} on registry {self.name}: not an object")
        return parse_gc_job(data, what)

    async def gc_jobs(self) -> list[GcJob]:
        what = "Harbor GC history"
        return [parse_gc_job(item, what) async for item in self._pages("/system/gc", what)]

    async def gc_log(self, job_id: int) -> str:
        """The whole job log so far; empty while Harbor has not started a task for it."""
        try:
            _, body = await self._api("GET", f"/system/gc/{job_id}/log",
                                      what=f"log of Harbor GC job {job_id}", limit=MAX_LOG_BYTES)
        except NotFoundError:
            return ""
        return body.decode("utf-8", errors="replace")


def _total_count(response: httpx.Response) -> int | None:
    value = response.headers.get("x-total-count", "").strip()
    return int(value) if value.isdigit() else None
