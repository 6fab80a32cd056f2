"""Every model field of a hostile image, through every screen, reaches the terminal literally.

The fake registry serves what no real registry accepts (control sequences in repository and
tag names, in `os`/`architecture`/`variant`, labels, env, history, annotations, media types,
referrers, the API version header); the bytes the app writes are recorded and must hold no
control, C1 or bidi character that Textual did not write itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from regtui.config import Config, LogSourceConfig, RegistryConfig
from regtui.registry.mediatypes import OCI_INDEX
from regtui.registry.models import (
    ArtifactKind,
    Descriptor,
    HistoryEntry,
    ImageConfig,
    Manifest,
    Platform,
    Referrer,
    RegistryInfo,
    TagRecord,
)
from regtui.text import Untrusted as U
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.tag import TagScreen
from tests.ui.fakes import NOW, FakeData, FakeImage, FakeService, digest_of, fixed_clock
from tests.ui.terminal import leak_context, raw_controls, recording_terminal, written
from tests.ui.test_snapshots import settle

__all__ = ["recording_terminal"]  # the fixture, used by name

PAYLOAD = ("\x1b]0;T\x07\x1b]52;c;cHduZWQ=\x07\x1b[6n\x9b6n\x85\u202e\u2066\r\x08"
           "\x1b[2J\x1bP+q\x1b\\")
"""OSC 0 (title), OSC 52 (clipboard), CSI DSR, C1 CSI and NEL, bidi overrides, CR, BS, DCS."""
REGISTRY = "lab"
REPO = "evil/every" + PAYLOAD
TAG = "tag" + PAYLOAD
INDEX_TAG = "idx" + PAYLOAD
TABS = ("tab-manifest", "tab-layers", "tab-config", "tab-platforms", "tab-referrers",
        "tab-pull")


def evil(name: str) -> U:
    return U(f"{name}{PAYLOAD}\nsecond line")


@dataclass
class HostileImage(FakeImage):
    """Every string field of the manifest and the config is hostile."""

    def manifest(self) -> Manifest:
        layer = Descriptor(evil("layer-type"), digest_of(self.seed + "-layer"), 100,
                           annotations={evil("la"): evil("lv")}, artifact_type=evil("lat"))
        config = Descriptor(evil("config-type"), self.config_digest, 1_234)
        raw = json.dumps({"schemaVersion": 2, "mediaType": evil("manifest-type"),
                          "annotations": {evil("ak"): evil("av")}}).encode()
        return Manifest(digest_of(self.seed), evil("manifest-type"), len(raw), raw, config,
                        (layer,), artifact_type=evil("artifact-type"),
                        annotations={evil("ak"): evil("av")})

    def config(self) -> ImageConfig:
        return ImageConfig(
            self.config_digest, NOW - timedelta(days=1),
            Platform(evil("os"), evil("arch"), evil("variant")),
            labels={evil("label-key"): evil("label-value")}, env=(evil("ENV=x"),),
            entrypoint=(evil("/entry"),), cmd=(evil("cmd"),), user=evil("user"),
            working_dir=evil("/workdir"),
            history=(HistoryEntry(NOW, evil("RUN x"), evil("comment")),))


class HostileService(FakeService):
    """The fake registry, with a hostile API version header and hostile referrers."""

    async def ping(self) -> RegistryInfo:
        self._check()
        return RegistryInfo(self.url, evil("registry/2.0"), auth_scheme=evil("Bearer"))

    async def referrers(self, repository: str, digest: str) -> list[Referrer]:
        return [Referrer(digest_of("ref"), evil("ref-type"), evil("ref-artifact"),
                         ArtifactKind.SIGNATURE, 10, evil("ref-tag"))]


def hostile_data() -> FakeData:
    data = FakeData()
    image = HostileImage("hostile-every", days=1)
    data.images[image.manifest().digest] = image
    child = Descriptor(evil("child-type"), image.manifest().digest, 10,
                       platform=Platform(evil("os"), evil("arch"), evil("variant")))
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX}).encode()
    index = Manifest(digest_of("hostile-index"), U(OCI_INDEX), len(raw), raw, manifests=(child,))
    data.indexes[index.digest] = index
    data.repos[REPO] = [
        record(TAG, image.manifest().digest, image.manifest().media_type),
        record(INDEX_TAG, index.digest, U(OCI_INDEX), kind=ArtifactKind.INDEX),
    ]
    return data


def record(tag: str, digest: str, media_type: U, *,
           kind: ArtifactKind = ArtifactKind.IMAGE) -> TagRecord:
    return TagRecord(REGISTRY, U(REPO), U(tag), digest, media_type, 1_000,
                     (evil("linux/arch"),), NOW - timedelta(days=1), kind,
                     reachable=((digest, 1_000),))


def hostile_log(path: Path) -> Path:
    fields = {"level": "error", "msg": evil("msg"), "http.request.method": evil("GET"),
              "vars.name": evil("repo"), "http.request.uri": evil("/v2/x/manifests/y")}
    lines = [json.dumps(fields), f"plain {PAYLOAD} line",
             f'time="2026-11-23T12:00:00Z" level=info msg="{PAYLOAD}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def hostile_app(tmp_path: Path, data: FakeData) -> RegtuiApp:
    logs = (LogSourceConfig("file", path=hostile_log(tmp_path / "evil.log")),)
    config = Config(registries=(RegistryConfig(REGISTRY, "http://127.0.0.1:5000", logs=logs),),
                    refresh_interval=3600, cache_dir=tmp_path, state_dir=tmp_path)
    return RegtuiApp(config, factory=lambda registry: HostileService(registry, data),
                     clock=fixed_clock)


async def check(pilot: Pilot[Any], where: str, *, wait: bool = True) -> None:
    """Nothing the app has written so far holds a raw control character."""
    if wait:
        await settle(pilot)
    stream = written(pilot.app)
    assert raw_controls(stream) == [], f"{where}: {leak_context(stream)}"


async def until_written(pilot: Pilot[Any], text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in written(pilot.app):
        assert time.monotonic() < deadline, f"{text!r} never drawn"
        await pilot.pause(0.1)


async def open_tag(pilot: Pilot[Any], app: RegtuiApp, data: FakeData, tag: str) -> TagScreen:
    app.open_tag(REGISTRY, next(r for r in data.repos[REPO] if r.tag == tag))
    await settle(pilot)
    assert isinstance(app.screen, TagScreen)
    return app.screen


@pytest.mark.usefixtures("recording_terminal")
async def test_every_field_of_a_hostile_image_is_literal_on_every_screen(
        tmp_path: Path) -> None:
    data = hostile_data()
    app = hostile_app(tmp_path, data)
    async with app.run_test(size=(220, 60)) as pilot:
        await check(pilot, "fleet")
        app.open_registry(REGISTRY, REPO)
        await check(pilot, "repositories and tags")
        await pilot.press("t")
        await check(pilot, "repository tree")
        for tag in (TAG, INDEX_TAG):
            screen = await open_tag(pilot, app, data, tag)
            for tab in TABS:
                screen.query_one(TabbedContent).active = tab
                await check(pilot, f"tag detail {tab} of {tag!r}")
            await pilot.press("c")
            await check(pilot, f"copy of {tag!r}")
            if tag == TAG:
                await pilot.press("l")
                await until_written(pilot, "plain ␛]0;T␇")  # its follow thread never ends
                await check(pilot, "logs", wait=False)
                await pilot.press("escape")
            await pilot.press("escape")
            await settle(pilot)
        await pilot.press("question_mark")
        await check(pilot, "help")
        await pilot.press("escape", "ctrl+p", *"evil")
        await check(pilot, "command palette")
        assert "/every␛]0;T␇" in written(app).split("Open repository", 1)[-1]
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("colon", *"evil", "enter")
        await check(pilot, "jump error line")
        stream = written(app)
    assert app.clipboard == ""  # neither hostile tag name was copied
    # The hostile text was drawn, with visible stand-ins, so the walk saw it.
    for shown in ("␛]0;T␇", "\\x9b6n", "\\u202e", "layer-type", "label-value", "RUN x",
                  "os␛", "ref-artifact", "registry/2.0"):
        assert shown in stream, shown


def test_the_leak_check_can_fail() -> None:
    """Textual passes ESC through a `Text` unchanged: the check is what would notice."""
    assert raw_controls("\x1b[1;1Hok\x1b[0m\n") == []
    assert raw_controls("\x1b[1;1H\x1b]0;T") == ["U+001B"]
    assert raw_controls("x\u202ey\x9b\x07") == ["U+0007", "U+009B", "U+202E"]
