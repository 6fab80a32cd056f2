"""A loopback Nexus Repository 3 double: `/service/rest/v1` over the real lab registry.

No Nexus can run here, so this serves the REST endpoints regtui uses from a model read out
of the real lab registry, and names the lab registry itself as the docker connector of the
hosted repository (its `httpPort` is the lab's port), so every manifest and blob regtui
reads is real. Requests and answers are checked against the project's subset of the Nexus
spec (tests/doubles/specs), see `tests.doubles.loopback`.

What it does the way Nexus does: Basic auth; browser-like User-Agents are refused (Nexus
wants a CSRF token from them); `/v1/repositories` lists every format; docker repositories
carry their connector ports; components (name = image, version = tag, with the manifest
asset) and search page with `continuationToken`; a component delete is soft (the blob
store keeps the bytes); "Docker - Delete unused manifests and images" marks blobs no
component uses and "Admin - Compact blob store" frees them; a run task goes RUNNING for a
few polls, then WAITING with `lastRunResult` OK (or FAILED when told to fail).
What it does not: write to the lab (component deletes and compaction change its model only),
cleanup policies, search by anything but repository/format/name/version.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from regtui.registry import mediatypes as mt
from tests.doubles.loopback import Recorder, Route, SpecHandler, lab_names, serving
from tests.doubles.subset import nexus_spec

REST: Final = "/service/rest"
USERNAME: Final = "admin"
PASSWORD: Final = "admin123"
HOSTED: Final = "docker-hosted"
STORE: Final = "default"
GIB: Final = 1024**3
DOCKER_GC_NAME: Final = "Docker - Delete unused manifests and images"
COMPACT_NAME: Final = "Admin - Compact blob store"
Json = Any
_SEEN: dict[tuple[str, str, str], NexusComponent] = {}


@dataclass
class NexusComponent:
    id: str
    name: str
    version: str
    digest: str
    manifest_size: int
    media_type: str
    blobs: dict[str, int]


@dataclass
class NexusTaskModel:
    id: str
    name: str
    type: str
    properties: dict[str, str]
    state: str = "WAITING"
    result: str = ""
    last_run: str = ""
    message: str = ""
    polls_left: int = 0


@dataclass
class Blobs:
    """The blob store: what it holds, what is soft-deleted, what docker GC marked."""

    sizes: dict[str, int] = field(default_factory=dict)
    marked: set[str] = field(default_factory=set)


class NexusDouble:
    """`with NexusDouble(lab.url) as nexus:`; `nexus.url` is the Nexus base URL."""

    def __init__(self, upstream: str, *, page_size: int = 10, available: int = 10 * GIB,
                 soft_limit: int | None = None, fail: frozenset[str] = frozenset(),
                 task_polls: int = 2, with_tasks: bool = True) -> None:
        self.upstream = upstream
        self.recorder = Recorder(nexus_spec())
        self.page_size = page_size
        self.available = available
        self.soft_limit = soft_limit
        self.fail = set(fail)
        self.task_polls = task_polls
        self.components: dict[str, NexusComponent] = {}
        self.blobs = Blobs()
        self.tasks: dict[str, NexusTaskModel] = {}
        if with_tasks:
            self.tasks = {
                "docker-gc": NexusTaskModel("docker-gc", DOCKER_GC_NAME, "repository.docker.gc",
                                            {"repositoryName": HOSTED}),
                "compact": NexusTaskModel("compact", COMPACT_NAME, "blobstore.compact",
                                          {"blobstoreName": STORE}),
            }
        self.runs: list[str] = []
        self.user_agents: set[str] = set()
        self._tokens: dict[str, int] = {}
        self.url = ""
        self._context: Any = None

    def __enter__(self) -> NexusDouble:
        self._load()
        self._context = serving(_Handler, self, "nexus-double")
        self.url = self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(None, None, None)

    @property
    def violations(self) -> list[str]:
        return self.recorder.violations

    @property
    def lab_port(self) -> int:
        port = urlsplit(self.upstream).port
        assert port is not None
        return port

    def _load(self) -> None:
        with httpx.Client(base_url=self.upstream, timeout=30.0) as client:
            for name in lab_names(self.upstream):
                tags = client.get(f"/v2/{name}/tags/list").json().get("tags") or []
                for tag in sorted(tags):
                    key = (self.upstream, name, tag)
                    if key not in _SEEN:  # the lab is read-only here: read each tag once
                        _SEEN[key] = _component(client, name, tag, len(_SEEN) + 1)
                    component = copy.deepcopy(_SEEN[key])
                    self.components[component.id] = component
                    self.blobs.sizes.update(component.blobs)

    # -- model queries ---------------------------------------------------------------------------

    def used_blobs(self) -> set[str]:
        return {d for c in self.components.values() for d in c.blobs}

    def store_json(self) -> Json:
        total = sum(self.blobs.sizes.values())
        body: Json = {"name": STORE, "type": "File", "unavailable": False,
                      "blobCount": len(self.blobs.sizes), "totalSizeInBytes": total,
                      "availableSpaceInBytes": self.available}
        if self.soft_limit is not None:
            body["softQuota"] = {"type": "spaceUsedQuota", "limit": self.soft_limit}
        return body

    def page(self, items: list[Json], token: str | None) -> Json:
        start = self._tokens.get(token, -1) if token else 0
        chunk = items[start: start + self.page_size] if start >= 0 else []
        body: Json = {"items": chunk}
        if start >= 0 and start + self.page_size < len(items):
            new = base64.urlsafe_b64encode(hashlib.sha256(
                f"{start}:{len(self._tokens)}".encode()).digest()[:12]).decode()
            self._tokens[new] = start + self.page_size
            body["continuationToken"] = new
        return body

    def advance(self, task: NexusTaskModel) -> None:
        """One status poll's worth of progress; the end applies the task's effect."""
        if task.state != "RUNNING":
            return
        task.polls_left -= 1
        done = self.task_polls - task.polls_left
        task.message = f"processed {done} of {self.task_polls} steps"
        if task.polls_left > 0:
            return
        task.state, task.message = "WAITING", ""
        task.last_run = (datetime(2026, 12, 1, 12, tzinfo=UTC)
                         + timedelta(minutes=len(self.runs))).isoformat()
        if task.id in self.fail:
            task.result = "FAILED"
            return
        task.result = "OK"
        used = self.used_blobs()
        if task.type == "repository.docker.gc":
            self.blobs.marked = set(self.blobs.sizes) - used
        elif task.type == "blobstore.compact":
            for digest in self.blobs.marked:
                self.blobs.sizes.pop(digest, None)
            self.blobs.marked = set()


class _Handler(SpecHandler):
    prefix = REST
    not_found = (b"", "text/html")

    @property
    def nexus(self) -> NexusDouble:
        double: NexusDouble = self.server.double  # type: ignore[attr-defined]
        return double

    def outside_routes(self, method: str, path: str) -> bool:
        """Nexus wants a CSRF token from browser-like clients: refused before routing."""
        agent = self.headers.get("user-agent", "")
        with self.recorder.lock:
            self.nexus.user_agents.add(agent)
        if "Mozilla" in agent:
            self.send(403, b"ERROR: CSRF token mismatch\n", "text/plain")
            return True
        return False

    def serve_route(self, method: str, template: str, handler: str, args: list[str],
               query: dict[str, list[str]], body: bytes) -> None:
        if template != "/v1/status" and not self._authorized():
            self.answer(method, template, 401, None,
                        {"WWW-Authenticate": 'BASIC realm="Sonatype Nexus Repository Manager"'})
            return
        flat = {k: v[-1] for k, v in query.items()}
        with self.recorder.lock:
            getattr(self, handler)(method, template, flat, *args)

    def _authorized(self) -> bool:
        header = self.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (user, password) == (USERNAME, PASSWORD)

    # -- routes ---------------------------------------------------------------------------------

    def status(self, method: str, template: str, query: dict[str, str]) -> None:
        self.answer(method, template, 200, None)

    def repositories(self, method: str, template: str, query: dict[str, str]) -> None:
        base = self.nexus.url
        self.answer(method, template, 200, [
            {"name": HOSTED, "format": "docker", "type": "hosted",
             "url": f"{base}/repository/{HOSTED}", "attributes": {}},
            {"name": "docker-group", "format": "docker", "type": "group",
             "url": f"{base}/repository/docker-group", "attributes": {}},
            {"name": "maven-releases", "format": "maven2", "type": "hosted",
             "url": f"{base}/repository/maven-releases", "attributes": {}},
        ])

    def docker_repository(self, method: str, template: str, query: dict[str, str],
                          name: str) -> None:
        kind = template.split("/")[4]
        known = {(HOSTED, "hosted"): self.nexus.lab_port, ("docker-group", "group"): 0}
        if (name, kind) not in known:
            self.send(404, b"")
            return
        docker: Json = {"forceBasicAuth": True, "v1Enabled": False}
        if known[(name, kind)]:
            docker["httpPort"] = known[(name, kind)]
        storage: Json = {"blobStoreName": STORE, "strictContentTypeValidation": True,
                         "writePolicy": "allow"}
        body: Json = {"name": name, "format": "docker", "type": kind, "online": True,
                      "url": f"{self.nexus.url}/repository/{name}", "docker": docker,
                      "storage": storage}
        self.answer(method, template, 200, body)

    def _component_json(self, component: NexusComponent) -> Json:
        return {"id": component.id, "repository": HOSTED, "format": "docker", "group": "",
                "name": component.name, "version": component.version, "assets": [{
                    "id": f"asset-{component.id}", "repository": HOSTED, "format": "docker",
                    "path": f"v2/{component.name}/manifests/{component.version}",
                    "contentType": component.media_type, "fileSize": component.manifest_size,
                    "blobCreated": "2026-11-20T10:00:00.000+00:00",
                    "checksum": {"sha256": component.digest.removeprefix("sha256:")}}]}

    def components(self, method: str, template: str, query: dict[str, str]) -> None:
        if query["repository"] != HOSTED:
            items: list[Json] = []
        else:
            items = [self._component_json(c) for c in self.nexus.components.values()]
        self.answer(method, template, 200, self.nexus.page(items, query.get("continuationToken")))

    def search(self, method: str, template: str, query: dict[str, str]) -> None:
        items = [self._component_json(c) for c in self.nexus.components.values()
                 if query.get("repository", HOSTED) == HOSTED
                 and query.get("format", "docker") == "docker"
                 and query.get("name", c.name) == c.name
                 and query.get("version", c.version) == c.version]
        self.answer(method, template, 200, self.nexus.page(items, query.get("continuationToken")))

    def delete_component(self, method: str, template: str, query: dict[str, str],
                         component_id: str) -> None:
        if self.nexus.components.pop(component_id, None) is None:
            self.answer(method, template, 404, None)
            return
        self.answer(method, template, 204, None)

    def blobstores(self, method: str, template: str, query: dict[str, str]) -> None:
        self.answer(method, template, 200, [self.nexus.store_json()])

    def quota_status(self, method: str, template: str, query: dict[str, str],
                     name: str) -> None:
        if name != STORE:
            self.send(404, b"")
            return
        limit = self.nexus.soft_limit
        used = sum(self.nexus.blobs.sizes.values())
        if limit is None:
            body: Json = {"blobStoreName": STORE, "isViolation": False,
                          "message": "Blob store default has no quota"}
        else:
            over = used > limit
            body = {"blobStoreName": STORE, "isViolation": over,
                    "message": f"Blob store {STORE} is using {used} bytes of a {limit} byte "
                               "space used quota" + (" (violated)" if over else "")}
        self.answer(method, template, 200, body)

    def _task_json(self, task: NexusTaskModel) -> Json:
        body: Json = {"id": task.id, "name": task.name, "type": task.type,
                      "currentState": task.state, "enabled": True,
                      "message": task.message, "properties": task.properties}
        if task.result:
            body["lastRunResult"] = task.result
        if task.last_run:
            body["lastRun"] = task.last_run
        return body

    def tasks(self, method: str, template: str, query: dict[str, str]) -> None:
        items = [self._task_json(t) for t in self.nexus.tasks.values()
                 if query.get("type", t.type) == t.type]
        self.answer(method, template, 200, {"items": items})

    def task(self, method: str, template: str, query: dict[str, str], task_id: str) -> None:
        task = self.nexus.tasks.get(task_id)
        if task is None:
            self.answer(method, template, 404, None)
            return
        self.nexus.advance(task)
        self.answer(method, template, 200, self._task_json(task))

    def run_task(self, method: str, template: str, query: dict[str, str], task_id: str) -> None:
        task = self.nexus.tasks.get(task_id)
        if task is None:
            self.answer(method, template, 404, None)
            return
        task.state, task.polls_left, task.message = "RUNNING", self.nexus.task_polls, "started"
        self.nexus.runs.append(task_id)
        self.answer(method, template, 204, None)


ROUTES: Final[list[Route]] = [
    ("GET", "/v1/status", "status"),
    ("GET", "/v1/repositories", "repositories"),
    ("GET", "/v1/repositories/docker/hosted/{repositoryName}", "docker_repository"),
    ("GET", "/v1/repositories/docker/proxy/{repositoryName}", "docker_repository"),
    ("GET", "/v1/repositories/docker/group/{repositoryName}", "docker_repository"),
    ("GET", "/v1/components", "components"),
    ("DELETE", "/v1/components/{id}", "delete_component"),
    ("GET", "/v1/search", "search"),
    ("GET", "/v1/blobstores", "blobstores"),
    ("GET", "/v1/blobstores/{name}/quota-status", "quota_status"),
    ("GET", "/v1/tasks", "tasks"),
    ("GET", "/v1/tasks/{id}", "task"),
    ("POST", "/v1/tasks/{id}/run", "run_task"),
]
_Handler.routes = ROUTES


def _component(client: httpx.Client, name: str, tag: str, number: int) -> NexusComponent:
    """A component and every blob its manifest reaches, read from the lab directly."""
    response = client.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": mt.MANIFEST_ACCEPT})
    response.raise_for_status()
    digest = response.headers["docker-content-digest"]
    blobs = _reach(client, name, response)
    cid = base64.urlsafe_b64encode(f"{HOSTED}:{number}".encode()).decode().rstrip("=")
    return NexusComponent(cid, name, tag, digest, len(response.content),
                          response.headers.get("content-type", "").split(";")[0], blobs)


def _reach(client: httpx.Client, name: str, response: httpx.Response) -> dict[str, int]:
    blobs = {response.headers["docker-content-digest"]: len(response.content)}
    body = response.json()
    for child in body.get("manifests") or []:
        answer = client.get(f"/v2/{name}/manifests/{child['digest']}",
                            headers={"Accept": mt.MANIFEST_ACCEPT})
        if answer.status_code == 200:
            blobs.update(_reach(client, name, answer))
    for descriptor in [body.get("config") or {}, *(body.get("layers") or [])]:
        if descriptor.get("digest"):
            blobs[descriptor["digest"]] = int(descriptor.get("size", 0))
    return blobs
