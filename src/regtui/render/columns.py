"""Table columns that fit the terminal: low-priority columns drop out at 80 columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

from regtui.text import Shown

SEPARATOR = 1


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table; the `flex` column takes whatever width is left."""

    key: str
    label: str
    width: int
    priority: int = 0
    """Lower numbers survive longer when the table is narrow."""
    align: Literal["left", "right"] = "left"
    flex: bool = False


def fit_columns(columns: tuple[Column, ...], width: int) -> list[tuple[Column, int]]:
    """Drop the least important columns until the rest fit, then give the slack to `flex`
    (or, when the flex column was dropped, to the first column)."""
    kept = list(columns)
    while len(kept) > 1 and _needed(kept) > width:
        kept.remove(max(kept, key=lambda column: column.priority))
    spare = max(0, width - _needed(kept))
    flex = next((column for column in kept if column.flex), kept[0] if kept else None)
    return [(column, column.width + (spare if column is flex else 0)) for column in kept]


def _needed(columns: list[Column]) -> int:
    return sum(column.width for column in columns) + SEPARATOR * (len(columns) - 1)


Span = tuple[int, int, str]
"""`(start, end, component class)` over a cell's characters."""


class Styled(Shown):
    """A cell whose parts carry their own theme class: `2C 1H 4M`, each count in its
    severity's colour. Parts are made literal one by one, as every `Shown` is; the classes
    name styles the table defines from theme variables, never colours."""

    spans: tuple[Span, ...]

    def __new__(cls, parts: Iterable[tuple[str, str]], sep: str = " ",
                max_len: int = 200) -> Styled:
        texts: list[str] = []
        spans: list[Span] = []
        at = 0
        for text, style in parts:
            shown = Shown(text, max_len)
            if texts:
                at += len(sep)
            if style and shown:
                spans.append((at, at + len(shown), style))
            texts.append(shown)
            at += len(shown)
        cell = cast(Styled, super().__new__(cls, sep.join(texts), max_len))
        kept = len(cell) if len(cell) == at else len(cell) - 1  # a cut ends in the ellipsis
        cell.spans = tuple((start, min(end, kept), style) for start, end, style in spans
                           if start < kept)
        return cell
