"""Untrusted text in, literal text out: the two string types every layer shares.

`Untrusted` marks a string a registry, report, log or Prometheus sent. It is made once, where
the answer is parsed, and keeps the raw value (compared, hashed and sent back to the registry
as it came). Model fields that hold such strings have this type.

`Shown` is the only text the renderers hand to the UI. Making one always replaces control,
escape, C1 and bidi characters with visible stand-ins (␛, ␇, \\x9b, \\u202e) and bounds the
length, so a `Shown` can only ever be drawn literally; widgets build `Text` from it, never
markup. Render functions return `Shown` cells, so mypy rejects a raw `str` reaching a cell.
"""

from __future__ import annotations

from typing import Final

ELLIPSIS = "…"

_BIDI_AND_INVISIBLE = [
    *(0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0xFEFF),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]


def _visible_form(code: int) -> str:
    """C0 controls become Unicode control pictures (␛, ␇); others an escaped code point."""
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "␡"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _build_table(keep_newlines: bool) -> dict[int, str]:
    codes = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI_AND_INVISIBLE]
    table = {code: _visible_form(code) for code in codes}
    if keep_newlines:
        del table[0x0A]
    return table


_ONE_LINE = _build_table(keep_newlines=False)
_MULTI_LINE = _build_table(keep_newlines=True)


class Untrusted(str):
    """A string from outside (registry, report, log, Prometheus), kept exactly as it came.

    Only `Shown(value)` / `safe_text(value)` turn it into something a widget may draw.
    """

    __slots__ = ()

    def shown(self, max_len: int = 200) -> Shown:
        return Shown(self, max_len)


class Shown(str):
    """Text that is safe to draw: no control or bidi character, at most `max_len` long.

    Every instance went through the sanitiser in `__new__`; there is no other way to make one.
    """

    __slots__ = ()

    def __new__(cls, value: object = "", max_len: int = 200, *, multiline: bool = False
                ) -> Shown:
        return super().__new__(cls, _sanitise(value, max_len, multiline))


class Tailed(Shown):
    """Shown text whose last `tail` characters survive any cut: a unit (`MiB`), a suffix
    (`.sig`), a countdown (`retrying in 42s`). Tables cut such text in the middle."""

    tail: int

    def __new__(cls, value: object = "", max_len: int = 200, *, tail: int = 0) -> Tailed:
        made = str.__new__(cls, _sanitise(value, max_len, False))
        made.tail = max(0, min(tail, len(made)))
        return made


def untrusted(value: str) -> Untrusted:
    """Mark a parsed string as untrusted (the one call parsers make)."""
    return value if type(value) is Untrusted else Untrusted(value)


EMPTY: Final = Untrusted("")


def _sanitise(value: object, max_len: int, multiline: bool) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_len * 4:
        text = text[: max_len * 4]  # bound the work on 10 kB values before translating
    text = text.translate(_MULTI_LINE if multiline else _ONE_LINE)
    return cut(text, max_len)


def safe_text(value: object, max_len: int = 200, *, multiline: bool = False) -> Shown:
    """Return `value` as plain text with control characters visible, cut to `max_len` with `…`.

    `multiline` keeps `\\n` for blocks such as a manifest body; every other control stays visible.
    """
    return Shown(value, max_len, multiline=multiline)


def cut(text: str, max_len: int) -> str:
    """Cut `text` to at most `max_len` characters, marking the cut with an ellipsis."""
    if max_len <= 0:
        return ""
    if len(text) <= max_len:
        return text
    return text[: max_len - 1] + ELLIPSIS
