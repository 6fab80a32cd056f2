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
            await settle(pilot)
            fleet = screen_text(app)
            app.open_registry("hub")
            await settle(pilot)
            registry = screen_text(app)
        assert hub.violations == [] and nexus.violations == []
    hub_line = next(line for line in fleet.splitlines() if "│hub " in line)
    assert f"pulls {hub.pulls_left}/100 per 6h" in hub_line
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
        registries = (RegistryConfig("hub", hub.registry_url, flavor="dockerhub",
                                     api_url=hub.api_url, repositories=("team-a/*",),
                                     auth=AuthConfig(username=USERNAME, password_env="HUB_PAT")),)
        app = RegtuiApp(Config(registries=registries, refresh_interval=3600,
                               cache_dir=tmp_path / "cache", state_dir=tmp_path / "state"))
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
