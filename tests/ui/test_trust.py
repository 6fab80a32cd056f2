"""Issue 13 over the fixed fake registry: keys typed in a burst land where they were aimed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events

from regtui.ui.app import RegtuiApp
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests.ui.conftest import AppMaker
from tests.ui.screen_text import screen_text
from tests.ui.test_snapshots import settle


def burst(app: RegtuiApp, keys: str) -> None:
    """Post every key at once, as a pty delivers a paste or a slow link's backlog."""
    names = {"/": "slash", ":": "colon", "\r": "enter", "-": "minus", ".": "full_stop"}
    for char in keys:
        key = names.get(char, char)
        app.post_message(events.Key(key, None if key == "enter" else char))


async def test_burst_after_slash_lands_in_the_filter(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        app.screen.query_one("#tags", VirtualTable).focus()
        await pilot.pause()
        burst(app, "/1.1")
        await settle(pilot)
        assert app.screen.query_one("#filter-bar").value == "1.1"  # type: ignore[attr-defined]
        keys = [row.key for row in app.screen.query_one("#tags", VirtualTable).rows]
        assert keys == ["1.11", "1.10", "1.1"]


async def test_burst_after_colon_jumps_without_running_hotkeys(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "library/alpine")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RegistryScreen)
        tree = screen.tree_mode
        burst(app, ":lab/team/app\r")
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        assert (app.screen.registry, app.screen.repository) == ("lab", "team/app")
        assert app.screen.tree_mode == tree  # `t` did not run as a hotkey
        assert "no registry or repository" not in app.error_text


def test_every_screen_has_the_worker_error_funnel() -> None:
    from textual.screen import ModalScreen, Screen

    from regtui.ui.bindings import _import_all, _subclasses
    from regtui.ui.screens.funnel import FunnelScreen

    _import_all()
    screens = [c for c in _subclasses(Screen) if c.__module__.startswith("regtui.ui.")
               and not issubclass(c, ModalScreen) and c is not FunnelScreen]
    assert len(screens) >= 8
    assert [c.__name__ for c in screens if not issubclass(c, FunnelScreen)] == []


async def test_a_failing_storage_read_is_shown_not_loading_forever(tmp_path: Path) -> None:
    """A real connection to a port nobody listens on: the read fails like a dead host."""
    from regtui.config import Config, RegistryConfig
    from regtui.services.inventory import open_registry
    from regtui.ui.screens.storage import StorageScreen

    registry = RegistryConfig("dead", "http://127.0.0.1:9")
    config = Config(registries=(registry,), cache_dir=tmp_path, state_dir=tmp_path)
    service = open_registry(registry, config, read_only=True)
    app = RegtuiApp(config, factory=lambda _: service)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()  # settle() would re-raise the refresh failing too
        app.push_screen(StorageScreen(service, None))
        for _ in range(200):  # settle() would re-raise the worker's failure
            await pilot.pause(0.05)
            progress = str(app.screen.query_one("#storage-progress").render())
            if "failed" in progress:
                break
        assert "failed" in progress and "reading the registry…" not in progress
        assert any("failed" in str(n.title) for n in app._notifications)


def read_only_app(tmp_path: Path, *, lab: bool | None, everywhere: bool = False) -> RegtuiApp:
    from dataclasses import replace

    from tests.ui.fakes import fake_config, fake_factory, fixed_clock

    config = fake_config(tmp_path)
    registries = (replace(config.registries[0], read_only=lab), config.registries[1])
    return RegtuiApp(replace(config, registries=registries, read_only=everywhere),
                     factory=fake_factory(), clock=fixed_clock)


async def test_fleet_title_shows_each_registrys_mode(tmp_path: Path) -> None:
    for lab, everywhere, expected in ((True, False, "read-only: lab"),
                                      (None, True, "all read-only"),
                                      (False, True, "read-only: mirror"),
                                      (None, False, "read-write allowed")):
        app = read_only_app(tmp_path, lab=lab, everywhere=everywhere)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause(0.2)
            title = str(app.screen.query_one("#title").render())
            assert expected in title, (lab, everywhere, title)


async def test_a_refused_key_says_why(tmp_path: Path) -> None:
    app = read_only_app(tmp_path, lab=True)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await pilot.pause(0.3)
        app.screen.query_one("#tags", VirtualTable).focus()
        await pilot.pause()
        await pilot.press("ctrl+d")
        await pilot.pause()
        messages = [str(n.message) for n in app._notifications]
        assert any("read-only: deleting is disabled for lab (read_only = true for lab)" in m
                   for m in messages), messages
        assert "read-only" in str(app.screen.query_one("#title").render())


