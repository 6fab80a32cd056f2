"""Build a backend for a configured registry: one place that wires auth, TLS, cache, flavor."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import httpx

from regtui.config import Config, RegistryConfig
from regtui.registry.auth import RegistryAuth, resolve_credentials
from regtui.registry.backend import Capabilities, RegistryBackend
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import DistributionBackend
from regtui.registry.dockerhub import DOCKERHUB_CAPABILITIES, HUB_API, DockerHubBackend
from regtui.registry.harbor import HARBOR_CAPABILITIES, HarborBackend
from regtui.registry.nexus import NEXUS_CAPABILITIES, NexusBackend
from regtui.registry.transport import RegistryClient, build_client

# Flavors without a backend of their own yet read through their `/v2/` distribution API.
DISTRIBUTION_CAPABILITIES: Final = Capabilities(can_delete_manifest=True, can_gc=True)
OCI_CAPABILITIES: Final = Capabilities(can_delete_manifest=True)
FLAVOR_CAPABILITIES: Final[dict[str, Capabilities]] = {
    "distribution": DISTRIBUTION_CAPABILITIES,
    "dockerhub": DOCKERHUB_CAPABILITIES,
    "ghcr": Capabilities(has_catalog=False, can_delete_manifest=False),
    "harbor": HARBOR_CAPABILITIES,
    "nexus": NEXUS_CAPABILITIES,
}


def _client(registry: RegistryConfig, *, read_only: bool,
            shared_with: httpx.AsyncClient | None = None) -> httpx.AsyncClient:
    """The one guarded transport of a registry (or of a Nexus docker connector, which shares
    the registry's pacing: one rate cap, one in-flight limit, one request count)."""
    return build_client(
        name=registry.name,
        url=registry.url,
        host=registry.host,
        read_only=read_only,
        auth=RegistryAuth(registry),
        concurrency=registry.concurrency,
        max_concurrency=registry.max_concurrency,
        max_requests_per_second=registry.max_requests_per_second,
        timeout=registry.timeout,
        retries=registry.retries,
        ca_file=registry.ca_file,
        insecure=registry.insecure,
        deadline=registry.deadline,
        shared_with=shared_with if isinstance(shared_with, RegistryClient) else None,
    )


def open_backend(registry: RegistryConfig, config: Config, *, read_only: bool,
                 cache: ContentCache | None = None) -> RegistryBackend:
    """A ready backend; credentials are looked up lazily, on the first 401.

    Callers get the Protocol: what a flavor can do beyond it they ask through its
    capabilities and the optional protocols in `registry.backend`, never its class.
    """
    client = _client(registry, read_only=read_only)
    store = cache if cache is not None else ContentCache(config.cache_dir)
    if registry.flavor == "nexus":
        def connector(name: str, url: str) -> DistributionBackend:
            served = replace(registry, name=name, url=url)
            return DistributionBackend(name=name, url=url,
                                       client=_client(served, read_only=read_only,
                                                      shared_with=client),
                                       cache=store, concurrency=_bound(registry),
                                       max_names=registry.max_names,
                                       list_deadline=registry.refresh_deadline)
        return NexusBackend(name=registry.name, url=registry.url, client=client, cache=store,
                            connector=connector, concurrency=_bound(registry),
                            credentials=lambda: resolve_credentials(registry),
                            configured=registry.repositories)
    if registry.flavor == "harbor":  # its management API wants Basic credentials up front
        return HarborBackend(name=registry.name, url=registry.url, client=client, cache=store,
                             concurrency=_bound(registry),
                             credentials=lambda: resolve_credentials(registry))
    if registry.flavor == "dockerhub":
        return DockerHubBackend(name=registry.name, url=registry.url, client=client, cache=store,
                                concurrency=_bound(registry),
                                api_url=registry.api_url or HUB_API,
                                credentials=lambda: resolve_credentials(registry),
                                configured=registry.repositories)
    return DistributionBackend(
        name=registry.name,
        url=registry.url,
        client=client,
        cache=store,
        concurrency=_bound(registry),
        capabilities=FLAVOR_CAPABILITIES.get(registry.flavor, OCI_CAPABILITIES),
        configured=registry.repositories,
        max_names=registry.max_names,
        list_deadline=registry.refresh_deadline,
    )


def _bound(registry: RegistryConfig) -> int:
    """The backend's own bound: wide enough for the transport's adaptive limit to decide."""
    return max(registry.concurrency, registry.max_concurrency)
