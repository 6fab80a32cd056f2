"""RFC 7235 `WWW-Authenticate` parsing: which scheme a registry wants, and its parameters.

Registries send several challenges, quoted commas, escaped quotes and bare token68 values;
the parser is a small scanner so none of that is guessed with a split. Garbage is skipped,
never an exception: the caller decides what an unusable challenge means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Challenge:
    """One RFC 7235 challenge; `scheme` as written, `params` keys lower-cased."""

    scheme: str
    """`Bearer`, `Basic` ... as the server wrote it; compare with `is_bearer`/`is_basic`."""
    params: Mapping[str, str] = field(default_factory=dict)
    """`realm`, `service`, `scope`, `error` ...; a bare token68 is kept under `token68`."""

    @property
    def is_bearer(self) -> bool:
        return self.scheme.lower() == "bearer"

    @property
    def is_basic(self) -> bool:
        return self.scheme.lower() == "basic"


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_BARE = re.compile(r"[^,\s]+")


class _Scanner:
    """A cursor over a header value; the challenge grammar needs one token of look-ahead."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def skip(self, chars: str = " \t") -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> str:
        found = pattern.match(self.text, self.pos)
        if not found:
            return ""
        self.pos = found.end()
        return found.group()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def quoted(self) -> str:
        """A quoted-string: backslash escapes the next character."""
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            out.append(self.text[self.pos])
            self.pos += 1
        self.pos += 1
        return "".join(out)


def _param(scan: _Scanner) -> tuple[str, str] | None:
    """`name = value`, or None (position restored) when the next thing starts a challenge."""
    start = scan.pos
    scan.skip(" \t,")
    name = scan.match(_TOKEN)
    scan.skip()
    if not name or scan.peek() != "=":
        scan.pos = start
        return None
    scan.pos += 1
    scan.skip()
    value = scan.quoted() if scan.peek() == '"' else scan.match(_BARE)
    return name.lower(), value


def _challenge(scan: _Scanner) -> Challenge | None:
    scan.skip(" \t,")
    scheme = scan.match(_TOKEN)
    if not scheme:
        return None
    scan.skip()
    params: dict[str, str] = {}
    token68 = _token68(scan)
    if token68:
        params["token68"] = token68
    while (pair := _param(scan)) is not None:
        params[pair[0]] = pair[1]
    return Challenge(scheme, params)


def _token68(scan: _Scanner) -> str:
    """A bare token68 after the scheme (e.g. `Negotiate abc==`), not a `name=value` param."""
    start = scan.pos
    value = scan.match(_TOKEN68)
    end = scan.pos
    scan.skip()
    if value and scan.peek() in ("", ","):
        scan.pos = end
        return value
    scan.pos = start
    return ""


def parse_www_authenticate(header: str | list[str]) -> list[Challenge]:
    """Every challenge in one header value (or several), in order; garbage is skipped."""
    values = [header] if isinstance(header, str) else header
    challenges: list[Challenge] = []
    for value in values:
        scan = _Scanner(value)
        while scan.pos < len(value):
            before = scan.pos
            found = _challenge(scan)
            if found is not None:
                challenges.append(found)
            if scan.pos == before:
                scan.pos += 1
    return challenges
