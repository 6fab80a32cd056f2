"""A loopback Harbor double: Harbor's `/api/v2.0` over a real distribution registry.

No Harbor can run here, so this serves the few management endpoints regtui uses from an
in-memory model built by reading the real lab registry, and forwards `/v2/` to that registry,
so every manifest and blob is real. Every request it receives (method, path, query, body)
and every JSON answer before it is sent are checked against the facts of Harbor's swagger
kept in `specs/harbor-subset.yaml` (see `subset.py`): a violation is recorded in
`violations`, the client gets a 400 or 500, and the fixture fails the test. The plumbing
(routing, spec checks, validated answers) is `tests.doubles.loopback`'s, as for Hub and Nexus.

What it does the way Harbor does: projects own repositories named `project/repo`; nested
names must be URL-encoded twice in paths; lists page with `page`/`page_size`, `X-Total-Count`
and `Link`; unknown projects and repositories answer 404 with an `Errors` body; anonymous
callers see no private project; deleting a tag removes only the tag (the artifact stays,
untagged, until a GC with `delete_untagged`); GC jobs go Pending -> Running -> Success,
one step per status poll, with a growing log.
`/v2` answers a Bearer challenge pointing at `/service/token` (Basic works too, as in
Harbor). Scans: overviews in the artifact list negotiated by X-Accept-Vulnerabilities, the
vulnerabilities addition, Security Hub (`/security/summary`, `/security/vul?q=`), CVE allowlists
and a scan trigger whose overview goes Pending -> Running -> Success over two polls; reports
are given to the constructor. What it does not: robots, RBAC, real scanning, GC freeing real
storage (it only drops artifacts from its model and hides their manifests).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import httpx

from regtui.registry import mediatypes as mt
from tests.doubles.loopback import Recorder, Route, SpecHandler, lab_names, serving
from tests.doubles.subset import SubsetSpec, harbor_spec

API: Final = "/api/v2.0"
TOP_PROJECT: Final = "lab"
"""Harbor has no top-level repositories: the lab's `app` appears as `lab/app`."""
USERNAME: Final = "admin"
PASSWORD: Final = "Harbor12345"
VERSION: Final = "v2.15.2-080b0220"
SCAN_MIME: Final = "application/vnd.security.vulnerability.report; version=1.1"
SCAN_MIMES: Final = (SCAN_MIME,
                     "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0")
"""The two report MIME types Harbor's X-Accept-Vulnerabilities negotiates between."""
SEVERITY_NAMES: Final = ("Critical", "High", "Medium", "Low", "Unknown")
STAMP: Final = "2024-03-01T12:00:00.000Z"
FORWARD_HEADERS: Final = ("content-type", "docker-content-digest", "content-length",
                          "docker-distribution-api-version", "etag", "location", "link")

Json = Any
Corrupter = Callable[[Json], Json]


def harbor_name(upstream: str) -> str:
    return upstream if "/" in upstream else f"{TOP_PROJECT}/{upstream}"


@dataclass
class Artifact:
    id: int
    digest: str
    manifest_media_type: str
    config_media_type: str
    size: int
    blobs: dict[str, int]
    tags: list[str] = field(default_factory=list)


@dataclass
class Repo:
    id: int
    project_id: int
    name: str
    upstream: str
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    """Digests a GC dropped: their manifests answer 404 from now on."""


@dataclass
class Project:
    id: int
    name: str
    repos: dict[str, Repo] = field(default_factory=dict)
    public: bool = False


@dataclass
class GcExecution:
    id: int
    dry_run: bool
    delete_untagged: bool
    created: str
    status: str = "Pending"
    updated: str = ""
    log: list[str] = field(default_factory=list)


