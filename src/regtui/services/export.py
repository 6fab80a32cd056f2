"""Write tag records for scripts: JSON Lines (streamed), JSON, CSV (streamed) or a table."""

from __future__ import annotations

import csv
import json
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


async def write_records(records: AsyncIterator[TagRecord], fmt: str, out: TextIO) -> int:
    """Write every record; streamed formats flush per record so pipes see progress."""
    writer = {"jsonl": _jsonl, "json": _json, "csv": _csv, "table": _table}[fmt]
    return await writer(records, out)


async def _jsonl(records: AsyncIterator[TagRecord], out: TextIO) -> int:
    count = 0
    async for record in records:
        out.write(json.dumps(record_dict(record)) + "\n")
        count += 1
    out.flush()
    return count


async def _json(records: AsyncIterator[TagRecord], out: TextIO) -> int:
    items = [record_dict(record) async for record in records]
    json.dump(items, out, indent=2)
    out.write("\n")
    return len(items)


async def _csv(records: AsyncIterator[TagRecord], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    async for record in records:
        row = record_dict(record)
        row["platforms"] = " ".join(row["platforms"])
        # Valid names and tags never hold control characters; a hostile registry's would
        # reach whatever terminal shows the file.
        writer.writerow({k: safe_text(v, CELL_LIMIT) if isinstance(v, str) else v
                         for k, v in row.items()})
        count += 1
    return count


async def _table(records: AsyncIterator[TagRecord], out: TextIO) -> int:
    """For eyes, not scripts: aligned, control characters made visible."""
    columns = ("repository", "tag", "digest", "size_bytes", "platforms", "created",
               "artifact_kind")
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
