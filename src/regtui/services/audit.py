"""The audit log: one JSON line per change attempted, in any mode, whatever its outcome.

Appended with `O_APPEND` so that concurrent regtui sessions do not interleave half lines, and
written before the outcome is known would be a lie, so each attempt writes one line once it ends.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from regtui.errors import ConfigError
from regtui.redact import redact

MAX_READ_BYTES: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AuditEntry:
    time: str
    user: str
    registry: str
    action: str
    target: str
    digest: str
    command: str
    outcome: str
    """`ok`, `dry-run`, `refused: read-only`, `cancelled`, `aborted: ...` or `failed: ...`."""
    detail: str = ""
    url: str = ""
    """The registry's URL: names are local labels, two registries may share one."""


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


class AuditLog:
    """`$XDG_STATE_HOME/regtui/audit.jsonl`, owner-readable only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def check_writable(self) -> None:
        """Fail before a change rather than make one that cannot be audited."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        except OSError as exc:
            raise ConfigError(f"cannot write the audit log {self.path}: {exc.strerror}; "
                              "nothing was changed") from exc

    def record(self, *, registry: str, action: str, target: str, digest: str, command: str,
               outcome: str, detail: str = "", url: str = "") -> AuditEntry:
        entry = AuditEntry(
            time=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            user=os_user(), registry=registry, action=action, target=target, digest=digest,
            command=command, outcome=redact(outcome),
            detail=redact(" ".join(detail.split()))[:2000], url=redact(url),
        )
        line = (json.dumps(asdict(entry), ensure_ascii=True) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ConfigError(f"cannot write the audit log {self.path}: {exc.strerror}") from exc
        return entry

    def entries(self, limit: int = 1000) -> list[AuditEntry]:
        """The newest `limit` entries, oldest first; lines that are not entries are skipped."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(max(0, self.path.stat().st_size - MAX_READ_BYTES))
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        result: list[AuditEntry] = []
        for raw in lines[-limit:]:
            try:
                result.append(AuditEntry(**json.loads(raw)))
            except (ValueError, TypeError):
                continue
        return result
