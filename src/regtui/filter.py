"""The `/` filter language, shared by every pane and the log search (below services and render).

`text` matches a case-insensitive substring, `~regex` a regular expression (case-insensitive;
`^` and `$` anchor each searched field, e.g. the tag name), and a leading `!` inverts either.
An empty query matches everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from regtui.errors import UsageError

T = TypeVar("T")

FILTER_HELP = "text: substring · ~regex: regular expression · !: invert (e.g. !~^v1\\.)"


class FilterError(UsageError):
    """The filter typed by the operator cannot be used (a bad regular expression)."""


@dataclass(frozen=True, slots=True)
class TextFilter:
    """A parsed filter; `matches` takes an already lower-cased haystack for speed."""

    query: str = ""
    needle: str = ""
    pattern: re.Pattern[str] | None = None
    invert: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.needle and self.pattern is None

    def matches(self, haystack: str) -> bool:
        """True when `haystack` (lower-cased) passes the filter."""
        if self.pattern is not None:
            found = self.pattern.search(haystack) is not None
        else:
            found = self.needle in haystack
        return found != self.invert

    def apply(self, items: Sequence[T], key: Callable[[T], str]) -> list[T]:
        """Keep the items whose `key` (lower-cased) passes, preserving their order."""
        if self.is_empty:
            return list(items)
        if self.pattern is None:
            needle, invert = self.needle, self.invert
            return [item for item in items if (needle in key(item)) != invert]
        search, invert = self.pattern.search, self.invert
        return [item for item in items if (search(key(item)) is not None) != invert]

    def select(self, items: Sequence[T], haystacks: Sequence[str]) -> list[T]:
        """Like `apply` with precomputed lower-cased haystacks (one per item): no call per item."""
        if self.is_empty:
            return list(items)
        pairs = zip(items, haystacks, strict=True)
        if self.pattern is None:
            needle = self.needle
            if self.invert:
                return [item for item, hay in pairs if needle not in hay]
            return [item for item, hay in pairs if needle in hay]
        search, invert = self.pattern.search, self.invert
        return [item for item, hay in pairs if (search(hay) is not None) != invert]


def parse_filter(query: str) -> TextFilter:
    """Parse the filter text; raises `FilterError` naming the bad regex and why."""
    body = query.strip()
    invert = body.startswith("!")
    if invert:
        body = body[1:]
    source = body[1:] if body.startswith("~") else ""
    if not body or body == "~":
        return TextFilter(query=query)
    if not body.startswith("~"):
        return TextFilter(query=query, needle=body.lower(), invert=invert)
    try:
        pattern = re.compile(source, re.IGNORECASE | re.MULTILINE)
    except re.error as error:
        raise FilterError(f"bad regular expression in filter {source!r}: {error}") from None
    return TextFilter(query=query, needle=source, pattern=pattern, invert=invert)
