"""Turn one registry log line into a record with the columns the logs pane shows.

Distribution writes logrus JSON lines (or logrus text `key=value` lines) and mixes Apache
combined access-log lines into the same stream; Harbor's components write
`2024-01-02T03:04:05Z [INFO] [/core/main.go:42]: message`. Anything else is kept as plain
text, so no line is ever dropped for failing to parse.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from regtui.text import EMPTY, Untrusted

LEVELS = ("debug", "info", "warning", "error", "fatal", "panic")
"""Logrus levels, least to most severe; a record's `level` is one of these or ""."""

_LEVEL_ALIASES = {
    "trace": "debug", "dbg": "debug", "debug": "debug", "info": "info", "inf": "info",
    "notice": "info", "warn": "warning", "warning": "warning", "wrn": "warning",
    "error": "error", "err": "error", "fatal": "fatal", "crit": "fatal", "critical": "fatal",
    "panic": "panic",
}

_ACCESS = re.compile(
    r'^(?P<addr>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<uri>\S+)[^"]*" '
    r"(?P<status>\d{3}) (?P<size>\S+)"
)
_HARBOR = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) "
    r"\[(?P<level>[A-Z]+)\] \[(?P<where>[^\]]*)\](?:\[[^\]]*\])*: ?(?P<msg>.*)$"
)
_ACCESS_TIME = re.compile(
    r"(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})$"
)
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_LOGFMT_PAIR = re.compile(r'([\w.\-]+)=("(?:[^"\\]|\\.)*"|\S*)')
_REPO_IN_URI = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ms": 1.0, "s": 1e3,
                "m": 60e3, "h": 3600e3}


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One parsed line; empty strings and None mean the line did not say."""

    raw: Untrusted
    kind: str = "text"
    """`json`, `logfmt`, `access`, `harbor` or `text`."""
    time: datetime | None = None
    level: str = ""
    """One of `LEVELS` or empty: normalised, so not the log's own text."""
    method: Untrusted = EMPTY
    status: int | None = None
    repository: Untrusted = EMPTY
    duration_ms: float | None = None
    message: Untrusted = EMPTY

    @property
    def status_class(self) -> int:
        """4 for 4xx, 5 for 5xx ...; 0 when the line has no status."""
        return self.status // 100 if self.status else 0

    @property
    def severity(self) -> int:
        """Index into `LEVELS`, -1 when unknown: filters compare these."""
        return LEVELS.index(self.level) if self.level else -1


def parse_line(raw: str) -> LogRecord:
    """Parse a line (without its newline) from any of the formats the pane understands."""
    line = raw.rstrip("\r\n")
    if line.startswith("{"):
        record = _parse_json(line)
        if record is not None:
            return record
    for parse in (_parse_access, _parse_harbor, _parse_logfmt):
        parsed = parse(line)
        if parsed is not None:
            return parsed
    text = Untrusted(line)
    return LogRecord(raw=text, message=text)


def normalize_level(value: object) -> str:
    """Map the many spellings of a level (WARN, wrn, Error) onto `LEVELS`; unknown -> ""."""
    return _LEVEL_ALIASES.get(str(value).strip().lower(), "")


def repository_from_uri(uri: str) -> str:
    """`/v2/team/app/manifests/1.0` -> `team/app`: access lines carry no `vars.name`."""
    match = _REPO_IN_URI.match(uri.split("?", 1)[0])
    return match.group("name") if match else ""


def parse_go_duration(text: str) -> float | None:
    """Go's `time.Duration` text (`1.5ms`, `2m3.4s`, `350µs`) in milliseconds."""
    parts = _GO_DURATION.findall(text.strip())
    if not parts or "".join(number + unit for number, unit in parts) != text.strip():
        return None
    return sum(float(number) * _DURATION_MS[unit] for number, unit in parts)


def parse_time(text: str) -> datetime | None:
    """RFC 3339 with any number of fraction digits (Go writes nanoseconds), or None."""
    value = text.strip()
    if not value:
        return None
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if "." in value:
        head, _, tail = value.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        value = f"{head}.{tail[:min(digits, 6)].ljust(6, '0')}{tail[digits:]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_json(line: str) -> LogRecord | None:
    try:
        fields = json.loads(line)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    return _record_from_fields(line, "json", fields)


