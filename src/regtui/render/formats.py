"""Sizes, ages and digests as an operator reads them, against an injected clock."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import humanize

from regtui.render.sorting import date_key
from regtui.text import Shown

UNKNOWN: Final = Shown("-")
EPOCH: Final = Shown("epoch (reproducible build)")
"""A created time of 1970-01-01: SOURCE_DATE_EPOCH=0 builds, not a 55-year-old image."""


def size(value: int | None) -> Shown:
    """`12.3 MiB`; unknown sizes show as `-`."""
    if value is None or value < 0:
        return UNKNOWN
    return Shown(humanize.naturalsize(value, binary=True))


def age(value: datetime | None, now: datetime) -> Shown:
    """`3 days ago` measured from `now`, so snapshots with a fixed clock stay stable."""
    if value is None:
        return UNKNOWN
    if value.year <= 1970:
        return EPOCH
    delta = date_key(now) - date_key(value)
    if abs(delta.total_seconds()) < 60:
        return Shown("just now")  # not "17 seconds ago": a label that ticks every second redraws
    return Shown(humanize.naturaltime(delta))


def short_digest(digest: str, length: int = 12) -> Shown:
    """`sha256:0123abcd...` -> `0123abcd4567`: enough to tell images apart in a table."""
    _, _, hexpart = digest.partition(":")
    return Shown((hexpart or digest)[:length], length)
