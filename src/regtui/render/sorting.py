"""Sort keys: version-aware tag names, sizes and dates, over every tag rather than a page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_CHUNKS = re.compile(r"(\d+)")
_RELEASE = re.compile(r"^v?\d+(?:\.\d+)*$")

NameKey = tuple[tuple[tuple[int, int, str], ...], tuple[int, tuple[tuple[int, int, str], ...]]]
_OLDEST = datetime.min.replace(tzinfo=UTC)


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """Numbers compare as numbers ("1.10" after "1.9"); text compares case-insensitively."""
    parts: list[tuple[int, int, str]] = []
    for index, chunk in enumerate(_CHUNKS.split(text)):
        if not chunk:
            continue
        if index % 2:
            parts.append((0, int(chunk), ""))
        else:
            parts.append((1, 0, chunk.lower()))
    return tuple(parts)


def version_key(name: str) -> NameKey:
    """Order tags as operators read versions: `1.9 < 1.10`, `1.0.0-rc1 < 1.0.0`, `v2 = 2`."""
    base, sep, pre = name.partition("-")
    if sep and _RELEASE.match(base):
        return (_natural(base.lstrip("v")), (0, _natural(pre)))
    if _RELEASE.match(name):
        return (_natural(name.lstrip("v")), (1, ()))
    return (_natural(name), (1, ()))


def date_key(value: datetime | None) -> datetime:
    """Unknown dates sort as the oldest; naive dates are taken as UTC."""
    if value is None:
        return _OLDEST
    return value if value.tzinfo else value.replace(tzinfo=UTC)
