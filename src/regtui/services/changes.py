"""Cheap signals that a registry changed, so an idle dashboard need not walk it.

The distribution registry counts every request in Prometheus; a manifest PUT or DELETE is
the only way a tag appears, moves or goes. If that count did not move since the last walk,
the walk would find nothing: the slow tier skips it without one request to the registry.
"""

from __future__ import annotations

from typing import Final

from regtui.config import RegistryConfig
from regtui.services.metric_profiles import REQUESTS
from regtui.services.metrics import MetricsError, MetricsService, selector_prefix

COUNTING_FLAVORS: Final = frozenset({"distribution"})
"""Flavors whose Prometheus metrics are distribution's own `registry_http_requests_total`."""


class ManifestWrites:
    """Total manifest PUTs and DELETEs a registry served, from its Prometheus (blocking)."""

    def __init__(self, registry: RegistryConfig, timeout: float = 5.0) -> None:
        self.registry = registry
        self._metrics = MetricsService(registry, timeout=timeout)

    def query(self) -> str:
        sel = selector_prefix(self.registry.prometheus.selector if self.registry.prometheus
                              else "")
        writes = f'{REQUESTS}{{{sel}handler="manifest", method=~"put|delete"}}'
        # `or 0 * any request`: 0 writes when the registry is scraped but never written to;
        # nothing at all (None: unknown, so walk) when the selector matches no series.
        return f"sum({writes}) or (0 * sum({REQUESTS}{{{sel.rstrip(',')}}}))"

    def total(self) -> float | None:
        """The count now, or None when it cannot be known (then the caller walks)."""
        if self.registry.flavor not in COUNTING_FLAVORS or self.registry.prometheus is None:
            return None
        try:
            return self._metrics.instant_value(self.query())
        except MetricsError:
            return None

    def close(self) -> None:
        self._metrics.close()
