"""A footer that keeps the most important keys when the terminal is narrow.

Textual's footer lays every shown binding out left to right and the terminal cuts what does
not fit, so at 80 columns `? Help`, `q Quit` and delete (the app's bindings come last) were
the ones lost. Here the keys that do not fit are dropped by priority instead, the rest keep
their order.
"""

from __future__ import annotations

from collections.abc import Iterator

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

FOOTER_PRIORITY: dict[str, int] = {
    "app.help": 0,
    "app.quit": 0,
    "registry.delete-tag": 1,
    "screen.back": 2,
    "screen.filter": 2,
    "table.select": 3,
    "screen.jump": 3,
    "screen.refresh": 3,
}
"""Lower survives longer; bindings not named here rank after all of these."""
DEFAULT_PRIORITY = 5
PALETTE_WIDTH = 13
"""`▏^p Palette ` docked on the right."""


def key_width(key_display: str, description: str) -> int:
    """Cells one key takes in the (non-compact) footer: ` key ` then `description `."""
    return len(key_display) + 2 + (len(description) + 1 if description else 0)


def keep_fitting(keys: list[tuple[Binding, int]], width: int) -> list[Binding]:
    """Drop the lowest-priority keys (the rightmost first among equals) until they fit."""
    kept = list(keys)
    while kept and sum(cells for _, cells in kept) > width:
        worst = max(range(len(kept)),
                    key=lambda i: (FOOTER_PRIORITY.get(kept[i][0].id or "", DEFAULT_PRIORITY), i))
        kept.pop(worst)
    return [binding for binding, _ in kept]


class PriorityFooter(Footer):
    """The footer every regtui screen uses."""

    def _shown(self) -> Iterator[tuple[Binding, bool, str]]:
        seen: set[str] = set()
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)  # one key per action, as Textual's footer does
                yield binding, enabled, tooltip

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        shown = list(self._shown())
        room = (self.size.width or self.app.size.width) - PALETTE_WIDTH
        sized = [(b, key_width(self.app.get_key_display(b), b.description)) for b, _, _ in shown]
        kept = {id(b) for b in keep_fitting(sized, room)}
        for binding, enabled, tooltip in shown:
            if id(binding) in kept:
                yield FooterKey(binding.key, self.app.get_key_display(binding),
                                binding.description, binding.action, disabled=not enabled,
                                tooltip=tooltip).data_bind(compact=Footer.compact)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _, binding, enabled, _ = palette
                yield FooterKey(binding.key, self.app.get_key_display(binding),
                                binding.description, binding.action,
                                classes="-command-palette", disabled=not enabled,
                                tooltip=binding.tooltip or binding.description)

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)
