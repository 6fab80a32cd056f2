"""The quiet refresh and the snapshot at start-up, against the real lab registry.

Requests are counted in the registry's own access log, not in regtui's counters.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot

from regtui.config import load_config
from regtui.lab import Lab
from regtui.registry import mediatypes as mt
from regtui.services.changes import ManifestWrites
from regtui.ui.app import RegtuiApp
from regtui.ui.data import RegistryData
from tests.lab_fixtures import LabFactory
from tests.test_inventory import flush_access_log
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle

pytestmark = pytest.mark.lab

ACCESS = re.compile(r'"(GET|HEAD|PUT|DELETE|POST|PATCH) (/v2/[^ "]*) HTTP')


def lab_app(lab: Lab, tmp_path: Path) -> RegtuiApp:
    path = tmp_path / "config.toml"
    path.write_text(lab.regtui_config_toml(), encoding="utf-8")
    return RegtuiApp(load_config(path), read_only=True)


def requests_since(lab: Lab, offset: int) -> list[tuple[str, str]]:
    """(method, path) of every request the registry logged after `offset`, marker excluded."""
    flush_access_log(lab)
    with lab.log_file.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    return [(m[1], m[2]) for m in ACCESS.finditer(text) if "/flush-" not in m[2]]


async def loaded(pilot: Pilot[Any], app: RegtuiApp) -> None:
    for _ in range(600):
        await settle(pilot)
        status = app.store["lab"].status
        if status.fetched_at is not None and not status.loading:
            return
        await pilot.pause(0.05)
    raise AssertionError("the lab never finished loading")


def tag_again(lab: Lab, repository: str, tag: str, new_tag: str) -> None:
    """What `docker tag && docker push` does for an image already there: one manifest PUT."""
    accept = ", ".join([mt.OCI_MANIFEST, mt.DOCKER_MANIFEST, mt.OCI_INDEX, mt.DOCKER_LIST])
    got = httpx.get(f"{lab.url}/v2/{repository}/manifests/{tag}", headers={"Accept": accept})
    got.raise_for_status()
    put = httpx.put(f"{lab.url}/v2/{repository}/manifests/{new_tag}", content=got.content,
                    headers={"Content-Type": got.headers["content-type"]})
    assert put.status_code == 201, put.text


def manifest_requests(requests: list[tuple[str, str]]) -> list[str]:
    return [path for _, path in requests if "/manifests/" in path]


async def test_slow_tier_reads_tag_lists_and_resolves_only_what_changed(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory()
    app = lab_app(lab, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot, app)
        data = app.store["lab"]
        assert data.live_walk_done and len(data.names) > 5

        start = lab.log_file.stat().st_size
        app._background_tick()
        await loaded(pilot, app)
        requests = requests_since(lab, start)
        assert manifest_requests(requests) == []  # not one tag resolved again
        tag_lists = [path for _, path in requests if "/tags/list" in path]
        assert len(tag_lists) == len(data.names)
        assert len(requests) == len(tag_lists) + 1  # and the catalog

        tag_again(lab, "app", "1.2.3", "moved-here")
        start = lab.log_file.stat().st_size
        app._background_tick()
        await loaded(pilot, app)
        changed = manifest_requests(requests_since(lab, start))
        assert changed and all(path.startswith("/v2/app/manifests/") for path in changed)
        assert "moved-here" in {r.tag for r in data.summaries["app"].tags}


async def test_with_prometheus_an_unchanged_registry_gets_no_request(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(prometheus=True)
    app = lab_app(lab, tmp_path)
    writes = ManifestWrites(app.store["lab"].config)
    deadline = time.monotonic() + 30
    while (before := writes.total()) is None:  # the first scrapes
        assert time.monotonic() < deadline, "the lab's Prometheus never counted the registry"
        time.sleep(0.2)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot, app)

        start = lab.log_file.stat().st_size
        app._background_tick()
        await loaded(pilot, app)
        assert requests_since(lab, start) == []  # Prometheus said: no manifest written

        tag_again(lab, "app", "1.2.3", "pushed-meanwhile")
        deadline = time.monotonic() + 30
        while writes.total() == before:  # scraped every second
            assert time.monotonic() < deadline, "Prometheus never saw the manifest PUT"
            time.sleep(0.2)
        start = lab.log_file.stat().st_size
        app._background_tick()
        await loaded(pilot, app)
        assert manifest_requests(requests_since(lab, start))  # a write: the tier walks
        assert "pushed-meanwhile" in {r.tag for r in app.store["lab"].summaries["app"].tags}
        writes.close()


async def walked_once(lab: Lab, tmp_path: Path) -> RegistryData:
    """A first app that read the whole lab (and wrote its snapshot); what its store holds."""
    first = lab_app(lab, tmp_path)
    async with first.run_test(size=(160, 48)) as pilot:
        await loaded(pilot, first)
    return first.store["lab"]


async def test_restart_shows_the_snapshot_at_once_even_with_the_registry_down(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory()
    first = await walked_once(lab, tmp_path)
    seen = {name: s.tags for name, s in first.summaries.items()}
    totals = first.status.tags
    lab.stop()

    again = lab_app(lab, tmp_path)
    async with again.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        data = again.store["lab"]
        # Before any answer (there is no registry any more): the snapshot's totals.
        assert data.status.from_snapshot and data.status.tags == totals
        assert data.names == sorted(seen)
        assert " snapshot " in screen_text(again)
        for _ in range(600):  # the decoder thread, then the failing revalidation (retried)
            if not data.undecoded and data.status.error:
                break
            await pilot.pause(0.05)
        assert {name: s.tags for name, s in data.summaries.items()} == seen
        assert data.status.error  # the revalidation failed, and says so
        assert data.status.tags == totals  # ...but the data stays


async def test_restart_revalidates_the_snapshot_without_resolving_tags(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory()
    names = list((await walked_once(lab, tmp_path)).names)

    start = lab.log_file.stat().st_size
    again = lab_app(lab, tmp_path)
    async with again.run_test(size=(160, 48)) as pilot:
        await loaded(pilot, again)
        data = again.store["lab"]
        for _ in range(200):
            if not data.undecoded:
                break
            await pilot.pause(0.05)
        requests = requests_since(lab, start)
        assert manifest_requests(requests) == []  # the snapshot's records were trusted...
        assert sum("/tags/list" in path for _, path in requests) == len(names)  # ...checked
        assert not data.unconfirmed and not data.status.from_snapshot
        assert " up " in screen_text(again)


async def test_a_damaged_repository_in_the_snapshot_is_said_and_the_rest_still_shows(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    import os
    import sqlite3

    from regtui.services.snapshot import snapshot_path

    lab = lab_factory()
    first = await walked_once(lab, tmp_path)
    seen = {name: s.tags for name, s in first.summaries.items()}
    lab.stop()
    path = snapshot_path(Path(os.environ["XDG_CACHE_HOME"]) / "regtui", lab.url)
    with sqlite3.connect(path) as db:  # a disk error, or an edit by hand
        db.execute("UPDATE repositories SET records = '{not json' WHERE name = 'app'")
    db.close()

    again = lab_app(lab, tmp_path)
    async with again.run_test(size=(160, 48)) as pilot:
        data = again.store["lab"]
        others = {name for name in seen if name != "app"}
        for _ in range(600):
            if others <= set(data.summaries) - data.undecoded and "snapshot" in screen_text(again):
                break
            await pilot.pause(0.05)
        assert {name: data.summaries[name].tags for name in others} == \
            {name: seen[name] for name in others}, "the repositories after the damaged one"
        assert f"snapshot {path}" in screen_text(again).replace("\n", "")
