"""Faults on the way to the real lab registry: the walk carries on and names every problem.

A transport in front of the real registry injects the faults; everything else is the real
registry's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from regtui.lab import Lab
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import DistributionBackend
from regtui.registry.transport import GuardedTransport
from regtui.services.inventory import InventoryService

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
