"""UI fixtures: an app over the fixed fake data with a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from regtui.ui.app import RegtuiApp
from tests.ui.fakes import FakeData, fake_config, fake_factory, fixed_clock

AppMaker = Callable[..., RegtuiApp]


@pytest.fixture
def make_app(tmp_path: Path) -> AppMaker:
    """Build a `RegtuiApp` over the fake registries; keywords go to `fake_config`."""

    def make(data: FakeData | None = None, **config: object) -> RegtuiApp:
        return RegtuiApp(fake_config(tmp_path, **config),  # type: ignore[arg-type]
                         factory=fake_factory(data), clock=fixed_clock)

    return make
