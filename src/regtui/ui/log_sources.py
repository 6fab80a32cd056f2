"""The log sources a registry offers the logs screen: its configured `[[registries.logs]]`
and, where the registry keeps one, its own audit log (Docker Hub), read for the account the
config lists (`namespace/*`) or logs in as. Shared by the registry and tag screens."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from regtui.registry.backend import AuditLogApi, audit_log_api
from regtui.services.inventory import InventoryService

if TYPE_CHECKING:
    from regtui.ui.app import RegtuiApp


def audit_feed(rapp: RegtuiApp, registry: str) -> tuple[AuditLogApi, str] | None:
    """The registry's audit log API and account; None without either."""
    service = rapp.service(registry)
    api = audit_log_api(service.backend) if isinstance(service, InventoryService) else None
    config = rapp.store[registry].config
    account = next((name[:-2] for name in config.repositories if name.endswith("/*")),
                   config.auth.username)
    return (api, account) if api is not None and account else None


def has_logs(rapp: RegtuiApp, registry: str) -> bool:
    """Whether `l` has anything to open for this registry."""
    return bool(rapp.store[registry].config.logs) or audit_feed(rapp, registry) is not None


def log_sources(rapp: RegtuiApp, registry: str) -> list[Any]:
    """The configured sources, then the audit log polled on the running loop."""
    from regtui.services.hub_audit import hub_audit_source

    sources: list[Any] = list(rapp.store[registry].config.logs)
    feed = audit_feed(rapp, registry)
    if feed is not None:
        sources.append(hub_audit_source(*feed, asyncio.get_running_loop()))
    return sources
