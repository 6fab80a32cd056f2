"""Themes from `themes/*.toml`: every colour checked, all problems reported at once.

A theme file is `name`, `primary` and optional Textual theme colours, `dark`, and a
`[variables]` table. A file with any bad colour is skipped; the app falls back to the
default theme and shows one notification listing every problem.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

COLOUR_KEYS = ("primary", "secondary", "warning", "error", "success", "accent",
               "foreground", "background", "surface", "panel", "boost")
KNOWN_KEYS = {"name", "dark", "luminosity_spread", "text_alpha", "variables", *COLOUR_KEYS}


SEVERITY_DEFAULTS = {
    "severity-critical": "#ff5f6d",
    "severity-high": "#f0a35e",
    "severity-medium": "#e5c07b",
    "severity-low": "#8fbcdb",
    "severity-unknown": "#a3aab8",
}
"""regtui's own theme variables, for themes (Textual's, a user's) that do not set them."""


def user_theme_dir(env: Mapping[str, str] = os.environ) -> Path:
    """`$XDG_CONFIG_HOME/regtui/themes`, else `~/.config/regtui/themes`."""
    base = env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "regtui" / "themes"


def theme_dirs() -> list[Path]:
    """The gallery shipped in the package, the repository's `themes/`, then the user's.

    The first directory that defines a name wins, so a user file cannot silently replace a
    shipped theme: it must take a name of its own.
    """
    package = Path(__file__).resolve().parent.parent
    found: list[Path] = []
    for candidate in (package / "themes", package.parent.parent / "themes", user_theme_dir()):
        if candidate.resolve() not in [f.resolve() for f in found]:
            found.append(candidate)  # in a checkout `themes/` links to the package's
    return found


def load_theme_file(path: Path) -> tuple[Theme | None, list[str]]:
    """Parse one file; returns the theme or every problem found in it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return None, [f"{path}: {error}"]
    problems = [f"{path}: unknown key {key!r}" for key in data if key not in KNOWN_KEYS]
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        problems.append(f"{path}: 'name' and 'primary' are required strings")
    colours = {key: data[key] for key in COLOUR_KEYS if key in data}
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        problems.append(f"{path}: [variables] must be a table")
        variables = {}
    for key, value in [*colours.items(), *((f"variables.{k}", v) for k, v in variables.items())]:
        problems.extend(_check_colour(path, key, value))
    if problems:
        return None, problems
    return Theme(dark=bool(data.get("dark", True)), variables={**variables}, **colours,
                 name=data["name"]), []


def _check_colour(path: Path, key: str, value: object) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: {key} must be a colour string, not {type(value).__name__}"]
    if key.endswith("text-style"):
        return []  # the one kind of theme variable that is not a colour
    try:
        Color.parse(value)
    except ColorParseError:
        return [f"{path}: {key} = {value!r} is not a colour"]
    return []


def load_themes(directories: Iterable[Path]) -> tuple[list[Theme], list[str]]:
    """Every valid theme in `directories` (first one wins per name) and every problem."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for directory in directories:
        for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
            theme, errors = load_theme_file(path)
            problems.extend(errors)
            if theme is not None:
                themes.setdefault(theme.name, theme)
    return list(themes.values()), problems
