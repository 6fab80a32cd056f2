"""A loopback Docker Hub double: the Hub API on one port, `registry-1.docker.io` on another.

No Docker Hub can be reached here, so the API side serves the endpoints regtui uses from a
model read out of the real lab registry, and the registry side forwards `/v2` to that
registry, so every manifest and blob is real. Requests and answers of the API side are
checked against the project's subset of Docker Hub's spec (tests/doubles/specs), see
`tests.doubles.loopback`.

What it does the way Hub does: `POST /v2/auth/token` hands out JWT-like tokens that expire
after 10 minutes (`users/login` too, deprecated); pages are Django pages (`page`,
`page_size` up to 100, `count`, `next`, `previous`); tag objects carry `full_size`, push
and pull times, `status` and an `images` array; manifest answers carry `ratelimit-limit`,
`ratelimit-remaining` (`N;w=SECONDS`) and `docker-ratelimit-source`; every manifest GET
is a pull and spends one, a HEAD spends nothing; with none left a GET answers 429 "You have
reached your pull rate limit"; API answers carry `X-RateLimit-*` and, when throttled, 429
with `X-Retry-After` (a Unix time).

Where the vendor spec is silent, the double is deliberately minimal and says so in the
subset (`outside_spec`): the repository listings (`/v2/namespaces/{ns}/repositories` and
the older `/v2/repositories/{ns}/`) answer just name, namespace, is_private, last_updated;
tag delete is hub-tool's `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/`. The registry
side (the distribution API) is not in the Hub spec and is not validated against it.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from regtui.registry import mediatypes as mt
from tests.doubles.loopback import Recorder, Route, SpecHandler, lab_names, serving
from tests.doubles.subset import hub_spec

USERNAME: Final = "hubuser"
TOKEN: Final = "dckr_pat_regtui-double"
TOKEN_TTL: Final = 600.0
PROBE: Final = "ratelimitpreview/test"
PULL_LIMIT_BODY: Final = (b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached '
                          b'your pull rate limit as \'hubuser\': dckr_jti_x. You may increase '
                          b'the limit by upgrading. https://www.docker.com/increase-rate-limit"'
                          b'}]}')
STAMP: Final = "2026-11-20T10:00:00.000000Z"
Json = Any
_SEEN: dict[tuple[str, str, str], HubTagModel] = {}


def hub_name(upstream: str) -> str | None:
    """`app` -> `library/app`, `team-a/releases` as is; deeper names have no Hub form."""
    parts = upstream.split("/")
    if len(parts) == 1:
        return f"library/{upstream}"
    return upstream if len(parts) == 2 else None


@dataclass
class HubTagModel:
    name: str
    digest: str
    full_size: int
    images: list[Json]
    pushed: str = STAMP
    pulled: str | None = None


@dataclass
class HubRepo:
    namespace: str
    name: str
    upstream: str
    private: bool = False
    tags: dict[str, HubTagModel] = field(default_factory=dict)


class HubDouble:
    """`with HubDouble(lab.url) as hub:`; `hub.api_url` and `hub.registry_url`."""

    def __init__(self, upstream: str, *, pull_limit: int | None = 100,
                 window: int = 21600, private: frozenset[str] = frozenset(),
                 token_sees_private: bool = True, auth_token_route: bool = True,
                 namespaces_route: bool = True, images_as_object: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.upstream = upstream
        self.recorder = Recorder(hub_spec())
        self.registry_recorder = Recorder(hub_spec())
        self.pull_limit = pull_limit
        self.pulls_left = pull_limit or 0
        self.window = window
        self.private = private
        self.token_sees_private = token_sees_private
        """False: an organisation token without repository-list scope (public only, 200)."""
        self.auth_token_route = auth_token_route
        self.namespaces_route = namespaces_route
        self.images_as_object = images_as_object
        self.clock = clock
        self.repos: dict[str, HubRepo] = {}
        self.tokens: dict[str, float] = {}
        """API token -> expiry (Unix time)."""
        self.logins: list[str] = []
        self.api_limit = 200
        self.api_left = 200
        self.throttle = 0
        """The next N API requests answer 429 with `X-Retry-After` one second ahead."""
        self.retry_after = 1
        self.manifest_gets = 0
        self.audit: list[Json] = []
        self.api_url = ""
        self.registry_url = ""
        self._stack: list[Any] = []

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> HubDouble:
        self._load()
        for handler, attr in ((_ApiHandler, "api_url"), (_RegistryHandler, "registry_url")):
            context = serving(handler, self, f"hub-double-{attr}")
            setattr(self, attr, context.__enter__())
            self._stack.append(context)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            self._stack.pop().__exit__(None, None, None)

    @property
    def violations(self) -> list[str]:
        return self.recorder.violations + self.registry_recorder.violations

    def _load(self) -> None:
        with httpx.Client(base_url=self.upstream, timeout=30.0) as client:
            for upstream in lab_names(self.upstream):
                name = hub_name(upstream)
                if name is None:
                    continue
                namespace, repo_name = name.split("/")
                repo = HubRepo(namespace, repo_name, upstream, private=name in self.private)
                tags = client.get(f"/v2/{upstream}/tags/list").json().get("tags") or []
                for tag in sorted(tags):
                    key = (self.upstream, upstream, tag)
                    if key not in _SEEN:  # the lab is read-only here: read each tag once
                        _SEEN[key] = _tag_model(client, upstream, tag)
                    repo.tags[tag] = copy.copy(_SEEN[key])
                if repo.tags:
                    self.repos[name] = repo
        base = self.repos.get("library/base")
        if base is not None:  # Docker's documented probe for reading the pull limit
            self.repos[PROBE] = HubRepo("ratelimitpreview", "test", base.upstream,
                                        tags={"latest": base.tags["latest"]})

    # -- helpers the handlers use -----------------------------------------------------------------

    def issue(self, user: str) -> str:
        token = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        with self.recorder.lock:
            self.tokens[token] = self.clock() + TOKEN_TTL
            self.logins.append(user)
        return token

    def token_ok(self, header: str) -> bool:
        if not header.startswith("Bearer "):
            return False
        with self.recorder.lock:
            expiry = self.tokens.get(header[7:])
        return expiry is not None and self.clock() < expiry

    def visible(self, repo: HubRepo, authorized: bool) -> bool:
        return not repo.private or (authorized and self.token_sees_private)

    def limit_headers(self) -> dict[str, str]:
        if self.pull_limit is None:
            return {}
        return {"ratelimit-limit": f"{self.pull_limit};w={self.window}",
                "ratelimit-remaining": f"{self.pulls_left};w={self.window}",
                "docker-ratelimit-source": "203.0.113.7"}


NAMESPACE_REPOS: Final = "/v2/namespaces/{namespace}/repositories"
TAGS: Final = "/v2/namespaces/{namespace}/repositories/{repository}/tags"
OPEN_ROUTES: Final = frozenset({"/v2/auth/token", "/v2/users/login", NAMESPACE_REPOS,
                                "/v2/repositories/{namespace}/"})
"""Listings answer anonymous callers too (public repositories only)."""
API_ROUTES: Final[list[Route]] = [
    ("POST", "/v2/auth/token", "auth_token"),
    ("POST", "/v2/users/login", "users_login"),
    ("GET", NAMESPACE_REPOS, "namespace_repos"),
    ("GET", "/v2/repositories/{namespace}/", "namespace_repos"),
    ("GET", TAGS, "tags"),
    ("DELETE", "/v2/repositories/{namespace}/{repository}/tags/{tag}/", "delete_tag"),
    ("GET", "/v2/auditlogs/{account}", "audit_logs"),
]


class _ApiHandler(SpecHandler):
    """hub.docker.com"""

    routes = API_ROUTES

    @property
    def hub(self) -> HubDouble:
        double: HubDouble = self.server.double  # type: ignore[attr-defined]
        return double

    def serve_route(self, method: str, template: str, handler: str, args: list[str],
               query: dict[str, list[str]], body: bytes) -> None:
        """The API's own rate limit first, then its auth, then the route."""
        hub = self.hub
        with hub.recorder.lock:
            if hub.throttle > 0:
                hub.throttle -= 1
                # A Unix time at least `retry_after` seconds ahead: int() would round the wait down.
                reset = math.ceil(hub.clock()) + hub.retry_after
                self.answer(method, template, 429, _error_body(template, "Rate limit exceeded"),
                            {"X-Retry-After": str(reset), **self._limits()})
                return
            hub.api_left = max(0, hub.api_left - 1)
        authorized = self.hub.token_ok(self.headers.get("authorization", ""))
        if template not in OPEN_ROUTES and not authorized and not self._public_read(
                template, args):
            self.answer(method, template, 401, _unauthorized(template), self._limits())
            return
        getattr(self, handler)(method, template, query, body, authorized, *args)

    def _public_read(self, template: str, args: list[str]) -> bool:
        """Public repositories' tags can be listed anonymously, as on Hub."""
        if template != TAGS:
            return False
        repo = self.hub.repos.get(f"{args[0]}/{args[1]}")
        return repo is not None and not repo.private

    def _limits(self) -> dict[str, str]:
        hub = self.hub
        return {"X-RateLimit-Limit": str(hub.api_limit),
                "X-RateLimit-Remaining": str(hub.api_left),
                "X-RateLimit-Reset": str(int(hub.clock()) + 60)}

    def _ok(self, method: str, template: str, body: Json, status: int = 200) -> None:
        self.answer(method, template, status, body, self._limits())

    def _page(self, method: str, template: str, query: dict[str, list[str]],
              items: list[Json], path: str) -> None:
        page = int(query.get("page", ["1"])[-1])
        size = int(query.get("page_size", ["10"])[-1])
        if page < 1 or not 0 < size <= 100:
            self._ok(method, template, {"detail": "invalid page or page_size"}, 404)
            return
        chunk = items[(page - 1) * size: page * size]
        base = f"{self.hub.api_url}{path}?page_size={size}&page="
        more = page * size < len(items)
        self._ok(method, template, {
            "count": len(items),
            "next": f"{base}{page + 1}" if more else None,
            "previous": f"{base}{page - 1}" if page > 1 else None,
            "results": chunk,
        })

    # -- routes -----------------------------------------------------------------------------------

    def auth_token(self, method: str, template: str, query: Json, body: bytes,
                   authorized: bool) -> None:
        if not self.hub.auth_token_route:
            self.send(404, b'{"detail":"Not Found"}')
            return
        data = json.loads(body)
        if (data["identifier"], data["secret"]) != (USERNAME, TOKEN):
            self._ok(method, template, {"detail": "incorrect credentials"}, 401)
            return
        self._ok(method, template, {"access_token": self.hub.issue(USERNAME)})

    def users_login(self, method: str, template: str, query: Json, body: bytes,
                    authorized: bool) -> None:
        data = json.loads(body)
        if (data["username"], data["password"]) != (USERNAME, TOKEN):
            self._ok(method, template, {"detail": "Incorrect authentication credentials"}, 401)
            return
        self._ok(method, template, {"token": self.hub.issue(USERNAME)})

    def namespace_repos(self, method: str, template: str, query: dict[str, list[str]],
                        body: bytes, authorized: bool, namespace: str) -> None:
        if template == NAMESPACE_REPOS and not self.hub.namespaces_route:
            self.send(404, b'{"detail":"Not Found"}')
            return
        repos = sorted((r for r in self.hub.repos.values()
                        if r.namespace == namespace and self.hub.visible(r, authorized)),
                       key=lambda r: r.name)
        items = [{"name": r.name, "namespace": r.namespace, "is_private": r.private,
                  "last_updated": STAMP} for r in repos]
        self._page(method, template, query, items, self.path.split("?")[0])

    def tags(self, method: str, template: str, query: dict[str, list[str]], body: bytes,
             authorized: bool, namespace: str, name: str) -> None:
        repo = self.hub.repos.get(f"{namespace}/{name}")
        if repo is None or not self.hub.visible(repo, authorized):
            self._ok(method, template, {"detail": "object not found"}, 404)
            return
        items = [self._tag_json(repo, tag) for tag in sorted(repo.tags.values(),
                                                             key=lambda t: t.name)]
        self._page(method, template, query, items, self.path.split("?")[0])

    def _tag_json(self, repo: HubRepo, tag: HubTagModel) -> Json:
        images: Json = tag.images[0] if self.hub.images_as_object and tag.images \
            else tag.images
        return {"id": abs(hash((repo.name, tag.name))) % 10**9, "name": tag.name,
                "full_size": tag.full_size, "last_updated": tag.pushed,
                "tag_last_pushed": tag.pushed, "tag_last_pulled": tag.pulled,
                "status": "active" if tag.pulled else "inactive", "images": images}

    def delete_tag(self, method: str, template: str, query: Json, body: bytes,
                   authorized: bool, namespace: str, name: str, tag: str) -> None:
        repo = self.hub.repos.get(f"{namespace}/{name}")
        if repo is None or tag not in repo.tags:
            self._ok(method, template, {"detail": "object not found"}, 404)
            return
        with self.hub.recorder.lock:
            gone = repo.tags.pop(tag)
            self.hub.audit.insert(0, {
                "account": namespace, "action": "repo.tag.delete", "name": f"{namespace}/{name}",
                "actor": USERNAME, "data": {"digest": gone.digest, "tag": tag},
                "timestamp": "2026-11-30T09:00:00Z",
                "action_description": f"deleted the tag {tag} from {namespace}/{name}"})
        self._ok(method, template, None, 204)

    def audit_logs(self, method: str, template: str, query: dict[str, list[str]],
                   body: bytes, authorized: bool, account: str) -> None:
        page = int(query.get("page", ["1"])[-1])
        size = int(query.get("page_size", ["25"])[-1])
        logs = [e for e in self.hub.audit if e["account"] == account]
        self._ok(method, template, {"logs": logs[(page - 1) * size: page * size]})


