"""Hostile strings from a registry are shown literally in every pane and break nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from regtui.config import Config, RegistryConfig
from regtui.ui.app import RegtuiApp
from regtui.ui.screens.tag import TagScreen
from tests.ui.fakes import HOSTILE, FakeData, fake_factory, fixed_clock
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HOSTILE_REGISTRY = "[b]evil[/b]"


def hostile_app(tmp_path: Path) -> RegtuiApp:
    registries = (RegistryConfig(HOSTILE_REGISTRY, "http://127.0.0.1:5000"),
                  RegistryConfig("mirror", "http://127.0.0.1:5999/[link=x]y[/link]"))
    config = Config(registries=registries, refresh_interval=3600, cache_dir=tmp_path,
                    state_dir=tmp_path)
    return RegtuiApp(config, factory=fake_factory(FakeData()), clock=fixed_clock)


def assert_safe(text: str) -> None:
    """No control character (ESC, BEL ...) reaches the terminal."""
    assert CONTROL.search(text) is None, repr(CONTROL.search(text))


async def look(pilot: Pilot[Any]) -> str:
    await settle(pilot)
    text = screen_text(pilot.app)
    assert_safe(text)
    return text


async def test_hostile_strings_are_literal_everywhere(tmp_path: Path) -> None:
    app = hostile_app(tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        fleet = await look(pilot)
        assert HOSTILE_REGISTRY in fleet
        assert "[link=x]y[/link]" in fleet  # the down registry's URL, in its error

        app.open_registry(HOSTILE_REGISTRY, "evil/hostile")
        tags = await look(pilot)
        assert "[bold red]x[/" in tags  # the repository named with markup, as a tree node
        assert "␛[2J␛]0;pwned␇title" in tags and "bell␇and␛[31mred" in tags
        assert "[link=https://evil.example]click[/link]" in tags
        assert "@click=app.quit" in tags

        await pilot.press("slash", *"[bold]", "enter")
        assert "[bold]" in await look(pilot)

        await pilot.press("escape", "home", "enter")
        await settle(pilot)
        assert isinstance(app.screen, TagScreen)
        manifest = await look(pilot)
        assert '"org.example.note": "[bold red]x[/]"' in manifest
        await pilot.press("right", "right")
        config = await look(pilot)
        assert "evil=[bold red]x[/]" in config
        assert "esc=␛[2J␛]0;pwned␇title" in config
        assert "bell␇and␛[31mred" in config and "[link=https://evil.example]click" in config
        big = next(line for line in config.splitlines() if "big=" in line)
        assert "L" * 100 in big and "L" * 10_240 not in config

        await pilot.press("colon", *HOSTILE[0], "enter")
        error = await look(pilot)
        assert f"no registry or repository named '{HOSTILE[0]}'" in error
    assert app.return_code in (None, 0)
