"""The screens that need a live inventory (storage usage, audit) show hostile names literally.

A fake backend (the Protocol, not the service) serves hostile repository and tag names, so
the real InventoryService resolves them and the storage report and audit screen draw them;
the recorded terminal bytes must hold no control character Textual did not write itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest

from regtui.config import Config, RegistryConfig
from regtui.errors import NotFoundError
from regtui.registry.backend import Capabilities, ManifestHead
from regtui.registry.models import Health, ImageConfig, Manifest, Referrer, RegistryInfo
from regtui.services.audit import AuditEntry
from regtui.services.inventory import InventoryService
from regtui.text import Untrusted as U
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.audit import AuditScreen
from regtui.ui.screens.storage import StorageScreen
from tests.ui.fakes import FakeImage, fixed_clock
from tests.ui.terminal import leak_context, raw_controls, recording_terminal, written
from tests.ui.test_hostile_fields import PAYLOAD, HostileImage, evil
from tests.ui.test_snapshots import settle

__all__ = ["recording_terminal"]  # the fixture, used by name

REPO = "evil/live" + PAYLOAD
TAG = "t" + PAYLOAD


class HostileBackend:
    """A `RegistryBackend` over one hostile image, listed under hostile names."""

    name = "lab"
    url = "http://127.0.0.1:9"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.image: FakeImage = HostileImage("live", days=1)
        self.client = httpx.AsyncClient(
            transport=httpx.MockTransport(lambda _: httpx.Response(404)))

    async def ping(self) -> RegistryInfo:
        return RegistryInfo(self.url, evil("registry/2.0"))

    async def repositories(self) -> AsyncIterator[U]:
        yield U(REPO)

    async def tags(self, repository: str) -> list[U]:
        return [U(TAG)]

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead:
        manifest = self.image.manifest()
        return ManifestHead(manifest.digest, manifest.media_type, manifest.size)

    async def manifest(self, repository: str, reference: str) -> Manifest:
        manifest = self.image.manifest()
        if reference not in (TAG, manifest.digest):
            raise NotFoundError(f"{reference[:20]!r}: 404")
        return manifest

    async def image_config(self, repository: str, descriptor_digest: str) -> ImageConfig:
        return self.image.config()

    async def config_of(self, repository: str, manifest: Manifest) -> ImageConfig | None:
        return self.image.config()

    async def referrers(self, repository: str, digest: str,
                        tags: Collection[str] | None = None) -> list[Referrer]:
        return []

    async def blob(self, repository: str, digest: str, *, limit: int, what: str) -> bytes:
        raise NotFoundError(f"{what}: 404")

    def health(self) -> Health:
        return Health()

    async def aclose(self) -> None:
        await self.client.aclose()


def hostile_audit(state: Path) -> None:
    entry = AuditEntry(time="2026-11-23T12:00:00Z", user=evil("user"), registry=evil("lab"),
                       action=evil("delete"), target=evil(REPO), digest=evil("sha256:x"),
                       command=evil("DELETE /v2/x"), outcome=evil("failed: x"),
                       detail=evil("detail"))
    state.mkdir(parents=True, exist_ok=True)
    (state / "audit.jsonl").write_text(json.dumps(asdict(entry)) + "\n", encoding="utf-8")


@pytest.mark.usefixtures("recording_terminal")
async def test_storage_and_audit_screens_show_hostile_names_literally(tmp_path: Path) -> None:
    hostile_audit(tmp_path / "state")
    registry = RegistryConfig("lab", HostileBackend.url)
    config = Config(registries=(registry,), refresh_interval=3600, cache_dir=tmp_path,
                    state_dir=tmp_path / "state")
    app = RegtuiApp(config, clock=fixed_clock, read_only=True,
                    factory=lambda r: InventoryService(HostileBackend(), read_only=True))
    async with app.run_test(size=(220, 60)) as pilot:
        await settle(pilot)
        app.open_registry("lab", REPO)
        await settle(pilot)
        await pilot.press("U")
        await settle(pilot)
        assert isinstance(app.screen, StorageScreen)
        stream = written(app)
        assert raw_controls(stream) == [], f"storage: {leak_context(stream)}"
        await pilot.press("escape")
        app.action_audit()
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        stream = written(app)
        assert raw_controls(stream) == [], f"audit: {leak_context(stream)}"
    # (the audit table's columns after `user` are off-screen at this width)
    for shown in ("live␛]0;T␇", "t␛]0;T␇", "user␛]0;T␇"):
        assert shown in stream, shown
