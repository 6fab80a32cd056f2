"""The logs screen: follow a registry's log sources, filter everything read, save the view.

Open it on any App with `app.push_screen(LogsScreen(registry.logs, repository_filter=repo),
callback=...)`. It dismisses with the repository named by the selected line when the
operator presses enter on one (and posts `RepositorySelected` to the app), else with None.
The screen owns its sources: leaving it closes them (files, spools, command processes).

Thread workers do the reading: one follow loop per source (poll, post `LinesArrived`), one
backfill for a big file's older part, one filter scan over the whole index. The screen's
handlers own the state; the pane renders only the lines on screen.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from regtui.config import LogSourceConfig
from regtui.errors import RegtuiError
from regtui.filter import parse_filter
from regtui.services.logs import (
    DEFAULT_BUFFER_LINES,
    FilteredView,
    LogQuery,
    LogSource,
    Matcher,
    SourceState,
    compile_query,
    find_matches,
    open_source,
    save_lines,
    scan,
)
from regtui.text import safe_text
from regtui.ui.screens.funnel import FunnelScreen
from regtui.ui.widgets.badge import ReadOnlyBadge
from regtui.ui.widgets.log_view import LEVEL_LABELS, LogView

WINDOWS: dict[str, timedelta | None] = {
    "all": None, "5m": timedelta(minutes=5), "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
}
LEVEL_CYCLE = ("", "warning", "error")
STATUS_CYCLE: tuple[frozenset[int], ...] = (
    frozenset(), frozenset({4, 5}), frozenset({4}), frozenset({5}))
CATCH_UP_LIMIT = 5_000
"""New lines filtered on the UI thread at once; more than that starts a background scan."""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# -- messages (posted from the worker threads) ---------------------------------------------


@dataclass(eq=False)
class LinesArrived(Message):
    """A source read new lines or changed state; only the latest per source matters."""

    source: LogSource
    state: SourceState

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LinesArrived) and message.source is self.source


@dataclass(eq=False)
class Progress(Message):
    """Background indexing or filtering progress, 0..1."""

    task: str
    done: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Progress) and message.task == self.task


@dataclass(eq=False)
class BackfillDone(Message):
    """A big file's older part is indexed: `added` lines now sit in front of the tail."""

    source: LogSource
    added: int


@dataclass(eq=False)
class FilterDone(Message):
    """A whole-index scan finished for `query` over lines `0..scanned_to-1`."""

    source: LogSource
    query: LogQuery
    matches: array[int]
    scanned_to: int


@dataclass(eq=False)
class RepositorySelected(Message):
    """The operator asked to go to the repository a log line names (posted to the app)."""

    repository: str


def _highlight(query: str) -> re.Pattern[str] | None:
    """What to mark in the lines shown: the text filter's matches (none when inverted)."""
    parsed = parse_filter(query)
    if parsed.invert or parsed.is_empty:
        return None
    return parsed.pattern or re.compile(re.escape(parsed.needle), re.IGNORECASE)


# -- the screen ------------------------------------------------------------------------------


