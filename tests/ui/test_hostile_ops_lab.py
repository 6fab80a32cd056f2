"""A hostile image on the real registry, under hostile names, through the screens that change
things and the metrics: nothing but literal text reaches the terminal.

docker-registry 2.8.2 holds the hostile image of test_hostile_lab.py (control sequences in
its config, manifest and index fields). The fault proxy in front of it serves the repository
and one tag under names carrying the same payload (no registry accepts those, a hostile
proxy or registry can serve them), mapping them back on the way in; a second proxy puts the
payload in every label value the real Prometheus answers. The walk: the metrics screen, the
retention form and its dry-run plan and the plan's
confirmation dialog, the tag and repository delete dialogs (each cancelled), and the GC
screen with a real `garbage-collect --dry-run` whose output names a hostile repository
directory. The bytes the app writes are recorded; none may be a raw control character.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from regtui.config import load_config
from regtui.lab import Lab
from regtui.text import safe_text
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.confirm import DeleteConfirmScreen
from regtui.ui.screens.gc import GcScreen
from regtui.ui.screens.metrics import MetricsScreen
from regtui.ui.screens.retention import RetentionScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests import faultproxy as fp
from tests.faultproxy import FaultProxy
from tests.lab_fixtures import LabFactory
from tests.ui.terminal import leak_context, raw_controls, recording_terminal, written
from tests.ui.test_hostile_fields import PAYLOAD
from tests.ui.test_hostile_lab import REPO, push_hostile
from tests.ui.test_ops_integration import wait_until
from tests.ui.test_snapshots import settle

__all__ = ["recording_terminal"]  # the fixture, used by name

pytestmark = pytest.mark.lab
NAME = REPO + PAYLOAD
"""The hostile repository name the proxy serves for `hostile/fields`."""
TAG = "image" + PAYLOAD
"""... and for its tag `image`."""
SHOWN = "␛]0;T␇"
"""How the payload's start is drawn: visible stand-ins, so the walk saw the hostile text."""


def to_registry(target: str) -> str:
    """The request's path with the hostile names mapped back to what the registry holds."""
    parts = urlsplit(target)
    path = unquote(parts.path).replace(f"/manifests/{TAG}", "/manifests/image")
    path = path.replace(NAME, REPO)
    return quote(path, safe="/:@") + (f"?{parts.query}" if parts.query else "")


def hostile_body(asked: str, body: bytes) -> bytes:
    """The catalog lists the hostile alias beside the real repository; the alias's tag list
    holds the hostile tag name."""
    if asked == "/v2/_catalog":
        data = json.loads(body)
        data["repositories"] = sorted([*data["repositories"], NAME])
        return json.dumps(data).encode()
    if asked == f"/v2/{NAME}/tags/list":
        data = json.loads(body)
        data["name"] = NAME
        data["tags"] = [TAG if t == "image" else t for t in data["tags"] or []]
        return json.dumps(data).encode()
    return body


async def rename(exchange: fp.Exchange) -> None:
    mapped = replace(exchange.request, target=to_registry(exchange.request.target))
    answer = await exchange.proxy.forward(mapped)
    if exchange.request.method == "HEAD" or answer.status != 200:
        await exchange.relay(answer)
        return
    asked = unquote(urlsplit(exchange.request.target).path)
    await exchange.send(answer.status, answer.headers, hostile_body(asked, answer.body))


def renaming(request: fp.Request, seen: int) -> fp.Fault:
    return rename


async def label(exchange: fp.Exchange) -> None:
    """Prometheus answers with the payload in every label value of every series."""
    answer = await exchange.upstream()
    try:
        data = json.loads(answer.body)
        for item in data["data"]["result"]:
            item["metric"] = {k: f"{v}{PAYLOAD}" for k, v in item["metric"].items()}
    except (ValueError, KeyError, TypeError):
        await exchange.relay(answer)
        return
    headers = [(k, v) for k, v in answer.headers if k.lower() != "content-encoding"]
    await exchange.send(answer.status, headers, json.dumps(data).encode())


def labelling(request: fp.Request, seen: int) -> fp.Fault:
    return label


@pytest.fixture
def hostile_lab(lab_factory: LabFactory) -> Iterator[tuple[Lab, FaultProxy, FaultProxy]]:
    lab = lab_factory(prometheus=True)
    assert lab.prometheus_url is not None
    asyncio.run(push_hostile(lab.url))
    with FaultProxy(lab.url, renaming) as proxy, \
            FaultProxy(lab.prometheus_url, labelling) as prometheus:
        yield lab, proxy, prometheus


def app_for(lab: Lab, proxy: FaultProxy, prometheus: FaultProxy, tmp_path: Path) -> RegtuiApp:
    path = tmp_path / "config.toml"
    toml = lab.regtui_config_toml().replace(f'"{lab.url}"', f'"{proxy.url}"')
    path.write_text(toml.replace(f'"{lab.prometheus_url}"', f'"{prometheus.url}"'),
                    encoding="utf-8")
    config = replace(load_config(path), state_dir=tmp_path / "state", refresh_interval=3600)
    return RegtuiApp(config, read_only=False)


async def check(pilot: Pilot[Any], where: str, *, wait: bool = True) -> None:
    if wait:
        await settle(pilot)
    stream = written(pilot.app)
    assert raw_controls(stream) == [], f"{where}: {leak_context(stream)}"


