"""Garbage collection for distribution: the offline `registry garbage-collect` command.

The registry entry says how to run it (`[registries.gc] command`, a template with `{config}` and
`{flags}`: local, `ssh host ...`, `kubectl exec ...`, `docker exec ...`). Output is streamed line
by line and parsed into a progress line; every run is kept in a history file.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

from regtui.config import GcConfig
from regtui.errors import ConfigError, ReadOnlyError, RegistryError

MARK_RE: Final = re.compile(r"^(?P<repo>\S+): marking (?P<what>manifest|blob) (?P<digest>\S+)")
SUMMARY_RE: Final = re.compile(
    r"(?P<marked>\d+) blobs marked, (?P<blobs>\d+) blobs and (?P<manifests>\d+) manifests "
    r"eligible for deletion")
ELIGIBLE_RE: Final = re.compile(r"^blob eligible for deletion: (?P<digest>\S+)")
DELETING_RE: Final = re.compile(r"Deleting blob: (?P<path>\S+)")
DEFAULT_ROOTDIRECTORY: Final = "/var/lib/registry"
"""distribution's filesystem driver root when the config names none."""
_STORAGE_OPTIONS: Final = frozenset({"delete", "maintenance", "cache", "redirect", "tag"})
"""Keys of `storage:` that are options, not drivers."""
MAX_LOG_LINES: Final = 20_000
MAX_LINE: Final = 4096
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class GcProgress:
    """What the output has said so far; the pane shows it as one line."""

    repositories: int = 0
    manifests_marked: int = 0
    blobs_marked: int = 0
    eligible_blobs: int = 0
    eligible_manifests: int = 0
    deleted_blobs: int = 0
    summary_seen: bool = False
    eligible_digests: list[str] = field(default_factory=list)
    _last_repo: str = ""

    def feed(self, line: str) -> None:
        if match := MARK_RE.match(line):
            if match["repo"] != self._last_repo:
                self._last_repo = match["repo"]
                self.repositories += 1
            if match["what"] == "manifest":
                self.manifests_marked += 1
            else:
                self.blobs_marked += 1
        elif match := SUMMARY_RE.search(line):
            self.summary_seen = True
            self.blobs_marked = int(match["marked"])
            self.eligible_blobs = int(match["blobs"])
            self.eligible_manifests = int(match["manifests"])
        elif match := ELIGIBLE_RE.match(line):
            self.eligible_digests.append(match["digest"])
        elif DELETING_RE.search(line):
            self.deleted_blobs += 1

    def describe(self) -> str:
        head = (f"{self.repositories} repositories, {self.manifests_marked} manifests and "
                f"{self.blobs_marked} blobs marked")
        if not self.summary_seen:
            return head + "..."
        tail = (f"; {self.eligible_blobs} blobs and {self.eligible_manifests} manifests "
                "eligible for deletion")
        return head + tail + (f"; {self.deleted_blobs} deleted" if self.deleted_blobs else "")


@dataclass(frozen=True)
class GcRun:
    """One run, as kept in the history."""

    time: str
    registry: str
    mode: str
    command: str
    exit_code: int
    progress: dict[str, int]
    bytes_before: int | None
    bytes_after: int | None
    log_tail: list[str]
    url: str = ""
    """The registry's URL: the history's key (two registries may share a name)."""

    @property
    def bytes_freed(self) -> int | None:
        if self.bytes_before is None or self.bytes_after is None:
            return None
        return self.bytes_before - self.bytes_after


def gc_command(gc: GcConfig, *, dry_run: bool, delete_untagged: bool) -> list[str]:
    """The argv to run; the template's `{flags}` and `{config}` are filled in, shell-quoted."""
    flags = [*(["--dry-run"] if dry_run else []), *(["--delete-untagged"] if delete_untagged
                                                     else [])]
    if not gc.config:
        raise ConfigError("[registries.gc] config is not set: the path of the registry's "
                          "config.yml is needed for garbage-collect")
    try:
        text = gc.command.format(flags=" ".join(flags), config=shlex.quote(gc.config))
        argv = shlex.split(text)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"[registries.gc] command {gc.command!r} is not a valid template "
                          f"({exc}); use {{flags}} and {{config}}") from exc
    if not argv:
        raise ConfigError("[registries.gc] command is empty")
    if "{flags}" not in gc.command:
        argv.extend(flags)
    return argv


def storage_root(gc: GcConfig) -> Path | None:
    """The filesystem driver's rootdirectory, read from the registry config when local."""
    return storage_layout(gc)[0]


