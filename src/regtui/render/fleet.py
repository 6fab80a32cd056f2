"""The fleet view as pure data: one line per configured registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from regtui.render import formats
from regtui.render.columns import Column
from regtui.text import safe_text

FLEET_COLUMNS = (
    Column("name", "REGISTRY", 14, priority=0),
    Column("status", "STATUS", 8, priority=0),
    Column("api", "FLAVOR/API", 26, priority=4),
    Column("repos", "REPOS", 6, priority=1, align="right"),
    Column("tags", "TAGS", 7, priority=2, align="right"),
    Column("size", "SIZE", 10, priority=2, align="right"),
    Column("age", "DATA AGE", 14, priority=3),
    Column("rate", "REQ/S", 6, priority=4, align="right"),
    Column("error", "LAST ERROR", 16, priority=5, flex=True),
)


@dataclass(slots=True)
class RegistryStatus:
    """What the dashboard knows about one registry right now (None: not known yet)."""

    name: str
    url: str
    flavor: str
    reachable: bool | None = None
    api_version: str = ""
    repositories: int | None = None
    tags: int | None = None
    size_bytes: int | None = None
    fetched_at: datetime | None = None
    error: str = ""
    loading: bool = False
    failing_tags: int = 0
    """Tags whose scan findings reach `[registries.scans] fail_on`, among those read."""
    tag_errors: int = 0
    """Tags listed but not (fully) read in the data shown: each one is a row with its error."""
    from_snapshot: bool = False
    """The data shown is the last snapshot, not yet revalidated against the registry."""
    request_rate: float | None = None
    """regtui's own requests per second to this registry, lately (None: not measured)."""

    @property
    def key(self) -> str:
        return self.name


def status_word(status: RegistryStatus) -> str:
    """`up`, `down`, `stale` (reachable before, failing now) or `…` while the first load runs."""
    if status.reachable is None:
        return "…" if status.loading or not status.error else "down"
    if status.error:
        return "stale" if status.reachable else "down"
    return "up" if status.reachable else "down"


def fleet_cells(status: RegistryStatus, now: datetime) -> tuple[str, ...]:
    """Display strings in `FLEET_COLUMNS` order."""
    api = f"{status.flavor} {status.api_version}".strip()
    return (
        safe_text(status.name, 60),
        status_word(status),
        safe_text(api, 60),
        _count(status.repositories),
        _count(status.tags),
        formats.size(status.size_bytes) if status.size_bytes is not None else formats.UNKNOWN,
        _age(status, now),
        _rate(status.request_rate),
        safe_text(status.error, 300) or _tag_errors(status.tag_errors) or _failing(status),
    )


def _failing(status: RegistryStatus) -> str:
    if not status.failing_tags:
        return "-"
    return f"{status.failing_tags:,} tags over fail_on"


def _tag_errors(count: int) -> str:
    if not count:
        return ""
    return f"{count:,} tag{'s' if count != 1 else ''} could not be read"


def _age(status: RegistryStatus, now: datetime) -> str:
    if status.fetched_at is None:
        return "never"
    age = formats.age(status.fetched_at, now)
    return f"{age} (snapshot)" if status.from_snapshot else age


def _rate(rate: float | None) -> str:
    """Coarse on purpose: the cell changes (and is redrawn) only when the rate really does."""
    if rate is None:
        return formats.UNKNOWN
    return f"{rate:.1f}" if rate < 10 else f"{rate:,.0f}"


def _count(value: int | None) -> str:
    return formats.UNKNOWN if value is None else f"{value:,}"
