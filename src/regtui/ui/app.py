"""The regtui dashboard app: owns the store, the services, the workers and the one error line.

Data flows one way: workers call the services and post messages; the handlers here update
the store and tell the screens, which re-render from the store.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from regtui.config import DEFAULT_THEME, Config, RegistryConfig
from regtui.errors import RegistryError, RegtuiError, UsageError
from regtui.redact import redact
from regtui.registry.cache import take_notices
from regtui.registry.models import RepositorySummary, TagRecord
from regtui.render.clipboard import CopyRefused, Grammar, checked_copy
from regtui.services.inventory import InventoryService, open_registry
from regtui.services.operations import OperationsService
from regtui.services.scans import ScanService, kept_reports_dir
from regtui.services.snapshot import SnapshotError, SnapshotReader
from regtui.text import safe_text
from regtui.ui.bindings import BindingGroups, binding_groups, binding_ids, resolve_keymap
from regtui.ui.data import (
    Clock,
    RegistryService,
    ServiceFactory,
    Store,
    requests_sent,
    utc_now,
)
from regtui.ui.operations import audit_log, leave_or_ask, open_operations
from regtui.ui.refresh import (
    NamesLoaded,
    Pinged,
    RefreshDone,
    Refresher,
    RepoConfirmed,
    RepoFailed,
    RepoLoaded,
    ReposLoaded,
    RetrySchedule,
    SnapshotDamaged,
    SnapshotDecoded,
)
from regtui.ui.screens.audit import AuditScreen
from regtui.ui.screens.base import BaseScreen
from regtui.ui.screens.fleet import FleetScreen
from regtui.ui.screens.help import HelpScreen
from regtui.ui.screens.registry import RegistryScreen
from regtui.ui.screens.tag import TagScreen
from regtui.ui.themes import SEVERITY_DEFAULTS, load_themes, theme_dirs

FALLBACK_THEME = DEFAULT_THEME
CLOCK_TICK = 10.0
"""Seconds between samples of the request counters and re-reads of age labels; a label
only changes (and is only redrawn) when its text does, e.g. once a minute."""
FREEZE_EVERY = 500
"""Repositories drained between two collect-and-freeze passes (see `_settle_memory`)."""


class Drain(Message):
    """Apply the store changes gathered since the last one; later ones replace earlier."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Drain)