class HarborDouble:
    """Start with `with HarborDouble(lab.url) as harbor:`; `harbor.url` is the Harbor URL."""

    def __init__(self, upstream: str, *, hard_limits: dict[str, int] | None = None,
                 scans: dict[str, dict[str, int]] | None = None,
                 schemas: SubsetSpec | None = None, version: str = VERSION,
                 reports: dict[str, list[dict[str, Any]]] | None = None,
                 system_allowlist: tuple[str, ...] = (),
                 project_allowlists: dict[str, tuple[str, ...]] | None = None) -> None:
        self.upstream = upstream
        self.version = version
        self.hard_limits = dict(hard_limits or {})
        self.scans = dict(scans or {})
        self.reports = {digest: list(vulns) for digest, vulns in (reports or {}).items()}
        """digest -> Harbor-format vulnerabilities: overviews and Security Hub derive from it."""
        self.scan_runs: dict[str, int] = {}
        """digest -> status polls left before a triggered scan finishes."""
        self.system_allowlist = tuple(system_allowlist)
        self.project_allowlists = dict(project_allowlists or {})
        self.scan_accept: list[str] = []
        """The X-Accept-Vulnerabilities header of each scan-aware request, as sent."""
        self.recorder = Recorder(schemas or harbor_spec())
        self.projects: dict[str, Project] = {}
        self.deleted: set[tuple[str, str]] = set()
        self.push_times: dict[tuple[str, str], str] = {}
        """(Harbor repository, tag) -> its `push_time` (else STAMP); the artifact's is the
        latest of its tags', as Harbor moves it on every push."""
        self.gc_runs: list[GcExecution] = []
        self.tokens: dict[str, bool] = {}
        """Bearer tokens handed out by `/service/token` -> whether they carry admin rights."""
        self._ids = iter(range(1, 1 << 30))
        self._context: Any = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> HarborDouble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._load()
        self._context = serving(_Handler, self, "harbor-double")
        self.url = self._context.__enter__()

    def stop(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None

    # -- what tests read: the recorder's ------------------------------------------------------

    @property
    def violations(self) -> list[str]:
        return self.recorder.violations

    @property
    def corrupt(self) -> dict[str, Corrupter]:
        """Operation template -> function applied to the body before validation (drift tests)."""
        return self.recorder.corrupt

    @property
    def lock(self) -> threading.RLock:
        return self.recorder.lock

    @property
    def schemas(self) -> SubsetSpec:
        return self.recorder.spec

    def count(self, method: str | None = None, prefix: str = "") -> int:
        """Requests seen, optionally of one method and under one path prefix."""
        return self.recorder.count(method, prefix)

    # -- the model, read from the real registry --------------------------------------------------

    def _load(self) -> None:
        with httpx.Client(base_url=self.upstream, timeout=30.0) as client:
            for upstream in lab_names(self.upstream):
                self._load_repo(client, upstream)

    def _load_repo(self, client: httpx.Client, upstream: str) -> None:
        name = harbor_name(upstream)
        project_name = name.split("/", 1)[0]
        project = self.projects.get(project_name)
        if project is None:
            project = self.projects[project_name] = Project(next(self._ids), project_name)
        repo = project.repos[name] = Repo(next(self._ids), project.id, name, upstream)
        tags = client.get(f"/v2/{upstream}/tags/list").json().get("tags") or []
        for tag in sorted(tags):
            artifact = self._artifact(client, repo, tag)
            artifact.tags.append(tag)

    def _artifact(self, client: httpx.Client, repo: Repo, reference: str) -> Artifact:
        response = client.get(f"/v2/{repo.upstream}/manifests/{reference}",
                              headers={"Accept": mt.MANIFEST_ACCEPT})
        response.raise_for_status()
        digest = response.headers["docker-content-digest"]
        if digest in repo.artifacts:
            return repo.artifacts[digest]
        body = response.json()
        blobs = {digest: len(response.content)}
        config_type = ""
        if "manifests" in body:
            for child in body["manifests"]:
                blobs.update(self._artifact(client, repo, child["digest"]).blobs)
        else:
            config = body.get("config") or {}
            config_type = str(config.get("mediaType", ""))
            for descriptor in [config, *body.get("layers", [])]:
                if descriptor:
                    blobs[descriptor["digest"]] = descriptor["size"]
        media = response.headers.get("content-type", "").split(";")[0]
        artifact = Artifact(next(self._ids), digest, media, config_type,
                            sum(blobs.values()), blobs)
        repo.artifacts[digest] = artifact
        return artifact

    def used_bytes(self, project: Project) -> int:
        """Harbor counts each blob once per project, manifests included."""
        blobs: dict[str, int] = {}
        for repo in project.repos.values():
            for artifact in repo.artifacts.values():
                blobs.update(artifact.blobs)
        return sum(blobs.values())

    def find_repo(self, name: str) -> Repo | None:
        project = self.projects.get(name.split("/", 1)[0])
        return project.repos.get(name) if project else None

    def visible_tags(self, repo: Repo, artifact: Artifact) -> list[str]:
        return [t for t in artifact.tags if (repo.name, t) not in self.deleted]

    def next_id(self) -> int:
        return next(self._ids)


class _Handler(SpecHandler):
    """Routes one request; the state lives on the double."""

    prefix = API
    strict_slash = False
    not_found = (b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}', "application/json")
    bad_request_status = 400

    @property
    def double(self) -> HarborDouble:
        double: HarborDouble = self.server.double  # type: ignore[attr-defined]
        return double

    def outside_routes(self, method: str, path: str) -> bool:
        """The token service and `/v2` (not in Harbor's API spec); anything else unknown."""
        self._body = b""
        self._query: dict[str, str] = {}
        if path == "/service/token":
            self._token()
        elif path.startswith("/v2/"):
            self._registry(method, path, urlsplit(self.path).query)
        elif not path.startswith(API + "/"):
            self.send(404, b"404 page not found\n", "text/plain")
        else:
            return False
        return True

    def route_path(self, path: str) -> str:
        """Go decodes the path once before routing; Harbor decodes repository names once more."""
        return unquote(path)

    def serve_route(self, method: str, template: str, handler: str, args: list[str],
                    query: dict[str, list[str]], body: bytes) -> None:
        self._body = body
        self._query = {k: v[-1] for k, v in query.items()}
        auth = self._auth()
        open_route = template == "/systeminfo" or (template == "/projects" and auth == "none")
        if auth == "bad" or (auth == "none" and not open_route):
            self._error(method, template, 401, "UNAUTHORIZED", "unauthorized")
            return
        with self.double.lock:
            getattr(self, handler)(method, template, auth, *args)

    def _error(self, method: str, template: str, status: int, code: str, message: str) -> None:
        self.answer(method, template, status, {"errors": [{"code": code, "message": message}]})

    def _auth(self) -> str:
        """`ok`, `none` (anonymous) or `bad` (credentials given and wrong)."""
        header = self.headers.get("authorization", "")
        if not header:
            return "none"
        if not header.startswith("Basic "):
            return "bad"
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "bad"
        return "ok" if (user, password) == (USERNAME, PASSWORD) else "bad"

    def _page(self, method: str, template: str, items: list[Json], path: str) -> None:
        """Harbor paging: `page` from 1, `page_size` at most 100, total in `X-Total-Count`."""
        try:
            page = int(self._query.get("page", "1"))
            size = int(self._query.get("page_size", "10"))
        except ValueError:
            self._error(method, template, 400, "BAD_REQUEST", "page and page_size are numbers")
            return
        if page < 1 or not 0 < size <= 100:
            self._error(method, template, 400, "BAD_REQUEST", "invalid page or page_size")
            return
        chunk = items[(page - 1) * size: page * size]
        headers = {"X-Total-Count": str(len(items))}
        if page * size < len(items):
            headers["Link"] = f'<{API}{path}?page={page + 1}&page_size={size}>; rel="next"'
        self.answer(method, template, 200, chunk, headers)

    # -- /api/v2.0 ----------------------------------------------------------------------------

    def systeminfo(self, method: str, template: str, auth: str) -> None:
        info: dict[str, Json] = {"harbor_version": self.double.version, "auth_mode": "db_auth",
                                 "registry_url": self.double.url.split("//", 1)[1],
                                 "external_url": self.double.url, "read_only": False,
                                 "current_time": _now()}
        if auth == "none":
            info = {"auth_mode": "db_auth", "harbor_version": self.double.version}
        self.answer(method, template, 200, info)

    def projects(self, method: str, template: str, auth: str) -> None:
        rows = [_project_json(self.double, p) for p in self.double.projects.values()
                if auth == "ok" or p.public]
        self._page(method, template, rows, "/projects")

    def repositories(self, method: str, template: str, auth: str, project: str) -> None:
        found = self.double.projects.get(project)
        if found is None:
            self._error(method, template, 404, "NOT_FOUND", f"project {project} not found")
            return
        rows = [_repo_json(r) for r in found.repos.values()]
        self._page(method, template, rows, f"/projects/{project}/repositories")

    def _repo_or_404(self, method: str, template: str, project: str, name: str) -> Repo | None:
        if project not in self.double.projects:
            self._error(method, template, 404, "NOT_FOUND", f"project {project} not found")
            return None
        repo = self.double.find_repo(f"{project}/{name}")
        if repo is None:
            self._error(method, template, 404, "NOT_FOUND",
                        f"repository {project}/{name} not found")
        return repo

    def artifacts(self, method: str, template: str, auth: str, project: str, name: str) -> None:
        repo = self._repo_or_404(method, template, project, name)
        if repo is not None:
            rows = [self._artifact_json(repo, a) for a in repo.artifacts.values()]
            self._page(method, template, rows, f"/projects/{project}/repositories/{name}")

    def _find_artifact(self, repo: Repo, reference: str) -> Artifact | None:
        if reference in repo.artifacts:
            return repo.artifacts[reference]
        return next((a for a in repo.artifacts.values()
                     if reference in self.double.visible_tags(repo, a)), None)

    def _accepted_mime(self) -> str | None:
        """Harbor's negotiation: the first MIME type of X-Accept-Vulnerabilities it knows."""
        header = self.headers.get("x-accept-vulnerabilities")
        if header is None:
            return SCAN_MIME
        with self.double.lock:
            self.double.scan_accept.append(header)
        wanted = [part.strip() for part in _split_mimes(header)]
        return next((m for m in wanted if m in SCAN_MIMES), None)

    def project(self, method: str, template: str, auth: str, name: str) -> None:
        found = self.double.projects.get(name)
        if found is None:
            self._error(method, template, 404, "NOT_FOUND", f"project {name} not found")
            return
        data = _project_json(self.double, found)
        own = self.double.project_allowlists.get(name)
        data["metadata"]["reuse_sys_cve_allowlist"] = "false" if own is not None else "true"
        data["cve_allowlist"] = _allowlist_json(found.id, own or ())
        self.answer(method, template, 200, data)

    def system_allowlist(self, method: str, template: str, auth: str) -> None:
        self.answer(method, template, 200, _allowlist_json(0, self.double.system_allowlist))

    def scan(self, method: str, template: str, auth: str, project: str, name: str,
             reference: str) -> None:
        repo = self._repo_or_404(method, template, project, name)
        if repo is None:
            return
        found = self._find_artifact(repo, reference)
        if found is None:
            self._error(method, template, 404, "NOT_FOUND", f"artifact {reference} not found")
            return
        self.double.scan_runs[found.digest] = 2  # Pending, then Running, then done
        self.answer(method, template, 202, None)

    def vulnerabilities(self, method: str, template: str, auth: str, project: str, name: str,
                        reference: str) -> None:
        repo = self._repo_or_404(method, template, project, name)
        if repo is None:
            return
        found = self._find_artifact(repo, reference)
        vulns = self.double.reports.get(found.digest) if found else None
        mime = self._accepted_mime()
        if found is None or vulns is None or mime is None:
            self._error(method, template, 404, "NOT_FOUND", f"no report for {reference}")
            return
        report = {mime: {"generated_at": STAMP, "artifact": {
            "repository": repo.name, "digest": found.digest,
            "mime_type": found.manifest_media_type},
            "scanner": _SCANNER, "severity": _worst(vulns), "vulnerabilities": vulns}}
        text = json.dumps(report)
        self.double.schemas.validate(method, template, 200, text)  # the spec says: a string
        self.send(200, text.encode(), "application/json")

    def security_summary(self, method: str, template: str, auth: str) -> None:
        rows = _hub_rows(self.double)
        per = {name: sum(1 for r in rows if r["severity"] == name) for name in SEVERITY_NAMES}
        scanned = {r["digest"] for r in rows} | set(self.double.reports)
        artifacts = sum(len(repo.artifacts) for p in self.double.projects.values()
                        for repo in p.repos.values())
        data: Json = {"critical_cnt": per["Critical"], "high_cnt": per["High"],
                      "medium_cnt": per["Medium"], "low_cnt": per["Low"], "none_cnt": 0,
                      "unknown_cnt": per["Unknown"], "total_vuls": len(rows),
                      "scanned_cnt": len(scanned), "total_artifact": artifacts,
                      "fixable_cnt": sum(1 for r in rows if r["fixed_version"])}
        if self._query.get("with_dangerous_cve") == "true":
            data["dangerous_cves"] = [
                {"cve_id": r["cve_id"], "severity": r["severity"],
                 "cvss_score_v3": r.get("cvss_v3_score", 0.0), "desc": r["desc"],
                 "package": r["package"], "version": r["version"]}
                for r in sorted(rows, key=lambda r: -r.get("cvss_v3_score", 0.0))[:5]]
        if self._query.get("with_dangerous_artifact") == "true":
            per_artifact: dict[tuple[int, str, str], list[Json]] = {}
            for row in rows:
                key = (row["project_id"], row["repository_name"], row["digest"])
                per_artifact.setdefault(key, []).append(row)
            data["dangerous_artifacts"] = [
                {"project_id": key[0], "repository_name": key[1], "digest": key[2],
                 **{f"{name.lower()}_cnt": sum(1 for r in found if r["severity"] == name)
                    for name in ("Critical", "High", "Medium")}}
                for key, found in per_artifact.items()][:5]
        self.answer(method, template, 200, data)

    def security_vul(self, method: str, template: str, auth: str) -> None:
        conditions = dict(part.split("=", 1) for part in self._query.get("q", "").split(",")
                          if "=" in part)
        unknown = set(conditions) - {"cve_id", "severity", "repository_name", "digest",
                                     "package", "tag"}
        if unknown:
            self._error(method, template, 400, "BAD_REQUEST", f"bad query {sorted(unknown)}")
            return
        rows = [r for r in _hub_rows(self.double)
                if all(str(r.get(k if k != "tag" else "tags")) == v or
                       (k == "tag" and v in r["tags"]) for k, v in conditions.items())]
        if self._query.get("with_tag") != "true":
            for row in rows:
                row.pop("tags", None)
        self._page(method, template, rows, "/security/vul")

    def artifact(self, method: str, template: str, auth: str, project: str, name: str,
                 reference: str) -> None:
        repo = self._repo_or_404(method, template, project, name)
        if repo is None:
            return
        found = self._find_artifact(repo, reference)
        if found is None:
            self._error(method, template, 404, "NOT_FOUND", f"artifact {reference} not found")
            return
        self.answer(method, template, 200, self._artifact_json(repo, found))

    def delete_tag(self, method: str, template: str, auth: str, project: str, name: str,
                   reference: str, tag: str) -> None:
        repo = self._repo_or_404(method, template, project, name)
        if repo is None:
            return
        found = self._find_artifact(repo, reference)
        if found is None or tag not in self.double.visible_tags(repo, found):
            self._error(method, template, 404, "NOT_FOUND", f"tag {tag} not found")
            return
        self.double.deleted.add((repo.name, tag))
        self.answer(method, template, 200, None)

    def _artifact_json(self, repo: Repo, artifact: Artifact) -> Json:
        pushes = self.double.push_times
        data = _artifact_base(repo, artifact, pushes)
        if self._query.get("with_tag", "true") == "true":
            data["tags"] = [_tag_json(repo, artifact, t, pushes)
                            for t in self.double.visible_tags(repo, artifact)]
        if self._query.get("with_scan_overview") == "true":
            overview = self._overview(artifact)
            mime = self._accepted_mime()
            if overview is not None and mime is not None:
                data["scan_overview"] = {mime: overview}
        return data

    def _overview(self, artifact: Artifact) -> Json | None:
        """Counts from the report, or the given counts; a triggered scan runs a few polls."""
        left = self.double.scan_runs.get(artifact.digest)
        if left:
            self.double.scan_runs[artifact.digest] = left - 1
            return {"report_id": "", "scan_status": "Pending" if left == 2 else "Running",
                    "start_time": STAMP, "complete_percent": 0 if left == 2 else 50,
                    "scanner": _SCANNER}
        vulns = self.double.reports.get(artifact.digest)
        if vulns is not None:
            counts = {name: sum(1 for v in vulns if v["severity"] == name)
                      for name in SEVERITY_NAMES}
            counts = {k: v for k, v in counts.items() if v}
            fixable = sum(1 for v in vulns if v.get("fix_version"))
            return _scan_json({**counts, "fixable": fixable})
        scan = self.double.scans.get(artifact.digest)
        return _scan_json(scan) if scan is not None else None

    def quotas(self, method: str, template: str, auth: str) -> None:
        rows = [_quota_json(self.double, p) for p in self.double.projects.values()]
        self._page(method, template, rows, "/quotas")

    def gc_start(self, method: str, template: str, auth: str) -> None:
        try:
            request = json.loads(self._body)
            kind = request["schedule"]["type"]
            params = request.get("parameters") or {}
        except (ValueError, KeyError, TypeError):
            self._error(method, template, 400, "BAD_REQUEST", "invalid schedule")
            return
        if kind != "Manual":
            self._error(method, template, 400, "BAD_REQUEST", "the double only runs Manual")
            return
        run = GcExecution(self.double.next_id(), params.get("dry_run") is True,
                          params.get("delete_untagged") is True, _now())
        self.double.gc_runs.append(run)
        self.answer(method, template, 201, None, {"Location": f"{API}/system/gc/{run.id}"})

    def _gc_run(self, method: str, template: str, job: str) -> GcExecution | None:
        run = next((r for r in self.double.gc_runs if str(r.id) == job), None)
        if run is None:
            self._error(method, template, 404, "NOT_FOUND", f"gc {job} not found")
        return run

    def gc_history(self, method: str, template: str, auth: str) -> None:
        rows = [_gc_json(r) for r in reversed(self.double.gc_runs)]
        self._page(method, template, rows, "/system/gc")

    def gc_status(self, method: str, template: str, auth: str, job: str) -> None:
        run = self._gc_run(method, template, job)
        if run is not None:
            _advance(self.double, run)
            self.answer(method, template, 200, _gc_json(run))

    def gc_log(self, method: str, template: str, auth: str, job: str) -> None:
        run = self._gc_run(method, template, job)
        if run is None:
            return
        if not run.log:
            self._error(method, template, 404, "NOT_FOUND", f"garbage collection {job} log "
                        "is not found")
            return
        text = "".join(line + "\n" for line in run.log)
        self.double.schemas.validate(method, template, 200, text)
        self.send(200, text.encode(), "text/plain")

    # -- /v2 ----------------------------------------------------------------------------------

    def _token(self) -> None:
        """Harbor's token service: a bearer token for `/v2`, for the admin only here."""
        auth = self._auth()
        if auth == "bad":
            self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"invalid '
                       b'credentials"}]}')
            return
        token = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        with self.double.lock:
            self.double.tokens[token] = auth == "ok"
        body = {"token": token, "access_token": token, "expires_in": 1800, "issued_at": _now()}
        self.send(200, json.dumps(body).encode())

    def _registry_auth(self) -> bool:
        """Bearer tokens from `/service/token`, or Basic credentials, like Harbor's core."""
        header = self.headers.get("authorization", "")
        if header.startswith("Bearer "):
            with self.double.lock:
                return self.double.tokens.get(header[7:], False)
        return self._auth() == "ok"

    def _registry(self, method: str, path: str, query: str) -> None:
        if not self._registry_auth():
            realm = f'Bearer realm="{self.double.url}/service/token",service="harbor-registry"'
            self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication '
                       b'required"}]}', headers={"WWW-Authenticate": realm,
                                                 "Docker-Distribution-API-Version":
                                                 "registry/2.0"}, method=method)
            return
        name, kind, rest = _v2_parts(path)
        if path == "/v2/_catalog":
            with self.double.lock:
                names = sorted(r for p in self.double.projects.values() for r in p.repos)
            self.send(200, json.dumps({"repositories": names}).encode())
            return
        with self.double.lock:
            repo = self.double.find_repo(name) if name else None
            if name and repo is None:
                self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository '
                           b'name not known to registry"}]}', method=method)
                return
            if repo is not None and kind == "tags/list":
                self._tags_list(repo)
                return
            if repo is not None and kind == "manifests" and self._hidden(repo, rest):
                self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest '
                           b'unknown"}]}', method=method)
                return
        upstream = path if repo is None else f"/v2/{repo.upstream}/{kind}/{rest}".rstrip("/")
        status = self._forward(method, upstream + (f"?{query}" if query else ""))
        if repo is not None and method == "DELETE" and kind == "manifests" and status == 202:
            with self.double.lock:  # Harbor deletes the artifact with every tag on it
                repo.artifacts.pop(rest, None)
                repo.removed.add(rest)

    def _hidden(self, repo: Repo, reference: str) -> bool:
        return (repo.name, reference) in self.double.deleted or reference in repo.removed

    def _tags_list(self, repo: Repo) -> None:
        tags = sorted(t for a in repo.artifacts.values()
                      for t in self.double.visible_tags(repo, a))
        self.send(200, json.dumps({"name": repo.name, "tags": tags}).encode())

    def _forward(self, method: str, path: str) -> int:
        accept = self.headers.get("accept", "*/*")
        with httpx.Client(base_url=self.double.upstream, timeout=30.0) as client:
            answer = client.request(method, path, headers={"Accept": accept})
        headers = {k: v for k, v in answer.headers.items()
                   if k.lower() in FORWARD_HEADERS and k.lower() not in ("content-length",
                                                                        "content-type")}
        if method == "HEAD":
            self._head(answer, headers)
        else:
            self.send(answer.status_code, answer.content,
                       answer.headers.get("content-type", "application/octet-stream"), headers)
        return answer.status_code

    def _head(self, answer: httpx.Response, headers: dict[str, str]) -> None:
        """A HEAD answer carries the length of the body a GET would have sent."""
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", ""))
        self.send_header("Content-Length", answer.headers.get("content-length", "0"))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()


