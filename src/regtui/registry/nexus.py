"""Nexus Repository 3: its REST API for listings, storage and tasks, its docker connectors
for manifests.

One Nexus holds many docker repositories, each served on a connector port of its own; regtui
names an image `<nexus repository>/<image>` (`docker-hosted/team-a/app`) and reads its
manifests through that repository's connector (`/v2` on `httpPort`/`httpsPort`). Images and
tags come from the components API (name = image, version = tag) with continuation tokens;
a component delete removes one tag. Deletes are soft: blobs stay in the blob store until the
"Docker - Delete unused manifests and images" and "Admin - Compact blob store" tasks run.
Nexus demands CSRF tokens from browser-like clients, so the User-Agent must not look like
one (regtui's never does).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from regtui.errors import AuthError, NotFoundError, ProtocolError, RegistryError
from regtui.registry.auth import NO_CREDENTIALS, Credentials
from regtui.registry.backend import Capabilities, ManifestHead
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import MAX_LIST_BYTES, DistributionBackend, _read_bounded
from regtui.registry.harbor_models import Quota
from regtui.registry.models import (
    Gauge,
    Health,
    ImageConfig,
    Manifest,
    Referrer,
    RegistryInfo,
)
from regtui.registry.nexus_models import (
    BlobStore,
    Component,
    NexusRepository,
    NexusTask,
    as_int,
    as_str,
    parse_component,
    parse_task,
)
from regtui.registry.parse import api_json, page_objects
from regtui.registry.transport import describe_http_error
from regtui.text import Untrusted, untrusted

REST: Final = "/service/rest"
NEXUS_CAPABILITIES: Final = Capabilities(
    has_catalog=True, can_delete_manifest=False, can_delete_tag=True,
    gc_tasks=True, has_quota=True)
MAX_PAGES: Final = 100_000
DOCKER_GC_TASK: Final = "repository.docker.gc"
"""Type id of "Docker - Delete unused manifests and images"."""
COMPACT_TASK: Final = "blobstore.compact"
"""Type id of "Admin - Compact blob store"."""
LOW_SPACE: Final = 0.10
CredentialSource = Callable[[], Credentials | None]
ConnectorFactory = Callable[[str, str], DistributionBackend]
"""(repository name, connector URL) -> a distribution backend for that connector."""


class NexusBackend(DistributionBackend):
    """A Nexus 3 server: the REST API here, `/v2` reads routed to each repository's connector."""

    def __init__(self, *, name: str, url: str, client: httpx.AsyncClient, cache: ContentCache,
                 connector: ConnectorFactory, concurrency: int = 8,
                 credentials: CredentialSource | None = None,
                 configured: tuple[str, ...] = ()) -> None:
        super().__init__(name=name, url=url, client=client, cache=cache,
                         concurrency=concurrency, capabilities=NEXUS_CAPABILITIES,
                         configured=configured)
        self._connector_factory = connector
        self._credential_source = credentials or (lambda: None)
        self._api_auth: httpx.Auth | None = None
        self._auth_ready = False
        self._docker: dict[str, NexusRepository] | None = None
        self._connectors: dict[str, DistributionBackend] = {}
        self._components: dict[str, dict[str, dict[str, Component]]] = {}
        """Nexus repository -> image -> tag -> component, from the last listing."""
        self.blob_stores: list[BlobStore] = []
        self.notes: list[str] = []

    # -- the REST API ---------------------------------------------------------------------------

    async def _auth(self) -> httpx.Auth | None:
        """Basic auth (a user token works the same way), looked up once, off the loop."""
        if not self._auth_ready:
            found = await asyncio.to_thread(self._credential_source)
            if found is not None:
                self._api_auth = httpx.BasicAuth(found.username, found.password)
            self._auth_ready = True
        return self._api_auth

    async def _api(self, method: str, path: str, *, what: str,
                   params: Mapping[str, str] | None = None,
                   ok: Collection[int] = (200,)) -> tuple[httpx.Response, Any]:
        """One REST call; the answer as JSON (None when empty); failures are one line."""
        auth = await self._auth()
        url = REST + path
        where = f"{what} on registry {self.name} ({method} {self.url}{url})"
        async with self._limit:
            try:
                async with self.client.stream(method, url, params=params, auth=auth,
                                              headers={"Accept": "application/json"}
                                              ) as response:
                    raw = await _read_bounded(response, MAX_LIST_BYTES, where)
            except httpx.HTTPError as exc:
                raise describe_http_error(exc, registry=self.name, url=self.url) from exc
        if response.status_code not in ok:
            raise self._api_error(response.status_code, raw, where)
        return response, api_json(raw, where)

    def _api_error(self, status: int, raw: bytes, where: str) -> RegistryError:
        detail = " ".join(raw.decode("utf-8", errors="replace").split())[:160]
        detail = f", {detail}" if detail and not detail.startswith("<") else ""
        if status == 404:
            return NotFoundError(f"{where}: not found (404{detail})")
        if status in (401, 403):
            hint = "" if self._api_auth is not None else f"; {NO_CREDENTIALS}"
            return AuthError(f"{where}: access denied ({status}{detail}){hint}")
        return RegistryError(f"{where}: HTTP {status}{detail}")

    async def _pages(self, path: str, what: str,
                     params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """`items` page by page, passing each `continuationToken` back until there is none."""
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            query = dict(params) | ({"continuationToken": token} if token else {})
            _, data = await self._api("GET", path, what=what, params=query)
            for item in page_objects(data, "items", f"{what} on registry {self.name}"):
                yield item
            token = data.get("continuationToken") or None
            if token is None:
                return
            if token in seen:
                raise ProtocolError(f"{what} on registry {self.name}: continuation tokens "
                                    "repeat")
            seen.add(token)
        raise ProtocolError(f"{what} on registry {self.name}: more than {MAX_PAGES} pages")

    # -- repositories and connectors -------------------------------------------------------------

    async def docker_repositories(self) -> dict[str, NexusRepository]:
        """Docker repositories with their connectors, read once per backend."""
        if self._docker is None:
            _, data = await self._api("GET", "/v1/repositories", what="Nexus repositories")
            if not isinstance(data, list):
                raise ProtocolError(f"Nexus repositories on {self.name}: not a list")
            found: dict[str, NexusRepository] = {}
            for item in data:
                if isinstance(item, dict) and item.get("format") == "docker":
                    repo = await self._docker_repository(as_str(item.get("name")),
                                                         as_str(item.get("type")))
                    found[repo.name] = repo
            self._docker = found
        return self._docker

    async def _docker_repository(self, name: str, kind: str) -> NexusRepository:
        path = f"/v1/repositories/docker/{quote(kind, safe='')}/{quote(name, safe='')}"
        _, data = await self._api("GET", path, what=f"Nexus repository {name}")
        docker = data.get("docker") if isinstance(data, dict) else None
        storage = data.get("storage") if isinstance(data, dict) else None
        docker = docker if isinstance(docker, dict) else {}
        base = urlsplit(self.url)
        connector = ""
        if as_int(docker.get("httpsPort")):
            connector = f"https://{base.hostname}:{docker['httpsPort']}"
        elif as_int(docker.get("httpPort")):
            connector = f"http://{base.hostname}:{docker['httpPort']}"
        blob_store = as_str(storage.get("blobStoreName")) if isinstance(storage, dict) else ""
        online = data.get("online") is not False if isinstance(data, dict) else True
        return NexusRepository(name, kind, connector, blob_store, online)

    async def _route(self, repository: str) -> tuple[DistributionBackend, str]:
        """`docker-hosted/team-a/app` -> (that repository's connector backend, `team-a/app`)."""
        nexus_repo, _, image = repository.partition("/")
        known = await self.docker_repositories()
        found = known.get(nexus_repo)
        if found is None or not image:
            raise NotFoundError(f"repository {repository!r} on {self.name}: not "
                                "<docker repository>/<image> of this Nexus")
        if not found.connector:
            raise RegistryError(f"Nexus repository {nexus_repo} on {self.name} has no docker "
                                "connector port (set HTTP or HTTPS port in its settings)")
        backend = self._connectors.get(nexus_repo)
        if backend is None:
            backend = self._connectors[nexus_repo] = self._connector_factory(
                f"{self.name}/{nexus_repo}", found.connector)
        return backend, image

    async def repositories(self) -> AsyncIterator[Untrusted]:
        """`<docker repository>/<image>` for every image of hosted and proxy repositories."""
        notes: list[str] = []
        for repo in (await self.docker_repositories()).values():
            if repo.type == "group":
                notes.append(f"group {repo.name}: its members are listed on their own")
                continue
            images = await self._list_components(repo.name)
            for image in sorted(images):
                yield untrusted(f"{repo.name}/{image}")
        self.notes = notes

    async def _list_components(self, nexus_repo: str) -> dict[str, dict[str, Component]]:
        images: dict[str, dict[str, Component]] = {}
        async for item in self._pages("/v1/components", f"components of {nexus_repo}",
                                      {"repository": nexus_repo}):
            component = parse_component(item)
            if component.name and component.version:
                images.setdefault(component.name, {})[component.version] = component
        self._components[nexus_repo] = images
        return images

    async def components(self, repository: str) -> dict[str, Component]:
        """tag -> component of one image, listing the repository if not done yet."""
        nexus_repo, _, image = repository.partition("/")
        if nexus_repo not in self._components:
            await self._list_components(nexus_repo)
        return dict(self._components.get(nexus_repo, {}).get(image, {}))

    async def find_component(self, nexus_repo: str, image: str, tag: str) -> Component | None:
        """One image version through `/v1/search` (no listing of the whole repository)."""
        params = {"repository": nexus_repo, "format": "docker", "name": image, "version": tag}
        async for item in self._pages("/v1/search", f"search for {image}:{tag}", params):
            component = parse_component(item)
            if (component.name, component.version) == (image, tag):
                return component
        return None

    def pushed_at(self, repository: str, tag: str) -> datetime | None:
        """The manifest asset's `blobCreated`, from the last component listing."""
        nexus_repo, _, image = repository.partition("/")
        component = self._components.get(nexus_repo, {}).get(image, {}).get(tag)
        if component is None:
            return None
        return max((a.created for a in component.assets if a.created), default=None)

    async def tags(self, repository: str) -> list[Untrusted]:
        await self._route(repository)  # an unknown repository is an error, not "no tags"
        return [untrusted(tag) for tag in sorted(await self.components(repository))]

    # -- `/v2` through the connector ------------------------------------------------------------

    async def ping(self) -> RegistryInfo:
        await self._api("GET", "/v1/status", what="Nexus status")
        await self.refresh_blob_stores()
        return RegistryInfo(url=self.url, api_version=untrusted("nexus /service/rest/v1"),
                            reachable=True)

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead:
        backend, image = await self._route(repository)
        return await backend.head_manifest(image, reference)

    async def manifest(self, repository: str, reference: str) -> Manifest:
        backend, image = await self._route(repository)
        return await backend.manifest(image, reference)

    async def blob(self, repository: str, digest: str, *, limit: int, what: str) -> bytes:
        backend, image = await self._route(repository)
        return await backend.blob(image, digest, limit=limit, what=what)

    async def image_config(self, repository: str, descriptor_digest: str) -> ImageConfig:
        backend, image = await self._route(repository)
        return await backend.image_config(image, descriptor_digest)

    async def referrers(self, repository: str, digest: str,
                        tags: Collection[str] | None = None) -> list[Referrer]:
        backend, image = await self._route(repository)
        return await backend.referrers(image, digest, tags)

    # -- changing ----------------------------------------------------------------------------------

    async def delete_tag(self, repository: str, tag: str) -> None:
        """Delete the component `image:tag`: that tag goes; Nexus keeps blobs until compaction."""
        nexus_repo, _, image = repository.partition("/")
        component = self._components.get(nexus_repo, {}).get(image, {}).get(tag)
        if component is None:  # not listed yet, or pushed since: ask the search API
            component = await self.find_component(nexus_repo, image, tag)
        if component is None or not component.id:
            raise NotFoundError(f"{repository}:{tag} on {self.name}: no such component")
        await self._api("DELETE", f"/v1/components/{quote(component.id, safe='')}",
                        what=f"deleting component {repository}:{tag}", ok=(200, 204))
        self._components.get(repository.partition("/")[0], {}).get(
            repository.partition("/")[2], {}).pop(tag, None)

    # -- storage ----------------------------------------------------------------------------------

    async def refresh_blob_stores(self) -> list[BlobStore]:
        """Blob stores with their quota status; one without a readable status keeps None."""
        _, data = await self._api("GET", "/v1/blobstores", what="Nexus blob stores")
        if not isinstance(data, list):
            raise ProtocolError(f"Nexus blob stores on {self.name}: not a list")
        stores: list[BlobStore] = []
        for item in data:
            if not isinstance(item, dict):
                continue
            name = as_str(item.get("name"))
            violation, message = await self._quota_status(name)
            stores.append(BlobStore(name, as_str(item.get("type")), as_int(item.get("blobCount")),
                                    as_int(item.get("totalSizeInBytes")),
                                    as_int(item.get("availableSpaceInBytes")),
                                    item.get("unavailable") is True, violation, message))
        self.blob_stores = stores
        return stores

    async def _quota_status(self, name: str) -> tuple[bool | None, str]:
        try:
            _, data = await self._api("GET", f"/v1/blobstores/{quote(name, safe='')}/"
                                      "quota-status", what=f"quota of blob store {name}")
        except (NotFoundError, AuthError):
            return None, ""
        if not isinstance(data, dict):
            return None, ""
        violation = data.get("isViolation")
        return (violation if isinstance(violation, bool) else None,
                " ".join(as_str(data.get("message")).split())[:200])

    async def quotas(self) -> list[Quota]:
        """Blob stores as the storage pane's quota lines: used of used + available."""
        stores = await self.refresh_blob_stores()
        return [Quota(untrusted(f"blob store {s.name} ({s.blob_count:,} blobs)"), s.total_bytes,
                      s.total_bytes + s.available_bytes or None) for s in stores]

    # -- tasks (GC) --------------------------------------------------------------------------------

    async def tasks(self, task_type: str) -> list[NexusTask]:
        return [parse_task(item) async for item in
                self._pages("/v1/tasks", "Nexus tasks", {"type": task_type})]

    async def task(self, task_id: str) -> NexusTask:
        _, data = await self._api("GET", f"/v1/tasks/{quote(task_id, safe='')}",
                                  what=f"Nexus task {task_id}")
        if not isinstance(data, dict):
            raise ProtocolError(f"Nexus task {task_id} on {self.name}: not an object")
        return parse_task(data)

    async def run_task(self, task_id: str) -> None:
        try:
            await self._api("POST", f"/v1/tasks/{quote(task_id, safe='')}/run",
                            what=f"running Nexus task {task_id}", ok=(200, 204))
        except RegistryError as error:
            if "HTTP 405" in str(error):
                raise RegistryError(f"Nexus task {task_id} on {self.name} is disabled "
                                    "(HTTP 405): enable it in Settings > Tasks") from None
            raise

    # -- what the fleet shows --------------------------------------------------------------------

    def health(self) -> Health:
        gauges = []
        for store in self.blob_stores:
            capacity = store.total_bytes + store.available_bytes
            low = bool(capacity) and store.available_bytes < capacity * LOW_SPACE
            gauges.append(Gauge(f"store {store.name}", store.total_bytes,
                                capacity or None, unit="bytes",
                                detail=f"{store.blob_count:,} blobs",
                                warn=low or store.quota_violation is True or store.unavailable))
        notes = list(self.notes)
        notes.extend(f"blob store {s.name}: {s.quota_message}" for s in self.blob_stores
                     if s.quota_violation)
        notes.append("deletes are soft until the compact blob store task runs")
        return Health(tuple(gauges), tuple(notes))

    async def aclose(self) -> None:
        for backend in self._connectors.values():
            await backend.aclose()
        await super().aclose()

