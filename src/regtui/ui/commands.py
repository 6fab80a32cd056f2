"""Command palette providers: each screen offers its own context commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider


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
            yield DiscoveryHit(command.title, partial(command.callback), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), partial(command.callback),
                          text=command.title, help=command.help)
