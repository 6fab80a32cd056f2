"""The fleet view as pure data: one line per configured registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from regtui.registry.models import Gauge
from regtui.render import formats
from regtui.render.columns import Column
from regtui.text import Shown, Tailed, safe_text

FLEET_COLUMNS = (
    Column("name", "REGISTRY", 14, priority=0),
    Column("status", "STATUS", 8, priority=0),
    Column("mode", "MODE", 9, priority=1),
    Column("api", "FLAVOR/API", 26, priority=4),
    Column("repos", "REPOS", 6, priority=1, align="right"),
    Column("tags", "TAGS", 7, priority=1, align="right"),
    Column("size", "LOGICAL SIZE", 12, priority=2, align="right"),
    Column("age", "DATA AGE", 14, priority=3),
    Column("rate", "REQ/S", 6, priority=4, align="right"),
    Column("limits", "LIMITS/STORE", 34, priority=2),
    Column("error", "LAST ERROR", 16, priority=5, flex=True),
    Column("notes", "NOTES", 28, priority=6),
)
"""SIZE is logical: the sum over repositories of each one's distinct blobs, so a layer two
repositories share counts twice. The storage screen's `stored` counts every blob once."""
FAILING_ERROR_PRIORITY = 3
"""While a registry fails, its error outranks the data age (which drops first at 80
columns): "down" with no reason and no retry time is not something to act on."""


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
    alias: str = ""
    """Shown instead of the URL's long host where one is configured."""
    gauges: tuple[Gauge, ...] = ()
    """Pull limits, blob store usage: what the backend learnt while reading."""
    notes: tuple[str, ...] = ()
    """Where the repository list came from, partial lists, soft deletes."""

    @property
    def shown_url(self) -> str:
        return self.alias or self.url

    @property
    def warns(self) -> bool:
        return any(gauge.warn for gauge in self.gauges)

    @property
    def key(self) -> str:
        return self.name


def status_word(status: RegistryStatus) -> str:
    """`up`, `down`, `stale` (reachable before, failing now), `snapshot` (the last snapshot,
    being revalidated) or `…` while the first load runs."""
    if status.reachable is None:
        if status.from_snapshot and not status.error:
            return "snapshot"  # the last snapshot is shown while it is revalidated
        return "…" if status.loading or not status.error else "down"
    if status.error:
        return "stale" if status.reachable else "down"
    return "up" if status.reachable else "down"


def mode_word(read_only: bool) -> Shown:
    """What the one function that decides it (`Config.effective_read_only`) said."""
    return Shown("read-only" if read_only else "writable")


def failure_text(status: RegistryStatus, retry_in: float | None) -> Tailed | None:
    """`unreachable: <reason>, retrying in 42s` (or `retrying now`) for a registry whose
    last refresh failed; None while it answers. The countdown is the scheduler's own retry
    time, and it survives any cut of the cell."""
    if not status.error:
        return None
    word = status_word(status)
    reason = safe_text(status.error, 300)
    lead = f"unreachable: {reason}" if word == "down" else f"{reason} (data kept)"
    if status.loading or retry_in is None or retry_in <= 0:
        when = "retrying now"
    else:
        when = f"retrying in {formats.countdown(retry_in)}"
    tail = f", {when}"
    return Tailed(lead + tail, 400, tail=len(tail) - 2)


def fleet_cells(status: RegistryStatus, now: datetime, *, read_only: bool = False,
                retry_in: float | None = None) -> tuple[Shown, ...]:
    """Display strings in `CELL_KEYS` order (the columns' keys; the display order of
    `FLEET_COLUMNS` differs only in where the later-added columns sit)."""
    api = f"{status.flavor} {status.api_version}".strip()
    return (
        safe_text(status.name, 60),
        Shown(status_word(status)),
        mode_word(read_only),
        safe_text(api, 60),
        _count(status.repositories),
        _count(status.tags),
        formats.size(status.size_bytes) if status.size_bytes is not None else formats.UNKNOWN,
        _age(status, now),
        _rate(status.request_rate),
        failure_text(status, retry_in) or (_tag_errors(status.tag_errors) if status.tag_errors
                                           else _failing(status) or _tag_errors(0)),
        gauges_text(status.gauges),
        safe_text("; ".join(status.notes), 300) or Shown("-"),
    )


def _failing(status: RegistryStatus) -> Shown | None:
    """Tags whose scan findings reach `[registries.scans] fail_on`, where errors go."""
    if not status.failing_tags:
        return None
    return Shown(f"{formats.plural(status.failing_tags, 'tag')} over fail_on")


CELL_KEYS = ("name", "status", "mode", "api", "repos", "tags", "size", "age", "rate", "error",
             "limits", "notes")
EXTRA_KEYS = ("limits", "notes")
"""Columns shown only once some registry has something to put in them (Hub, Nexus)."""


def fleet_columns(statuses: Sequence[RegistryStatus]) -> tuple[Column, ...]:
    extra = any(status.gauges or status.notes for status in statuses)
    failing = any(status.error for status in statuses)
    return tuple(
        replace(column, priority=FAILING_ERROR_PRIORITY)
        if failing and column.key == "error" else column
        for column in FLEET_COLUMNS if extra or column.key not in EXTRA_KEYS)


def fleet_row(status: RegistryStatus, now: datetime, columns: tuple[Column, ...], *,
              read_only: bool = False, retry_in: float | None = None) -> tuple[Shown, ...]:
    """The cells of `columns`, a subset of `FLEET_COLUMNS` in its order."""
    cells = dict(zip(CELL_KEYS, fleet_cells(status, now, read_only=read_only,
                                            retry_in=retry_in), strict=True))
    return tuple(cells[column.key] for column in columns)


def gauge_text(gauge: Gauge) -> Shown:
    """`pulls left 87/100 per 6h`, `blob store default 1.2 GB/10 GB 3,021 blobs`; a `!`
    marks one the backend warns about (under 10 % left, a quota violated)."""
    show = formats.size if gauge.unit == "bytes" else (lambda value: f"{value:,}")
    if gauge.value is None:
        amount = ""
    elif gauge.total is None:
        amount = show(gauge.value)
    else:
        amount = f"{show(gauge.value)}/{show(gauge.total)}"
    text = " ".join(part for part in (gauge.label, amount, gauge.detail) if part)
    return safe_text(("! " if gauge.warn else "") + text, 120)


def gauges_text(gauges: tuple[Gauge, ...]) -> Shown:
    return safe_text(" · ".join(gauge_text(g) for g in gauges) or "-", 400)


def _tag_errors(count: int) -> Shown:
    if not count:
        return Shown("-")
    return Shown(f"{formats.plural(count, 'tag')} could not be read")


def _age(status: RegistryStatus, now: datetime) -> Shown:
    if status.fetched_at is None:
        return Shown("never")
    return formats.age(status.fetched_at, now)


def _rate(rate: float | None) -> Shown:
    """Coarse on purpose: the cell changes (and is redrawn) only when the rate really does."""
    if rate is None:
        return formats.UNKNOWN
    return Shown(f"{rate:.1f}" if rate < 10 else f"{rate:,.0f}")


def _count(value: int | None) -> Shown:
    return formats.UNKNOWN if value is None else Shown(f"{value:,}")
