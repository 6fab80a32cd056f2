"""Services find optional backend features by capability and protocol, never by class."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from regtui.config import Config, RegistryConfig
from regtui.registry.backend import (
    gc_job_api,
    quota_api,
    scan_api,
    tag_activity_api,
    tag_delete_api,
)
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import DistributionBackend
from regtui.registry.factory import open_backend
from regtui.registry.harbor import HarborBackend

SRC = Path(__file__).resolve().parents[1] / "src" / "regtui"
CONCRETE = {"DistributionBackend", "HarborBackend", "DockerHubBackend", "NexusBackend"}


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(404)))


def test_distribution_offers_no_tag_quota_or_gc_api() -> None:
    backend = DistributionBackend(name="d", url="http://d", client=_client(),
                                  cache=ContentCache(None))
    assert (tag_delete_api(backend), quota_api(backend), gc_job_api(backend)) == (None,) * 3


def test_harbor_offers_its_apis_only_while_its_capabilities_say_so() -> None:
    harbor = HarborBackend(name="h", url="http://h", client=_client(), cache=ContentCache(None))
    assert tag_delete_api(harbor) is harbor and quota_api(harbor) is harbor
    assert gc_job_api(harbor) is harbor
    harbor.capabilities = replace(harbor.capabilities, can_delete_tag=False, has_quota=False,
                                  can_gc=False)
    assert (tag_delete_api(harbor), quota_api(harbor), gc_job_api(harbor)) == (None,) * 3


@pytest.mark.parametrize("flavor", ["distribution", "harbor", "dockerhub"])
def test_open_backend_answers_with_capabilities(tmp_path: Path, flavor: str) -> None:
    registry = RegistryConfig("r", "http://127.0.0.1:9", flavor=flavor)
    backend = open_backend(registry, Config(registries=(registry,), cache_dir=tmp_path),
                           read_only=True)
    assert backend.capabilities.has_quota == (flavor == "harbor")


def _class_checks(path: Path, root: Path = SRC) -> list[str]:
    """`isinstance(x, <concrete backend>)` calls in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance" and len(node.args) == 2):
            names = {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node.args[1])
                     if isinstance(n, ast.Name | ast.Attribute)}
            if names & CONCRETE:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_service_cli_or_ui_module_branches_on_a_backend_class() -> None:
    modules = [p for part in ("services", "ui") for p in (SRC / part).rglob("*.py")]
    modules += list(SRC.glob("cli*.py"))
    assert len(modules) > 20
    assert [hit for path in modules for hit in _class_checks(path)] == []


def test_the_class_check_finds_one(tmp_path: Path) -> None:
    """Guard against a check that cannot fail."""
    sample = tmp_path / "sample.py"
    sample.write_text("if isinstance(b, (str, HarborBackend)):\n    pass\n"
                      "if isinstance(b, harbor.HarborBackend):\n    pass\n", encoding="utf-8")
    assert _class_checks(sample, tmp_path) == ["sample.py:1", "sample.py:3"]


def _counting_client() -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://h"), sent


def test_hub_tag_activity_is_offered_only_while_its_capabilities_say_so(tmp_path: Path) -> None:
    hub = RegistryConfig("hub", "https://registry-1.docker.io", flavor="dockerhub")
    backend = open_backend(hub, Config(registries=(hub,), cache_dir=tmp_path), read_only=True)
    assert tag_activity_api(backend) is not None
    backend.capabilities = replace(backend.capabilities, tag_activity=False)
    assert tag_activity_api(backend) is None
    plain = DistributionBackend(name="d", url="http://d", client=_client(),
                                cache=ContentCache(None))
    assert tag_activity_api(plain) is None and scan_api(plain) is None


async def test_security_hub_is_asked_only_while_the_capability_says_so() -> None:
    """The registry-wide view asks Harbor's version only where `has_security_hub` is set;
    without it no request is sent and the view is built from the reports read."""
    from regtui.services.inventory import InventoryService
    from regtui.services.scans import ScanService

    client, sent = _counting_client()
    harbor = HarborBackend(name="h", url="http://h", client=client, cache=ContentCache(None))
    assert scan_api(harbor) is harbor
    harbor.capabilities = replace(harbor.capabilities, has_security_hub=False)
    service = ScanService(InventoryService(harbor, flavor="harbor"), use_referrers=False)
    view = await service.registry_view([])
    assert view.source == "reports read" and sent == []
    harbor.capabilities = replace(harbor.capabilities, has_security_hub=True)
    service = ScanService(InventoryService(harbor, flavor="harbor"), use_referrers=False)
    await service.registry_view([])
    assert sent, "with the capability, Harbor's version is asked"
    harbor.capabilities = replace(harbor.capabilities, has_scans=False)
    assert scan_api(harbor) is None
    await client.aclose()
