"""`?`: every binding the dashboard has, with the keys in effect after the config's keymap."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from regtui.filter import FILTER_HELP
from regtui.render.tags import MARK_LEGEND

BindingGroups = list[tuple[str, Iterable[BindingType]]]


class HelpScreen(ModalScreen[None]):
    """A modal list of bindings by context; the refresh timer pauses while it is open."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close",
                tooltip="Close the help"),
    ]

    def __init__(self, groups: BindingGroups) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(help_text(self.app, self.groups), id="help-text")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss()


def effective_keys(binding: Binding, keymap: Mapping[str, str]) -> str:
    """The keys a binding answers to now: the keymap's if it remaps the binding's id."""
    return keymap.get(binding.id, binding.key) if binding.id else binding.key


def key_label(app: App[object], binding: Binding, keymap: Mapping[str, str]) -> str:
    keys = effective_keys(binding, keymap).split(",")
    return ", ".join(app.get_key_display(dataclasses.replace(binding, key=k.strip()))
                     for k in keys)


def help_text(app: App[object], groups: BindingGroups) -> Text:
    """Plain text (no markup parsing) of every binding with its id, keys and purpose."""
    keymap: Mapping[str, str] = getattr(app, "_keymap", {})
    text = Text()
    for title, bindings in groups:
        text.append(f"{title}\n", style="bold underline")
        for binding in bindings:
            if not isinstance(binding, Binding) or binding.system:
                continue
            keys = key_label(app, binding, keymap)
            text.append(f"  {keys:<18}", style="bold")
            text.append(f"{binding.tooltip or binding.description}")
            text.append(f"  [{binding.id}]\n" if binding.id else "\n", style="dim")
        text.append("\n")
    text.append("Filter\n", style="bold underline")
    text.append(f"  {FILTER_HELP}\n\n")
    text.append("Tag marks\n", style="bold underline")
    for mark, meaning in MARK_LEGEND:
        text.append(f"  {mark:<4}{meaning}\n")
    text.append("\nRemap any binding by id in the config: [keymap] filter = \"f\"\n", style="dim")
    return text