def _v2_parts(path: str) -> tuple[str, str, str]:
    """(`repository`, `manifests|blobs|tags/list|...`, reference) of a `/v2/` path."""
    inner = path[len("/v2/"):]
    for kind in ("/manifests/", "/blobs/", "/referrers/"):
        if kind in inner:
            name, _, rest = inner.rpartition(kind)
            return unquote(name), kind.strip("/"), unquote(rest)
    if inner.endswith("/tags/list"):
        return unquote(inner[: -len("/tags/list")]), "tags/list", ""
    return "", "", ""


ROUTES: Final[list[Route]] = [
    ("GET", "/systeminfo", "systeminfo"),
    ("GET", "/projects", "projects"),
    ("GET", "/projects/{project_name}/repositories", "repositories"),
    ("GET", "/projects/{project_name}/repositories/{repository_name}/artifacts", "artifacts"),
    ("GET", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
     "artifact"),
    ("DELETE", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
     "/tags/{tag_name}", "delete_tag"),
    ("GET", "/projects/{project_name_or_id}", "project"),
    ("POST", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
     "/scan", "scan"),
    ("GET", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
     "/additions/vulnerabilities", "vulnerabilities"),
    ("GET", "/system/CVEAllowlist", "system_allowlist"),
    ("GET", "/security/summary", "security_summary"),
    ("GET", "/security/vul", "security_vul"),
    ("GET", "/quotas", "quotas"),
    ("POST", "/system/gc/schedule", "gc_start"),
    ("GET", "/system/gc", "gc_history"),
    ("GET", "/system/gc/{gc_id}", "gc_status"),
    ("GET", "/system/gc/{gc_id}/log", "gc_log"),
]
_Handler.routes = ROUTES


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _project_json(double: HarborDouble, project: Project) -> Json:
    return {"project_id": project.id, "owner_id": 1, "name": project.name,
            "creation_time": STAMP, "update_time": STAMP, "deleted": False,
            "owner_name": USERNAME, "togglable": True, "current_user_role_ids": [1],
            "repo_count": len(project.repos),
            "metadata": {"public": "true" if project.public else "false"}}


