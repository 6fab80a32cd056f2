"""Fleet snapshots with a Docker Hub registry (pull-limit gauge) and a Nexus registry (blob
store usage), at 80x24 and 160x48, over fixed fake data and a fixed clock.

The numbers come from `Health` objects as the Hub and Nexus backends build them (their
construction is tested against the doubles in tests/test_dockerhub.py and test_nexus.py);
these snapshots pin how the fleet shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from regtui.config import Config, RegistryConfig
from regtui.registry.models import Gauge, Health
from regtui.ui.app import RegtuiApp
from tests.ui.fakes import FakeData, FakeService, fixed_clock
from tests.ui.test_snapshots import SIZES, settle

Snap = Callable[..., bool]
HEALTH = {
    "hub": Health((Gauge("pulls", 8, 100, detail="per 6h", warn=True),
                   Gauge("manifest GETs", 0, None)),
                  ("repositories: myorg/*: 3 from the Hub API (/v2/namespaces/myorg/"
                   "repositories)",)),
    "nexus": Health((Gauge("store default", 3_221_225_472, 10_737_418_240, unit="bytes",
                           detail="3,021 blobs"),),
                    ("deletes are soft until the compact blob store task runs",)),
}


class FlavorService(FakeService):
    """The fake registry, with the health a Hub or Nexus backend reports."""

    def health(self) -> Health:
        return HEALTH.get(self.name, Health())


def flavor_app(tmp_path: Path) -> RegtuiApp:
    registries = (
        RegistryConfig("lab", "http://127.0.0.1:5000"),
        RegistryConfig("hub", "https://registry-1.docker.io", flavor="dockerhub",
                       repositories=("myorg/*",)),
        RegistryConfig("nexus", "https://nexus.example.com", flavor="nexus",
                       alias="nexus-prod"),
    )
    config = Config(registries=registries, refresh_interval=3600, cache_dir=tmp_path / "cache",
                    state_dir=tmp_path / "state")
    shared = FakeData()
    return RegtuiApp(config, factory=lambda reg: FlavorService(reg, shared), clock=fixed_clock)


async def at_fleet(pilot: Pilot[Any]) -> None:
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fleet_with_hub_and_nexus(size: tuple[int, int], snap_compare: Snap,
                                  tmp_path: Path) -> None:
    assert snap_compare(flavor_app(tmp_path), terminal_size=size, run_before=at_fleet)
