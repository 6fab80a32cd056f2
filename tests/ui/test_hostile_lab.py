"""A hostile image pushed to the real registry, read and parsed for real, shown literally.

The fake-registry walk (test_hostile_fields.py) covers names no registry accepts; this one
covers the parse path: docker-registry 2.8.2 stores and serves a config whose `os`,
`architecture`, `variant`, labels, env, history and user carry control sequences, a manifest
with hostile annotations and media types, and an index with a hostile platform.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from regtui.config import load_config
from regtui.registry import mediatypes as mt
from regtui.registry.push import push_blob, push_manifest
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.tag import TagScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests.lab_fixtures import LabFactory
from tests.ui.terminal import leak_context, raw_controls, recording_terminal, written
from tests.ui.test_hostile_fields import PAYLOAD, TABS
from tests.ui.test_snapshots import settle

__all__ = ["recording_terminal"]  # the fixture, used by name

pytestmark = pytest.mark.lab
REPO = "hostile/fields"


def evil(name: str) -> str:
    return f"{name}{PAYLOAD}\nsecond line"


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data), **extra}


def hostile_config(layer: bytes) -> bytes:
    return json.dumps({
        "created": "2026-11-01T12:00:00Z", "os": evil("linux"),
        "architecture": evil("amd64"), "variant": evil("v8"),
        "config": {"Env": [evil("PATH=/bin")], "Entrypoint": [evil("/entry")],
                   "Cmd": [evil("serve")], "Labels": {evil("key"): evil("value")},
                   "User": evil("user"), "WorkingDir": evil("/srv")},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        "history": [{"created": "2026-11-01T12:00:00Z", "created_by": evil("RUN x"),
                     "comment": evil("comment")}],
    }).encode()


async def push_hostile(url: str) -> None:
    layer, empty = b"hostile layer", b"{}"
    config = hostile_config(layer)
    async with httpx.AsyncClient(timeout=30) as client:
        for blob in (layer, config, empty):
            await push_blob(client, url, REPO, blob)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
            "config": descriptor(mt.OCI_CONFIG, config),
            "layers": [descriptor(evil("application/x-layer"), layer,
                                  annotations={evil("la"): evil("lv")})],
            "annotations": {evil("org.example"): evil("note")},
        }).encode()
        await push_manifest(client, url, REPO, "image", manifest, mt.OCI_MANIFEST)
        index = json.dumps({
            "schemaVersion": 2, "mediaType": mt.OCI_INDEX,
            "manifests": [descriptor(mt.OCI_MANIFEST, manifest, platform={
                "os": evil("linux"), "architecture": evil("arm64"), "variant": evil("v8")})],
            "annotations": {evil("index-key"): evil("index-value")},
        }).encode()
        await push_manifest(client, url, REPO, "index", index, mt.OCI_INDEX)


async def check(pilot: Pilot[Any], where: str) -> None:
    await settle(pilot)
    stream = written(pilot.app)
    assert raw_controls(stream) == [], f"{where}: {leak_context(stream)}"


@pytest.mark.usefixtures("recording_terminal")
async def test_a_hostile_image_from_the_real_registry_is_literal_on_every_tab(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory()
    await push_hostile(lab.url)
    path = tmp_path / "config.toml"
    path.write_text(lab.regtui_config_toml(), encoding="utf-8")
    app = RegtuiApp(load_config(path), read_only=True)
    async with app.run_test(size=(220, 60)) as pilot:
        await check(pilot, "fleet")
        app.open_registry("lab", REPO)
        await check(pilot, "tags")
        for tag in ("image", "index"):
            table = app.screen.query_one("#tags", VirtualTable)
            table.set_rows(table.rows, keep=tag)
            await pilot.press("enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, TagScreen) and screen.record.tag == tag
            for tab in TABS:
                screen.query_one(TabbedContent).active = tab
                await check(pilot, f"{tag} {tab}")
            await pilot.press("escape")
            await asyncio.sleep(0)
            await settle(pilot)
        stream = written(app)
    for shown in ("linux␛]0;T␇", "amd64␛", "value␛", "RUN x␛", "application/x-layer␛",
                  "note\\u001b", "index-value\\u001b", "\\x9b6n", "\\u202e"):
        assert shown in stream, shown
