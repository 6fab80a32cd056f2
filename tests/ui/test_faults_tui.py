"""The dashboard against the real registry behind the fault proxy: what the screen shows.

A tag the registry lists but regtui could not read stays a row carrying its error and is
counted in the fleet's error column, with the same line `regtui inventory` prints; `r`
replaces a refresh stuck on a request that never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.worker import WorkerFailed

from regtui.config import RegistryConfig, load_config
from regtui.lab import Lab, start_lab
from regtui.redact import REDACTED
from regtui.render.tags import TagRow, tag_cells
from regtui.text import Untrusted as U
from regtui.ui.app import RegtuiApp
from regtui.ui.data import Store
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.widgets.vtable import VirtualTable
from tests import faultproxy as fp
from tests.doubles.challenge_proxy import ChallengeProxy, self_signed
from tests.faultproxy import FaultProxy
from tests.test_faults import cli, on
from tests.test_realm import write_config
from tests.ui.screen_text import flat, screen_text
from tests.ui.test_snapshots import settle

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def small_lab() -> Iterator[Lab]:
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture
def proxy(small_lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy(small_lab.url) as started:
        yield started


def proxied_app(proxy: FaultProxy, tmp_path: Path, tables: str = "", /,
                **settings: object) -> RegtuiApp:
    """The app on the proxy; `tables` are sub-tables of the registry (`[registries.auth]`)."""
    values = {"timeout": 10.0, "deadline": 30.0, "retries": 1, **settings}
    path = tmp_path / "tui.toml"
    path.write_text("[[registries]]\nname = \"lab\"\n" f"url = \"{proxy.url}\"\n"
                    + "".join(f"{key} = {value}\n" for key, value in values.items()) + tables)
    return RegtuiApp(load_config(path), read_only=True)


def tags_of(pilot: Pilot[Any]) -> list[TagRow]:
    return list(pilot.app.screen.query_one("#tags", VirtualTable).rows)


async def test_an_unreadable_tag_is_a_row_with_its_error_and_counted(
        proxy: FaultProxy, tmp_path: Path) -> None:
    # A cold walk reads a tag with one GET, a warm one with a HEAD first: fail both.
    failing = fp.error_status(500, "disk on fire")
    head, get = (on(method, "/v2/app/manifests/1.2.2", failing) for method in ("HEAD", "GET"))
    proxy.reset(lambda request, seen: head(request, seen) or get(request, seen))
    cli_run = cli(proxy, tmp_path, retries=1, timeout=10.0, deadline=30.0)
    [cli_line] = [line for line in cli_run.errors if "1.2.2" in line]

    app = proxied_app(proxy, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        status = app.store["lab"].status
        errors = [t.error for s in app.store["lab"].summaries.values() for t in s.tags if t.error]
        assert status.tag_errors == 1, errors[:3]
        assert "1 tag could not be read" in screen_text(app)

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        await pilot.press("colon", *"lab/app", "enter")
        await settle(pilot)
        rows = {row.key: row for row in tags_of(pilot)}
        assert {"1.2.2", "1.2.3", "stable"} <= set(rows), "every listed tag is shown"
        broken = rows["1.2.2"].record
        assert broken.unreadable
        assert f"regtui: {broken.error}" == cli_line, "the same line as regtui inventory"
        assert "unreadable" in screen_text(app)
        assert broken.error in tag_cells(rows["1.2.2"], app.clock())[0]
        table = app.screen.query_one("#tags", VirtualTable)
        table.focus()
        await pilot.press("G")  # the last row, the oldest: the unreadable one (no date)
        await pilot.press("enter")
        await settle(pilot)
        assert table.rows[table.cursor].key == "1.2.2"
        assert isinstance(app.screen, RegistryScreen), "nothing to open: the error is shown"
        assert "GET /v2/app/manifests/1.2.2" in app.error_text and "HTTP 500" in app.error_text
        assert app.store["lab"].summaries["app"].tag_count == len(
            {r.tag for r in app.store["lab"].summaries["app"].tags})


async def test_r_replaces_a_refresh_stuck_on_a_request_that_never_answers(
        proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(on("GET", "/v2/_catalog", fp.never_answer))
    app = proxied_app(proxy, tmp_path, timeout=300, deadline=600)
    async with app.run_test(size=(200, 50)) as pilot:
        await asyncio.sleep(1)
        status = app.store["lab"].status
        assert status.loading and status.fetched_at is None, "stuck on the catalog"
        proxy.reset()  # the registry recovers
        await pilot.press("r")
        for _ in range(100):
            if status.fetched_at is not None:
                break
            await asyncio.sleep(0.1)
        await settle(pilot)
        assert status.fetched_at is not None and status.error == ""
        assert status.repositories is not None and status.repositories > 5


# -- every fault of the proxy, in the TUI --------------------------------------------------------
#
# One fresh app per fault (a warm app reads tags with a HEAD first, which would dodge faults
# on a GET by tag), on the module's one lab. Each: what the screen shows within a bounded
# time, that no traceback reaches it, and that `r` after the registry recovers brings
# everything back and clears the error line (so the app is still responsive).

TAGS_OF_APP = "/v2/app/tags/list"
CATALOG = "/v2/_catalog"
INDEX_TAG = "/v2/multiarch/manifests/1.0"
LIMITS = {"timeout": 2.0, "deadline": 6.0, "retries": 2, "max_names": 20_000}
BOUND = 6.0 + 15
"""Seconds a faulty first walk may take: the request deadline, and slack for a busy box."""


@dataclass(frozen=True)
class Shows:
    """What the screen shows for a fault."""

    where: str
    """`nothing` (absorbed), `line` (the registry's error line), `repository` (its tag list
    failed: the error line and the repository's tags pane), or `row` (one tag's row)."""
    needles: tuple[str, ...] = ()
    repository: str = ""
    tag: str = ""


def realm(url: str) -> fp.Fault:
    return fp.challenge(f'Bearer realm="{url}",service="lab"')


FAULTS: dict[str, tuple[fp.Rule, Shows]] = {
    "5xx": (on("GET", TAGS_OF_APP, fp.error_status(500, "boom")),
            Shows("repository", (f"GET {TAGS_OF_APP}", "HTTP 500", "boom"), "app")),
    "429-retry-after": (on("GET", CATALOG, fp.status(429, headers={"Retry-After": "1"}),
                           times=1), Shows("nothing")),
    "429-longer-than-the-deadline": (
        on("GET", CATALOG, fp.status(429, headers={"Retry-After": "3600"})),
        Shows("line", (f"GET {CATALOG}", "HTTP 429"))),
    "delay": (on("GET", TAGS_OF_APP, fp.delay(1.0)), Shows("nothing")),
    "never-answer": (on("GET", TAGS_OF_APP, fp.never_answer),
                     Shows("repository", (f"GET {TAGS_OF_APP}", "6 s deadline"), "app")),
    "drop-mid-body-once": (on("GET", TAGS_OF_APP, fp.drop_mid_body, times=1), Shows("nothing")),
    "drop-mid-body": (on("GET", TAGS_OF_APP, fp.drop_mid_body), Shows(
        "repository", (f"GET {TAGS_OF_APP}", "while reading the answer"), "app")),
    "truncate": (on("GET", TAGS_OF_APP, fp.truncate), Shows(
        "repository", (f"GET {TAGS_OF_APP}", "while reading the answer"), "app")),
    "malformed-json": (on("GET", CATALOG, fp.malformed_json),
                       Shows("line", (f"GET {CATALOG}", "not valid JSON"))),
    "wrong-digest": (on("GET", INDEX_TAG, fp.wrong_digest), Shows(
        "row", (f"GET {INDEX_TAG}", "does not match its digest"), "multiarch", "1.0")),
    "self-link": (on("GET", CATALOG, fp.self_link), Shows("line", ("catalog", "pages repeat"))),
    "endless-link": (on("GET", CATALOG, fp.endless_link()),
                     Shows("line", (f"GET {CATALOG}", "max_names = 20000"))),
    "50-mb-body": (on("GET", INDEX_TAG, fp.huge_body(50 * fp.MB)),
                   Shows("row", (f"GET {INDEX_TAG}", "larger than"), "multiarch", "1.0")),
    "malformed-www-authenticate": (
        on("GET", "/v2/", fp.challenge('Bearer realm="http://x, ,,service=')),
        Shows("line", ("registry lab", "refused bearer token realm"))),
    "realm-link-local": (on("GET", "/v2/", realm("http://169.254.169.254/token")),
                         Shows("line", ("http://169.254.169.254/token", "token_realms"))),
    # (loopback to loopback counts as the same machine, so the other host is a name; it is
    # refused before any lookup)
    "realm-other-host": (on("GET", "/v2/", realm("http://auth.elsewhere.example/token")),
                         Shows("line", ("http://auth.elsewhere.example/token", "token_realms"))),
    "redirect-other-host": (
        on("GET", TAGS_OF_APP, fp.redirect(f"http://127.0.0.2:9{TAGS_OF_APP}")),
        Shows("repository", (f"GET {TAGS_OF_APP}", "redirected to http://127.0.0.2:9"), "app")),
}


async def finish(pilot: Pilot[Any]) -> None:
    """Like `settle`, but a worker that failed is the case under test, not a test error:
    the app reports it (`worker_changed`); `wait_for_complete` would raise it here."""
    async with asyncio.timeout(60):
        for _ in range(3):
            with contextlib.suppress(WorkerFailed):
                await pilot.app.workers.wait_for_complete()
            await pilot.pause()


def assert_shown(needles: tuple[str, ...], text: str, where: str) -> None:
    for needle in needles:
        assert needle in text, f"{needle!r} not in the {where}: {text!r}"


async def check_screen(pilot: Pilot[Any], app: RegtuiApp, shows: Shows) -> None:
    data = app.store["lab"]
    assert "Traceback" not in screen_text(app)
    if shows.where == "nothing":
        assert (app.error_text, data.status.error, data.repo_errors,
                data.status.tag_errors) == ("", "", {}, 0)
        assert data.status.repositories == len(data.summaries) > 5, "every repository read"
        return
    if shows.where in ("line", "repository"):
        assert_shown(shows.needles, app.error_text, "error line")
        assert_shown(shows.needles[:1], flat(screen_text(app)), "screen")  # the line is drawn
    if shows.where == "line":
        assert_shown(shows.needles, data.status.error, "registry status")
        return
    if shows.where == "repository":
        app.open_registry("lab", shows.repository)
        await finish(pilot)
        assert_shown(("cannot read tags:", *shows.needles), flat(screen_text(app)), "tags pane")
        return
    [broken] = [t for t in data.summaries[shows.repository].tags if t.error]
    assert broken.tag == shows.tag and broken.unreadable
    assert_shown(shows.needles, broken.error, "row's error")
    assert "1 tag could not be read" in screen_text(app)
    app.open_registry("lab", shows.repository)
    await finish(pilot)
    rows = {row.key: row for row in tags_of(pilot)}
    assert shows.tag in rows and broken.error in tag_cells(rows[shows.tag], app.clock())[0]


async def recovers(pilot: Pilot[Any], app: RegtuiApp, proxy: FaultProxy) -> None:
    """The registry heals; `r` reads it all again and the error line is cleared."""
    proxy.reset()
    app.open_registry("lab")
    await finish(pilot)
    await pilot.press("r")
    await finish(pilot)
    data = app.store["lab"]
    assert (app.error_text, data.status.error, data.repo_errors, data.status.tag_errors) == (
        "", "", {}, 0)
    assert data.status.repositories == len(data.summaries) > 5


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_every_fault_shows_on_screen_and_clears_on_recovery(
        fault: str, proxy: FaultProxy, tmp_path: Path) -> None:
    rule, shows = FAULTS[fault]
    proxy.reset(rule)
    app = proxied_app(proxy, tmp_path, **LIMITS)
    started = time.monotonic()
    async with app.run_test(size=(200, 50)) as pilot:
        await finish(pilot)
        assert time.monotonic() - started < BOUND, "the faulty walk took too long"
        await check_screen(pilot, app, shows)
        await recovers(pilot, app, proxy)


async def test_an_echoed_authorization_is_redacted_on_screen(
        htpasswd_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGTUI_LAB_PASSWORD", htpasswd_lab.password or "")
    auth = (f'\n[registries.auth]\nusername = "{htpasswd_lab.username}"\n'
            'password_env = "REGTUI_LAB_PASSWORD"\n')
    with FaultProxy(htpasswd_lab.url, on("GET", TAGS_OF_APP, fp.echo_authorization)) as proxy:
        app = proxied_app(proxy, tmp_path, auth, **LIMITS)
        async with app.run_test(size=(200, 50)) as pilot:
            await finish(pilot)
            sent = [r.headers["authorization"] for r in proxy.requests
                    if r.path == TAGS_OF_APP and "authorization" in r.headers]
            assert sent, "the proxy saw (and echoed) the credentials"
            secret = sent[0].split()[1]
            line = app.error_text
            assert_shown((f"GET {TAGS_OF_APP}", "HTTP 500", f"Authorization: {REDACTED}"), line,
                         "error line")
            app.open_registry("lab", "app")
            await finish(pilot)
            for text in (line, screen_text(app), str(app.store["lab"].repo_errors)):
                assert secret not in text and (htpasswd_lab.password or "") not in text
            assert REDACTED in flat(screen_text(app))


def test_a_failed_repository_that_left_the_catalog_is_no_longer_an_error() -> None:
    """Else the error line (kept while any repository is unread) would never clear."""
    data = Store([RegistryConfig("lab", "http://127.0.0.1:9")])["lab"]
    data.set_names([U("app"), U("gone")])
    data.repo_errors["gone"] = "tag list of gone: HTTP 500"
    data.set_names([U("app")])
    assert data.repo_errors == {}


async def test_a_plain_http_realm_for_an_https_registry_is_refused_on_screen(
        token_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real registry's own (http) realm, reached through https, is a downgrade."""
    monkeypatch.setenv("LAB_PW", token_lab.password or "")
    tls = self_signed(tmp_path)
    realm = httpx.URL(token_lab.token_url or "")
    with ChallengeProxy(token_lab.url, tls=tls) as proxy:
        path = write_config(tmp_path, proxy.url, ca=tls.cert)
        app = RegtuiApp(load_config(path), read_only=True)
        async with app.run_test(size=(200, 50)) as pilot:
            await finish(pilot)
            assert_shown(("refused bearer token realm", "plain http for an https registry",
                          f"http://127.0.0.1:{realm.port}"), app.error_text, "error line")
            assert "refused bearer token realm" in flat(screen_text(app))
            assert "Traceback" not in screen_text(app)
            await pilot.press("r")  # still responsive: the refusal comes again, nothing else
            await finish(pilot)
            assert "plain http for an https registry" in app.error_text
    assert all("Authorization" not in s.headers for s in proxy.seen)