def _unauthorized(template: str) -> Json:
    if template == "/v2/auditlogs/{account}":
        return {"code": 16, "message": "authentication required"}
    return {"detail": "authentication required"}


def _error_body(template: str, detail: str) -> Json:
    return None if template == "/v2/auditlogs/{account}" else {"detail": detail}


class _RegistryHandler(SpecHandler):
    """registry-1.docker.io: a Bearer challenge, `/token`, and `/v2` forwarded to the lab."""

    recorder_attr = "registry_recorder"

    @property
    def hub(self) -> HubDouble:
        double: HubDouble = self.server.double  # type: ignore[attr-defined]
        return double

    def dispatch(self, method: str) -> None:
        """The distribution API, not in the Hub spec: no spec routes, no spec checks."""
        path, _, _ = self.read_request(method)
        if method not in ("GET", "HEAD"):
            self.send(405, b'{"errors":[{"code":"UNSUPPORTED","message":"read-only double"}]}')
            return
        if path == "/token":  # auth.docker.io: anonymous tokens for public pulls
            token = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self.send(200, json.dumps({"token": token, "expires_in": 300}).encode())
            return
        if not self.headers.get("authorization", "").startswith("Bearer "):
            realm = (f'Bearer realm="{self.hub.registry_url}/token",'
                     'service="registry.docker.io"')
            self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication '
                      b'required"}]}', headers={"WWW-Authenticate": realm}, method=method)
            return
        if path == "/v2/":
            self.send(200, b"{}", headers={"Docker-Distribution-API-Version": "registry/2.0"},
                      method=method)
            return
        name, kind, reference = _v2_parts(path)
        repo = self.hub.repos.get(name)
        if repo is None or kind not in ("manifests", "blobs"):
            self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name '
                      b'not known to registry"}]}', method=method)
            return
        if kind == "manifests":
            self._manifest(method, repo, reference)
            return
        self.forward(self.hub.upstream, method, f"/v2/{repo.upstream}/blobs/{reference}")

    def _manifest(self, method: str, repo: HubRepo, reference: str) -> None:
        hub = self.hub
        known = reference in repo.tags or any(t.digest == reference for t in repo.tags.values())
        with hub.registry_recorder.lock:
            if method == "GET":
                hub.manifest_gets += 1
                if hub.pull_limit is not None and hub.pulls_left <= 0:
                    self.send(429, PULL_LIMIT_BODY, headers=hub.limit_headers())
                    return
                if hub.pull_limit is not None and known:
                    hub.pulls_left -= 1
            headers = hub.limit_headers()
        if not known:
            self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest '
                      b'unknown"}]}', headers=headers, method=method)
            return
        self.forward(hub.upstream, method, f"/v2/{repo.upstream}/manifests/{reference}", headers)