async def test_errors_go_away_when_their_source_succeeds_or_is_left(
        make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        down = app.error_text  # the `mirror` registry is down: that stays true
        app.screen.query_one("#tags", VirtualTable).focus()
        await pilot.press("slash", *"~[")
        await pilot.pause()
        assert "bad regular expression" in app.error_text
        await pilot.press("backspace", *"1")
        await pilot.pause()
        assert "bad regular expression" not in app.error_text  # fixed a moment later
        await pilot.press("escape")
        await pilot.press("colon", *"nosuch/repo", "enter")
        await pilot.pause()
        assert "no registry or repository named 'nosuch/repo'" in app.error_text
        await pilot.press("escape")  # back to the fleet: the failed jump is left behind
        await pilot.pause()
        assert "nosuch" not in app.error_text
        assert app.error_text == down


async def test_q_goes_back_and_quits_only_from_the_fleet(make_app: AppMaker) -> None:
    from regtui.ui.screens.fleet import FleetScreen

    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_registry("lab", "team/app")
        await settle(pilot)
        await pilot.press("enter")  # the tag detail
        await settle(pilot)
        depth = len(app.screen_stack)
        await pilot.press("q")
        await pilot.pause()
        assert len(app.screen_stack) == depth - 1 and isinstance(app.screen, RegistryScreen)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen) and app.is_running
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


class CountingFactory:
    """The fake registries, counting how often the down one (`mirror`) is tried."""

    def __init__(self) -> None:
        from tests.ui.fakes import fake_factory

        self.make = fake_factory()
        self.attempts = 0

    def __call__(self, registry: Any) -> Any:
        service = self.make(registry)
        if registry.name == "mirror":
            ping = service.ping

            async def counted() -> Any:
                self.attempts += 1
                return await ping()

            service.ping = counted  # type: ignore[method-assign]
        return service