def _repo_json(repo: Repo) -> Json:
    return {"id": repo.id, "project_id": repo.project_id, "name": repo.name,
            "artifact_count": len(repo.artifacts), "pull_count": 0,
            "creation_time": STAMP, "update_time": STAMP}


def _artifact_base(repo: Repo, artifact: Artifact,
                   pushes: Mapping[tuple[str, str], str]) -> Json:
    is_image = artifact.config_media_type in mt.IMAGE_CONFIG_TYPES or bool(
        artifact.manifest_media_type in mt.INDEX_TYPES)
    return {"id": artifact.id, "type": "IMAGE" if is_image else "UNKNOWN",
            "media_type": artifact.config_media_type or artifact.manifest_media_type,
            "manifest_media_type": artifact.manifest_media_type,
            "project_id": repo.project_id, "repository_id": repo.id,
            "repository_name": repo.name, "digest": artifact.digest, "size": artifact.size,
            "push_time": max((pushes.get((repo.name, t), STAMP) for t in artifact.tags),
                             default=STAMP),
            "pull_time": STAMP, "extra_attrs": {}, "annotations": {},
            "addition_links": {}}


def _tag_json(repo: Repo, artifact: Artifact, tag: str,
              pushes: Mapping[tuple[str, str], str]) -> Json:
    return {"id": abs(hash((repo.name, tag))) % (1 << 31), "repository_id": repo.id,
            "artifact_id": artifact.id, "name": tag,
            "push_time": pushes.get((repo.name, tag), STAMP), "pull_time": STAMP,
            "immutable": False}