class RegtuiApp(App[int]):
    """Fleet -> registry -> tag detail, keyboard first, never blocking on the network."""

    CSS_PATH = "regtui.tcss"
    BINDINGS_TITLE = "Global"
    TITLE = "regtui"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip="List every key binding"),
        Binding("q", "quit", "Quit", id="app.quit",
                tooltip="Back to the previous screen; on the fleet, leave regtui"),
        Binding("ctrl+p", "command_palette", "Palette", id="app.palette", priority=True, show=False,
                tooltip="Commands for this screen and global ones"),
        Binding("ctrl+a", "audit", "Audit log", id="app.audit-log", show=False,
                tooltip="Every change attempted, with its outcome"),
    ]

    error_text: reactive[str] = reactive("")

    def __init__(self, config: Config, *, factory: ServiceFactory | None = None,
                 read_only: bool | None = None, clock: Clock = utc_now) -> None:
        super().__init__()
        self.config = config
        self.read_only_flag = read_only
        self.read_only = config.effective_read_only(None, read_only)
        self.factory: ServiceFactory = factory or self._open_registry
        self.clock = clock
        self.store = Store(config.registries)
        self._services: dict[str, RegistryService] = {}
        self._operations: dict[str, OperationsService] = {}
        self.scan_services: dict[str, ScanService] = {}
        """Per registry; tests may put one here for a registry that is not live."""
        self._error_source = ""
        self._errors: dict[str, str] = {}
        """Source -> its current error line, oldest first."""
        self._ticking = False
        self._superseding = False
        self.retries = RetrySchedule(config.refresh_interval)
        """When each failing registry is tried again: what "retrying in Ns" shows."""
        self._retry_timers: dict[str, Timer] = {}
        self.refresher = Refresher(self)
        self._dirty: dict[str, set[str | None]] = {}
        self._drain_posted = False
        self.drains = 0
        self._since_freeze = 0
        """Store changes applied to the screens: tests count these to see coalescing work."""
        self._snapshot_errors: list[SnapshotError] = []
        self._snapshot_readers: dict[str, tuple[SnapshotReader, list[str]]] = {}
        self._read_snapshots()

    def _open_registry(self, registry: RegistryConfig) -> RegistryService:
        read_only = self.config.effective_read_only(registry, self.read_only_flag)
        return open_registry(registry, self.config, read_only=read_only)

    def get_default_screen(self) -> Screen[Any]:
        return FleetScreen()

    def on_mount(self) -> None:
        self._apply_themes()
        # The first frame shows the snapshot; what it does not need waits until it is drawn:
        # opening a client imports the HTTP stack, a keymap imports every screen's bindings.
        self.call_after_refresh(self._after_first_frame)
        self.set_interval(self.config.refresh_interval, self._tick, name="refresh-interval")
        self.set_interval(self.config.background_refresh_interval, self._background_tick,
                          name="background-refresh")
        self.set_interval(CLOCK_TICK, self._clock_tick, name="clock")

    def _after_first_frame(self) -> None:
        self._apply_keymap()
        self._revalidate_snapshots()

    async def on_unmount(self) -> None:
        self.refresher.close()
        for service in self._services.values():
            await service.aclose()
        gc.unfreeze()  # what `_settle_memory` froze may be collected again once the app is gone

    # -- the snapshot: last known state at once, revalidated in the background -------------

    def _read_snapshots(self) -> None:
        """Totals of every repository from each registry's snapshot, before any request.

        Done while the app is built, before any screen mounts: the fleet must see the
        snapshot's data age, or it starts a full walk of a registry it already knows.
        """
        for name, data in self.store.registries.items():
            try:
                reader = SnapshotReader.open(self.config.cache_dir, data.config.url)
                summary = reader.summary() if reader is not None else None
            except SnapshotError as error:
                self._snapshot_errors.append(error)
                continue
            if reader is None or summary is None:
                continue
            if not summary.repositories:
                reader.close()
                continue
            data.apply_snapshot(summary)
            order = [repo.name for repo in summary.repositories if repo.read]
            self._snapshot_readers[name] = (reader, order)

    def _revalidate_snapshots(self) -> None:
        """Decode the records off the event loop, and check the registry cheaply meanwhile."""
        for error in self._snapshot_errors:
            self.report_error(error)
        readers, self._snapshot_readers = self._snapshot_readers, {}
        for name, (reader, order) in readers.items():
            # After the first frame: the decoder holds the GIL for long stretches.
            self.call_after_refresh(partial(
                self.run_worker, partial(self._decode, name, reader, order), thread=True,
                name=f"snapshot:{name}", group="snapshot", exit_on_error=False))
            self.revalidate(name)

    def _decode(self, registry: str, reader: SnapshotReader, order: list[str]) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        self.refresher.decode(registry, reader, order, lambda: worker.is_cancelled)

    # -- configuration ----------------------------------------------------------------------

    def _apply_themes(self) -> None:
        themes, problems = load_themes(theme_dirs())
        for theme in themes:
            self.register_theme(theme)
        wanted = [self.config.theme, *(r.theme for r in self.config.registries if r.theme)]
        problems.extend(f"unknown theme {name!r}; using {FALLBACK_THEME}"
                        for name in dict.fromkeys(wanted) if name not in self.available_themes)
        self.theme = self._known_theme(self.config.theme)
        if problems:
            self.notify("\n".join(problems), title="Theme problems", severity="warning",
                        markup=False, timeout=10)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **SEVERITY_DEFAULTS}

    def _known_theme(self, name: str | None) -> str:
        return name if name in self.available_themes else FALLBACK_THEME

    def apply_registry_theme(self, registry: str | None) -> None:
        """A registry's own theme while its screens are shown, the global one elsewhere."""
        config = self.store.registries[registry].config if registry in self.store.registries \
            else None
        wanted = self._known_theme(config.theme if config and config.theme else
                                   self.config.theme)
        if self.theme != wanted:
            self.theme = wanted

    def _apply_keymap(self) -> None:
        if not self.config.keymap:
            return  # nothing to check, and collecting the ids imports every screen
        known = binding_ids(self.binding_groups())
        keymap, renamed, unknown = resolve_keymap(self.config.keymap, known)
        where = f" in {self.config.path}" if self.config.path else ""
        if renamed:
            self.notify(f"[keymap]{where}: old binding id(s) {', '.join(renamed)}; they still "
                        "work, but use the new names", severity="information", markup=False)
        if unknown:
            self.notify(f"[keymap]{where}: unknown binding id(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(known))}", severity="warning", markup=False)
        self.set_keymap(keymap)

    def binding_groups(self) -> BindingGroups:
        """Every binding by context, from the classes themselves: what `?` lists and what
        `[keymap]` may remap."""
        return binding_groups(type(self))

    # -- services and workers ---------------------------------------------------------------

    def service(self, registry: str) -> RegistryService:
        """The registry's service, opened on first use."""
        if registry not in self._services:
            self._services[registry] = self.factory(self.store[registry].config)
            for notice in take_notices():  # an old cache format set aside, say: once
                self.notify(notice, title="Cache", severity="information", markup=False)
        return self._services[registry]

    def registry_read_only(self, registry: str) -> bool:
        """Flag > REGTUI_READ_ONLY > the registry's setting > the global one."""
        return self.config.effective_read_only(self.store[registry].config, self.read_only_flag)

    def operations(self, registry: str) -> OperationsService:
        """The one way the dashboard changes a registry (raises for a non-live service)."""
        if registry not in self._operations:
            self._operations[registry] = open_operations(
                self.config, self.store[registry].config, self.service(registry),
                read_only=self.registry_read_only(registry))
        return self._operations[registry]

    def scan_service(self, registry: str) -> ScanService | None:
        """Scan findings need a live registry (an InventoryService); None for anything else."""
        if registry not in self.scan_services:
            service = self.service(registry)
            if not isinstance(service, InventoryService):
                return None
            config = self.store[registry].config
            self.scan_services[registry] = ScanService(
                service, config.scans, kept_dir=kept_reports_dir(self.config.state_dir,
                                                                  registry))
        return self.scan_services[registry]

    def open_scans(self, registry: str | None = None) -> None:
        """The scans screen of `registry`, or of the registry on screen, or the first one."""
        from regtui.ui.screens.scans import ScansScreen

        screen = self.screen
        name = registry or (screen.registry if isinstance(screen, RegistryScreen)
                            else next(iter(self.store.registries), None))
        service = self.scan_service(name) if name else None
        if name is None or service is None:
            self.report_error(UsageError("scan findings need a live registry"))
            return
        self.push_screen(ScansScreen(name, service))

    def complete_records(self, registry: str) -> list[TagRecord] | None:
        """Every tag of the registry, when the last full refresh read all of it; else None."""
        data = self.store[registry]
        if data.status.fetched_at is None or not data.complete():
            return None
        return [record for summary in data.summaries.values() for record in summary.tags]

    def _worker(self, name: str) -> Worker[object] | None:
        return next((w for w in self.workers if w.name == name
                     and w.state in (WorkerState.PENDING, WorkerState.RUNNING)), None)

    @contextmanager
    def superseding(self) -> Iterator[None]:
        """Refreshes asked for inside this block replace running ones (the `r` key)."""
        self._superseding = True
        try:
            yield
        finally:
            self._superseding = False

    def _worker_running(self, name: str) -> bool:
        return self._worker(name) is not None

    def refresh_registry(self, registry: str, first: str | None = None) -> None:
        """Walk the whole registry again in the background (`r`, or nothing known yet).

        While a full walk of it runs, the operator's `r` cancels it and starts again (it may be
        stuck); anything else is dropped. A background revalidation it supersedes is stopped,
        never left to overlap.
        """
        name = f"refresh:{registry}"
        if self._worker_running(name):
            if not self._superseding:
                return
            for worker in self.workers:
                if worker.name == name:
                    worker.cancel()
        if self._ticking and self.retries.waiting(registry):
            return  # backing off after failures; `r` still refreshes at once
        if (slow := self._worker(f"revalidate:{registry}")) is not None:
            slow.cancel()
        self.store[registry].status.loading = True
        self.run_worker(self._bounded(registry, self.refresher.full(registry, first)),
                        name=name, group="refresh", exit_on_error=False)

    async def _bounded(self, registry: str, walk: Awaitable[None]) -> None:
        """A walk of the registry ends by its `refresh_deadline`, as one error line."""
        deadline = self.store[registry].config.refresh_deadline
        try:
            async with asyncio.timeout(deadline):
                await walk
        except TimeoutError:
            raise RegistryError(f"registry {registry}: refresh not done within "
                                f"refresh_deadline = {deadline:g} s; stopped") from None

    def revalidate(self, registry: str) -> None:
        """The slow tier: check the registry cheaply, resolve only what changed."""
        if self._worker_running(f"refresh:{registry}") or self._worker_running(
                f"revalidate:{registry}"):
            return
        if self.retries.waiting(registry):
            return
        self.run_worker(self._bounded(registry, self.refresher.background(registry)),
                        name=f"revalidate:{registry}", group="refresh", exit_on_error=False)

    def revalidate_repository(self, registry: str, repository: str) -> None:
        """The fast tier: the repository on screen; a check of another one is superseded."""
        name = f"repo-check:{registry}"
        running = self._worker(name)
        if running is not None:
            if getattr(running, "repository", None) == repository:
                return
            running.cancel()
        if self._worker_running(f"refresh:{registry}"):
            return
        worker = self.run_worker(self.refresher.repository(registry, repository), name=name,
                                 group="repo", exit_on_error=False)
        worker.repository = repository  # type: ignore[attr-defined]

    def load_repository(self, registry: str, repository: str) -> None:
        """Load one repository now (the operator is looking at it), ahead of the full walk."""
        name = f"repo:{registry}/{repository}"
        if repository in self.store[registry].undecoded or self._worker_running(name):
            return  # the snapshot's decoder delivers it in a moment
        window = asyncio.Semaphore(1)
        self.run_worker(self.refresher.load(registry, repository, window), name=name,
                        group="repo", exit_on_error=False)

    def refresh_touched(self, registry: str, repositories: Iterable[str]) -> None:
        """After a change regtui made: re-read exactly what it touched, now, replacing any
        read of those repositories still under way (it may predate the change)."""
        for repository in repositories:
            name = f"repo:{registry}/{repository}"
            for worker in self.workers:
                if worker.name == name and not worker.is_finished:
                    worker.cancel()
            self.run_worker(self.refresher.load(registry, repository, asyncio.Semaphore(1)),
                            name=name, group="repo", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_changed(event.worker, event.state)

    def worker_changed(self, worker: Worker[object], state: WorkerState) -> None:
        """The one place worker failures become the error line (screens forward theirs)."""
        if state is WorkerState.ERROR and worker.error is not None:
            self.report_error(worker.error, source=worker.name)
        kind, _, registry = worker.name.partition(":")
        if kind not in ("refresh", "revalidate") or state not in (
                WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if self._worker_running(worker.name):
            return  # superseded by a newer refresh, which reports for itself
        status = self.store[registry].status
        status.loading = False
        if state is not WorkerState.CANCELLED:  # a refresh given up on proves nothing
            self._back_off(registry, failed=state is WorkerState.ERROR)
        if state is WorkerState.ERROR:
            status.error = _message(worker.error)
            if status.reachable is None or not status.fetched_at:
                status.reachable = False
        self._changed(registry, None)

    def _back_off(self, registry: str, *, failed: bool) -> None:
        """After n failures in a row the registry is tried again in (2^n - 1) intervals
        (max 31), by a timer armed for exactly the time the screen counts down to."""
        timer = self._retry_timers.pop(registry, None)
        if timer is not None:
            timer.stop()
        if not failed:
            self.retries.succeeded(registry)
            return
        delay = self.retries.failed(registry)
        self._retry_timers[registry] = self.set_timer(delay, partial(self._retry, registry),
                                                      name=f"retry:{registry}")

    def _retry(self, registry: str) -> None:
        """The back-off ran out: try the registry again now (walked if nothing is known)."""
        self._retry_timers.pop(registry, None)
        self.retries.expire(registry)
        if self.store[registry].status.fetched_at is None:
            self.refresh_registry(registry)
        else:
            self.revalidate(registry)
        self._changed(registry, None)  # "retrying now" instead of the countdown

    def retry_in(self, registry: str) -> float | None:
        """Seconds until a failing registry is tried again; None when it is not failing."""
        return self.retries.retry_in(registry)

    def report_error(self, error: BaseException | None, source: str = "") -> None:
        """Show a failure on the error line; the app keeps running and keeps its data.

        Each error belongs to its source (`refresh:<registry>`, `filter`, `jump`, a worker):
        it stays only until that source succeeds or is left (`clear_error`), so the line
        never shows something that stopped being true.
        """
        self._errors.pop(source, None)
        self._errors[source] = safe_text(f"{self.clock():%H:%M:%S} {_message(error)}", 400)
        self._error_source = source
        self._show_errors()

    def clear_error(self, *sources: str) -> None:
        """The source succeeded, or the operator left it: its error is no longer true."""
        if any(self._errors.pop(source, None) is not None for source in sources):
            self._show_errors()

    def _show_errors(self) -> None:
        """The newest error, with the time it happened; how many others are still true."""
        if not self._errors:
            self.error_text = ""
            return
        newest = next(reversed(self._errors.values()))
        others = len(self._errors) - 1
        self.error_text = newest + (f"  (+{others} more)" if others else "")

    def copy_checked(self, text: str, grammar: Grammar) -> bool:
        """Every copy goes through here: refused with a message unless `text` is a `grammar`."""
        try:
            self.copy_to_clipboard(checked_copy(text, grammar))
        except CopyRefused as refused:
            self.notify(str(refused), title="Not copied", severity="error", markup=False)
            return False
        self.notify(safe_text(text, 200), title="Copied to clipboard", markup=False)
        return True

    # -- message handlers: the only code that changes the store -----------------------------

    def on_pinged(self, message: Pinged) -> None:
        status = self.store[message.registry].status
        new = (True, message.info.api_version)
        if (status.reachable, status.api_version) != new or self._take_health(message.registry):
            status.reachable, status.api_version = new
            self._changed(message.registry, None)

    def on_names_loaded(self, message: NamesLoaded) -> None:
        changed = self._take_health(message.registry)
        if self.store[message.registry].set_names(message.names) or changed:
            self._changed(message.registry, None)

    def _take_health(self, registry: str) -> bool:
        """Copy the backend's gauges and notes into the status; True when they changed."""
        health = getattr(self.service(registry), "health", None)  # fakes may lack it
        if health is None:
            return False
        found = health()
        status = self.store[registry].status
        if (status.gauges, status.notes) == (found.gauges, found.notes):
            return False
        status.gauges, status.notes = found.gauges, found.notes
        return True

    def on_repo_loaded(self, message: RepoLoaded) -> None:
        self._loaded(message.registry, message.summary)

    def on_repos_loaded(self, message: ReposLoaded) -> None:
        for summary in message.summaries:
            self._loaded(message.registry, summary)

    def _loaded(self, registry: str, summary: RepositorySummary) -> None:
        data = self.store[registry]
        data.unconfirmed.discard(summary.name)
        if data.summaries.get(summary.name) == summary and summary.name in data.tables:
            return  # resolved again, nothing changed: nothing to redraw
        data.set_summary(summary)
        if not data.repo_errors:
            self.clear_error(f"repo:{registry}")  # the last failing repository was read
        self._changed(registry, summary.name)

    def on_repo_confirmed(self, message: RepoConfirmed) -> None:
        self.store[message.registry].unconfirmed.difference_update(message.repositories)

    def on_snapshot_decoded(self, message: SnapshotDecoded) -> None:
        data = self.store[message.registry]
        for summary in message.summaries:
            if summary.name in data.undecoded:  # a live answer that came first wins
                data.set_summary(summary)
                self._changed(message.registry, summary.name)

    def on_snapshot_damaged(self, message: SnapshotDamaged) -> None:
        self.report_error(message.error, source=f"snapshot:{message.registry}")

    def on_repo_failed(self, message: RepoFailed) -> None:
        self.store[message.registry].repo_errors[message.repository] = str(message.error)
        self.report_error(message.error, source=f"repo:{message.registry}")
        self._changed(message.registry, message.repository)

    def on_refresh_done(self, message: RefreshDone) -> None:
        self._take_health(message.registry)
        data = self.store[message.registry]
        status = data.status
        status.fetched_at, status.error, status.reachable = message.at, "", True
        status.from_snapshot = False
        if message.walked and not data.unconfirmed:
            data.live_walk_done = True
        done = [f"refresh:{message.registry}", f"revalidate:{message.registry}"]
        if data.live_walk_done:  # the walk read (and rewrote) what the snapshot had damaged
            done.append(f"snapshot:{message.registry}")
        if not data.repo_errors:  # a repository the walk could not read stays on the line
            done.append(f"repo:{message.registry}")
        self.clear_error(*done)
        self._changed(message.registry, None)

    def scans_changed(self, registry: str) -> None:
        """New scan states in the store: the fleet row and the tags pane show them."""
        self._changed(registry, None)

    def _changed(self, registry: str, repository: str | None) -> None:
        """Note a change; one Drain applies every change gathered meanwhile to the screens."""
        self._dirty.setdefault(registry, set()).add(repository)
        if not self._drain_posted:
            self._drain_posted = True
            self.post_message(Drain())

    def on_drain(self, message: Drain) -> None:
        self._drain_posted = False
        dirty, self._dirty = self._dirty, {}
        self.drains += 1
        self._settle_memory(sum(len(repositories) for repositories in dirty.values()))
        with self.batch_update():
            for screen in self.screen_stack:
                if isinstance(screen, BaseScreen) and screen.ready:
                    for registry, repositories in dirty.items():
                        try:
                            screen.store_changed(registry, repositories)
                        except NoMatches:
                            break  # the app is closing: the screen's widgets are gone

    def _settle_memory(self, changed: int) -> None:
        """Collect, then freeze what is left, every `FREEZE_EVERY` repositories drained.

        The store of a large registry is hundreds of thousands of long-lived objects; each
        full collection scanned them all (a 330 ms pause at 10,000 repositories: the keystroke
        p95). Frozen objects are skipped by later collections, so each pause now covers only
        what arrived since the last freeze; the collection first keeps garbage from freezing.
        """
        self._since_freeze += changed
        if self._since_freeze >= FREEZE_EVERY:
            self._since_freeze = 0
            gc.collect()
            gc.freeze()

    # -- periodic refresh -------------------------------------------------------------------

    def _tick(self) -> None:
        """The fast tier: revalidate what is on screen, unless a modal is open."""
        if isinstance(self.screen, ModalScreen):
            return
        if isinstance(self.screen, BaseScreen):
            self._ticking = True
            try:
                self.screen.periodic_refresh()
            finally:
                self._ticking = False

    def _background_tick(self) -> None:
        """The slow tier: every registry known so far, checked cheaply in the background."""
        for name, data in self.store.registries.items():
            if data.status.fetched_at is not None and name in self._services:
                self.revalidate(name)

    def _clock_tick(self) -> None:
        """Sample request counters; screens redraw only labels whose text changed."""
        now = time.monotonic()
        for name, service in self._services.items():
            sent = requests_sent(service)
            if sent is not None:
                data = self.store[name]
                data.requests.sample(now, sent)
                data.status.request_rate = data.requests.rate
        for screen in self.screen_stack:
            if isinstance(screen, BaseScreen) and screen.ready:
                screen.clock_ticked()

    # -- navigation -------------------------------------------------------------------------

    def open_registry(self, registry: str, repository: str | None = None) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(RegistryScreen(registry, repository))

    def open_tag(self, registry: str, record: TagRecord) -> None:
        self.push_screen(TagScreen(registry, record, self.store[registry].config.host))

    def jump_targets(self) -> list[str]:
        return ["fleet", "quit", "scans", *self.store.registries,
                *self.store.repository_targets()]

    def jump(self, target: str) -> None:
        """Command mode: `fleet`, `quit`, `<registry>`, `<registry>/<repo>` or `<repo>`."""
        self.clear_error("jump")
        if target in ("q", "quit"):
            leave_or_ask(self, None, partial(self.exit, 0), "quit regtui")
        elif target == "scans" or target.startswith("scans "):
            self.open_scans(target[6:].strip() or None)
        elif target in ("fleet", "home"):
            while len(self.screen_stack) > 1:
                self.pop_screen()
        elif target in self.store.registries:
            self.open_registry(target)
        elif (found := self._find_repository(target)) is not None:
            self.open_registry(*found)
        else:
            known = ", ".join(self.store.registries) or "none configured"
            self.report_error(UsageError(
                f"no registry or repository named {target!r} (registries: {known})"),
                source="jump")

    def _find_repository(self, target: str) -> tuple[str, str] | None:
        registry, _, repository = target.partition("/")
        if registry in self.store.registries and repository:
            return registry, repository
        for name, data in self.store.registries.items():
            if target in data.names:
                return name, target
        return None

    # -- actions and commands ---------------------------------------------------------------

    async def action_quit(self) -> None:
        """`q`: back from any screen but the fleet, where it quits; asks first while a change
        is running (leaving would cut it short)."""
        if len(self.screen_stack) > 1 and not isinstance(self.screen, ModalScreen):
            leave_or_ask(self, self.screen, self.pop_screen)
            return
        leave_or_ask(self, None, self.exit, "quit regtui")

    def action_audit(self) -> None:
        if not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen(audit_log(self.config)))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.binding_groups()))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "List every key binding", self.action_help)
        yield SystemCommand("Audit log", "Every change attempted, with its outcome",
                            self.action_audit)
        yield SystemCommand("Fleet", "Back to the list of registries", lambda: self.jump("fleet"))
        if isinstance(screen, BaseScreen):
            yield SystemCommand("Refresh", "Reload the data on this screen", screen.refresh_data)
        for name, data in self.store.registries.items():
            yield SystemCommand(safe_text(f"Registry {name}", 120),
                                safe_text(f"Open {data.config.url}", 300),
                                partial(self.open_registry, name))


def _message(error: BaseException | None) -> str:
    """One line for the operator: regtui errors as written, anything else with its type."""
    if isinstance(error, RegtuiError):
        return str(error)  # already redacted, like every RegtuiError's text
    return redact(f"{type(error).__name__}: {error}") if error is not None else "unknown error"


def run_app(config: Config, *, read_only: bool | None, factory: ServiceFactory | None = None
            ) -> int:
    """`regtui` with no subcommand: run the dashboard until the operator quits."""
    app = RegtuiApp(config, factory=factory, read_only=read_only)
    result = app.run()
    return app.return_code if app.return_code is not None else int(result or 0)
