"""The one registry of key bindings, found in the screens and widgets themselves.

`?` lists it and `[keymap]` accepts exactly its ids, so a binding added anywhere in
`regtui.ui` is listed and remappable without a second, hand-kept list. Ids read
`area.verb-noun`; ids of earlier releases stay accepted as aliases, with a notice.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from textual.binding import Binding, BindingType
from textual.dom import DOMNode

BindingGroups = list[tuple[str, Iterable[BindingType]]]

ID_STYLE: Final = re.compile(r"^[a-z]+\.[a-z0-9]+(-[a-z0-9]+)*$")
ALIASES: Final[Mapping[str, str]] = {
    "help": "app.help", "quit": "app.quit", "palette": "app.palette", "audit": "app.audit-log",
    "filter": "screen.filter", "command": "screen.jump", "back": "screen.back",
    "refresh": "screen.refresh", "fold": "registry.fold",
    "storage-back": "storage.back", "storage-sort": "storage.cycle-sort",
    "storage-refresh": "storage.refresh", "gc-no": "gc.cancel", "gc-back": "gc.back",
    "confirm-cancel": "confirm.cancel", "audit-back": "audit.back",
    "audit-reload": "audit.refresh", "retention-back": "retention.back",
    "detail.copy_tag": "detail.copy-tag", "detail.copy_digest": "detail.copy-digest",
    "logs.next_match": "logs.next-match", "logs.previous_match": "logs.previous-match",
    "logs.context_more": "logs.more-context", "logs.context_less": "logs.less-context",
    "logs.window_all": "logs.window-all", "logs.window_5m": "logs.window-5m",
    "logs.window_15m": "logs.window-15m", "logs.window_1h": "logs.window-1h",
    "logs.open_repository": "logs.open-repository", "table.page_up": "table.page-up",
    "table.page_down": "table.page-down", "logs.page_up": "logs.page-up",
    "logs.page_down": "logs.page-down", "logs.next_source": "logs.next-source",
    "logs.previous_source": "logs.previous-source", "metrics.range_15m": "metrics.range-15m",
    "metrics.range_1h": "metrics.range-1h", "metrics.range_6h": "metrics.range-6h",
    "metrics.range_24h": "metrics.range-24h", "metrics.range_7d": "metrics.range-7d",
}
"""Old id -> current id: a keymap written for an earlier release keeps working."""

_PACKAGES: Final = ("regtui.ui.screens", "regtui.ui.widgets")


def _import_all() -> None:
    for package_name in _PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package_name}.{module.name}")


def _subclasses(cls: type[DOMNode]) -> Iterator[type[DOMNode]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def ui_classes(app_class: type[DOMNode]) -> list[type[DOMNode]]:
    """The app, then every screen and widget class of `regtui.ui` that declares bindings."""
    _import_all()
    found = {c for c in _subclasses(DOMNode)
             if c.__module__.startswith("regtui.ui.") and "BINDINGS" in c.__dict__
             and c.__dict__["BINDINGS"]}
    # A subclass of the app (a test harness) lists the bindings of the class declaring them.
    owner = next((c for c in app_class.__mro__ if c.__dict__.get("BINDINGS")), app_class)
    found.discard(owner)
    ordered = sorted(found, key=lambda c: (_rank(c), c.__module__, c.__name__))
    return [owner, *ordered]


def _rank(cls: type[DOMNode]) -> int:
    """The base screen's keys (they work everywhere), dashboard screens, other screens,
    widgets, then dialogs."""
    from textual.screen import ModalScreen, Screen

    from regtui.ui.screens.base import BaseScreen

    if cls is BaseScreen:
        return 0
    if issubclass(cls, ModalScreen):
        return 4
    if issubclass(cls, BaseScreen):
        return 1
    return 2 if issubclass(cls, Screen) else 3


def title_of(cls: type[DOMNode]) -> str:
    """A class's `BINDINGS_TITLE`, else its name in words (`FilterBar` -> `Filter bar`)."""
    title = cls.__dict__.get("BINDINGS_TITLE")
    if isinstance(title, str):
        return title
    name = cls.__name__.removesuffix("Screen") or cls.__name__
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name)
    return " ".join(words).capitalize()


def binding_groups(app_class: type[DOMNode]) -> BindingGroups:
    return [(title_of(cls), list(cls.__dict__["BINDINGS"])) for cls in ui_classes(app_class)]


def binding_ids(groups: BindingGroups) -> set[str]:
    return {b.id for _, group in groups for b in group if isinstance(b, Binding) and b.id}


def resolve_keymap(keymap: Mapping[str, str], known: set[str]
                   ) -> tuple[dict[str, str], list[str], list[str]]:
    """The keymap in current ids, the old ids it used (`old -> new`) and the unknown ones."""
    resolved: dict[str, str] = {}
    renamed: list[str] = []
    unknown: list[str] = []
    for key, value in keymap.items():
        current = ALIASES.get(key, key)
        if current not in known:
            unknown.append(key)
            continue
        if current != key:
            renamed.append(f"{key} -> {current}")
            if current in keymap:
                continue  # the current id, given too, wins
        resolved[current] = value
    return resolved, renamed, sorted(unknown)
