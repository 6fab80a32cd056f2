"""The logs screen on a bare App: real files, real commands, the real registry's log."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.app import App
from textual.pilot import Pilot

from regtui.config import LogSourceConfig, RegistryConfig
from regtui.lab import Lab
from regtui.registry.push import sha256_digest, upload_url
from regtui.registry.transport import build_client
from regtui.services.logs import CommandSource, FileSource
from regtui.ui.screens.logs import LogsScreen, RepositorySelected
from regtui.ui.widgets.log_view import OWN_MARK, LogView

LabFactory = Callable[..., Lab]
FIXED_NOW = datetime(2026, 11, 23, 13, 50, tzinfo=UTC)
SIZE = (120, 24)


def fixed_clock() -> datetime:
    return FIXED_NOW


def json_line(n: int, status: int = 200, repo: str = "team-a/app", level: str = "info",
              msg: str = "response completed") -> str:
    return (f'{{"http.request.method":"GET","http.request.uri":"/v2/{repo}/manifests/v{n}",'
            f'"http.response.duration":"{n % 9 + 1}.25ms","http.response.status":{status},'
            f'"level":"{level}","msg":"{msg}","time":"2026-11-23T13:4{n % 10}:0{n % 6}.5Z",'
            f'"vars.name":"{repo}"}}')


SAMPLE = [
    json_line(1),
    '127.0.0.1 - - [23/Nov/2026:13:41:01 +0000] "PUT /v2/team-b/db/manifests/1 HTTP/1.1" 201 0 '
    '"" "x"',
    json_line(2, status=404, repo="nope", level="error", msg="response completed with error"),
    '{"level":"warning","msg":"[bold red]x[/] \\u001b[31m red \\u0007 bell",'
    '"time":"2026-11-23T13:42:00Z"}',
    "plain text line with [link=http://evil]markup[/link]",
    json_line(3, status=500, repo="team-b/db", level="error", msg="response completed with error"),
    '2024-01-02T03:04:05Z [ERROR] [/core/main.go:42]: GET /v2/library/nginx/manifests/1 failed',
]


class Host(App[None]):
    """Any App: the screen must bring its own styles and need nothing from regtui's app."""

    def __init__(self, screen: LogsScreen) -> None:
        super().__init__()
        self.logs_screen = screen
        self.result: object = "not dismissed"
        self.selected: list[str] = []

    def on_mount(self) -> None:
        self.push_screen(self.logs_screen, callback=self._done)

    def _done(self, result: str | None) -> None:
        self.result = result

    def on_repository_selected(self, message: RepositorySelected) -> None:
        self.selected.append(message.repository)


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the screen's follow thread deliver (it polls every 50 ms here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        if condition():
            return
    raise AssertionError(f"condition not met within {timeout}s")


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def file_config(path: Path) -> LogSourceConfig:
    return LogSourceConfig(type="file", path=path, name="registry.log")


def screen_for(*sources: LogSourceConfig | FileSource | CommandSource, **kwargs: Any) -> LogsScreen:
    return LogsScreen(list(sources), clock=fixed_clock, poll_interval=0.05, **kwargs)


def view_of(app: Host) -> LogView:
    return app.logs_screen.query_one(LogView)


def text_of(app: Host) -> str:
    return "\n".join(view_of(app).visible_text())


async def test_parsed_columns_and_hostile_text_shown_literally(tmp_path: Path) -> None:
    app = Host(screen_for(file_config(write_log(tmp_path / "r.log", SAMPLE))))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: view_of(app).count == len(SAMPLE))
        lines = view_of(app).visible_text()
        assert lines[0].split()[:6] == ["13:41:01.500", "INFO", "GET", "200", "team-a/app",
                                        "2.2ms"]
        put = lines[1].split()
        assert put[1:5] == ["INFO", "PUT", "201", "team-b/db"]
        assert lines[2].split()[1:5] == ["ERROR", "GET", "404", "nope"]
        assert "[bold red]x[/] ␛[31m red ␇ bell" in lines[3]
        assert "plain text line with [link=http://evil]markup[/link]" in lines[4]
        assert "library/nginx" in lines[6] and "ERROR" in lines[6]
        assert "following" in app.logs_screen.status_parts()
        assert "7 lines" in app.logs_screen.status_parts()


async def test_follow_pause_counter_and_jump_to_end(tmp_path: Path) -> None:
    path = write_log(tmp_path / "r.log", [json_line(n) for n in range(40)])
    app = Host(screen_for(file_config(path)))
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        await until(pilot, lambda: view.count == 40)
        assert "/v2/team-a/app/manifests/v39" in text_of(app)
        await pilot.press("f")
        top_before = view.visible_text()[0]
        with open(path, "a") as out:
            out.write("".join(json_line(n) + "\n" for n in range(40, 45)))
        await until(pilot, lambda: view.count == 45)
        assert view.visible_text()[0] == top_before  # paused: the view does not move
        assert "paused +5 new" in app.logs_screen.status_parts()
        assert "manifests/v44" not in text_of(app)
        await pilot.press("G")
        await pilot.pause()
        assert "following" in app.logs_screen.status_parts()
        assert "/v2/team-a/app/manifests/v44" in view.visible_text()[-1]


