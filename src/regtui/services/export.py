"""Write tag records for scripts: JSON Lines (streamed), JSON, CSV (streamed) or a table."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, Final, TextIO

from regtui.registry.models import TagRecord
from regtui.text import safe_text

FORMATS: Final = ("jsonl", "json", "csv", "table")
FIELDS: Final = (
    "registry", "repository", "tag", "digest", "media_type", "size_bytes", "platforms",
    "created", "artifact_kind", "subject_digest",
)
CELL_LIMIT: Final = 1000
CONFIG_FIELDS: Final = frozenset({"created", "platforms"})
"""Fields only an image config can fill: a walk that prints none of them fetches no config."""


def parse_fields(text: str | None) -> tuple[str, ...]:
    """`--fields a,b` in the order given; every name must be one of FIELDS, once.

    An empty list (`--fields ""`, a script's unset variable) is an error, not every field,
    and so is a name given twice (a typo for another field, most likely)."""
    if text is None:
        return FIELDS
    parts = [part.strip() for part in text.split(",") if part.strip()]
    known = f"known: {', '.join(FIELDS)}"
    if not parts:
        raise ValueError(f"--fields: no field named; {known}")
    unknown = [name for name in dict.fromkeys(parts) if name not in FIELDS]
    if unknown:
        raise ValueError(f"--fields: unknown field(s) {', '.join(unknown)}; {known}")
    twice = [name for name, count in Counter(parts).items() if count > 1]
    if twice:
        raise ValueError(f"--fields: {', '.join(twice)} named more than once")
    return tuple(parts)


def record_dict(record: TagRecord) -> dict[str, Any]:
    """The stable, documented shape of one inventory record."""
    return {
        "registry": record.registry,
        "repository": record.repository,
        "tag": record.tag,
        "digest": record.digest,
        "media_type": record.media_type,
        "size_bytes": record.size_bytes,
        "platforms": list(record.platforms),
        "created": record.created_text or (record.created.isoformat().replace("+00:00", "Z")
                                           if record.created else None),
        "artifact_kind": record.artifact_kind.value,
        "subject_digest": record.subject_digest,
    }


async def write_records(records: AsyncIterator[TagRecord], fmt: str, out: TextIO,
                        fields: tuple[str, ...] = FIELDS) -> int:
    """Write every record (only `fields`); streamed formats flush per record."""
    writer = {"jsonl": _jsonl, "json": _json, "csv": _csv, "table": _table}[fmt]
    return await writer(records, out, fields)


def _only(record: TagRecord, fields: tuple[str, ...]) -> dict[str, Any]:
    whole = record_dict(record)
    return whole if fields == FIELDS else {name: whole[name] for name in fields}


async def _jsonl(records: AsyncIterator[TagRecord], out: TextIO,
                 fields: tuple[str, ...]) -> int:
    count = 0
    async for record in records:
        out.write(json.dumps(_only(record, fields)) + "\n")
        count += 1
    out.flush()
    return count


async def _json(records: AsyncIterator[TagRecord], out: TextIO,
                fields: tuple[str, ...]) -> int:
    items = [_only(record, fields) async for record in records]
    json.dump(items, out, indent=2)
    out.write("\n")
    return len(items)


async def _csv(records: AsyncIterator[TagRecord], out: TextIO,
               fields: tuple[str, ...]) -> int:
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    count = 0
    async for record in records:
        row = _only(record, fields)
        if "platforms" in row:
            row["platforms"] = " ".join(row["platforms"])
        # Valid names and tags never hold control characters; a hostile registry's would
        # reach whatever terminal shows the file.
        writer.writerow({k: safe_text(v, CELL_LIMIT) if isinstance(v, str) else v
                         for k, v in row.items()})
        count += 1
    return count


async def _table(records: AsyncIterator[TagRecord], out: TextIO,
                 fields: tuple[str, ...]) -> int:
    """For eyes, not scripts: aligned, control characters made visible."""
    columns = ("repository", "tag", "digest", "size_bytes", "platforms", "created",
               "artifact_kind") if fields == FIELDS else fields
    rows = [[_cell(record_dict(r)[c]) for c in columns] async for r in records]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    for row in [list(columns), *rows]:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                  .rstrip() + "\n")
    return len(rows)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        value = ",".join(value)
    text = str(value)
    if isinstance(value, str) and value.startswith("sha256:"):
        text = value[:19]
    return safe_text(text, CELL_LIMIT)
