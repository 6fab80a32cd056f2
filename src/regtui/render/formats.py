"""Sizes, ages and digests as an operator reads them, against an injected clock."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final

import humanize

from regtui.render.sorting import date_key
from regtui.text import Shown, Tailed

UNKNOWN: Final = Shown("-")
EPOCH: Final = Shown("epoch (reproducible build)")
"""A created time of 1970-01-01: SOURCE_DATE_EPOCH=0 builds, not a 55-year-old image."""


def size(value: int | None) -> Shown:
    """`12.3 MiB`; unknown sizes show as `-`."""
    if value is None or value < 0:
        return UNKNOWN
    text = humanize.naturalsize(value, binary=True)
    unit = len(text) - text.rfind(" ") - 1 if " " in text else 0
    return Tailed(text, tail=unit)  # a narrow column cuts the number, never the unit


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


DIGEST_LENGTH: Final = 12
"""Hex digits of a shortened digest: one length on every screen, table, title and dialog."""


def short_digest(digest: str) -> Shown:
    """`sha256:0123abcd...` -> `0123abcd4567`: enough to tell images apart; the full digest
    is shown (and copied) where it is the subject."""
    _, _, hexpart = digest.partition(":")
    return Shown((hexpart or digest)[:DIGEST_LENGTH], DIGEST_LENGTH)


def countdown(seconds: float) -> Shown:
    """`42s`, `5m`, `2h`: rounded up, so it never promises something sooner than it comes."""
    if seconds < 100:
        return Shown(f"{math.ceil(seconds)}s")
    if seconds < 100 * 60:
        return Shown(f"{math.ceil(seconds / 60)}m")
    return Shown(f"{math.ceil(seconds / 3600)}h")


def plural(count: int, noun: str, nouns: str | None = None) -> Shown:
    """`1 tag`, `2 tags`, `1,024 tags`: the count with its noun, singular only for one."""
    return Shown(f"{count:,} {noun if count == 1 else (nouns or noun + 's')}")