def storage_layout(gc: GcConfig) -> tuple[Path | None, str]:
    """(rootdirectory, "") from the registry's config.yml, or (None, why it was not found).

    Parsed as YAML (any style: block, flow `filesystem: {rootdirectory: ...}`, or JSON),
    never by pattern, so a config written another way does not silently lose the layout.
    """
    where = f"[registries.gc] config {gc.config}"
    if not gc.config:
        return None, "[registries.gc] config is not set"
    import yaml  # here, not at start-up: only a garbage-collection plan reads YAML

    try:
        document = yaml.safe_load(Path(gc.config).read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"{where}: cannot read it ({exc.strerror or exc})"
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, f"{where}: not valid YAML ({' '.join(str(exc).split())[:200]})"
    storage = document.get("storage") if isinstance(document, dict) else None
    if not isinstance(storage, dict):
        return None, f"{where}: no storage section"
    filesystem = storage.get("filesystem")
    if not isinstance(filesystem, dict):
        drivers = ", ".join(str(k) for k in storage if k not in _STORAGE_OPTIONS) or "none"
        return None, (f"{where}: storage driver is {drivers}, not filesystem: regtui can only "
                      "read a local storage tree")
    root = filesystem.get("rootdirectory", DEFAULT_ROOTDIRECTORY)
    if not isinstance(root, str) or not root.strip():
        return None, f"{where}: storage.filesystem.rootdirectory is not a path"
    path = Path(root.strip())
    if not (path / "docker").is_dir():
        return None, f"{where}: rootdirectory {path} holds no docker/ tree on this machine"
    return path, ""


def blob_bytes(root: Path | None) -> int | None:
    """Bytes of every blob data file in a distribution storage tree."""
    if root is None:
        return None
    blobs = root / "docker" / "registry" / "v2" / "blobs"
    if not blobs.is_dir():
        return None
    return sum(p.stat().st_size for p in blobs.rglob("data") if p.is_file())


class GarbageCollector(Protocol):
    """How a registry collects garbage: a command (distribution) or, later, an API call
    (Harbor's GC schedule, Nexus's cleanup tasks). The operations service only sees this."""

    registry: str

    @property
    def untagged_deletes_index_children(self) -> bool:
        """True when `delete_untagged` also removes the untagged children of an index."""
        ...

    @property
    def note(self) -> str:
        """What the operator must know before running it (Nexus: deletes are soft); ""."""
        ...

    def describe(self, *, dry_run: bool, delete_untagged: bool) -> str:
        """The equivalent command line, for the audit log and the confirmation."""
        ...

    async def run(self, *, dry_run: bool, delete_untagged: bool = False,
                  on_line: Callable[[str, GcProgress], None] | None = None) -> GcRun: ...

    def history(self) -> list[GcRun]: ...


class GcRunner:
    """Runs garbage-collect for one registry; refuses in read-only mode before spawning."""

    untagged_deletes_index_children: Final = True
    """distribution 2.x's `--delete-untagged` does not follow an index to its children."""
    note: Final = ""

    def __init__(self, registry: str, gc: GcConfig, *, read_only: bool,
                 history_path: Path, url: str = "", clock: Clock = utc_now) -> None:
        self.registry = registry
        self.clock = clock
        """When a run happened, as its history row shows it (snapshots fix it)."""
        self.url = url
        self.gc = gc
        self.read_only = read_only
        self.history_path = history_path

    def describe(self, *, dry_run: bool, delete_untagged: bool) -> str:
        return shlex.join(gc_command(self.gc, dry_run=dry_run, delete_untagged=delete_untagged))

    async def run(self, *, dry_run: bool, delete_untagged: bool = False,
                  on_line: Callable[[str, GcProgress], None] | None = None) -> GcRun:
        if self.read_only:
            raise ReadOnlyError(f"read-only mode: garbage-collect on registry {self.registry} "
                                "was not started")
        argv = gc_command(self.gc, dry_run=dry_run, delete_untagged=delete_untagged)
        root = storage_root(self.gc)
        before = blob_bytes(root)
        progress = GcProgress()
        tail: list[str] = []
        code = await self._stream(argv, progress, tail, on_line)
        run = GcRun(
            time=self.clock().astimezone(UTC).isoformat(timespec="seconds")
            .replace("+00:00", "Z"),
            registry=self.registry,
            mode="dry-run" if dry_run else ("delete-untagged" if delete_untagged else "collect"),
            command=shlex.join(argv), exit_code=code,
            progress={k: v for k, v in asdict(progress).items() if isinstance(v, int)
                      and not isinstance(v, bool)},
            bytes_before=before, bytes_after=blob_bytes(root), log_tail=tail[-200:],
            url=self.url,
        )
        self._remember(run)
        return run

    async def _stream(self, argv: list[str], progress: GcProgress, tail: list[str],
                      on_line: Callable[[str, GcProgress], None] | None) -> int:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL, limit=1 << 20)
        except OSError as exc:
            raise RegistryError(f"garbage-collect for {self.registry}: cannot run {argv[0]}: "
                                f"{exc.strerror}") from exc
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")[:MAX_LINE]
            progress.feed(line)
            if len(tail) < MAX_LOG_LINES:
                tail.append(line)
            if on_line is not None:
                on_line(line, progress)
        code = await process.wait()
        return code

    def _remember(self, run: GcRun) -> None:
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        with self.history_path.open("a") as handle:
            handle.write(json.dumps(asdict(run)) + "\n")

    def _ours(self, data: dict[str, object]) -> bool:
        """Keyed by URL; a run written before URLs were kept matches by name."""
        if self.url and data.get("url"):
            return data.get("url") == self.url
        return data.get("registry") == self.registry

    def history(self) -> list[GcRun]:
        try:
            lines = self.history_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        runs: list[GcRun] = []
        for line in lines:
            try:
                data = json.loads(line)
                if self._ours(data):
                    runs.append(GcRun(**data))
            except (ValueError, TypeError):
                continue
        return runs
