"""WCAG contrast of every shipped theme's semantic colours, computed from the theme itself.

A theme that reads well in one pane can fail in another: a light theme's unfocused border was
white on white, and the 16-colour theme's unfocused cursor row was nearly invisible. The pairs
below are the ones regtui's screens draw (text on its background, borders and cursor rows
against the surface they sit on), resolved the way Textual resolves them: `auto N%` becomes
the contrasting text colour at that alpha, a translucent colour is blended over its base, and
`ansi_default` is the terminal's own default pair.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color
from textual.theme import Theme

from regtui.ui.themes import load_themes, theme_dirs

TEXT_MINIMUM = 4.5
NON_TEXT_MINIMUM = 3.0
TERMINAL_DEFAULT_FG = {True: Color(229, 229, 229), False: Color(0, 0, 0)}
TERMINAL_DEFAULT_BG = {True: Color(0, 0, 0), False: Color(255, 255, 255)}
SEVERITIES = ("critical", "high", "medium", "low", "unknown")

TEXT_PAIRS: tuple[tuple[str, str], ...] = (
    ("foreground", "background"),
    ("foreground", "surface"),
    ("foreground", "panel"),
    ("text-muted", "surface"),
    ("text-error", "surface"),
    ("text-warning", "surface"),
    ("text-success", "surface"),
    ("text-accent", "panel"),
    ("block-cursor-foreground", "block-cursor-background"),
    ("block-cursor-blurred-foreground", "block-cursor-blurred-background"),
    ("footer-key-foreground", "footer-key-background"),
    ("footer-description-foreground", "footer-description-background"),
    *((f"severity-{name}", "surface") for name in SEVERITIES),
)
NON_TEXT_PAIRS: tuple[tuple[str, str], ...] = (
    ("border", "surface"),
    ("border", "background"),
    ("border-blurred", "surface"),
    ("border-blurred", "background"),
    ("block-cursor-background", "surface"),
    ("block-cursor-blurred-background", "surface"),
)
BACKGROUND_OF = {"block-cursor-background": "surface", "block-cursor-blurred-background":
                 "surface", "footer-key-background": "panel",
                 "footer-description-background": "panel"}


def shipped_themes() -> list[Theme]:
    themes, problems = load_themes(theme_dirs()[:1])
    assert problems == []
    return themes


def relative_luminance(colour: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = colour.rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(first: Color, second: Color) -> float:
    high, low = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class Resolver:
    """Turns a theme's variable values into opaque colours as the terminal shows them."""

    def __init__(self, theme: Theme) -> None:
        self.dark = theme.dark
        self.variables = theme.to_color_system().generate()
        self.variables.update(theme.variables)

    def background(self, name: str) -> Color:
        base = BACKGROUND_OF.get(name)
        under = self.background(base) if base else TERMINAL_DEFAULT_BG[self.dark]
        return self._solid(self.variables[name], under, TERMINAL_DEFAULT_BG[self.dark])

    def foreground(self, name: str, over: Color) -> Color:
        return self._solid(self.variables[name], over, TERMINAL_DEFAULT_FG[self.dark])

    @staticmethod
    def _solid(value: str, over: Color, default: Color) -> Color:
        value = value.strip()
        if value.startswith("auto"):
            percent = value.removeprefix("auto").strip().rstrip("%") or "100"
            return over + over.get_contrast_text(float(percent) / 100)
        colour = Color.parse(value)
        if colour.ansi == -1:
            return default
        return over + colour if colour.a < 1 else colour


def _cases(pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str, str]]:
    return [(theme.name, fg, bg) for theme in shipped_themes() for fg, bg in pairs]


THEMES = {theme.name: theme for theme in shipped_themes()}


def test_gallery_has_the_four_kinds() -> None:
    names = set(THEMES)
    assert {"regtui-dusk", "regtui-paper", "regtui-contrast", "regtui-ansi"} <= names
    assert not THEMES["regtui-paper"].dark and THEMES["regtui-dusk"].dark


@pytest.mark.parametrize(("theme", "fg", "bg"), _cases(TEXT_PAIRS))
def test_text_contrast(theme: str, fg: str, bg: str) -> None:
    resolve = Resolver(THEMES[theme])
    background = resolve.background(bg)
    ratio = contrast(resolve.foreground(fg, background), background)
    assert ratio >= TEXT_MINIMUM, f"{theme}: ${fg} on ${bg} is {ratio:.2f}:1"


@pytest.mark.parametrize(("theme", "fg", "bg"), _cases(NON_TEXT_PAIRS))
def test_border_and_cursor_contrast(theme: str, fg: str, bg: str) -> None:
    resolve = Resolver(THEMES[theme])
    ratio = contrast(resolve.background(fg), resolve.background(bg))
    assert ratio >= NON_TEXT_MINIMUM, f"{theme}: ${fg} against ${bg} is {ratio:.2f}:1"


def test_high_contrast_theme_reads_in_greyscale() -> None:
    """Projectors wash hue out: the pairs must hold on luminance alone, with margin."""
    resolve = Resolver(THEMES["regtui-contrast"])
    for fg, bg in TEXT_PAIRS:
        background = resolve.background(bg)
        assert contrast(resolve.foreground(fg, background), background) >= 7.0, (fg, bg)


def test_contrast_measure_can_fail() -> None:
    """The measure itself: white on white is 1:1, black on white 21:1."""
    assert contrast(Color(255, 255, 255), Color(255, 255, 255)) == pytest.approx(1.0)
    assert contrast(Color(0, 0, 0), Color(255, 255, 255)) == pytest.approx(21.0)


def test_gallery_is_the_packaged_directory() -> None:
    assert (theme_dirs()[0] / "regtui-dusk.toml").is_file()
    assert Path(theme_dirs()[0]).name == "themes"