def _record_from_fields(line: str, kind: str, fields: dict[str, Any]) -> LogRecord:
    """Shared by JSON and logfmt: both are logrus' fields under the same names."""
    uri = str(fields.get("http.request.uri", ""))
    repository = str(fields.get("vars.name") or repository_from_uri(uri))
    return LogRecord(
        raw=Untrusted(line), kind=kind,
        time=parse_time(str(fields.get("time", ""))),
        level=normalize_level(fields.get("level", "")),
        method=Untrusted(fields.get("http.request.method", "")),
        status=_int_or_none(fields.get("http.response.status")),
        repository=Untrusted(repository),
        duration_ms=parse_go_duration(str(fields.get("http.response.duration", ""))),
        message=Untrusted(_message(fields, uri)),
    )


def _message(fields: dict[str, Any], uri: str) -> str:
    """The message column: msg, then the URI and error details that explain it."""
    parts = [str(fields.get("msg", ""))]
    if uri:
        parts.append(uri)
    for key in ("err.code", "err.message", "err.detail", "error"):
        if fields.get(key):
            parts.append(f"{key}={fields[key]}")
    return " ".join(part for part in parts if part)


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else None


def _parse_access(line: str) -> LogRecord | None:
    match = _ACCESS.match(line)
    if match is None:
        return None
    status = int(match.group("status"))
    when = parse_access_time(match.group("time"))
    uri = match.group("uri")
    return LogRecord(
        raw=Untrusted(line), kind="access", time=when, level=_level_for_status(status),
        method=Untrusted(match.group("method")), status=status,
        repository=Untrusted(repository_from_uri(uri)),
        message=Untrusted(f"{uri} from {match.group('addr')}"),
    )


def parse_access_time(text: str) -> datetime | None:
    """`23/Nov/2026:13:45:00 +0000` by hand: `strptime` costs more than the whole line's parse."""
    match = _ACCESS_TIME.match(text)
    month = _MONTHS.get(match.group(2)) if match is not None else None
    if match is None or month is None:
        return None
    day, _, year, hour, minute, second, zone = match.groups()
    try:
        return datetime(int(year), month, int(day), int(hour), int(minute), int(second),
                        tzinfo=_zone(zone))
    except ValueError:
        return None


@lru_cache(maxsize=64)
def _zone(text: str) -> timezone:
    """`+0000` -> UTC, `-0130` -> UTC-01:30; few distinct zones ever appear in one log."""
    sign = -1 if text[0] == "-" else 1
    offset = timedelta(hours=int(text[1:3]), minutes=int(text[3:5])) * sign
    return UTC if not offset else timezone(offset)


def _level_for_status(status: int) -> str:
    """Access lines have no level; give 5xx `error` and 4xx `warning` so level filters see them."""
    if status >= 500:
        return "error"
    return "warning" if status >= 400 else "info"


def _parse_harbor(line: str) -> LogRecord | None:
    match = _HARBOR.search(line)
    if match is None:
        return None
    message = match.group("msg")
    return LogRecord(
        raw=Untrusted(line), kind="harbor", time=parse_time(match.group("time")),
        level=normalize_level(match.group("level")),
        repository=Untrusted(_harbor_repository(message)), message=Untrusted(message),
    )


def _harbor_repository(message: str) -> str:
    """Harbor's core logs name the request path; take a /v2/ repository from it if present."""
    for word in message.split():
        name = repository_from_uri(word.strip("\"',"))
        if name:
            return name
    return ""


def _parse_logfmt(line: str) -> LogRecord | None:
    if "level=" not in line or "msg=" not in line:
        return None
    fields: dict[str, Any] = {}
    for key, value in _LOGFMT_PAIR.findall(line):
        fields[key] = _unquote(value)
    if "level" not in fields:
        return None
    return _record_from_fields(line, "logfmt", fields)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return value