async def test_filters_find_every_match_and_n_jumps(tmp_path: Path) -> None:
    lines = [json_line(n, status=503 if n % 50 == 7 else 200) for n in range(2000)]
    app = Host(screen_for(file_config(write_log(tmp_path / "r.log", lines))))
    async with app.run_test(size=SIZE) as pilot:
        screen, view = app.logs_screen, view_of(app)
        await until(pilot, lambda: view.count == 2000)
        await pilot.press("x", "x", "x")  # all -> 4xx/5xx -> 4xx -> 5xx
        await until(pilot, lambda: screen.view is not None)
        assert screen.view is not None
        assert list(screen.view.matches) == [n for n in range(2000) if n % 50 == 7]
        assert "40 matches" in screen.status_parts() and "5xx" in screen.status_parts()
        await pilot.press("g", "n")
        assert view.line_of(view.cursor) == 57
        await pilot.press("N")
        assert view.line_of(view.cursor) == 7
        await pilot.press("plus", "plus")
        assert screen.view.context == 2 and view.count == 40 * 5
        # a text filter through the bar, combined with the status filter
        await pilot.press("slash", *"v1957", "enter")
        await until(pilot, lambda: screen.view is not None and len(screen.view.matches) == 1)
        assert "1 match" in screen.status_parts()


