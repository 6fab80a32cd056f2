"""The Docker Hub backend against a spec-checked Hub double over the real lab registry.

The double (tests/doubles/hub_double.py) serves the Hub API from what it reads in the real
registry and forwards `/v2` to it, counting manifest GETs (pulls) and sending rate-limit
headers; every request it receives and every answer it sends is checked against the
project's subset of Docker Hub's spec, and the fixture fails any test that broke it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from regtui.config import AuthConfig, Config, RegistryConfig
from regtui.errors import AuthError
from regtui.lab import Lab, start_lab
from regtui.registry.dockerhub import (
    TOKEN_LIFETIME,
    DockerHubBackend,
    HubRateLimitError,
    PullLimitError,
    parse_hub_tag,
    parse_pull_limit,
)
from regtui.registry.factory import open_backend
from regtui.registry.models import Gauge, TagRecord
from regtui.services.audit import AuditLog
from regtui.services.impact import Strategy, Target
from regtui.services.inventory import InventoryService, summarize
from regtui.services.operations import OperationsService
from tests.doubles.hub_double import TAGS, TOKEN, USERNAME, HubDouble

pytestmark = pytest.mark.lab

RELEASES = "team-a/releases"


@pytest.fixture(scope="module")
def hub_lab() -> Iterator[Lab]:
    """A private minimal lab: the double only reads it, never changes it."""
    with start_lab(auth="none", dataset="minimal", prometheus=False) as started:
        yield started


@pytest.fixture
def hub(hub_lab: Lab) -> Iterator[HubDouble]:
    with HubDouble(hub_lab.url) as double:
        yield double
        assert double.violations == [], "the double saw requests or answers outside the spec"


@pytest.fixture(autouse=True)
def _pat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PAT", TOKEN)


def registry_for(hub: HubDouble, *repositories: str, user: str = USERNAME) -> RegistryConfig:
    auth = AuthConfig(username=user, password_env="HUB_PAT") if user else AuthConfig()
    return RegistryConfig(name="hub", url=hub.registry_url, flavor="dockerhub",
                          api_url=hub.api_url, repositories=repositories, auth=auth,
                          retries=2)


def backend_for(hub: HubDouble, tmp_path: Path, *repositories: str, read_only: bool = True,
                user: str = USERNAME) -> DockerHubBackend:
    registry = registry_for(hub, *repositories, user=user)
    backend = open_backend(registry, Config(cache_dir=tmp_path / "cache"), read_only=read_only)
    assert isinstance(backend, DockerHubBackend)
    return backend


async def names_of(backend: DockerHubBackend) -> list[str]:
    return [name async for name in backend.repositories()]


def gauge(backend: DockerHubBackend, label: str) -> Gauge:
    return next(g for g in backend.health().gauges if g.label == label)


# -- repositories and tags ----------------------------------------------------------------------

async def test_namespace_listing_and_configured_names(hub: HubDouble, tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path, "library/base", "team-a/*")
    try:
        names = await names_of(backend)
    finally:
        await backend.aclose()
    assert names == ["library/base", RELEASES, "team-a/svc-000"]
    note = " ".join(backend.health().notes)
    assert "1 repository from the configured list" in note
    assert "team-a/*: 2 from the Hub API (/v2/namespaces/team-a/repositories)" in note
    assert hub.recorder.count("GET", "/v2/namespaces/team-a/repositories") == 1


async def test_older_listing_route_is_the_fallback(hub_lab: Lab, tmp_path: Path) -> None:
    with HubDouble(hub_lab.url, namespaces_route=False) as hub:
        backend = backend_for(hub, tmp_path, "team-a/*")
        try:
            assert await names_of(backend) == [RELEASES, "team-a/svc-000"]
        finally:
            await backend.aclose()
        assert hub.violations == []
    assert "(/v2/repositories/team-a/)" in " ".join(backend.health().notes)


async def test_public_only_listing_is_called_partial(hub_lab: Lab, tmp_path: Path) -> None:
    with HubDouble(hub_lab.url, private=frozenset({"team-a/svc-000"}),
                   token_sees_private=False) as hub:
        backend = backend_for(hub, tmp_path, "team-a/*")
        try:
            assert await names_of(backend) == [RELEASES]
        finally:
            await backend.aclose()
    assert "only public repositories were listed" in " ".join(backend.health().notes)
    with HubDouble(hub_lab.url, private=frozenset({"team-a/svc-000"})) as hub:
        backend = backend_for(hub, tmp_path, "team-a/*")
        try:
            assert await names_of(backend) == [RELEASES, "team-a/svc-000"]
        finally:
            await backend.aclose()
    assert "only public" not in " ".join(backend.health().notes)


async def test_no_configuration_lists_the_login_namespace_or_says_what_to_set(
        hub: HubDouble, tmp_path: Path) -> None:
    anonymous = backend_for(hub, tmp_path, user="")
    try:
        with pytest.raises(AuthError, match=r"no catalog: set repositories") as caught:
            await names_of(anonymous)
        assert "podman login or skopeo login" in str(caught.value)
    finally:
        await anonymous.aclose()


async def test_tags_page_through_the_hub_api(hub: HubDouble, tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path)
    backend.page_size = 5
    try:
        tags = await backend.tags(RELEASES)
    finally:
        await backend.aclose()
    assert tags == sorted(hub.repos[RELEASES].tags) and len(tags) == 13
    pages = [q for m, p, q in hub.recorder.requests if p.endswith("/team-a/repositories/"
                                                                   "releases/tags")]
    assert [q["page"] for q in pages] == [["1"], ["2"], ["3"]]
    assert all(q["page_size"] == ["5"] for q in pages)
    tag = backend.hub_tags[(RELEASES, "1.0.0")]
    model = hub.repos[RELEASES].tags["1.0.0"]
    assert tag.full_size == model.full_size > 0
    assert tag.last_pushed is not None and tag.status == "inactive"
    assert tag.digests == (model.digest,)


async def test_tag_records_carry_the_hubs_push_and_pull_activity(hub: HubDouble,
                                                                 tmp_path: Path) -> None:
    """`tag_last_pulled` and `status` reach the records, and the repository's last push is
    the Hub's `tag_last_pushed`, not the newest image's created time."""
    model = hub.repos[RELEASES].tags
    model["1.0.0"].pulled = "2026-11-29T08:30:00.000000Z"
    model["1.0.1"].pushed = "2026-11-25T12:00:00.000000Z"
    service = InventoryService(backend_for(hub, tmp_path, RELEASES), flavor="dockerhub")
    try:
        assert service.capabilities.tag_activity
        records: dict[str, TagRecord] = {r.tag: r for r in await service.tag_records(RELEASES)}
    finally:
        await service.aclose()
    pulled = records["1.0.0"]
    assert (pulled.pulled_at, pulled.status) == (datetime(2026, 11, 29, 8, 30, tzinfo=UTC),
                                                 "active")
    assert {r.status for t, r in records.items() if t != "1.0.0"} == {"inactive"}
    assert all(r.pulled_at is None for t, r in records.items() if t != "1.0.0")
    newest = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert records["1.0.1"].pushed_at == newest
    summary = summarize("hub", RELEASES, list(records.values()))
    created = max(r.created for r in records.values() if r.created is not None)
    assert summary.last_push == newest != created


def test_images_as_one_object_or_an_array() -> None:
    image = {"digest": "sha256:" + "a" * 64, "os": "linux", "architecture": "arm64",
             "variant": "v8"}
    as_array = parse_hub_tag({"name": "x", "images": [image], "status": "active"})
    as_object = parse_hub_tag({"name": "x", "images": image, "status": "active"})
    assert as_array == as_object
    assert as_array.platforms == ("linux/arm64/v8",)
    assert parse_hub_tag({"name": "x", "images": None}).digests == ()


async def test_the_spec_catches_a_drifting_answer(hub: HubDouble, tmp_path: Path) -> None:
    hub.recorder.corrupt[TAGS] = lambda body: {**body, "pages": 3}
    backend = backend_for(hub, tmp_path)
    try:
        with pytest.raises(Exception, match="HTTP 500"):
            await backend.tags(RELEASES)
    finally:
        await backend.aclose()
    assert any("'pages' was unexpected" in v for v in hub.violations)
    hub.recorder.violations.clear()


# -- logging in -----------------------------------------------------------------------------------

async def test_pat_login_and_refresh_before_ten_minutes(hub: HubDouble, tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path)
    now = [1000.0]
    backend.clock = lambda: now[0]
    try:
        await backend.tags(RELEASES)
        await backend.tags("team-a/svc-000")
        assert hub.logins == [USERNAME]
        now[0] += TOKEN_LIFETIME - 59  # within the last minute of the token's life
        await backend.tags(RELEASES)
    finally:
        await backend.aclose()
    assert hub.logins == [USERNAME, USERNAME]
    assert hub.recorder.count("POST", "/v2/auth/token") == 2
    assert hub.recorder.count("POST", "/v2/users/login") == 0
    assert backend.login_route == "/v2/auth/token"


async def test_users_login_only_where_auth_token_is_missing(hub_lab: Lab,
                                                           tmp_path: Path) -> None:
    with HubDouble(hub_lab.url, auth_token_route=False) as hub:
        backend = backend_for(hub, tmp_path)
        try:
            await backend.tags(RELEASES)
        finally:
            await backend.aclose()
        assert hub.recorder.count("POST", "/v2/users/login") == 1
        assert hub.violations == []
    assert "deprecated /v2/users/login" in " ".join(backend.health().notes)


async def test_wrong_pat_is_one_line(hub: HubDouble, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PAT", "dckr_pat_wrong")
    backend = backend_for(hub, tmp_path)
    try:
        with pytest.raises(AuthError, match=r"Docker Hub login .* access denied \(401, "
                                            r"incorrect credentials\)"):
            await backend.tags(RELEASES)
    finally:
        await backend.aclose()


# -- limits ---------------------------------------------------------------------------------------

def test_pull_limit_headers_are_parsed_not_assumed() -> None:
    found = parse_pull_limit({"ratelimit-limit": "200;w=21600",
                              "ratelimit-remaining": "19;w=21600",
                              "docker-ratelimit-source": "203.0.113.7"})
    assert found is not None and (found.limit, found.remaining) == (200, 19)
    assert found.window_seconds == 21600 and found.low
    assert parse_pull_limit({}) is None
    assert parse_pull_limit({"ratelimit-limit": "lots", "ratelimit-remaining": "1"}) is None


async def test_rate_limit_is_shown_and_warns_under_ten_percent(hub: HubDouble,
                                                               tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path)
    try:
        await backend.ping()
        shown = gauge(backend, "pulls")
        assert (shown.value, shown.total, shown.detail, shown.warn) == (100, 100, "per 6h",
                                                                        False)
        hub.pulls_left = 9
        await backend.head_manifest(RELEASES, "1.0.0")
        assert gauge(backend, "pulls").warn
    finally:
        await backend.aclose()
    assert hub.manifest_gets == 0  # the ping and the HEAD spent nothing


async def test_no_headers_means_no_limit(hub_lab: Lab, tmp_path: Path) -> None:
    with HubDouble(hub_lab.url, pull_limit=None) as hub:
        backend = backend_for(hub, tmp_path)
        try:
            await backend.ping()
        finally:
            await backend.aclose()
    assert gauge(backend, "pulls").detail == "no limit (no rate-limit headers)"


async def test_hub_api_429_is_retried_after_x_retry_after(hub: HubDouble,
                                                          tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path)
    hub.throttle, hub.retry_after = 1, 2  # X-Retry-After: a whole second 1 to 2 s ahead
    started = time.monotonic()
    try:
        tags = await backend.tags(RELEASES)
    finally:
        await backend.aclose()
    assert len(tags) == 13
    assert time.monotonic() - started >= 0.9  # it waited for the time X-Retry-After named
    assert hub.throttle == 0
    assert gauge(backend, "Hub API").total == 200


async def test_hub_api_429_past_retries_is_told_apart_from_the_pull_limit(
        hub: HubDouble, tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path)
    await backend.tags("team-a/svc-000")  # logged in before the throttle
    hub.throttle, hub.retry_after = 10, 0
    try:
        with pytest.raises(HubRateLimitError, match=r"Docker Hub API rate limit \(HTTP 429\); "
                                                    r"retry after \d\d:\d\d:\d\d UTC"):
            await backend.tags(RELEASES)
    finally:
        await backend.aclose()


async def test_pull_limit_429_is_named_and_not_retried(hub: HubDouble, tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path)
    hub.pulls_left = 0
    digest = hub.repos[RELEASES].tags["1.0.0"].digest
    try:
        with pytest.raises(PullLimitError, match=r"pull rate limit reached \(0/100 left per "
                                                 r"6h\); regtui itself reads tags by HEAD"):
            await backend.manifest(RELEASES, digest)
    finally:
        await backend.aclose()
    assert hub.manifest_gets == 1  # a spent quota is not asked again


# -- never spending pulls -------------------------------------------------------------------------

async def test_second_inventory_makes_no_manifest_get(hub: HubDouble, tmp_path: Path) -> None:
    first = InventoryService(backend_for(hub, tmp_path, "team-a/*", "library/base"),
                             flavor="dockerhub")
    try:
        records = [r async for r in first.walk()]
    finally:
        await first.aclose()
    assert first.problems == [] and len(records) == 16
    # the push time is the Hub's own, from the tag API, not the image's creation date
    assert {r.pushed_at for r in records} == {datetime(2026, 11, 20, 10, tzinfo=UTC)}
    gets_first = hub.manifest_gets
    assert gets_first > 0 and first.backend.health().gauges[-1].value == gets_first
    assert hub.pulls_left == 100 - gets_first
    second_backend = backend_for(hub, tmp_path, "team-a/*", "library/base")
    second = InventoryService(second_backend, flavor="dockerhub")
    try:
        again = [r async for r in second.walk()]
    finally:
        await second.aclose()
    assert sorted((r.repository, r.tag, r.digest) for r in again) == sorted(
        (r.repository, r.tag, r.digest) for r in records)  # records come as they complete
    assert hub.manifest_gets == gets_first  # HEAD and the cache only: zero pulls
    assert gauge(second_backend, "manifest GETs").value == 0
    assert hub.registry_recorder.count("HEAD", contains="/manifests/") >= 2 * 16


# -- changing -------------------------------------------------------------------------------------

async def test_tag_delete_goes_through_the_operations_service(hub: HubDouble,
                                                              tmp_path: Path) -> None:
    registry = registry_for(hub, RELEASES)
    backend = open_backend(registry, Config(cache_dir=tmp_path / "cache"), read_only=False)
    inventory = InventoryService(backend, flavor="dockerhub", read_only=False)
    audit = AuditLog(tmp_path / "audit.jsonl")
    operations = OperationsService(inventory, registry, read_only=False, audit=audit)
    try:
        plan = await operations.plan([Target(RELEASES, "1.1.1"), Target(RELEASES, "1.0.0")])
        assert [i.strategy for i in plan.impacts] == [Strategy.BY_TAG, Strategy.BY_TAG]
        assert plan.impacts[0].siblings == ("latest",)
        digest_plan = await operations.plan([Target(RELEASES, digest=plan.impacts[1].digest)])
        assert "deletes tags, not manifests" in digest_plan.problems[0]
        results = await operations.delete(plan, assume_yes=True)
    finally:
        await inventory.aclose()
    assert [r.outcome for r in results] == ["ok: tag deleted", "ok: tag deleted"]
    assert set(hub.repos[RELEASES].tags) >= {"latest"} and "1.1.1" not in hub.repos[RELEASES].tags
    assert hub.recorder.count("DELETE", "/v2/repositories/team-a/releases/tags/") == 2
    assert hub.registry_recorder.count("DELETE") == 0
    lines = audit.path.read_text().splitlines()
    assert len(lines) == 2 and all('"ok: tag deleted"' in line for line in lines)
    events = await backend_for(hub, tmp_path).audit_log("team-a")
    assert [e["action"] for e in events] == ["repo.tag.delete", "repo.tag.delete"]


async def test_read_only_refuses_the_tag_delete_before_sending(hub: HubDouble,
                                                               tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path, read_only=True)
    try:
        with pytest.raises(Exception, match="read-only mode: refused DELETE"):
            await backend.delete_tag(RELEASES, "1.0.0")
    finally:
        await backend.aclose()
    assert hub.recorder.count("DELETE") == 0


def test_the_double_refuses_requests_outside_the_spec(hub: HubDouble) -> None:
    """A request with a parameter the spec lacks is a recorded violation, not an answer."""
    import httpx

    answer = httpx.get(f"{hub.api_url}/v2/namespaces/team-a/repositories/releases/tags",
                       params={"n": "100"})
    assert answer.status_code == 500
    assert any("undeclared query parameter 'n'" in v for v in hub.violations)
    hub.recorder.violations.clear()


async def test_hub_audit_log_feeds_the_logs_screen_new_events_only(hub: HubDouble,
                                                                   tmp_path: Path) -> None:
    import asyncio

    from regtui.services.hub_audit import HubAuditFeed, hub_audit_source

    backend = backend_for(hub, tmp_path, read_only=False)
    source = hub_audit_source(backend, "team-a", asyncio.get_running_loop(), interval=0)
    try:
        feed = HubAuditFeed(backend, "team-a")
        assert await feed.new_lines() == []
        await backend.delete_tag(RELEASES, "1.0.0")
        [line] = await feed.new_lines()
        digest = hub.audit[0]["data"]["digest"]
        assert line == (f"2026-11-30T09:00:00Z repo.tag.delete team-a/releases:1.0.0 by {USERNAME} "
                        f"{digest}")
        assert await feed.new_lines() == []  # the cursor moved past it
        assert await asyncio.to_thread(source.poll) == 1  # the logs screen's thread
        assert list(source.index.raw_lines(0, 1)) == [line]
        await backend.delete_tag(RELEASES, "1.0.1")
        assert [x.split()[2] for x in await feed.new_lines()] == ["team-a/releases:1.0.1"]
    finally:
        source.close()
        await backend.aclose()
    assert source.state.status == "closed"


async def test_no_hub_api_requests_left_waits_for_the_reset(hub: HubDouble,
                                                            tmp_path: Path) -> None:
    backend = backend_for(hub, tmp_path)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    backend.sleep = sleep
    backend.wall_clock = hub.clock
    try:
        await backend.tags(RELEASES)
        assert waits == []
        hub.api_left = 0
        await backend.tags(RELEASES)  # this answer says none are left, reset in 60 s
        await backend.tags(RELEASES)
    finally:
        await backend.aclose()
    assert len(waits) == 1 and 50 < waits[0] <= 60


def test_hub_tag_status_is_untrusted_and_bounded_where_parsed() -> None:
    """`status` reaches the tags pane, the tag detail and the snapshot: marked and cut at
    the parser, whatever the Hub (or a proxy in front of it) sent."""
    from regtui.registry.dockerhub import STATUS_LIMIT, parse_hub_tag
    from regtui.text import Untrusted

    hostile = parse_hub_tag({"name": "1.0", "status": "\x1b[2J" + "inactive" * 10_000})
    assert type(hostile.status) is Untrusted and len(hostile.status) <= STATUS_LIMIT
    odd = parse_hub_tag({"name": "1.0", "status": {"not": "a word"}})
    assert odd.status == "" and type(odd.status) is Untrusted
