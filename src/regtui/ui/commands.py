"""Command palette providers: each screen offers its own context commands.

Titles carry repository and tag names, so the provider shows them only as `Shown` text:
the palette draws what it is given, escape sequences included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from regtui.text import Shown


@dataclass(frozen=True, slots=True)
class ContextCommand:
    """One palette entry: what it is called, what it does, and how to do it."""

    title: str
    help: str
    callback: Callable[[], object]


@runtime_checkable
class HasContextCommands(Protocol):
    def context_commands(self) -> list[ContextCommand]: ...


class ContextCommands(Provider):
    """Asks the screen under the palette for the commands that make sense there."""

    def _commands(self) -> list[ContextCommand]:
        screen = self.screen
        return screen.context_commands() if isinstance(screen, HasContextCommands) else []

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(_shown(command.title), partial(command.callback),
                               help=_shown(command.help))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            title = _shown(command.title)
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(command.callback),
                          text=title, help=_shown(command.help))


def _shown(text: str) -> Shown:
    return Shown(text, 300)
