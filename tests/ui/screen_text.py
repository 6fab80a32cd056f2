"""Read what a running app shows, as plain text, for assertions."""

from __future__ import annotations

from typing import Any

from textual.app import App


def screen_text(app: App[Any]) -> str:
    """Every line the compositor would send to the terminal, without styles."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def flat(text: str) -> str:
    """Screen text with line breaks and borders removed, for values that wrap."""
    return "".join(line.strip("│ ") for line in text.splitlines())
