"""Make untrusted text safe to show: control characters visible, long values cut.

Everything a registry sends (names, labels, history, annotations, logs, CVE text) passes
through `safe_text` before it reaches a widget, so it can neither restyle the screen nor
send escape sequences to the terminal.
"""

from __future__ import annotations

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


def safe_text(value: object, max_len: int = 200, *, multiline: bool = False) -> str:
    """Return `value` as plain text with control characters visible, cut to `max_len` with `…`.

    `multiline` keeps `\\n` for blocks such as a manifest body; every other control stays visible.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_len * 4:
        text = text[: max_len * 4]  # bound the work on 10 kB values before translating
    text = text.translate(_MULTI_LINE if multiline else _ONE_LINE)
    return cut(text, max_len)


def cut(text: str, max_len: int) -> str:
    """Cut `text` to at most `max_len` characters, marking the cut with an ellipsis."""
    if max_len <= 0:
        return ""
    if len(text) <= max_len:
        return text
    return text[: max_len - 1] + ELLIPSIS
