"""Theme files: every colour checked, all problems reported in one notification, fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from regtui.ui import app as app_module
from regtui.ui.themes import load_theme_file, load_themes, theme_dirs
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
        assert app.theme == "textual-dark"
        notes = [n for n in app._notifications if n.title == "Theme problems"]
        assert len(notes) == 1
        assert "not-a-colour" in notes[0].message and "unknown theme 'broken'" in notes[0].message
        assert "regtui-paper" in app.available_themes
