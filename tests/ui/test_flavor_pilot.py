"""The dashboard over the real Hub and Nexus backends (doubles over the real lab registry):
the fleet shows the pull limit the Hub's HEADs reported and the Nexus blob store, and the
registry screen says where Hub's repository list came from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import TabbedContent

from regtui.config import AuthConfig, Config, RegistryConfig
from regtui.lab import Lab
from regtui.ui.app import RegtuiApp
from tests.doubles.hub_double import TOKEN, USERNAME, HubDouble
from tests.doubles.nexus_double import PASSWORD, NexusDouble
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle

pytestmark = pytest.mark.lab


def hub_registry(hub: HubDouble) -> RegistryConfig:
    """The Hub double as a `dockerhub` registry listing `team-a/*`, with the PAT login."""
    return RegistryConfig("hub", hub.registry_url, flavor="dockerhub", api_url=hub.api_url,
                          repositories=("team-a/*",),
                          auth=AuthConfig(username=USERNAME, password_env="HUB_PAT"))


def app_for(tmp_path: Path, *registries: RegistryConfig) -> RegtuiApp:
    return RegtuiApp(Config(registries=registries, refresh_interval=3600,
                            cache_dir=tmp_path / "cache", state_dir=tmp_path / "state"))


async def test_fleet_over_hub_and_nexus_backends(lab_factory: Callable[..., Lab],
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    lab = lab_factory()  # minimal data set, no Prometheus
    monkeypatch.setenv("HUB_PAT", TOKEN)
    monkeypatch.setenv("NEXUS_PASSWORD", PASSWORD)
    with HubDouble(lab.url) as hub, NexusDouble(lab.url) as nexus:
        registries = (
            RegistryConfig("hub", hub.registry_url, flavor="dockerhub", api_url=hub.api_url,
                           repositories=("team-a/*",),
                           auth=AuthConfig(username=USERNAME, password_env="HUB_PAT")),
            RegistryConfig("nexus", nexus.url, flavor="nexus", alias="nexus-prod",
                           auth=AuthConfig(username="admin", password_env="NEXUS_PASSWORD")),
        )
        app = RegtuiApp(Config(registries=registries, refresh_interval=3600,
                               cache_dir=tmp_path / "cache", state_dir=tmp_path / "state"))
        async with app.run_test(size=(200, 30)) as pilot:
            for _ in range(400):  # the walk done: no request in flight spends a pull
                status = app.store["hub"].status
                if status.fetched_at is not None and not status.loading:
                    break
                await pilot.pause(0.05)
            await settle(pilot)
            fleet = screen_text(app)
            pulls_left_at_fleet = hub.pulls_left  # opening the registry may spend more
            app.open_registry("hub")
            await settle(pilot)
            registry = screen_text(app)
        assert hub.violations == [] and nexus.violations == []
    hub_line = next(line for line in fleet.splitlines() if "│hub " in line)
    assert f"pulls {pulls_left_at_fleet}/100 per 6h" in hub_line
    nexus_line = next(line for line in fleet.splitlines() if "│nexus " in line)
    total = sum(nexus.blobs.sizes.values())
    assert "store default" in nexus_line and "/10.0 GiB" in nexus_line and total > 0
    assert "team-a/*: 2 from the Hub API" in registry


async def test_hub_tags_pane_and_detail_show_pull_activity(lab_factory: Callable[..., Lab],
                                                           tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           ) -> None:
    """`tag_last_pushed`, `tag_last_pulled` and `status` of the Hub's tag listing in the
    tags pane (their own columns) and on the tag detail's Pull tab."""
    lab = lab_factory()
    monkeypatch.setenv("HUB_PAT", TOKEN)
    with HubDouble(lab.url) as hub:
        hub.repos["team-a/releases"].tags["1.0.0"].pulled = "2026-11-29T08:30:00.000000Z"
        app = app_for(tmp_path, hub_registry(hub))
        async with app.run_test(size=(200, 40)) as pilot:
            app.open_registry("hub", "team-a/releases")
            await settle(pilot)
            tags = screen_text(app)
            record = next(r for r in app.store["hub"].summaries["team-a/releases"].tags
                          if r.tag == "1.0.0")
            app.open_tag("hub", record)
            await settle(pilot)
            app.screen.query_one("#detail", TabbedContent).active = "tab-pull"
            await settle(pilot)
            detail = screen_text(app)
        assert hub.violations == []
    header = next(line for line in tags.splitlines() if "TAG" in line and "DIGEST" in line)
    assert "PUSHED" in header and "PULLED" in header and "STATUS" in header
    line = next(line for line in tags.splitlines() if " 1.0.0 " in line)
    assert " active" in line and "inactive" not in line
    other = next(line for line in tags.splitlines() if " 1.0.1 " in line)
    assert "inactive" in other
    assert "Last pulled: 2026-11-29 08:30:00 UTC" in detail
    assert "Status: active" in detail and "Last pushed: 2026-11-20 10:00:00 UTC" in detail


