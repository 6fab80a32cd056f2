"""What Harbor's management API tells beyond the distribution API: quotas, scans, GC jobs.

Plain frozen dataclasses, parsed once at the edge like `models.py`; no I/O, no Textual.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from regtui.errors import ProtocolError
from regtui.registry.parse import parse_time
from regtui.text import EMPTY, Untrusted

GC_DONE: Final = frozenset({"Success", "Error", "Stopped"})
"""Harbor's task statuses that end a job (`Pending` and `Running` do not)."""
SEVERITIES: Final = ("Critical", "High", "Medium", "Low", "Negligible", "Unknown", "None")
_NO_COUNTS: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class HarborInfo:
    """`GET /systeminfo`: the version decides which newer endpoints may be used."""

    version: Untrusted
    registry_url: Untrusted = EMPTY
    external_url: Untrusted = EMPTY
    auth_mode: Untrusted = EMPTY
    read_only: bool = False

    def at_least(self, *wanted: int) -> bool:
        found = version_tuple(self.version)
        return found is not None and found >= wanted


def version_tuple(version: str) -> tuple[int, ...] | None:
    """`v2.15.2-080b0220` -> (2, 15, 2); None when Harbor did not say (or said nonsense)."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


@dataclass(frozen=True, slots=True)
class Quota:
    """Storage used by one project, against its limit (None means unlimited)."""

    project: Untrusted
    used_bytes: int
    limit_bytes: int | None

    @property
    def used_fraction(self) -> float | None:
        if not self.limit_bytes:
            return None
        return self.used_bytes / self.limit_bytes


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """The vulnerability scan overview of one artifact, as Harbor's scanner reported it."""

    status: Untrusted
    severity: Untrusted
    total: int
    fixable: int
    counts: Mapping[str, int] = field(default_factory=lambda: _NO_COUNTS)
    scanner: Untrusted = EMPTY


@dataclass(frozen=True, slots=True)
class GcJob:
    """One GC execution from `GET /system/gc` or `/system/gc/{id}`."""

    id: int
    status: Untrusted
    kind: Untrusted
    dry_run: bool
    delete_untagged: bool
    created: Untrusted
    updated: Untrusted

    @property
    def finished(self) -> bool:
        return self.status in GC_DONE


def field_of(data: Mapping[str, Any], key: str, kind: type, what: str, default: Any = None) -> Any:
    """One typed field of a JSON object; a wrong type is the server's fault, said in one line."""
    value = data.get(key, default)
    if value is None and default is not None:
        return default
    if value is None or (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise ProtocolError(f"{what}: field '{key}' is missing or not a {kind.__name__}")
    return value


def parse_info(data: Mapping[str, Any]) -> HarborInfo:
    def text(key: str) -> Untrusted:
        value = data.get(key)
        return Untrusted(value) if isinstance(value, str) else EMPTY

    return HarborInfo(version=text("harbor_version"), registry_url=text("registry_url"),
                      external_url=text("external_url"), auth_mode=text("auth_mode"),
                      read_only=data.get("read_only") is True)


def parse_quota(data: Mapping[str, Any], what: str) -> Quota:
    """Harbor writes `-1` for an unlimited hard limit."""
    ref = field_of(data, "ref", dict, what)
    project = field_of(ref, "name", str, what + " ref")
    used = field_of(field_of(data, "used", dict, what, {}), "storage", int, what + " used", 0)
    hard = field_of(field_of(data, "hard", dict, what, {}), "storage", int, what + " hard", -1)
    return Quota(Untrusted(project), used, None if hard < 0 else hard)


def parse_scan(overview: object, what: str) -> ScanSummary | None:
    """The first report in `scan_overview` (keyed by report MIME type); None if never scanned."""
    if overview is None or overview == {}:
        return None
    if not isinstance(overview, dict):
        raise ProtocolError(f"{what}: scan_overview is not an object")
    report = next(iter(overview.values()))
    if not isinstance(report, dict):
        raise ProtocolError(f"{what}: scan_overview report is not an object")
    summary = report.get("summary") or {}
    counts = summary.get("summary") or {} if isinstance(summary, dict) else {}
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        raise ProtocolError(f"{what}: scan_overview severity counts are not numbers")
    scanner = report.get("scanner") or {}
    return ScanSummary(
        status=Untrusted(report.get("scan_status", "")),
        severity=Untrusted(report.get("severity", "")),
        total=int(summary.get("total", 0) or 0), fixable=int(summary.get("fixable", 0) or 0),
        counts=MappingProxyType(dict(counts)),
        scanner=Untrusted(scanner.get("name", "")) if isinstance(scanner, dict) else EMPTY)


def parse_gc_job(data: Mapping[str, Any], what: str) -> GcJob:
    """`job_parameters` is a JSON string inside the JSON; unreadable means 'not said'."""
    try:
        params = json.loads(data.get("job_parameters") or "{}")
    except (TypeError, ValueError):
        params = {}
    if not isinstance(params, dict):
        params = {}
    return GcJob(
        id=field_of(data, "id", int, what),
        status=Untrusted(field_of(data, "job_status", str, what)),
        kind=Untrusted(data.get("job_kind", "")), dry_run=params.get("dry_run") is True,
        delete_untagged=params.get("delete_untagged") is True,
        created=Untrusted(data.get("creation_time", "")),
        updated=Untrusted(data.get("update_time", "")))


def parse_push_times(artifact: Mapping[str, Any]) -> dict[str, datetime]:
    """tag -> when it was pushed: the tag's own `push_time`, else its artifact's.

    Harbor keeps both; the tag's moves when that tag is pushed again, which is what
    retention asks ("how long has this tag been there"). Unreadable times are left out.
    """
    fallback = parse_time(artifact.get("push_time"))
    times: dict[str, datetime] = {}
    tags = artifact.get("tags")
    for tag in tags if isinstance(tags, list) else ():
        name = tag.get("name") if isinstance(tag, dict) else None
        when = parse_time(tag.get("push_time")) if isinstance(tag, dict) else None
        chosen = when if when is not None else fallback
        if isinstance(name, str) and chosen is not None:
            times[name] = chosen
    return times
