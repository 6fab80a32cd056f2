"""What may go on the clipboard: only text that matches the grammar it claims to be.

A registry chooses tag and repository names, so `docker pull host/app:<tag>` can carry a
newline and a second command. Every copy names its grammar and is refused, with one line
saying which grammar failed, unless the whole text matches it.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from regtui.errors import RegtuiError
from regtui.registry.cache import DIGEST_RE
from regtui.registry.push import NAME_RE
from regtui.text import safe_text

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST: Final = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?"
"""A registry host as the distribution reference grammar writes it, with an optional port."""
TAG: Final = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_NAME = NAME_RE.pattern.strip("^$")
_DIGEST = DIGEST_RE.pattern.replace("^", "").replace("$", "")
_REFERENCE = rf"{HOST}/{_NAME}(?::{TAG}|@(?:{_DIGEST}))"


class Grammar(enum.Enum):
    """The kinds of text regtui copies, each with the full-match pattern it must satisfy."""

    PULL_COMMAND = ("docker pull command", rf"docker pull {_REFERENCE}")
    REFERENCE = ("image reference", _REFERENCE)
    DIGEST = ("digest", _DIGEST)
    VULNERABILITY_ID = ("vulnerability id", r"CVE-\d{4}-\d{4,19}|GHSA(?:-[2-9cfghjmpqrvwx]{4}){3}")

    def __init__(self, label: str, pattern: str) -> None:
        self.label = label
        self.pattern = re.compile(pattern, re.ASCII)


class CopyRefused(RegtuiError):
    """The text does not match the grammar it was offered as; nothing was copied."""


MAX_COPY: Final = 600
"""Longer than any valid reference (255-character name, 128-character tag, host, command)."""


def checked_copy(text: str, grammar: Grammar) -> str:
    """`text` unchanged when it is a valid `grammar` in full; else raise `CopyRefused`."""
    if len(text) <= MAX_COPY and grammar.pattern.fullmatch(text) is not None:
        return text
    shown = safe_text(text, 120)
    raise CopyRefused(f"not copied: {shown!r} is not a valid {grammar.label}")