async def cancel_dialog(pilot: Pilot[Any], where: str) -> None:
    app = pilot.app
    try:
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteConfirmScreen), 15)
    except AssertionError:
        raise AssertionError(f"{where}: no dialog; {getattr(app, 'error_text', '')!r}") from None
    await pilot.pause(0.2)
    await check(pilot, where, wait=False)
    await pilot.click("#confirm-no")
    await wait_until(pilot, lambda: not isinstance(app.screen, DeleteConfirmScreen))


def hostile_gc_repository(lab: Lab) -> Path:
    """A repository directory whose name is the payload: garbage-collect names it."""
    repositories = lab.storage_dir / "docker" / "registry" / "v2" / "repositories"
    target = repositories / ("gc" + PAYLOAD.replace("/", ""))
    shutil.copytree(repositories / REPO, target)
    return target


async def select_tag(pilot: Pilot[Any], repository: str, tag: str) -> None:
    app = pilot.app
    assert isinstance(app, RegtuiApp)
    app.open_registry("lab", repository)
    await check(pilot, f"registry {repository!r}")
    table = app.screen.query_one("#tags", VirtualTable)
    assert tag in {row.key for row in table.rows}, f"{tag!r} is listed"
    table.focus()
    table.set_rows(table.rows, keep=tag)
    await pilot.pause()


async def refused(pilot: Pilot[Any], key: str, where: str) -> None:
    """A change naming a hostile name is refused, with a literal message, before any plan."""
    await pilot.press(key)
    await settle(pilot)
    await pilot.pause(0.3)
    assert not isinstance(pilot.app.screen, DeleteConfirmScreen)
    await check(pilot, where)
    said = [str(n.message) for n in pilot.app._notifications]
    assert any("not a valid repository name, tag or digest" in m for m in said), said


async def retention_screen(pilot: Pilot[Any]) -> RetentionScreen:
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, RetentionScreen), 15)
    screen = pilot.app.screen
    assert isinstance(screen, RetentionScreen)
    await check(pilot, "retention form")
    return screen


async def dry_run(pilot: Pilot[Any], screen: RetentionScreen, where: str) -> None:
    screen.query_one("#ret-protect", Input).value = ""
    screen.query_one("#ret-match", Input).value = "."
    await pilot.pause()
    await pilot.click("#ret-dry")
    await settle(pilot)
    await check(pilot, where)


@pytest.mark.usefixtures("recording_terminal")
async def test_hostile_names_and_fields_through_metrics_retention_gc_and_dialogs(
        hostile_lab: tuple[Lab, FaultProxy, FaultProxy], tmp_path: Path) -> None:
    lab, proxy, prometheus = hostile_lab
    app = app_for(lab, proxy, prometheus, tmp_path)
    async with app.run_test(size=(220, 60)) as pilot:
        await check(pilot, "fleet")
        # Under the hostile names: every change is refused, the refusal drawn literally.
        await select_tag(pilot, NAME, TAG)
        await refused(pilot, "ctrl+d", "delete of a hostile tag")
        screen = await retention_screen(pilot)
        assert screen.query_one("#ret-scope", Input).value == str(safe_text(NAME, 300))
        await dry_run(pilot, screen, "retention plan under a hostile name")
        assert screen.plan is None, "nothing is planned under a name no registry accepts"
        assert "no repository or namespace of that name" in str(
            screen.query_one("#retention-summary").render())
        await pilot.press("escape")
        await settle(pilot)

        # The hostile fields under the real names: the dialogs open on them.
        await select_tag(pilot, REPO, "image")
        await pilot.press("ctrl+d")
        await cancel_dialog(pilot, "delete-tag dialog")
        await pilot.press("X")
        await cancel_dialog(pilot, "delete-repository dialog")
        screen = await retention_screen(pilot)
        await dry_run(pilot, screen, "retention plan")
        assert screen.plan is not None
        assert {f"{REPO}:image", f"{REPO}:index"} <= {str(i.target) for i in screen.plan.impacts}
        await pilot.click("#ret-apply")
        await cancel_dialog(pilot, "retention confirmation")
        await pilot.press("escape")
        await settle(pilot)

        before = len(written(app))
        await pilot.press("M")
        await wait_until(pilot, lambda: isinstance(app.screen, MetricsScreen), 15)
        await check(pilot, "metrics")
        assert prometheus.count("", "/api/v1/query") > 0, "the metrics came through the proxy"
        metrics_drawn = written(app)[before:]
        await pilot.press("escape")
        await settle(pilot)

        gc_dir = hostile_gc_repository(lab)
        try:
            await pilot.press("ctrl+g")
            await wait_until(pilot, lambda: isinstance(app.screen, GcScreen), 15)
            await check(pilot, "gc screen")
            await pilot.click("#gc-dry")
            await settle(pilot)
            await check(pilot, "gc dry run")
        finally:
            shutil.rmtree(gc_dir)
        stream = written(app)
    assert SHOWN in metrics_drawn, "the metrics screen drew a hostile label"
    assert f"gc{SHOWN}" in stream, "garbage-collect's output named the hostile directory"
    for shown in (f"fields{SHOWN}", f"image{SHOWN}", "\\x9b6n", "\\u202e"):
        assert shown in stream, shown
