"""Tag detail over the fake registry, copying pull references, mouse use and folding."""

from __future__ import annotations

from textual.widgets import DataTable, TabbedContent

from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.screens.tag import TagScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests.ui.conftest import AppMaker
from tests.ui.fakes import FakeData, digest_of
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle


async def open_alpine_tag(pilot: object, app: object, tag: str) -> None:
    from regtui.ui.app import RegtuiApp

    assert isinstance(app, RegtuiApp)
    app.open_registry("lab", "library/alpine")
    await settle(pilot)  # type: ignore[arg-type]
    table = app.screen.query_one("#tags", VirtualTable)
    table.set_rows(table.rows, keep=tag)
    table.action_select()
    await settle(pilot)  # type: ignore[arg-type]


async def test_detail_tabs_layers_referrers_and_copy(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_alpine_tag(pilot, app, "3.20")
        screen = app.screen
        assert isinstance(screen, TagScreen)
        layers = screen.query_one("#layers", DataTable)
        assert layers.row_count == 3  # the config and two layers
        referrers = screen.query_one("#referrers", DataTable)
        assert referrers.row_count == 1
        assert "signature" in str(referrers.get_row_at(0)[0])
        screen.query_one(TabbedContent).active = "tab-pull"
        await settle(pilot)
        digest = digest_of("alpine-3.20")
        assert f"docker pull 127.0.0.1:5000/library/alpine@{digest}" in screen_text(app)
        await pilot.press("c")
        assert app.clipboard == "docker pull 127.0.0.1:5000/library/alpine:3.20"
        await pilot.press("d")
        assert app.clipboard == f"docker pull 127.0.0.1:5000/library/alpine@{digest}"


async def test_index_detail_lists_platforms_with_sizes(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_alpine_tag(pilot, app, "multi")
        platforms = app.screen.query_one("#platforms", DataTable)
        rows = [[str(cell) for cell in platforms.get_row_at(i)] for i in range(2)]
        assert [row[0] for row in rows] == ["linux/amd64", "linux/arm64/v8"]
        assert all(row[2].endswith("MiB") for row in rows)


async def test_a_failing_detail_load_shows_on_the_error_line(make_app: AppMaker) -> None:
    data = FakeData()
    del data.images[digest_of("alpine-3.19")]
    app = make_app(data)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_alpine_tag(pilot, app, "3.19")
        assert isinstance(app.screen, TagScreen)
        assert "404" in app.error_text and "library/alpine/manifests" in app.error_text
        assert "404" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, RegistryScreen)


async def test_mouse_click_selects_and_double_click_opens(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.click("#fleet", offset=(5, 3))  # border, header, lab, mirror
        assert app.screen.query_one("#fleet", VirtualTable).current_key == "mirror"
        await pilot.click("#fleet", offset=(5, 2), times=2)
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen) and app.screen.registry == "lab"


async def test_namespaces_fold_and_the_tree_flattens(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab")
        await settle(pilot)
        repos = app.screen.query_one("#repos", VirtualTable)
        before = [row.key for row in repos.rows]
        assert before[0] == "ns:a.b" and "a.b/c-d/e_f/g" in before
        await pilot.press("home", "space")
        assert [row.key for row in repos.rows][:2] == ["ns:a.b", "ns:evil"]
        await pilot.press("t")
        flat = [row.key for row in repos.rows]
        assert not any(key.startswith("ns:") for key in flat) and len(flat) == 5


async def test_tabs_of_a_failed_load_say_not_read(make_app: AppMaker) -> None:
    data = FakeData()
    del data.images[digest_of("alpine-3.19")]
    app = make_app(data)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_alpine_tag(pilot, app, "3.19")
        screen = app.screen
        assert isinstance(screen, TagScreen)
        screen.query_one(TabbedContent).active = "tab-referrers"
        await settle(pilot)
        text = screen_text(app)
        assert "not read: the load failed" in text and "loading" not in text
