"""Build a backend for a configured registry: one place that wires auth, TLS, cache, flavor."""

from __future__ import annotations

from typing import Final

from regtui.config import Config, RegistryConfig
from regtui.registry.auth import RegistryAuth, resolve_credentials
from regtui.registry.backend import Capabilities, RegistryBackend
from regtui.registry.cache import ContentCache
from regtui.registry.distribution import DistributionBackend
from regtui.registry.harbor import HARBOR_CAPABILITIES, HarborBackend
from regtui.registry.transport import build_client

# Flavors without a backend of their own yet read through their `/v2/` distribution API.
DISTRIBUTION_CAPABILITIES: Final = Capabilities(can_delete_manifest=True, can_gc=True)
OCI_CAPABILITIES: Final = Capabilities(can_delete_manifest=True)
FLAVOR_CAPABILITIES: Final[dict[str, Capabilities]] = {
    "distribution": DISTRIBUTION_CAPABILITIES,
    "dockerhub": Capabilities(has_catalog=False, can_delete_manifest=False),
    "ghcr": Capabilities(has_catalog=False, can_delete_manifest=False),
    "harbor": HARBOR_CAPABILITIES,
}


def open_backend(registry: RegistryConfig, config: Config, *, read_only: bool,
                 cache: ContentCache | None = None) -> RegistryBackend:
    """A ready backend; credentials are looked up lazily, on the first 401.

    Callers get the Protocol: what a flavor can do beyond it they ask through its
    capabilities and the optional protocols in `registry.backend`, never its class.
    """
    auth = RegistryAuth(registry)
    client = build_client(
        name=registry.name,
        url=registry.url,
        host=registry.host,
        read_only=read_only,
        auth=auth,
        concurrency=registry.concurrency,
        max_concurrency=registry.max_concurrency,
        max_requests_per_second=registry.max_requests_per_second,
        timeout=registry.timeout,
        retries=registry.retries,
        ca_file=registry.ca_file,
        insecure=registry.insecure,
        deadline=registry.deadline,
    )
    store = cache if cache is not None else ContentCache(config.cache_dir)
    if registry.flavor == "harbor":  # its management API wants Basic credentials up front
        return HarborBackend(name=registry.name, url=registry.url, client=client, cache=store,
                             concurrency=_bound(registry),
                             credentials=lambda: resolve_credentials(registry))
    return DistributionBackend(
        name=registry.name,
        url=registry.url,
        client=client,
        cache=store,
        concurrency=_bound(registry),
        capabilities=FLAVOR_CAPABILITIES.get(registry.flavor, OCI_CAPABILITIES),
        max_names=registry.max_names,
        list_deadline=registry.refresh_deadline,
    )


def _bound(registry: RegistryConfig) -> int:
    """The backend's own bound: wide enough for the transport's adaptive limit to decide."""
    return max(registry.concurrency, registry.max_concurrency)
