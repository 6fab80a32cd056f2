"""Theme files: every colour checked, all problems reported in one notification, fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from regtui.ui import app as app_module
from regtui.ui.app import FALLBACK_THEME
from regtui.ui.themes import load_theme_file, load_themes, theme_dirs, user_theme_dir
from tests.ui.conftest import AppMaker
from tests.ui.test_snapshots import settle

GALLERY = Path(__file__).resolve().parents[2] / "themes"
BAD = """
name = "broken"
primary = "#12345"
accent = "not-a-colour"
surface = 7
shiny = true
[variables]
status-error = "rgb(300"
"""


def test_gallery_themes_all_load() -> None:
    themes, problems = load_themes([GALLERY])
    assert problems == []
    assert {"regtui-dusk", "regtui-paper", "regtui-ansi"} <= {t.name for t in themes}
    assert GALLERY.resolve() in [d.resolve() for d in theme_dirs()]


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(BAD, encoding="utf-8")
    theme, problems = load_theme_file(path)
    assert theme is None
    text = "\n".join(problems)
    for fragment in ("primary = '#12345'", "accent = 'not-a-colour'", "surface must be",
                     "unknown key 'shiny'", "variables.status-error"):
        assert fragment in text
    assert all(p.startswith(str(path)) for p in problems)


def test_unparseable_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("name = ", encoding="utf-8")
    theme, problems = load_theme_file(path)
    assert theme is None and len(problems) == 1 and str(path) in problems[0]


async def test_app_uses_configured_gallery_theme(make_app: AppMaker, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(theme="regtui-dusk")
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == "regtui-dusk"
        assert not app._notifications


async def test_bad_files_and_unknown_theme_notify_once_and_fall_back(
        make_app: AppMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad_dir = tmp_path / "themes"
    bad_dir.mkdir()
    (bad_dir / "broken.toml").write_text(BAD, encoding="utf-8")
    monkeypatch.setattr(app_module, "theme_dirs", lambda: [GALLERY, bad_dir])
    app = make_app(theme="broken")
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == FALLBACK_THEME
        notes = [n for n in app._notifications if n.title == "Theme problems"]
        assert len(notes) == 1
        assert "not-a-colour" in notes[0].message and "unknown theme 'broken'" in notes[0].message
        assert "regtui-paper" in app.available_themes


USER_THEME = """
name = "night-shift"
primary = "#88c0d0"
background = "#101010"
"""


def test_user_themes_come_from_the_config_home(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    directory = user_theme_dir()
    assert directory == tmp_path / "regtui" / "themes"
    directory.mkdir(parents=True)
    (directory / "night.toml").write_text(USER_THEME, encoding="utf-8")
    (directory / "dusk-copy.toml").write_text(
        (GALLERY / "regtui-dusk.toml").read_text(encoding="utf-8").replace("#4c9be8", "#ff0000"),
        encoding="utf-8")
    themes, problems = load_themes(theme_dirs())
    by_name = {theme.name: theme for theme in themes}
    assert problems == [] and "night-shift" in by_name
    assert by_name["regtui-dusk"].primary.lower() == "#4c9be8"  # shipped name not replaced


async def test_broken_user_theme_is_named_once_and_default_used(
        make_app: AppMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    user_theme_dir().mkdir(parents=True)
    (user_theme_dir() / "broken.toml").write_text(BAD, encoding="utf-8")
    app = make_app(theme="broken")
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == FALLBACK_THEME == "regtui-dusk"
        notes = [n for n in app._notifications if n.title == "Theme problems"]
        assert len(notes) == 1 and "broken.toml: accent = 'not-a-colour'" in notes[0].message


async def test_registry_theme_while_its_screens_are_shown(make_app: AppMaker) -> None:
    app = make_app(theme="regtui-dusk", lab_theme="regtui-paper")
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == "regtui-dusk"
        app.open_registry("lab")
        await settle(pilot)
        assert app.theme == "regtui-paper"
        app.open_registry("mirror")
        await settle(pilot)
        assert app.theme == "regtui-dusk"
        app.open_registry("lab")
        await settle(pilot)
        app.pop_screen()
        await settle(pilot)
        assert app.theme == "regtui-dusk"


async def test_severity_variables_exist_in_every_theme(make_app: AppMaker) -> None:
    app = make_app(theme="textual-dark")
    async with app.run_test() as pilot:
        await settle(pilot)
        for name in ["textual-dark", "regtui-dusk", "regtui-paper", "regtui-contrast",
                     "regtui-ansi"]:
            app.theme = name
            await pilot.pause()
            variables = app.theme_variables
            assert {"severity-critical", "severity-low", "border-blurred"} <= set(variables)


async def test_palette_offers_every_shipped_theme(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Theme" in titles
        assert {"regtui-dusk", "regtui-paper", "regtui-contrast", "regtui-ansi"} <= set(
            app.available_themes)
