"""Parsing registry log lines: distribution JSON and access lines, logrus text, Harbor, text.

The JSON and access samples are lines the real distribution 2.8.2 wrote (captured from the
lab); `tests/test_logs.py` parses the lab's live log file as well.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regtui.services.logparse import (
    normalize_level,
    parse_go_duration,
    parse_line,
    parse_time,
    repository_from_uri,
)

JSON_404 = (
    '{"err.code":"manifest unknown","err.detail":"unknown tag=latest","err.message":"manifest '
    'unknown","go.version":"go1.19.8","http.request.host":"127.0.0.1:49283","http.request.id":'
    '"c62c0424","http.request.method":"GET","http.request.remoteaddr":"127.0.0.1:56032",'
    '"http.request.uri":"/v2/nope/manifests/latest","http.request.useragent":"python-httpx/0.28.1",'
    '"http.response.contenttype":"application/json; charset=utf-8","http.response.duration":'
    '"1.948806ms","http.response.status":404,"http.response.written":96,"level":"error","msg":'
    '"response completed with error","time":"2026-11-23T13:44:15.028305719Z","vars.name":"nope",'
    '"vars.reference":"latest"}'
)
JSON_PUT_NO_VARS = (
    '{"go.version":"go1.19.8","http.request.method":"PUT","http.request.uri":'
    '"/v2/team-a/app/manifests/sha256:8dfa","http.response.duration":"4.481156ms",'
    '"http.response.status":201,"level":"info","msg":"response completed",'
    '"time":"2026-11-23T13:44:14.905776592Z"}'
)
ACCESS_500 = (
    '127.0.0.1 - - [23/Nov/2026:13:44:15 +0000] "PUT /v2/bad/manifests/x HTTP/1.1" 500 70 "" '
    '"python-httpx/0.28.1"'
)


def test_distribution_json_error_line() -> None:
    record = parse_line(JSON_404)
    assert (record.kind, record.level, record.method, record.status) == (
        "json", "error", "GET", 404)
    assert record.repository == "nope"
    assert record.duration_ms == pytest.approx(1.948806)
    assert record.time == datetime(2026, 11, 23, 13, 44, 15, 28305, tzinfo=UTC)
    assert "manifest unknown" in record.message and "/v2/nope/manifests/latest" in record.message
    assert record.status_class == 4


def test_json_without_vars_takes_repository_from_uri() -> None:
    record = parse_line(JSON_PUT_NO_VARS)
    assert record.repository == "team-a/app"
    assert record.status == 201 and record.level == "info"


def test_access_line() -> None:
    record = parse_line(ACCESS_500 + "\n")
    assert (record.kind, record.method, record.status, record.repository) == (
        "access", "PUT", 500, "bad")
    assert record.level == "error"
    assert record.time == datetime(2026, 11, 23, 13, 44, 15, tzinfo=UTC)
    assert record.raw == ACCESS_500


def test_logrus_text_line() -> None:
    line = ('time="2026-11-23T13:44:11.8Z" level=warning msg="purge \\"done\\"" '
            'http.request.method=DELETE http.request.uri=/v2/a/b/blobs/sha256:x '
            "http.response.status=202 http.response.duration=1m2.5s")
    record = parse_line(line)
    assert (record.kind, record.level, record.method, record.status) == (
        "logfmt", "warning", "DELETE", 202)
    assert record.repository == "a/b"
    assert record.message.startswith('purge "done"')
    assert record.duration_ms == pytest.approx(62_500)


def test_harbor_core_line() -> None:
    line = ('Nov 23 13:45:00 172.18.0.1 core[1234]: 2024-01-02T03:04:05Z [ERROR] '
            '[/server/middleware/log.go:30][requestID="abc"]: GET /v2/library/nginx/manifests/1 '
            "failed")
    record = parse_line(line)
    assert (record.kind, record.level, record.repository) == ("harbor", "error", "library/nginx")
    assert record.time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert record.message.startswith("GET /v2/library")


@pytest.mark.parametrize("line", ["", "plain words", "{not json", "[1, 2]", "level= nothing"])
def test_anything_else_is_plain_text(line: str) -> None:
    record = parse_line(line)
    assert (record.kind, record.message, record.level, record.status) == ("text", line, "", None)


def test_hostile_json_values_stay_text() -> None:
    record = parse_line('{"level":"info","msg":"[bold red]x[/] \\u001b[31m","vars.name":"[b]"}')
    assert record.message == "[bold red]x[/] \x1b[31m"
    assert record.repository == "[b]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.5ms", 1.5), ("350µs", 0.35), ("2m3.5s", 123_500.0), ("12ns", 12e-6), ("1h", 3.6e6)],
)
def test_go_durations(text: str, expected: float) -> None:
    assert parse_go_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "fast", "1.5", "ms", "1.5msx"])
def test_bad_durations(text: str) -> None:
    assert parse_go_duration(text) is None


def test_times_and_levels_and_uris() -> None:
    assert parse_time("2026-11-23T13:44:15.123456789+02:00") == datetime(
        2026, 11, 23, 11, 44, 15, 123456, tzinfo=UTC)
    assert parse_time("yesterday") is None
    assert [normalize_level(v) for v in ("WARN", "Err", "trace", "loud")] == [
        "warning", "error", "debug", ""]
    assert repository_from_uri("/v2/a/b/c/blobs/uploads/123?x=1") == "a/b/c"
    assert repository_from_uri("/v2/_catalog") == ""
    assert repository_from_uri("/v2/") == ""


# --- regtui's own requests: the User-Agent of access and JSON lines -----------------------

OWN_JSON = (  # distribution 2.8.2's line for a request regtui's transport made (from the lab)
    '{"go.version":"go1.19.8","http.request.method":"GET","http.request.uri":"/v2/",'
    '"http.request.useragent":"regtui/0.9","http.response.duration":"906.74µs",'
    '"http.response.status":200,"level":"info","msg":"response completed",'
    '"time":"2026-12-01T17:53:12.31467171Z"}'
)
OWN_ACCESS = ('127.0.0.1 - - [01/Dec/2026:17:53:12 +0000] "GET /v2/nosuch/manifests/x HTTP/1.1"'
              ' 404 91 "" "regtui/0.9"')


def test_user_agent_of_json_and_access_lines() -> None:
    assert parse_line(OWN_JSON).user_agent == "regtui/0.9"
    assert parse_line(OWN_ACCESS).user_agent == "regtui/0.9"
    assert parse_line(OWN_JSON).is_own and parse_line(OWN_ACCESS).is_own
    assert parse_line(JSON_404).user_agent == "python-httpx/0.28.1"
    assert parse_line(ACCESS_500).user_agent == "python-httpx/0.28.1"
    assert not parse_line(JSON_404).is_own and not parse_line(ACCESS_500).is_own


def test_user_agent_quoting_and_lookalikes() -> None:
    escaped = ACCESS_500.replace('"python-httpx/0.28.1"', r'"say \"hi\" regtui/1"')
    record = parse_line(escaped)
    assert record.user_agent == 'say "hi" regtui/1' and not record.is_own
    assert record.status == 500  # the quoted fields do not disturb the rest
    assert not parse_line(JSON_404.replace("python-httpx/0.28.1", "regtui")).is_own
    assert not parse_line(JSON_PUT_NO_VARS).is_own  # no agent at all
    common = '127.0.0.1 - - [23/Nov/2026:13:44:15 +0000] "GET /v2/ HTTP/1.1" 200 2'
    assert parse_line(common).kind == "access" and parse_line(common).user_agent == ""