async def test_new_lines_are_filtered_as_they_arrive(tmp_path: Path) -> None:
    path = write_log(tmp_path / "r.log", [json_line(n) for n in range(10)])
    app = Host(screen_for(file_config(path)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.logs_screen
        await until(pilot, lambda: view_of(app).count == 10)
        await pilot.press("e", "e")  # errors and worse
        await until(pilot, lambda: screen.view is not None)
        with open(path, "a") as out:
            out.write(json_line(11, status=500, level="error") + "\n" + json_line(12) + "\n")
        await until(pilot, lambda: screen.view is not None and len(screen.view.matches) == 1)
        assert screen.view is not None and list(screen.view.matches) == [10]
        assert "manifests/v11" in text_of(app)


async def test_repository_filter_from_caller_and_enter_jumps(tmp_path: Path) -> None:
    app = Host(screen_for(file_config(write_log(tmp_path / "r.log", SAMPLE)),
                          repository_filter="team-b/db"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.logs_screen
        await until(pilot, lambda: screen.view is not None and len(screen.view.matches) == 2)
        assert all("team-b/db" in line for line in view_of(app).visible_text())
        await pilot.press("enter")
        await pilot.pause()
        assert app.result == "team-b/db"
        assert app.selected == ["team-b/db"]


async def test_wrap_and_timestamps_toggles(tmp_path: Path) -> None:
    long = json_line(1, msg="x" * 300)
    app = Host(screen_for(file_config(write_log(tmp_path / "r.log", [long]))))
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        await until(pilot, lambda: view.count == 1)
        assert len(view.visible_lines()) == 1
        await pilot.press("w")
        assert len(view.visible_lines()) >= 3
        assert "".join(view.visible_text()).count("x") == 300
        await pilot.press("t")
        assert "13:41:01" not in text_of(app)


async def test_save_filtered_view(tmp_path: Path) -> None:
    lines = [json_line(n, status=404 if n % 3 == 0 else 200) for n in range(30)]
    app = Host(screen_for(file_config(write_log(tmp_path / "r.log", lines)),
                          save_dir=tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.logs_screen
        await until(pilot, lambda: view_of(app).count == 30)
        await pilot.press("x", "x")  # 4xx
        await until(pilot, lambda: screen.view is not None)
        await pilot.press("ctrl+s")
        await pilot.pause()
        target = tmp_path / "regtui-logs-registry.log-20261123T135000.log"
        assert screen.query_one("#logs-save").value == str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: target.exists() and target.read_text().count("\n") == 10)
        assert target.read_text().splitlines() == [lines[n] for n in range(0, 30, 3)]


async def test_failing_command_reported_and_restarted() -> None:
    config = LogSourceConfig(type="command", command="echo started; exit 4", name="cmd")
    app = Host(screen_for(config))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.logs_screen
        await until(pilot, lambda: screen.source is not None and screen.source.state.stopped)
        await pilot.pause()
        status = " · ".join(screen.status_parts())
        assert "exited with status 4: started (R restarts)" in status
        await pilot.press("R")
        await until(pilot, lambda: view_of(app).count == 2)
        assert view_of(app).visible_text()[-1].strip().endswith("started")


async def test_screen_stops_its_command_when_closed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    loop = f"echo $$ > {pid_file}; while true; do echo x; sleep 0.1; done"
    config = LogSourceConfig(type="command", name="loop", command=loop)
    app = Host(screen_for(config))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: view_of(app).count >= 2)
        await pilot.press("escape")
        await pilot.pause()
        assert app.result is None
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists() or \
        Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


async def test_big_file_last_screen_before_indexing_finishes(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    with open(path, "w") as out:
        chunk = "".join(json_line(n, status=503 if n == 5 else 200) + "\n" for n in range(10_000))
        for _ in range(60):  # ~140 MB
            out.write(chunk)
        out.write(json_line(99_999, repo="the/end") + "\n")
    app = Host(screen_for(file_config(path)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.logs_screen
        started = time.monotonic()
        await until(pilot, lambda: "the/end" in text_of(app), timeout=10)
        shown_after = time.monotonic() - started
        assert shown_after < 2.0, f"last screen took {shown_after:.2f}s"
        await pilot.press("x", "x", "x")  # 5xx, most likely before the head is indexed
        await until(pilot, lambda: len(screen.sources[0].index) == 600_001, timeout=60)
        # the filter is run again over the whole file once the head is in
        await until(pilot, lambda: screen.view is not None and len(screen.view.matches) == 60,
                    timeout=30)
        assert screen.view is not None
        assert list(screen.view.matches) == [chunk * 10_000 + 5 for chunk in range(60)]


@pytest.mark.lab
async def test_real_registry_requests_appear_within_two_seconds(lab_factory: LabFactory) -> None:
    lab = lab_factory()
    app = Host(screen_for(LogSourceConfig(type="file", path=lab.log_file)))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: view_of(app).count > 0)
        started = time.monotonic()
        await _push_pull_fail(lab.url, "logs-ui/app")
        await until(pilot, lambda: _shows_all(view_of(app).visible_text()), timeout=2.0)
        assert time.monotonic() - started < 2.5


def _shows_all(lines: list[str]) -> bool:
    ours = [line.split() for line in lines if "logs-ui/app" in line]
    seen = {(parts[2], parts[3]) for parts in ours if len(parts) > 4}
    return {("PUT", "201"), ("GET", "200")} <= seen and any(
        parts[2] == "PUT" and parts[3] in ("400", "500") for parts in ours if len(parts) > 4)


async def _push_pull_fail(base: str, repo: str) -> None:
    data = b"logs-ui-blob"
    digest = sha256_digest(data)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        started = await client.post(f"/v2/{repo}/blobs/uploads/")
        done = await client.put(upload_url(base, started.headers["Location"], digest),
                                content=data)
        assert done.status_code == 201
        assert (await client.get(f"/v2/{repo}/blobs/{digest}")).status_code == 200
        refused = await client.put(f"/v2/{repo}/manifests/broken", content=b"{}",
                                   headers={"Content-Type":
                                            "application/vnd.oci.image.manifest.v1+json"})
        assert refused.status_code >= 400


SnapCompare = Callable[..., bool]


def test_logs_screen_snapshot(tmp_path: Path, snap_compare: SnapCompare) -> None:
    path = write_log(tmp_path / "r.log", SAMPLE)

    async def loaded(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: view_of(pilot.app).count == len(SAMPLE))  # type: ignore[arg-type]
        await pilot.press("k")  # a cursor in the middle, paused

    assert snap_compare(Host(screen_for(file_config(path))), terminal_size=SIZE,
                        run_before=loaded)



async def test_time_windows(tmp_path: Path) -> None:
    times = ["13:30:00", "13:40:00", "13:46:00", "13:49:30"]
    lines = [f'{{"level":"info","msg":"at {t}","time":"2026-11-23T{t}Z"}}' for t in times]
    app = Host(screen_for(file_config(write_log(tmp_path / "r.log", lines))))
    async with app.run_test(size=SIZE) as pilot:
        screen, view = app.logs_screen, view_of(app)
        await until(pilot, lambda: view.count == 4)
        for key, expected in (("1", times[2:]), ("2", times[1:]), ("3", times), ("1", times[2:])):
            await pilot.press(key)
            await until(pilot, lambda: not screen.filtering)
            shown = [line.split("at ")[-1].strip() for line in view.visible_text()]
            assert shown == expected, key
        await pilot.press("0")
        await until(pilot, lambda: screen.view is None and view.count == 4)


async def test_switching_between_sources(tmp_path: Path) -> None:
    first = write_log(tmp_path / "a.log", ["alpha one", "alpha two"])
    second = write_log(tmp_path / "b.log", ["beta one"])
    app = Host(screen_for(LogSourceConfig(type="file", path=first, name="a"),
                          LogSourceConfig(type="file", path=second, name="b")))
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        await until(pilot, lambda: view.count == 2)
        assert "alpha two" in text_of(app)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: view.count == 1 and "beta one" in text_of(app))
        assert "Logs · b" in str(app.logs_screen.query_one("#logs-title").render())
        await pilot.press("slash", *"two", "enter")
        await until(pilot, lambda: app.logs_screen.view is not None)
        assert view.count == 0 and "0 matches" in app.logs_screen.status_parts()
        await pilot.press("left_square_bracket")  # the filter follows to the other source
        await until(pilot, lambda: view.count == 1 and "alpha two" in text_of(app))
        assert "1 match" in app.logs_screen.status_parts()


async def test_opens_on_the_regtui_app(tmp_path: Path, make_app: Callable[..., App[Any]]) -> None:
    """On the real app, with its stylesheet: lines show and escape comes back."""
    app = make_app()
    path = write_log(tmp_path / "r.log", SAMPLE)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        before = app.screen
        results: list[str | None] = []
        screen = screen_for(file_config(path))
        app.push_screen(screen, callback=results.append)
        await until(pilot, lambda: screen.query_one(LogView).count == len(SAMPLE))
        assert "team-b/db" in "\n".join(screen.query_one(LogView).visible_text())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is before and results == [None]


async def test_text_filter_matches_are_marked(tmp_path: Path) -> None:
    app = Host(screen_for(file_config(write_log(tmp_path / "r.log", SAMPLE))))
    async with app.run_test(size=SIZE) as pilot:
        screen, view = app.logs_screen, view_of(app)
        await until(pilot, lambda: view.count == len(SAMPLE))
        await pilot.press("slash", *"NGINX", "enter")
        await until(pilot, lambda: screen.view is not None)
        (line,) = view.visible_lines()
        assert ("nginx", "logview--match") in line.cells  # case-insensitive, original case
        await pilot.press("slash", "ctrl+u", *"!nginx", "enter")
        await until(pilot, lambda: view.count == len(SAMPLE) - 1)
        assert all(c != "logview--match" for line in view.visible_lines() for _, c in line.cells)


def test_filtered_snapshot_with_context(tmp_path: Path, snap_compare: SnapCompare) -> None:
    lines = [json_line(n, status=500 if n in (4, 12) else 200, repo=f"team-{n % 3}/app")
             for n in range(20)]
    path = write_log(tmp_path / "r.log", lines)

    async def filtered(pilot: Pilot[Any]) -> None:
        app: Host = pilot.app  # type: ignore[assignment]
        await until(pilot, lambda: view_of(app).count == 20)
        await pilot.press("x", "x", "x", "plus", "slash", *"manifests/v1", "enter")
        await until(pilot, lambda: app.logs_screen.view is not None
                    and len(app.logs_screen.view.matches) == 1)
        await pilot.press("g")

    assert snap_compare(Host(screen_for(file_config(path))), terminal_size=SIZE,
                        run_before=filtered)


@pytest.mark.lab
async def test_regtui_requests_marked_and_hidden_with_o(lab_factory: LabFactory) -> None:
    """regtui's own probes (its real transport) are marked; `o` hides them, so a filter for
    warnings and worse shows only the other client's failure."""
    lab = lab_factory()
    app = Host(screen_for(LogSourceConfig(type="file", path=lab.log_file)))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: view_of(app).count > 0)
        registry = RegistryConfig("lab", lab.url)
        client = build_client(name="lab", url=lab.url, host=registry.host, read_only=True)
        try:
            assert (await client.get("/v2/own-ui/manifests/nosuch")).status_code == 404
        finally:
            await client.aclose()
        async with httpx.AsyncClient(base_url=lab.url, timeout=10) as other:
            assert (await other.get("/v2/other-ui/manifests/nosuch")).status_code == 404

        def lines_of(repo: str) -> list[str]:
            return [line for line in view_of(app).visible_text() if repo in line]

        await until(pilot, lambda: len(lines_of("own-ui")) == 2 and len(lines_of("other-ui")) == 2)
        assert all(OWN_MARK in line for line in lines_of("own-ui"))
        assert not any(OWN_MARK in line for line in lines_of("other-ui"))
        await pilot.press("e")  # warnings and worse
        await pilot.press("o")
        await until(pilot, lambda: not app.logs_screen.filtering)
        assert "regtui's own requests hidden" in app.logs_screen.status_parts()
        assert lines_of("own-ui") == [] and len(lines_of("other-ui")) == 2
        await pilot.press("o")
        await until(pilot, lambda: not app.logs_screen.filtering and len(lines_of("own-ui")) == 2)
        assert "regtui's own requests hidden" not in app.logs_screen.status_parts()
