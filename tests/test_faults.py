"""Faults on the way to the real lab registry: the walk carries on and names every problem.

A transport in front of the real registry injects the faults; everything else is the real
registry's answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from regtui.lab import Lab, start_lab
from regtui.lab.process import free_port
from regtui.registry import mediatypes as mt
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import DistributionBackend
from regtui.registry.push import push_blob
from regtui.registry.transport import GuardedTransport
from regtui.services.inventory import InventoryService
from tests import faultproxy as fp
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.lab
Fault = Callable[[httpx.Request, int], httpx.Response | None]
"""(request, times this path was seen) -> an injected answer, or None to pass through."""


class FaultyTransport(httpx.AsyncBaseTransport):
    def __init__(self, fault: Fault) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.fault = fault
        self.seen: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        self.seen[key] = self.seen.get(key, 0) + 1
        injected = self.fault(request, self.seen[key])
        if injected is not None:
            return injected
        return await self.real.handle_async_request(request)


def service(lab: Lab, fault: Fault, tmp: Path, *, timeout: float = 10,
            sleeps: list[float] | None = None) -> tuple[InventoryService, FaultyTransport]:
    faulty = FaultyTransport(fault)

    async def record_sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        await asyncio.sleep(min(seconds, 0.01))

    transport = GuardedTransport(faulty, registry="lab", read_only=True, retries=2,
                                 sleep=record_sleep)
    client = httpx.AsyncClient(base_url=lab.url, transport=transport, timeout=timeout)
    backend = DistributionBackend(name="lab", url=lab.url, client=client,
                                  cache=ContentCache(tmp / "cache"))
    return InventoryService(backend), faulty


async def walk(inventory: InventoryService) -> list[str]:
    try:
        return [f"{r.repository}:{r.tag}" async for r in inventory.walk()]
    finally:
        await inventory.aclose()


async def test_a_repository_that_always_fails_is_reported_and_the_rest_is_read(
        lab: Lab, tmp_path: Path) -> None:
    def fault(request: httpx.Request, _: int) -> httpx.Response | None:
        if request.url.path == "/v2/team-a/releases/tags/list":
            return httpx.Response(500, json={"errors": [{"code": "UNKNOWN", "message": "boom"}]})
        return None

    inventory, faulty = service(lab, fault, tmp_path)
    tags = await walk(inventory)
    assert faulty.seen["GET /v2/team-a/releases/tags/list"] == 3, "two retries, then give up"
    assert not any(t.startswith("team-a/releases:") for t in tags)
    assert any(t.startswith("app:") for t in tags)
    [problem] = inventory.problems
    assert problem.repository == "team-a/releases"
    assert "HTTP 500" in problem.message and "boom" in problem.message
    assert "\n" not in problem.message


async def test_a_corrupt_manifest_costs_only_its_tag(lab: Lab, tmp_path: Path) -> None:
    digest = _stable(lab)
    # Tags are resolved by a GET by tag (digest header and body in one answer).
    bad = {f"/v2/app/manifests/{ref}" for ref in (digest, "1.2.3", "stable")}

    def fault(request: httpx.Request, _: int) -> httpx.Response | None:
        if request.method == "GET" and request.url.path in bad:
            return httpx.Response(200, content=b"{not json", headers={
                "Content-Type": "application/json", "Docker-Content-Digest": digest})
        return None

    inventory, _ = service(lab, fault, tmp_path)
    tags = await walk(inventory)
    assert "app:1.2.2" in tags
    assert {"app:1.2.3", "app:stable"}.isdisjoint(tags), "both tags share the bad manifest"
    assert {p.tag for p in inventory.problems} == {"1.2.3", "stable"}
    # A corrupt body is caught by digest verification before parsing.
    assert all("does not match its digest" in p.message for p in inventory.problems)


async def test_429_with_retry_after_is_honoured(lab: Lab, tmp_path: Path) -> None:
    def fault(request: httpx.Request, seen: int) -> httpx.Response | None:
        if request.url.path == "/v2/_catalog" and seen == 1:
            return httpx.Response(429, headers={"Retry-After": "3"})
        return None

    sleeps: list[float] = []
    inventory, _ = service(lab, fault, tmp_path, sleeps=sleeps)
    tags = await walk(inventory)
    assert sleeps[0] == 3.0
    assert len({t.split(":")[0] for t in tags}) > 100
    assert inventory.problems == []


async def test_a_read_timeout_is_a_one_line_problem(lab: Lab,
                                                                 tmp_path: Path) -> None:
    def fault(request: httpx.Request, _: int) -> httpx.Response | None:
        if request.url.path == "/v2/multiarch/tags/list":
            raise httpx.ReadTimeout("timed out", request=request)
        return None

    inventory, _ = service(lab, fault, tmp_path, timeout=1)
    tags = await walk(inventory)
    assert not any(t.startswith("multiarch:") for t in tags)
    [problem] = inventory.problems
    assert "timed out" in problem.message and problem.repository == "multiarch"


def _stable(lab: Lab) -> str:
    response = httpx.head(f"{lab.url}/v2/app/manifests/stable", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json"})
    return response.headers["docker-content-digest"]


# -- through the fault-injecting proxy, with the real CLI ---------------------------------------
#
# Each case: the exit status, the one line that names the request, how long it took and how many
# requests reached the proxy. The limits are configured small (timeout 2 s, deadline 6 s,
# 2 retries) so a hang shows as a failed time bound rather than a stuck suite.

TIMEOUT, DEADLINE, RETRIES = 2.0, 6.0, 2
ATTEMPTS = RETRIES + 1


@pytest.fixture(scope="module")
def small_lab() -> Iterator[Lab]:
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture
def proxy(small_lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy(small_lab.url) as started:
        yield started


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str
    seconds: float
    first_record_at: float | None

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def errors(self) -> list[str]:
        return self.stderr.strip().splitlines()

    def one_error(self, *needles: str) -> str:
        """The failure is one line (plus, for a walk, the summary line), naming each needle."""
        assert "Traceback" not in self.stderr, self.stderr
        lines = [line for line in self.errors if "could not be read;" not in line]
        assert len(lines) == 1, self.stderr
        for needle in needles:
            assert needle in lines[0], lines[0]
        return lines[0]


def cli(proxy: FaultProxy, tmp: Path, *args: str, **settings: object) -> Run:
    """`regtui inventory` (or `args`) against the proxy, timing the first stdout line."""
    values = {"timeout": TIMEOUT, "deadline": DEADLINE, "retries": RETRIES,
              "refresh_deadline": 30.0, **settings}
    config = tmp / "config.toml"
    config.write_text("[[registries]]\nname = \"lab\"\n" f"url = \"{proxy.url}\"\n"
                      + "".join(f"{key} = {value}\n" for key, value in values.items()))
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "regtui", *(args or ("inventory",)), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stderr is not None
    first: float | None = None
    lines: list[str] = []
    for line in child.stdout:
        if first is None:
            first = time.monotonic() - started
        lines.append(line)
    stderr = child.stderr.read()
    status = child.wait(timeout=120)
    return Run(status, "".join(lines), stderr, time.monotonic() - started, first)


def _digest_of(lab: Lab, repository: str, tag: str) -> str:
    response = httpx.head(f"{lab.url}/v2/{repository}/manifests/{tag}", headers={
        "Accept": ", ".join(mt.MANIFEST_TYPES)})
    return str(response.headers["docker-content-digest"])


def on(method: str, path: str, fault: fp.Fault, *, times: int | None = None) -> fp.Rule:
    """Inject `fault` for `method path` (the first `times` times, or always)."""
    def rule(request: fp.Request, seen: int) -> fp.Fault | None:
        if request.method == method and request.path == path and (times is None
                                                                   or seen <= times):
            return fault
        return None
    return rule


TAGS_OF_APP = "/v2/app/tags/list"


def test_proxy_passes_the_registry_through(proxy: FaultProxy, tmp_path: Path,
                                           small_lab: Lab) -> None:
    run = cli(proxy, tmp_path)
    assert run.status == 0, run.stderr
    assert run.stderr == ""
    seeded = {(repo, tag) for repo, tags in (small_lab.seeded.tags.items()
                                             if small_lab.seeded else ()) for tag in tags}
    assert {(r["repository"], r["tag"]) for r in run.records} == seeded


def test_5xx_is_retried_within_the_bound_then_named(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", TAGS_OF_APP, fp.error_status(500, "boom")))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("registry lab", f"GET {TAGS_OF_APP}", "HTTP 500", "boom")
    assert proxy.count("GET", TAGS_OF_APP) == ATTEMPTS
    assert any(r["repository"] == "multiarch" for r in run.records), "the rest is read"
    assert run.seconds < DEADLINE + 10


def test_429_retry_after_is_waited_for_then_read(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", "/v2/_catalog", fp.status(429, headers={"Retry-After": "2"}), times=1))
    run = cli(proxy, tmp_path)
    assert run.status == 0, run.stderr
    assert proxy.count("GET", "/v2/_catalog") == 2
    assert 2 <= run.seconds < 2 + 15


def test_429_asking_longer_than_the_deadline_is_not_waited_for(proxy: FaultProxy,
                                                               tmp_path: Path) -> None:
    proxy.reset(on("GET", "/v2/_catalog", fp.status(429, headers={"Retry-After": "3600"})))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("registry lab", "GET /v2/_catalog", "HTTP 429")
    assert proxy.count("GET", "/v2/_catalog") == 1
    assert run.seconds < 10


def test_a_slow_answer_within_the_timeout_is_read(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", TAGS_OF_APP, fp.delay(TIMEOUT / 2)))
    run = cli(proxy, tmp_path)
    assert run.status == 0, run.stderr
    assert proxy.count("GET", TAGS_OF_APP) == 1


def test_an_answer_that_never_comes_is_given_up_by_the_deadline(proxy: FaultProxy,
                                                                tmp_path: Path) -> None:
    proxy.reset(on("GET", TAGS_OF_APP, fp.never_answer))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("registry lab", f"GET {TAGS_OF_APP}", "tag list of app")
    assert proxy.count("GET", TAGS_OF_APP) <= ATTEMPTS
    assert run.seconds < DEADLINE + 10
    # Records of the other repositories are printed while the stuck one is still waited for.
    assert run.first_record_at is not None and run.first_record_at < TIMEOUT * 2 + 3
    assert any(r["repository"] == "multiarch" for r in run.records)


def test_a_walk_ends_by_its_refresh_deadline_naming_what_was_pending(
        proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", TAGS_OF_APP, fp.never_answer))
    run = cli(proxy, tmp_path, timeout=300, deadline=600, refresh_deadline=10)
    assert run.status == 1
    assert "Traceback" not in run.stderr
    pending = [line for line in run.errors if "could not be read;" not in line]
    assert any(line.startswith("regtui: repository app on registry lab") for line in pending)
    # On a busy machine others may still be pending too; each is named, nothing else fails.
    assert all("not read within refresh_deadline = 10 s" in line for line in pending), pending
    assert run.seconds < 10 + 15


@pytest.mark.parametrize("fault", [fp.drop_mid_body, fp.truncate], ids=["drop", "truncate"])
def test_a_body_cut_short_once_is_read_again(proxy: FaultProxy, tmp_path: Path,
                                             fault: fp.Fault) -> None:
    proxy.reset(on("GET", TAGS_OF_APP, fault, times=1))
    run = cli(proxy, tmp_path)
    assert run.status == 0, run.stderr
    assert proxy.count("GET", TAGS_OF_APP) == 2
    assert any(r["repository"] == "app" for r in run.records)


@pytest.mark.parametrize("fault", [fp.drop_mid_body, fp.truncate], ids=["drop", "truncate"])
def test_a_body_always_cut_short_is_a_named_error(proxy: FaultProxy, tmp_path: Path,
                                                  fault: fp.Fault) -> None:
    proxy.reset(on("GET", TAGS_OF_APP, fault))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("registry lab", f"GET {TAGS_OF_APP}", "while reading the answer")
    assert proxy.count("GET", TAGS_OF_APP) == ATTEMPTS
    assert run.seconds < DEADLINE + 10


def test_malformed_catalog_json_names_the_registry(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", "/v2/_catalog", fp.malformed_json))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("catalog on registry lab", "GET /v2/_catalog", "not valid JSON")
    assert proxy.count("GET", "/v2/_catalog") == 1


def test_a_body_breaking_its_digest_is_refused_not_retried(
        proxy: FaultProxy, tmp_path: Path, small_lab: Lab) -> None:
    digest = _digest_of(small_lab, "multiarch", "1.0")
    path = "/v2/multiarch/manifests/1.0"  # a tag is read with one GET by tag
    proxy.reset(on("GET", path, fp.wrong_digest))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("multiarch", digest, "does not match its digest", "registry lab")
    assert proxy.count("GET", path) == 1
    assert not any(r["tag"] == "1.0" and r["repository"] == "multiarch" for r in run.records)


def test_a_self_linking_catalog_stops_at_once(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", "/v2/_catalog", fp.self_link))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("catalog on registry lab", "pages repeat")
    assert proxy.count("GET", "/v2/_catalog") == 2


def test_an_endless_catalog_stops_at_max_names(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", "/v2/_catalog", fp.endless_link()))
    run = cli(proxy, tmp_path, max_names=20_000)
    assert run.status == 1
    run.one_error("catalog on registry lab", "max_names = 20000")
    assert proxy.count("GET", "/v2/_catalog") == 20
    assert run.seconds < 15


def test_an_endless_catalog_stops_at_the_refresh_deadline(proxy: FaultProxy,
                                                          tmp_path: Path) -> None:
    slow_pages = fp.endless_link()

    async def slow(exchange: fp.Exchange) -> None:
        await asyncio.sleep(0.2)
        await slow_pages(exchange)

    proxy.reset(on("GET", "/v2/_catalog", slow))
    run = cli(proxy, tmp_path, refresh_deadline=2)
    assert run.status == 1
    run.one_error("catalog on registry lab", "refresh_deadline = 2 s")
    assert proxy.count("GET", "/v2/_catalog") < 20
    assert run.seconds < 2 + 10


def test_a_50_mb_manifest_is_refused_without_reading_it(
        proxy: FaultProxy, tmp_path: Path, small_lab: Lab) -> None:
    path = "/v2/multiarch/manifests/1.0"  # a tag is read with one GET by tag
    proxy.reset(on("GET", path, fp.huge_body(50 * fp.MB)))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("registry lab", f"GET {path}", "larger than")
    assert proxy.count("GET", path) == 1
    assert run.seconds < 15


def test_a_malformed_challenge_is_one_line(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", "/v2/", fp.challenge('Bearer realm="http://x, ,,service=')))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("lab")
    assert proxy.count("GET", "/v2/") <= ATTEMPTS


def test_a_redirect_to_another_host_names_where_it_went(proxy: FaultProxy,
                                                        tmp_path: Path) -> None:
    port = free_port()
    proxy.reset(on("GET", TAGS_OF_APP, fp.redirect(f"http://127.0.0.2:{port}{TAGS_OF_APP}")))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("registry lab", f"GET {TAGS_OF_APP}", f"127.0.0.2:{port}", "cannot connect")
    assert proxy.count("GET", TAGS_OF_APP) == 1, "the redirected request is what is retried"
    assert run.seconds < DEADLINE + 10


def test_an_index_with_a_missing_child_is_broken_naming_it(
        proxy: FaultProxy, tmp_path: Path, small_lab: Lab) -> None:
    index = httpx.get(f"{small_lab.url}/v2/multiarch/manifests/1.0",
                      headers={"Accept": mt.OCI_INDEX}).json()
    child = index["manifests"][1]["digest"]
    gone = fp.status(404, headers={"Content-Type": "application/json"}, body=json.dumps(
        {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}).encode())
    proxy.reset(on("GET", f"/v2/multiarch/manifests/{child}", gone))
    run = cli(proxy, tmp_path)
    assert run.status == 1
    run.one_error("multiarch:1.0", "broken", child)
    [record] = [r for r in run.records if r["repository"] == "multiarch" and r["tag"] == "1.0"]
    assert record["artifact_kind"] == "index"


def test_a_repository_holding_only_blobs_has_no_tags(proxy: FaultProxy, tmp_path: Path,
                                                     small_lab: Lab) -> None:
    """An interrupted push leaves a repository in the catalog whose tag list answers 404."""
    async def upload() -> None:
        async with httpx.AsyncClient() as client:
            await push_blob(client, small_lab.url, "interrupted/push", b"layer without manifest")

    asyncio.run(upload())
    assert httpx.get(f"{small_lab.url}/v2/interrupted/push/tags/list").status_code == 404
    assert "interrupted/push" in httpx.get(f"{small_lab.url}/v2/_catalog").json()["repositories"]
    for command in ("inventory", "storage"):
        run = cli(proxy, tmp_path, command)
        assert run.status == 0, run.stderr
        assert "interrupted/push" not in run.stderr
    named = cli(proxy, tmp_path, "inventory", "--repository", "no/such-repo")
    assert named.status == 1, "a name the operator typed that does not exist is still an error"
    named.one_error("no/such-repo", "not found")


def test_an_unreachable_token_endpoint_is_told_apart_from_the_registry(
        lab_factory: Callable[..., Lab], tmp_path: Path) -> None:
    lab = lab_factory(auth="token")
    assert lab.token_server is not None and lab.token_url is not None
    lab.token_server.stop()
    config = tmp_path / "config.toml"
    config.write_text(lab.regtui_config_toml())
    env = {**os.environ, "REGTUI_LAB_PASSWORD": lab.password or ""}
    if lab.ca_file is not None:
        env["SSL_CERT_FILE"] = str(lab.ca_file)
    done = subprocess.run([sys.executable, "-m", "regtui", "inventory", "--config", str(config)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "token endpoint" in line and "registry lab" in line and "cannot connect" in line, line
    assert "GET /v2/" in line, "the request it was for is named"
