"""Every key binding of every screen and widget is listed by `?` and remappable by id."""

from __future__ import annotations

from textual.binding import Binding

from regtui.ui.app import RegtuiApp
from regtui.ui.bindings import ALIASES, ID_STYLE, binding_groups, binding_ids, ui_classes
from regtui.ui.screens.help import HelpScreen
from tests.ui.conftest import AppMaker
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle


def every_binding() -> list[tuple[str, object]]:
    """Independently of the registry: each regtui.ui class's own BINDINGS."""
    return [(cls.__qualname__, b) for cls in ui_classes(RegtuiApp)
            for b in cls.__dict__.get("BINDINGS", ())]


def test_every_binding_has_an_id_in_the_one_style() -> None:
    found = every_binding()
    assert len(found) > 60
    for owner, binding in found:
        assert isinstance(binding, Binding), f"{owner}: {binding!r} is not a Binding"
        assert binding.id and ID_STYLE.match(binding.id), f"{owner}: id {binding.id!r}"
    ids = [b.id for _, b in found if isinstance(b, Binding)]
    duplicated = {i for i in ids if ids.count(i) > 1}
    assert not duplicated


def test_the_classes_that_were_missing_are_found() -> None:
    ids = binding_ids(binding_groups(RegtuiApp))
    assert {"logs.up", "logs.end", "confirm.cancel", "gc.cancel", "leave.stay"} <= ids


async def test_help_lists_and_keymap_accepts_every_id(make_app: AppMaker) -> None:
    ids = sorted(binding_ids(binding_groups(RegtuiApp)))
    app = make_app(keymap={i: "f12" for i in ids})
    async with app.run_test(size=(160, 400)) as pilot:
        await settle(pilot)
        assert not [n for n in app._notifications if "unknown" in str(n.message)]
        app.action_help()
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        missing = [i for i in ids if f"[{i}]" not in text]
        assert not missing


async def test_old_ids_still_work_with_a_notice(make_app: AppMaker) -> None:
    assert ALIASES["filter"] == "screen.filter"
    app = make_app(keymap={"filter": "f"})
    async with app.run_test() as pilot:
        await settle(pilot)
        assert any("filter -> screen.filter" in str(n.message) for n in app._notifications)
        await pilot.press("f")
        assert app.screen.query_one("#filter-bar").has_focus


async def test_palette_entries_are_the_screens_active_bindings(make_app: AppMaker) -> None:
    from regtui.ui.screens.registry import RegistryScreen

    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RegistryScreen)
        titles = {c.title for c in screen.context_commands()}
        for binding in RegistryScreen.BINDINGS:
            assert isinstance(binding, Binding)
            name = binding.action.partition("(")[0]
            active = bool(screen.check_action(name, ()))
            assert (binding.description in titles) is active, binding.id
        assert "Refresh" in titles  # the base screen's, too