async def test_nexus_gc_screen_says_deletes_are_soft_until_compaction(
        lab_factory: Callable[..., Lab], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The GC screen of a Nexus registry explains, before anything runs, that a deleted
    component's blobs stay until the two tasks (the second: compaction) have run; a dry run
    names both tasks and starts none."""
    lab = lab_factory()
    monkeypatch.setenv("NEXUS_PASSWORD", PASSWORD)
    with NexusDouble(lab.url) as nexus:
        app = app_for(tmp_path, RegistryConfig(
            "nexus", nexus.url, flavor="nexus", read_only=False,
            auth=AuthConfig(username="admin", password_env="NEXUS_PASSWORD")))
        async with app.run_test(size=(160, 40)) as pilot:
            app.open_registry("nexus")
            await settle(pilot)
            await pilot.press("ctrl+g")
            await settle(pilot)
            assert type(app.screen).__name__ == "GcScreen"
            before = " ".join(screen_text(app).split())  # the note wraps
            await pilot.click("#gc-dry")
            await settle(pilot)
            after = screen_text(app)
        assert nexus.violations == [] and nexus.runs == []
    assert "Nexus deletes are soft" in before
    assert '"Admin - Compact blob store" have run' in before
    assert "--delete-untagged" not in before  # distribution's warning is not Nexus's
    assert "would run Docker - Delete unused manifests and images" in after
    assert "would run Admin - Compact blob store" in after


async def test_hub_audit_log_is_a_log_source_of_the_logs_screen(
        lab_factory: Callable[..., Lab], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hub registry with no [[registries.logs]] still offers `l`: its audit log."""
    lab = lab_factory()
    monkeypatch.setenv("HUB_PAT", TOKEN)
    with HubDouble(lab.url) as hub:
        hub.audit.append({
            "account": "team-a", "action": "repo.tag.push", "name": "team-a/releases",
            "actor": USERNAME, "data": {"digest": "sha256:" + "e" * 64, "tag": "9.9.9"},
            "timestamp": "2026-11-30T08:00:00Z",
            "action_description": "pushed the tag 9.9.9 to team-a/releases"})
        app = app_for(tmp_path, hub_registry(hub))
        async with app.run_test(size=(200, 30)) as pilot:
            app.open_registry("hub")
            await settle(pilot)
            await pilot.press("l")
            text = ""
            for _ in range(50):  # the source is polled from the logs screen's thread
                await pilot.pause(0.1)
                text = screen_text(app)
                if "repo.tag.push" in text:
                    break
            screen = type(app.screen).__name__
            await pilot.press("escape")  # the logs screen's poller keeps running: no settle
            record = next(r for r in app.store["hub"].summaries["team-a/releases"].tags)
            app.open_tag("hub", record)  # the tag detail's l offers the same sources
            await pilot.pause(0.5)
            await pilot.press("l")
            from_tag_text = ""
            for _ in range(50):
                await pilot.pause(0.1)
                from_tag_text = screen_text(app)
                if "Docker Hub audit log" in from_tag_text:
                    break
            from_tag = type(app.screen).__name__
        assert hub.violations == []
    assert screen == "LogsScreen" and from_tag == "LogsScreen"
    assert "Docker Hub audit log (team-a)" in text
    assert f"repo.tag.push team-a/releases:9.9.9 by {USERNAME}" in text
    assert "Docker Hub audit log (team-a)" in from_tag_text
