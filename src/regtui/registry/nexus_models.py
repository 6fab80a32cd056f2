"""Plain models of what Nexus's REST API says: repositories, components, blob stores, tasks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from regtui.registry.parse import parse_time


@dataclass(frozen=True, slots=True)
class NexusRepository:
    """A docker repository of Nexus and the connector that serves its `/v2`."""

    name: str
    type: str
    """hosted, proxy or group."""
    connector: str
    """`scheme://host:port` of its docker connector; empty when it has none."""
    blob_store: str = ""
    online: bool = True


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    path: str
    size: int
    digest: str
    created: datetime | None = None
    """`blobCreated`: when this manifest was pushed."""


@dataclass(frozen=True, slots=True)
class Component:
    """One docker image version: name = image, version = tag."""

    id: str
    repository: str
    name: str
    version: str
    assets: tuple[Asset, ...] = ()

    @property
    def size(self) -> int:
        return sum(asset.size for asset in self.assets)


@dataclass(frozen=True, slots=True)
class BlobStore:
    name: str
    type: str
    blob_count: int
    total_bytes: int
    available_bytes: int
    unavailable: bool = False
    quota_violation: bool | None = None
    quota_message: str = ""


@dataclass(frozen=True, slots=True)
class NexusTask:
    id: str
    name: str
    type: str
    state: str
    last_result: str
    last_run: str
    message: str
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state.upper() in ("RUNNING", "CANCELING", "CANCELLING")


def as_int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_component(item: Mapping[str, Any]) -> Component:
    assets = []
    for asset in item.get("assets") or []:
        if not isinstance(asset, dict):
            continue
        checksum = asset.get("checksum")
        sha = as_str(checksum.get("sha256")) if isinstance(checksum, dict) else ""
        assets.append(Asset(as_str(asset.get("id")), as_str(asset.get("path")),
                            as_int(asset.get("fileSize")), f"sha256:{sha}" if sha else "",
                            parse_time(asset.get("blobCreated"))))
    return Component(as_str(item.get("id")), as_str(item.get("repository")),
                     as_str(item.get("name")), as_str(item.get("version")), tuple(assets))


def parse_task(item: Mapping[str, Any]) -> NexusTask:
    found = item.get("properties")
    properties: Mapping[str, Any] = found if isinstance(found, dict) else {}
    return NexusTask(as_str(item.get("id")), as_str(item.get("name")), as_str(item.get("type")),
                     as_str(item.get("currentState")), as_str(item.get("lastRunResult")),
                     as_str(item.get("lastRun")), as_str(item.get("message")),
                     {str(k): str(v) for k, v in properties.items()})
