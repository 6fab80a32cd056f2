"""The two string types: `Untrusted` keeps what came, `Shown` can only be drawn literally."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from regtui.text import Shown, Untrusted, safe_text, untrusted

HOSTILE = "a\x1b]0;T\x07b\x9bc\u202ed\ne\r"


def test_untrusted_keeps_the_raw_value_for_requests_and_comparison() -> None:
    value = untrusted(HOSTILE)
    assert value == HOSTILE and isinstance(value, Untrusted)
    assert hash(value) == hash(HOSTILE)  # dict and set lookups by the plain string work
    assert untrusted(value) is value


@pytest.mark.parametrize("make", [Shown, safe_text, lambda v: Untrusted(v).shown()])
def test_every_way_to_a_shown_replaces_controls_with_visible_stand_ins(
        make: Callable[[str], Shown]) -> None:
    shown = make(HOSTILE)
    assert isinstance(shown, Shown)
    assert shown == "a␛]0;T␇b\\x9bc\\u202ed␊e␍"


def test_shown_is_bounded_and_keeps_newlines_only_when_asked() -> None:
    assert Shown("x" * 500, 10) == "x" * 9 + "…"
    assert Shown("one\ntwo\x1b", 50, multiline=True) == "one\ntwo␛"
    assert Shown(Shown("\x07"), 5) == "␇"  # sanitising twice changes nothing


def test_a_composed_shown_is_still_a_str_until_wrapped_again() -> None:
    """`+` and f-strings give a plain `str`: a renderer must wrap the result (mypy checks)."""
    composed = Shown("a") + "\x1b"
    assert type(composed) is str
    assert Shown(composed) == "a␛"