def _scan_json(counts: dict[str, int]) -> Json:
    order = ("Critical", "High", "Medium", "Low")
    worst = next((s for s in order if counts.get(s)), "None")
    severities = {k: v for k, v in counts.items() if k != "fixable"}
    return {"report_id": "5f62c830-f996-11e9-957f-0242c0a89008", "scan_status": "Success",
            "severity": worst, "duration": 3, "start_time": STAMP, "end_time": STAMP,
            "complete_percent": 100,
            "summary": {"total": sum(severities.values()), "fixable": counts.get("fixable", 0),
                        "summary": severities},
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.0"}}


_SCANNER: Final = {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.0"}


def _split_mimes(header: str) -> list[str]:
    """`a; version=1.1, b; version=1.0`: commas separate types, semicolons their parameters."""
    return [part for part in header.split(",") if part.strip()]


def _worst(vulns: list[dict[str, Any]]) -> str:
    present = {v["severity"] for v in vulns}
    return next((name for name in SEVERITY_NAMES if name in present), "None")


def _allowlist_json(project_id: int, ids: tuple[str, ...]) -> Json:
    return {"id": project_id + 1, "project_id": project_id, "expires_at": None,
            "items": [{"cve_id": cve} for cve in ids], "creation_time": STAMP,
            "update_time": STAMP}


def _hub_rows(double: HarborDouble) -> list[Json]:
    """Security Hub's view: one row per (artifact, CVE, package) of every stored report."""
    rows: list[Json] = []
    for project in double.projects.values():
        for repo in project.repos.values():
            for artifact in repo.artifacts.values():
                for vuln in double.reports.get(artifact.digest, []):
                    row: Json = {
                        "project_id": project.id, "repository_name": repo.name,
                        "digest": artifact.digest,
                        "tags": double.visible_tags(repo, artifact),
                        "cve_id": vuln["id"], "severity": vuln["severity"],
                        "status": "fixed" if vuln.get("fix_version") else "affected",
                        "package": vuln["package"], "version": vuln["version"],
                        "fixed_version": vuln.get("fix_version", ""),
                        "desc": vuln.get("description", ""), "links": vuln.get("links", [])}
                    score = (vuln.get("preferred_cvss") or {}).get("score_v3")
                    if score is not None:
                        row["cvss_v3_score"] = score
                    rows.append(row)
    return rows


def _quota_json(double: HarborDouble, project: Project) -> Json:
    hard = double.hard_limits.get(project.name, -1)
    return {"id": project.id, "ref": {"id": project.id, "name": project.name,
                                      "owner_name": USERNAME},
            "hard": {"storage": hard}, "used": {"storage": double.used_bytes(project)},
            "creation_time": STAMP, "update_time": STAMP}


def _gc_json(run: GcExecution) -> Json:
    params = {"delete_untagged": run.delete_untagged, "dry_run": run.dry_run,
              "redis_url_reg": "redis://redis:6379/1", "time_window": 2}
    return {"id": run.id, "job_name": "GARBAGE_COLLECTION", "job_kind": "MANUAL",
            "job_parameters": json.dumps(params), "schedule": {"type": "Manual"},
            "job_status": run.status, "deleted": False, "creation_time": run.created,
            "update_time": run.updated or run.created}


def _log(run: GcExecution, message: str, line: int) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    run.log.append(f"{stamp} [INFO] [/jobservice/job/impl/gc/garbage_collection.go:{line}]: "
                   f"{message}")


def _untagged(double: HarborDouble) -> Iterator[tuple[Repo, Artifact]]:
    for project in double.projects.values():
        for repo in project.repos.values():
            for artifact in list(repo.artifacts.values()):
                if not double.visible_tags(repo, artifact):
                    yield repo, artifact


def _advance(double: HarborDouble, run: GcExecution) -> None:
    """One step per status poll: Pending -> Running -> Success, the log growing each time."""
    if run.status == "Pending":
        run.status = "Running"
        _log(run, "start to run gc in job.", 180)
        _log(run, f"Garbage Collection parameters: [delete_untagged: {run.delete_untagged}, "
                  f"dry_run: {run.dry_run}, time_window: 2]", 186)
    elif run.status == "Running":
        doomed = list(_untagged(double)) if run.delete_untagged else []
        for repo, artifact in doomed:
            _log(run, f"delete the manifest with registry v2 API: {repo.name}, "
                      f"{artifact.manifest_media_type}, {artifact.digest}", 420)
            if not run.dry_run:
                del repo.artifacts[artifact.digest]
                repo.removed.add(artifact.digest)
        _log(run, f"{len(doomed)} artifacts eligible for deletion", 300)
        _log(run, "success to run gc in job.", 260)
        run.status = "Success"
    run.updated = _now()