async def test_a_down_registry_says_why_and_when_and_offers_nothing_that_needs_it(
        tmp_path: Path) -> None:
    from regtui.render.formats import countdown
    from tests.ui.fakes import fake_config, fixed_clock
    from tests.ui.screen_text import screen_text

    app = RegtuiApp(fake_config(tmp_path), factory=CountingFactory(), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        wait = app.retry_in("mirror")
        assert wait is not None and 3500 < wait <= 3600  # one failure: one interval
        assert "retrying in 60m" in screen_text(app)  # the fleet row, at 80 columns too
        app.open_registry("mirror")
        await settle(pilot)
        title = str(app.screen.query_one("#title").render())
        assert "loading" not in title and f"retrying in {countdown(app.retry_in('mirror') or 0)}" \
            in title, title
        assert "Delete" not in screen_text(app)  # the footer offers no key that cannot work
        screen = app.screen
        assert isinstance(screen, RegistryScreen)
        assert screen.check_action("delete_tag", ()) is False
        assert screen.check_action("storage", ()) is False
        for key in ("ctrl+d", "U"):
            await pilot.press(key)
            await pilot.pause()
        messages = [str(n.message) for n in app._notifications]
        for verb in ("deleting", "storage usage"):
            assert any(m.startswith(f"{verb} is disabled for mirror while it is unreachable: "
                                    "registry mirror at http://127.0.0.1:5999/v2/: connection "
                                    "refused, retrying in ") for m in messages), messages
    app = RegtuiApp(fake_config(tmp_path), factory=CountingFactory(), clock=fixed_clock)
    async with app.run_test(size=(200, 24)) as pilot:
        app.open_registry("mirror")
        await settle(pilot)
        title = str(app.screen.query_one("#title").render())
        assert ("mirror · http://127.0.0.1:5999 · distribution · unreachable: registry mirror at "
                "http://127.0.0.1:5999/v2/: connection refused, retrying in ") in title, title


async def test_the_countdown_is_when_the_retry_really_starts(tmp_path: Path) -> None:
    """A short interval: the retry comes when the countdown says, not a tick later.

    Times are in intervals of 1 s (not less), so a loaded CI machine still sees each step."""
    from dataclasses import replace

    from tests.ui.fakes import fake_config, fixed_clock

    factory = CountingFactory()
    config = replace(fake_config(tmp_path), refresh_interval=1.0)
    app = RegtuiApp(config, factory=factory, clock=fixed_clock)
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if factory.attempts >= 2:
                break
        # the second failure: three intervals (3 s) to wait
        assert factory.attempts == 2 and app.retries.failures("mirror") == 2
        assert (app.retry_in("mirror") or 0) > 1.5
        while (app.retry_in("mirror") or 0) > 0.3:
            assert factory.attempts == 2, "tried again before the countdown ran out"
            await pilot.pause(0.05)
        for _ in range(100):
            if factory.attempts == 3:
                break
            await pilot.pause(0.05)
        assert factory.attempts == 3, "not tried again when the countdown ran out"


def footer_text(app: RegtuiApp) -> str:
    from tests.ui.screen_text import screen_text

    return screen_text(app).splitlines()[-1]


async def test_the_footer_at_80x24_keeps_help_quit_and_delete(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        footer = footer_text(app)
        assert "? Help" in footer and "q Quit" in footer, footer
        app.open_registry("lab", "library/alpine")
        await settle(pilot)
        app.screen.query_one("#tags", VirtualTable).focus()
        await settle(pilot)
        footer = footer_text(app)
        for key in ("? Help", "q Quit", "^d Delete", "/ Filter"):
            assert key in footer, (key, footer)
        assert not footer.rstrip().endswith(("Sort", "Sort ")), "a key cut off mid-label"


def test_footer_priorities_drop_the_least_important_first() -> None:
    from textual.binding import Binding

    from regtui.ui.widgets.footer import keep_fitting, key_width

    keys = [Binding("enter", "select", "Open", id="table.select"),
            Binding("N", "sort", "Sort name", id="sort.name"),
            Binding("ctrl+d", "delete", "Delete", id="registry.delete-tag"),
            Binding("question_mark", "help", "Help", id="app.help"),
            Binding("q", "quit", "Quit", id="app.quit")]
    sized = [(b, key_width(b.key[:2], b.description)) for b in keys]
    everything = sum(width for _, width in sized)
    assert keep_fitting(sized, everything) == keys
    kept = keep_fitting(sized, everything - 1)  # one cell short: `Sort name` goes
    assert [b.id for b in kept] == ["table.select", "registry.delete-tag", "app.help",
                                    "app.quit"]
    kept = keep_fitting(sized, 20)
    assert {b.id for b in kept} <= {"app.help", "app.quit", "registry.delete-tag"}
    assert {"app.help", "app.quit"} <= {b.id for b in kept}


async def test_the_tags_pane_keeps_its_digest_column_at_80x24(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_registry("lab", "library/alpine")
        await settle(pilot)
        table = app.screen.query_one("#tags", VirtualTable)
        assert "DIGEST" in table.render_line(0).text
        row = table.current
        assert row is not None
        assert row.record.digest.removeprefix("sha256:")[:12] in table.render_line(1).text


async def test_one_digest_length_on_every_screen(make_app: AppMaker) -> None:
    """Short digests are 12 hex digits everywhere (tables, titles, tabs, dialogs); a full one
    is 64. Anything else in between is a second length on the same screen."""
    import re

    from textual.widgets import TabbedContent

    from tests.ui.screen_text import screen_text

    def lengths() -> set[int]:
        return {len(hexes) for hexes in re.findall(r"(?<![0-9a-f])[0-9a-f]{7,}(?![0-9a-f])",
                                                    screen_text(app))}

    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        app.open_registry("lab", "library/alpine")
        await settle(pilot)
        app.screen.query_one("#tags", VirtualTable).focus()
        await pilot.press("down", "down", "z")
        await settle(pilot)
        assert lengths() == {12}, screen_text(app)
        await pilot.press("up", "up", "enter")
        await settle(pilot)
        for tab in ("tab-layers", "tab-platforms", "tab-referrers", "tab-manifest"):
            app.screen.query_one(TabbedContent).active = tab
            await settle(pilot)
            assert lengths() <= {12, 64}, (tab, lengths())


async def test_the_fleet_shows_each_registrys_mode_in_its_row(tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.ui.fakes import fake_config, fake_factory, fixed_clock
    from tests.ui.screen_text import screen_text
    from tests.ui.test_snapshots_trust import mixed_modes

    config = mixed_modes(fake_config(tmp_path))
    app = RegtuiApp(replace(config, read_only=False), factory=fake_factory(), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows = {line.split()[0].strip("│"): line for line in screen_text(app).splitlines()
                if line.startswith("│") and len(line.split()) > 3}
        assert " read-only " in rows["lab"] and " writable " in rows["staging"]
        mirror = rows["mirror"]
        assert " down " in mirror and " writable " in mirror and "retrying in" in mirror


def test_narrow_cells_keep_units_suffixes_and_countdowns() -> None:
    from regtui.render import formats
    from regtui.render.fleet import RegistryStatus, failure_text
    from regtui.text import Shown, Tailed
    from regtui.ui.widgets.vtable import cut_cells

    size = formats.size(1023 * 1024 + 900)
    assert cut_cells(size, 10) == "1023.9 KiB"
    assert cut_cells(size, 8) == "1023…KiB"  # the unit stays; the cut is visible
    sig = Tailed("  └ sha256-0123456789ab….sig", tail=4)
    assert cut_cells(sig, 20) == "  └ sha256-0123….sig"
    down = RegistryStatus("mirror", "http://x", "distribution", reachable=False,
                          error="registry mirror at http://x/v2/: connection refused")
    text = failure_text(down, 42.0)
    assert text is not None and cut_cells(text, 24) == "unreacha…retrying in 42s"
    assert cut_cells(Shown("a-long-tag-name-without-a-tail"), 10) == "a-long-ta…"


async def test_the_registry_title_keeps_the_datas_age_at_80_columns(make_app: AppMaker) -> None:
    """At 80x24 the mode, name and URL fill the top line: the URL is cut, the age is not."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_registry("lab", "library/alpine")
        await settle(pilot)
        title = screen_text(app).splitlines()[0].rstrip()
        assert title.endswith(("data just now", "ago")) and "data " in title, title
