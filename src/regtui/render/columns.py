"""Table columns that fit the terminal: low-priority columns drop out at 80 columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