def _v2_parts(path: str) -> tuple[str, str, str]:
    inner = path[len("/v2/"):]
    for kind in ("/manifests/", "/blobs/"):
        if kind in inner:
            name, _, rest = inner.rpartition(kind)
            return name, kind.strip("/"), rest
    return inner, "", ""


def _tag_model(client: httpx.Client, upstream: str, tag: str) -> HubTagModel:
    """Read one tag from the lab (directly, not through the double: these are not pulls)."""
    response = client.get(f"/v2/{upstream}/manifests/{tag}",
                          headers={"Accept": mt.MANIFEST_ACCEPT})
    response.raise_for_status()
    digest = response.headers["docker-content-digest"]
    body = response.json()
    children = body.get("manifests")
    images: list[Json] = []
    total = 0
    if children:
        for child in children:
            platform = child.get("platform") or {}
            size = _image_size(client, upstream, child["digest"])
            total += size
            images.append({"digest": child["digest"], "os": platform.get("os", ""),
                           "architecture": platform.get("architecture", ""), "size": size,
                           "status": "active", "last_pushed": STAMP})
    else:
        size = sum(int(d.get("size", 0)) for d in body.get("layers", []))
        total = size
        config = client.get(f"/v2/{upstream}/blobs/{body['config']['digest']}").json() \
            if body.get("config") else {}
        images.append({"digest": digest, "os": str(config.get("os", "")),
                       "architecture": str(config.get("architecture", "")), "size": size,
                       "status": "active", "last_pushed": STAMP})
    return HubTagModel(tag, digest, total, images)


def _image_size(client: httpx.Client, upstream: str, digest: str) -> int:
    response = client.get(f"/v2/{upstream}/manifests/{digest}",
                          headers={"Accept": mt.MANIFEST_ACCEPT})
    if response.status_code != 200:
        return 0
    return sum(int(d.get("size", 0)) for d in response.json().get("layers", []))