class LogsScreen(FunnelScreen[str | None]):
    """Live, filterable registry logs (k9s's log view and toolong, without their caps)."""

    DEFAULT_CSS = """
    LogsScreen { layout: vertical; }
    LogsScreen #logs-title { height: 1; background: $panel; color: $text; padding: 0 1; }
    LogsScreen #logs-status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    LogsScreen #logs-status.-failed { color: $text-error; }
    LogsScreen .logs-bar { display: none; height: 1; border: none; padding: 0 1; }
    LogsScreen .logs-bar.-open { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "toggle_follow", "Follow/pause", id="logs.follow",
                tooltip="Pause the view (lines keep arriving, counted) or follow the end again"),
        Binding("slash", "open_filter", "Filter", id="logs.filter",
                tooltip="Filter every line read: text, ~regex, ! to invert"),
        Binding("n", "next_match", "Next", show=False, id="logs.next-match",
                tooltip="Next matching line"),
        Binding("N", "previous_match", "Prev", show=False, id="logs.previous-match",
                tooltip="Previous matching line"),
        Binding("e", "cycle_level", "Level", id="logs.level",
                tooltip="Show all levels, warnings and worse, or errors and worse"),
        Binding("x", "cycle_status", "4xx/5xx", id="logs.status",
                tooltip="Show only 4xx+5xx, 4xx or 5xx responses"),
        Binding("r", "toggle_repository", "Repo", id="logs.repository",
                tooltip="Filter to the selected line's repository, or drop that filter"),
        Binding("plus,equals_sign", "context(1)", "Context+", show=False, id="logs.more-context",
                tooltip="One more line of context around each match"),
        Binding("minus", "context(-1)", "Context-", show=False, id="logs.less-context",
                tooltip="One line less of context around each match"),
        Binding("0", "window('all')", "All", show=False, id="logs.window-all",
                tooltip="Every line read"),
        Binding("1", "window('5m')", "5m", show=False, id="logs.window-5m",
                tooltip="Only the last 5 minutes"),
        Binding("2", "window('15m')", "15m", show=False, id="logs.window-15m",
                tooltip="Only the last 15 minutes"),
        Binding("3", "window('1h')", "1h", show=False, id="logs.window-1h",
                tooltip="Only the last hour"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap", tooltip="Wrap long lines"),
        Binding("t", "toggle_timestamps", "Time", show=False, id="logs.timestamps",
                tooltip="Show or hide the time column"),
        Binding("ctrl+s,S", "open_save", "Save", id="logs.save",
                tooltip="Save the lines in the current (filtered) view to a file"),
        Binding("R", "restart", "Restart", show=False, id="logs.restart",
                tooltip="Restart a command source that exited or failed"),
        Binding("right_square_bracket", "switch_source(1)", "Next source", show=False,
                id="logs.next-source", tooltip="Show the next log source of this registry"),
        Binding("left_square_bracket", "switch_source(-1)", "Prev source", show=False,
                id="logs.previous-source", tooltip="Show the previous log source"),
        Binding("enter", "open_repository", "Go to repo", id="logs.open-repository",
                tooltip="Go to the repository the selected line names"),
        Binding("escape", "back", "Back", id="logs.back",
                tooltip="Close the open bar, else clear the text filter, else leave the logs"),
    ]

    def __init__(self, sources: Sequence[LogSourceConfig | LogSource], *,
                 repository_filter: str | None = None, clock: Clock = utc_now,
                 buffer_lines: int = DEFAULT_BUFFER_LINES, poll_interval: float = 0.1,
                 save_dir: Path | None = None) -> None:
        super().__init__()
        self._configs = list(sources)
        self.sources: list[LogSource] = []
        self.active = 0
        self.log_query = LogQuery(repository=repository_filter or "")
        self.window = "all"
        self.context = 0
        self.clock = clock
        self.buffer_lines = buffer_lines
        self.poll_interval = poll_interval
        self.save_dir = save_dir
        self.states: dict[int, SourceState] = {}
        self.view: FilteredView | None = None
        self._matcher: Matcher | None = None
        self._active_query = LogQuery()
        self._scanned_to = 0
        self._filtering = False
        self._paused_at = 0
        self._progress: dict[str, float] = {}
        self._stop = threading.Event()
        self._backfilling: set[LogSource] = set()
        self.error = ""

    # -- building ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ReadOnlyBadge()
        yield Static(id="logs-title")
        yield LogView(id="logs-view")
        yield Static(id="logs-status")
        yield Input(placeholder="filter: text · ~regex · !invert", id="logs-filter",
                    classes="logs-bar", select_on_focus=False)
        yield Input(placeholder="save the view to this file", id="logs-save",
                    classes="logs-bar")
        yield Footer()

    def on_mount(self) -> None:
        for item in self._configs:
            try:
                source = open_source(item, self.buffer_lines) \
                    if isinstance(item, LogSourceConfig) else item
            except RegtuiError as error:
                self.error = str(error)
                continue
            self.sources.append(source)
            self._follow(source)
        self.query_one(LogView).focus()
        if not self.sources:
            self.query_one(LogView).empty_text = "no log sources configured for this registry"
        self._apply_query()

    def on_unmount(self) -> None:
        """Stop the follow loops and release files and processes (no process outlives us)."""
        self._stop.set()
        for source in self.sources:
            source.close()

    @property
    def source(self) -> LogSource | None:
        return self.sources[self.active] if self.sources else None

    @property
    def filtering(self) -> bool:
        """A scan of the whole index for the current filter is still running."""
        return self._filtering

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    # -- workers ----------------------------------------------------------------------------

    @work(thread=True, group="logs-follow", exit_on_error=False)
    def _follow(self, source: LogSource) -> None:
        """Poll one source until the screen goes; post only when something changed."""
        worker, last = get_current_worker(), None
        while not (self._stop.is_set() or worker.is_cancelled):
            try:
                added = source.poll()
                state = source.state
            except OSError as error:
                added, state = 0, SourceState("failed", f"reading {source.name}: {error}")
            if added or state != last:
                last = state
                self.post_message(LinesArrived(source, state))
            self._stop.wait(self.poll_interval)

    @work(thread=True, group="logs-backfill", exit_on_error=False)
    def _backfill(self, source: LogSource) -> None:
        worker = get_current_worker()
        added = source.backfill(
            lambda: worker.is_cancelled or self._stop.is_set(),
            lambda done: self._post(Progress("indexing", done)))
        self.post_message(BackfillDone(source, added))

    @work(thread=True, exclusive=True, group="logs-filter", exit_on_error=False)
    def _scan(self, source: LogSource, query: LogQuery) -> None:
        worker = get_current_worker()
        total = len(source.index)
        matches = find_matches(
            source.index, query, cancelled=lambda: worker.is_cancelled or self._stop.is_set(),
            progress=lambda done: self._post(Progress("filtering", done)))
        if not worker.is_cancelled:
            self.post_message(FilterDone(source, query, matches, total))

    def worker_failed(self, worker: Worker[Any], message: str) -> None:
        if not worker.group.startswith("logs-"):  # its own workers' failures are shown in place
            super().worker_failed(worker, message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed shows its one-line error instead of dying silently."""
        if event.state == WorkerState.ERROR and event.worker.group.startswith("logs-"):
            self._show_error(f"{event.worker.group}: {event.worker.error}")

    def _post(self, message: Message) -> None:
        self.post_message(message)

    # -- arriving data ----------------------------------------------------------------------

    def on_lines_arrived(self, message: LinesArrived) -> None:
        if message.source.backfill_pending and message.source not in self._backfilling:
            self._backfilling.add(message.source)
            self._backfill(message.source)
        index = self.sources.index(message.source) if message.source in self.sources else -1
        previous = self.states.get(index)
        self.states[index] = message.state
        if message.state != previous and message.state.status == "failed":
            self.notify(safe_text(message.state.message, 300), severity="error",
                        title="Log source")
        if index == self.active:
            self._catch_up()
            self.log_view.changed()
        self._update_status()

    def _catch_up(self) -> None:
        """Filter the lines read since the last scan, so the filter covers everything read."""
        source = self.source
        if source is None or self.view is None or self._matcher is None or self._filtering:
            return
        total = len(source.index)
        if total - self._scanned_to > CATCH_UP_LIMIT:
            self._apply_query()
            return
        fresh = scan(source.index, self._matcher, self._scanned_to, total)
        self.view.extend(fresh, total)
        self._scanned_to = total

    def on_backfill_done(self, message: BackfillDone) -> None:
        self._progress.pop("indexing", None)
        if message.source is self.source:
            view = self.log_view
            if not view.follow:
                view.top += message.added
                view.cursor += message.added
                self._paused_at += message.added
            self._apply_query()
        self._update_status()

    def on_progress(self, message: Progress) -> None:
        self._progress[message.task] = message.done
        self._update_status()

    def on_filter_done(self, message: FilterDone) -> None:
        if message.source is not self.source or message.query is not self._active_query:
            return
        self._filtering = False
        self._progress.pop("filtering", None)
        self.view = FilteredView(message.matches, message.scanned_to, self.context)
        self._scanned_to = message.scanned_to
        self._catch_up()
        self.log_view.show(message.source.index, self.view)
        self._update_status()

    # -- the query --------------------------------------------------------------------------

    def _effective_query(self) -> LogQuery:
        span = WINDOWS[self.window]
        since = self.clock() - span if span is not None else None
        return LogQuery(text=self.log_query.text, min_level=self.log_query.min_level,
                        status_classes=self.log_query.status_classes,
                        repository=self.log_query.repository, since=since)

    def _apply_query(self) -> None:
        """Show every line, or start a scan of the whole index for the new query."""
        source = self.source
        self._paused_at = self.log_view.count
        query = self._active_query = self._effective_query()
        if source is None or query.is_empty:
            self.view, self._matcher, self._filtering = None, None, False
            self._progress.pop("filtering", None)
            self.workers.cancel_group(self, "logs-filter")
            self.log_view.show(source.index if source else None, None)
        else:
            if self.log_view.index is not source.index:  # another source: show it meanwhile
                self.view = None
                self.log_view.show(source.index, None)
            self._matcher = compile_query(query)
            self._filtering = True
            self._scan(source, query)
        self._update_status()

    def _set_query(self, **changes: Any) -> None:
        self.log_query = replace(self.log_query, **changes)
        self.log_view.highlight = _highlight(self.log_query.text)
        self._apply_query()

    # -- actions ----------------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        view = self.log_view
        if view.follow:
            self._paused_at = view.count
        view.set_follow(not view.follow)
        self._update_status()

    def on_log_view_follow_changed(self, message: LogView.FollowChanged) -> None:
        if not message.following:
            self._paused_at = self.log_view.count
        self._update_status()

    def action_open_filter(self) -> None:
        bar = self.query_one("#logs-filter", Input)
        bar.add_class("-open")
        bar.focus()

    @on(Input.Submitted, "#logs-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        try:
            parse_filter(event.value)
        except RegtuiError as error:
            self._show_error(str(error))
            return
        self._show_error("")
        event.input.remove_class("-open")
        self.log_view.focus()
        self._set_query(text=event.value)

    def action_next_match(self) -> None:
        self._jump_match(backwards=False)

    def action_previous_match(self) -> None:
        self._jump_match(backwards=True)

    def _jump_match(self, *, backwards: bool) -> None:
        view = self.log_view
        if self.view is None:
            self._show_error("no filter: press / (or e, x, r) to set one, then n/N")
            return
        line = self.view.next_match(view.line_of(view.cursor) if view.count else 0, backwards)
        if line is not None:
            view.move_to_row(self.view.row_of(line))

    def action_cycle_level(self) -> None:
        position = LEVEL_CYCLE.index(self.log_query.min_level) if self.log_query.min_level in \
            LEVEL_CYCLE else 0
        self._set_query(min_level=LEVEL_CYCLE[(position + 1) % len(LEVEL_CYCLE)])

    def action_cycle_status(self) -> None:
        position = STATUS_CYCLE.index(self.log_query.status_classes) \
            if self.log_query.status_classes in STATUS_CYCLE else 0
        self._set_query(status_classes=STATUS_CYCLE[(position + 1) % len(STATUS_CYCLE)])

    def action_toggle_repository(self) -> None:
        if self.log_query.repository:
            self._set_query(repository="")
            return
        record = self.log_view.current_record
        if record is None or not record.repository:
            self._show_error("the selected line names no repository")
            return
        self._set_query(repository=record.repository)

    def action_context(self, delta: int) -> None:
        self.context = max(0, min(50, self.context + delta))
        source = self.source
        if self.view is not None and source is not None and not self._filtering:
            self.view = FilteredView(self.view.matches, self._scanned_to, self.context)
            self.log_view.show(source.index, self.view)
        self._update_status()

    def action_window(self, name: str) -> None:
        self.window = name
        self._apply_query()

    def action_toggle_wrap(self) -> None:
        self.log_view.wrap = not self.log_view.wrap
        self.log_view.changed()
        self._update_status()

    def action_toggle_timestamps(self) -> None:
        self.log_view.timestamps = not self.log_view.timestamps
        self.log_view.changed()
        self._update_status()

    def action_restart(self) -> None:
        source = self.source
        if source is None:
            return
        if not source.state.stopped:
            self._show_error(f"{source.name} is still running; R restarts a stopped command")
            return
        source.restart()
        self.states[self.active] = source.state
        self._update_status()

    def action_switch_source(self, delta: int) -> None:
        if len(self.sources) < 2:
            return
        self.active = (self.active + delta) % len(self.sources)
        self.log_view.follow = True
        self._apply_query()

    def action_open_repository(self) -> None:
        record = self.log_view.current_record
        if record is None or not record.repository:
            self._show_error("the selected line names no repository")
            return
        self.app.post_message(RepositorySelected(record.repository))
        self.dismiss(record.repository)

    def action_open_save(self) -> None:
        bar = self.query_one("#logs-save", Input)
        bar.value = str(self._default_save_path())
        bar.add_class("-open")
        bar.focus()

    def _default_save_path(self) -> Path:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.source.name if self.source else "logs")
        stamp = self.clock().strftime("%Y%m%dT%H%M%S")
        return (self.save_dir or Path.cwd()) / f"regtui-logs-{name.strip('-')[:40]}-{stamp}.log"

    @on(Input.Submitted, "#logs-save")
    def _save_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("-open")
        self.log_view.focus()
        source = self.source
        if source is not None and event.value.strip():
            rows = list(self.view.rows) if self.view is not None else None
            self._save(source, rows, Path(event.value.strip()))

    @work(thread=True, group="logs-save", exit_on_error=False)
    def _save(self, source: LogSource, rows: list[int] | None, path: Path) -> None:
        try:
            count = save_lines(source.index, rows, path)
        except RegtuiError as error:
            self.app.call_from_thread(self._show_error, str(error))
            return
        self.app.call_from_thread(self.notify, f"saved {count:,} lines to {path}",
                                  title="Logs")

    def action_back(self) -> None:
        for bar in self.query(".logs-bar.-open").results(Input):
            bar.remove_class("-open")
            self.log_view.focus()
            return
        if self.log_query.text:
            self._set_query(text="")
            return
        self.dismiss(None)

    # -- status -----------------------------------------------------------------------------

    def _show_error(self, message: str) -> None:
        self.error = message
        self._update_status()

    def _update_status(self) -> None:
        source = self.source
        title = f"Logs · {source.name}" if source else "Logs"
        if len(self.sources) > 1:
            title += f"  ({self.active + 1}/{len(self.sources)}, [ ] to switch)"
        self.query_one("#logs-title", Static).update(Text(safe_text(title, 300)))
        status = self.query_one("#logs-status", Static)
        state = source.state if source else None
        status.set_class(bool(self.error) or (state is not None and state.status == "failed"),
                         "-failed")
        status.update(Text(safe_text(" · ".join(self.status_parts()), 600)))

    def status_parts(self) -> list[str]:
        """The status line's pieces, in order (tests read these)."""
        view, source = self.log_view, self.source
        parts = [self.error] if self.error else []
        if source is not None and source.state.status in ("failed", "exited", "waiting"):
            parts.append(source.state.message + (" (R restarts)" if source.state.stopped else ""))
        if view.follow:
            parts.append("following")
        else:
            parts.append(f"paused +{max(0, view.count - self._paused_at):,} new")
        total = len(source.index) if source else 0
        parts.append(f"{total:,} lines")
        if self.view is not None:
            found = len(self.view.matches)
            parts.append(f"{found:,} match" + ("" if found == 1 else "es"))
        parts += self._filter_parts()
        parts += [f"{task} {done:.0%}" for task, done in sorted(self._progress.items())]
        return parts

    def _filter_parts(self) -> list[str]:
        query, parts = self.log_query, []
        if query.text:
            parts.append(f"/{query.text}")
        if query.min_level:
            parts.append(f"level ≥ {LEVEL_LABELS[query.min_level]}")
        if query.status_classes:
            parts.append("/".join(f"{c}xx" for c in sorted(query.status_classes)))
        if query.repository:
            parts.append(f"repo {query.repository}")
        if self.window != "all":
            parts.append(f"last {self.window}")
        if self.context:
            parts.append(f"context {self.context}")
        if self.log_view.wrap:
            parts.append("wrap")
        return parts
