"""One registry: the repositories pane (flat or folded by namespace) beside its tags pane."""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Static

from regtui.errors import RegistryError, RegtuiError, UsageError
from regtui.filter import TextFilter
from regtui.registry.models import TagRecord
from regtui.registry.scan_models import ScanState
from regtui.render.columns import Column
from regtui.render.fleet import failure_text, gauge_text, status_word
from regtui.render.formats import plural
from regtui.render.repos import (
    REPO_COLUMNS,
    RepoPane,
    RepoRow,
    RepoSort,
    repo_cells,
)
from regtui.render.scans import VULN_COLUMN, scan_cell, scan_style
from regtui.render.tags import (
    ACTIVITY_COLUMNS,
    PUSHED_COLUMN,
    TAG_COLUMNS,
    TagRow,
    TagSort,
    TagTable,
    activity_cells,
    knows_push_times,
    pushed_cell,
    tag_cells,
)
from regtui.services.impact import Target
from regtui.services.inventory import InventoryService
from regtui.services.operations import OperationsService
from regtui.services.scans import ScanService
from regtui.text import Shown, Tailed, safe_text
from regtui.ui.commands import ContextCommand
from regtui.ui.data import RegistryData
from regtui.ui.log_sources import has_logs, log_sources
from regtui.ui.operations import CHANGE_GROUP, delete_with_confirmation, refuse_second_change
from regtui.ui.screens.base import BaseScreen
from regtui.ui.widgets.vtable import VirtualTable

REFUSED = {"delete_tag": "deleting", "delete_repository": "deleting",
           "retention": "retention", "gc": "garbage collection",
           "storage": "storage usage", "scans": "scan findings"}
"""What each refused action is called in the message that says why."""
NEEDS_REGISTRY = frozenset(REFUSED)
"""Actions that cannot work while the registry does not answer: not offered when it is down."""


class RegistryScreen(BaseScreen):
    """Repositories on the left, the selected repository's tags on the right."""

    BINDINGS_TITLE = "Repositories and tags"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("N", "sort('name')", "Sort name", id="sort.name",
                tooltip="Sort the focused table by name (version-aware); again to reverse"),
        Binding("S", "sort('size')", "Sort size", id="sort.size",
                tooltip="Sort the focused table by size; again to reverse"),
        Binding("A", "sort('date')", "Sort age", id="sort.date",
                tooltip="Sort the focused table by date (newest first); again to reverse"),
        Binding("T", "sort('tags')", "Sort tags", id="sort.tags", show=False,
                tooltip="Sort repositories by tag count; again to reverse"),
        Binding("W", "sort('vulns')", "Sort vulns", id="sort.vulns", show=False,
                tooltip="Sort tags by scan findings, worst first; again to reverse"),
        Binding("V", "scans", "Scans", id="registry.scans", show=False,
                tooltip="Vulnerability findings of this registry, worst first; CVE search"),
        Binding("t", "toggle_tree", "Tree", id="repos.tree",
                tooltip="Fold repositories by namespace, or list them flat"),
        Binding("space", "toggle_mark", "Mark", id="registry.mark-tag",
                tooltip="Mark/unmark the tag for ctrl+d; on a namespace: fold it"),
        Binding("z", "toggle_fold", "Fold", id="registry.fold",
                tooltip="Fold/unfold a namespace, or an image's signatures and attestations"),
        Binding("M", "metrics", "Metrics", id="registry.metrics",
                tooltip="Prometheus charts of this registry (when [registries.prometheus] is set)"),
        Binding("l", "logs", "Logs", id="registry.logs",
                tooltip="This registry's logs, filtered to the selected repository"),
        Binding("U", "storage", "Usage", id="registry.storage",
                tooltip="Storage usage, each blob counted once, and what deleting would free"),
        Binding("ctrl+d", "delete_tag", "Delete", id="registry.delete-tag",
                tooltip="Delete the marked tags, else the selected one (preview first)"),
        Binding("X", "delete_repository", "Delete repo", id="registry.delete-repository",
                show=False, tooltip="Delete every tag of the selected repository (preview first)"),
        Binding("ctrl+r", "retention", "Retention", id="registry.retention", show=False,
                tooltip="Select tags by regex, age and keep-last-N; dry run, then apply"),
        Binding("ctrl+g", "gc", "GC", id="registry.gc", show=False,
                tooltip="Garbage collection: dry run streamed, then collect on confirmation"),
    ]

    DESTRUCTIVE: ClassVar[frozenset[str]] = frozenset(
        {"delete_tag", "delete_repository", "retention", "gc"})
    """Not bound, and not in the palette, in read-only mode."""

    def __init__(self, registry: str, repository: str | None = None) -> None:
        super().__init__()
        self.registry = registry
        self.repository = repository
        self.tree_mode = True
        self.collapsed: set[str] = set()
        self.expanded: set[str] = set()
        self.marked: set[str] = set()
        """Tags of the current repository marked with space, deleted together by ctrl+d."""
        self.repo_sort, self.repo_reverse = RepoSort.NAME, False
        self.tag_sort, self.tag_reverse = TagSort.DATE, True
        self._scans_read: set[str] = set()
        self.pane = RepoPane()
        self._borders: dict[str, tuple[str, str]] = {}
        self._with_vulns = False
        """Once a scan result or a scans setting is seen, the VULNS column stays."""
        self._with_pushed = False
        """The repository shown has push times (and no activity columns show them)."""

    @property
    def with_activity(self) -> bool:
        """The registry's tag listing says when tags were pushed and pulled (Docker Hub)."""
        return self.rapp.service(self.registry).capabilities.tag_activity

    def tag_columns(self) -> tuple[Column, ...]:
        """The tags pane's columns; `_tag_cells` follows the same three flags."""
        columns = (*TAG_COLUMNS, *(ACTIVITY_COLUMNS if self.with_activity else
                                   (PUSHED_COLUMN,) if self._with_pushed else ()))
        return (*columns, VULN_COLUMN) if self._with_vulns else columns

    def _show_pushed(self, tag_table: TagTable) -> None:
        """PUSHED beside CREATED for this repository only if the registry knows push times
        (Harbor, registry:2 with a readable layout; Docker Hub has its activity columns)."""
        pushed = knows_push_times(tag_table.rows)
        if pushed != self._with_pushed:
            self._with_pushed = pushed
            self.query_one("#tags", VirtualTable).set_columns(self.tag_columns())

    def _show_vulns(self) -> None:
        self._with_vulns = True
        self.query_one("#tags", VirtualTable).set_columns(self.tag_columns())

    @property
    def data(self) -> RegistryData:
        return self.rapp.store[self.registry]

    def compose_body(self) -> ComposeResult:
        notes = Static(id="registry-notes")
        notes.display = False
        yield notes
        with Horizontal(id="panes"):
            yield VirtualTable(REPO_COLUMNS, self._repo_cells, style_of=_repo_style,
                               id="repos", empty="no repositories (yet)")
            yield VirtualTable(self.tag_columns(), self._tag_cells, style_of=self._tag_style,
                               id="tags", empty="select a repository")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#repos").focus()
        self.show_repos(keep=self.repository)
        if self.repository is not None:
            self.focus_repository(self.repository)
        if self.data.status.fetched_at is None:
            self.rapp.refresh_registry(self.registry)

    # -- rendering ---------------------------------------------------------------------------

    def _repo_cells(self, row: RepoRow) -> tuple[Shown, ...]:
        return repo_cells(row, self.rapp.clock())

    def _tag_cells(self, row: TagRow) -> tuple[Shown, ...]:
        now = self.rapp.clock()
        cells = tag_cells(row, now, row.key in self.expanded)
        if self.with_activity:
            cells = (*cells, *activity_cells(row.record, now))
        elif self._with_pushed:
            cells = (*cells, pushed_cell(row, now))
        if row.depth:
            return (*cells, Shown(""))
        return (*cells, scan_cell(self.data.scans.get(row.record.digest)))


    def show_repos(self, keep: str | None = None) -> None:
        """Rebuild the repositories pane from the store, keeping the cursor on its repository.

        O(repositories): for a new catalog, fold, sort or filter. Summaries arriving later
        go through `_repos_changed`, which touches only their rows.
        """
        data, text_filter = self.data, self.filters.get("repos", TextFilter())
        rows = self.pane.rebuild(data.names, data.summaries, text_filter, self.collapsed,
                                 self.repo_sort, self.repo_reverse, self.tree_mode)
        table = self.query_one("#repos", VirtualTable)
        if keep is None and not table.rows:
            keep = self.repository  # first load: land on the repository asked for
        failure = failure_text(data.status, self.rapp.retry_in(self.registry))
        table.empty_text = failure if failure is not None and not data.names else (
            "no repositories (yet)")
        table.set_rows(rows, keep=keep)
        self._show_repo_border()
        self._show_title()

    def _repos_changed(self, repositories: set[str]) -> None:
        """Summaries changed: their rows (and their namespaces') in place, else one rebuild."""
        if not self.pane.same_names(self.data.names):
            self.show_repos()
            return
        changed: list[RepoRow] = []
        for name in repositories:
            rows = self.pane.update(name, self.data.summaries)
            if rows is None:
                self.show_repos()
                return
            changed.extend(rows)
        self.query_one("#repos", VirtualTable).refresh_rows(changed)
        self._show_repo_border()

    def _show_repo_border(self) -> None:
        text_filter = self.filters.get("repos", TextFilter())
        self._set_border("#repos", f"Repositories {len(self.data.names):,}",
                         _subtitle(self.repo_sort, self.repo_reverse, text_filter))

    def _set_border(self, table_id: str, title: str, subtitle: str) -> None:
        """Border texts are set only when they change: each set redraws the border."""
        if self._borders.get(table_id) == (title, subtitle):
            return
        self._borders[table_id] = (title, subtitle)
        table = self.query_one(table_id, VirtualTable)
        table.border_title = Text(title)
        table.border_subtitle = Text(subtitle)

    def show_tags(self) -> None:
        """Show the current repository's tags: all sorted, then filtered, folded supplements."""
        table = self.query_one("#tags", VirtualTable)
        tag_table = self.data.tables.get(self.repository or "")
        text_filter = self.filters.get("tags", TextFilter())
        if tag_table is None:
            table.empty_text = self._tags_placeholder()
            table.set_rows([])
            self._set_border("#tags", safe_text(self.repository or "Tags", 80),
                             self._borders.get("#tags", ("", ""))[1])
            return
        rows = tag_table.visible(text_filter, self.tag_sort, self.tag_reverse, self.expanded)
        if self.data.scans or self.data.config.scans is not None:
            self._show_vulns()
        self._show_pushed(tag_table)
        table.empty_text = "no tag matches the filter" if tag_table.rows else "no tags"
        table.set_rows(rows)
        self._load_scans(tag_table)
        shown = f"{len(rows):,}/" if not text_filter.is_empty else ""
        name = safe_text(self.repository or "", 80)
        marked = f" · {len(self.marked):,} marked" if self.marked else ""
        self._set_border("#tags", f"{name} · {shown}{plural(tag_table.total, 'tag')}{marked}",
                         _subtitle(self.tag_sort, self.tag_reverse, text_filter))

    def _load_scans(self, tag_table: TagTable) -> None:
        """Scan states of the shown tags, read once per repository in the background."""
        repository = self.repository
        if repository is None or repository in self._scans_read:
            return
        service = self.rapp.scan_service(self.registry)
        if service is None:
            return
        self._scans_read.add(repository)
        self.read_scans(service, [row.record for row in tag_table.rows],
                        [child for row in tag_table.rows for child in row.children])

    @work(group="tag-scans", exit_on_error=False)
    async def read_scans(self, service: ScanService, records: list[TagRecord],
                         supplements: list[TagRecord]) -> None:
        scans = await service.scan_tags([*records, *supplements])
        self.data.set_scans(scans)
        if scans and any(scan.state is not ScanState.NOT_SCANNED for scan in scans):
            self._show_vulns()
        self.rapp.scans_changed(self.registry)
        self.query_one("#tags", VirtualTable).invalidate()

    def _tags_placeholder(self) -> str:
        if self.repository is None:
            return "select a repository"
        error = self.data.repo_errors.get(self.repository)
        return safe_text(f"cannot read tags: {error}", 300) if error else "loading tags…"

    def _show_title(self) -> None:
        status = self.data.status
        api = f"{status.flavor} {status.api_version}".strip()
        age = "loading…"
        if status.fetched_at is not None:
            from regtui.render.formats import age as age_of

            age = f"data {age_of(status.fetched_at, self.rapp.clock())}"
            if status.from_snapshot:
                age += " (snapshot, revalidating)" if status.loading or not status.error else (
                    " (snapshot)")
        failure = failure_text(status, self.rapp.retry_in(self.registry))
        if self.is_down() != getattr(self, "_was_down", False):
            self._was_down = self.is_down()
            self.refresh_bindings()  # what the footer offers follows: no key that cannot work
        head = f"{status.name} · {status.shown_url} · {api}"
        if failure is None:  # the data's age survives a narrow terminal; the URL is cut
            self.set_title(Tailed(f"{head} · {age}", 400, tail=len(age) + 3))
        else:  # not "loading…" forever: why, and when it is tried again (kept at any width)
            stale = "STALE " if status.fetched_at else ""
            text = f"{head} · {'' if status.fetched_at is None else age + ' · '}{stale}{failure}"
            self.set_title(Tailed(text, 400, tail=failure.tail))
        self._show_notes()

    def _show_notes(self) -> None:
        """Where the repository list came from, pull limits, soft deletes: one muted line."""
        status = self.data.status
        parts = [*status.notes, *(gauge_text(g) for g in status.gauges)]
        text = safe_text(" · ".join(parts), 400)
        if text == getattr(self, "_notes_text", None):
            return
        self._notes_text = text
        notes = self.query_one("#registry-notes", Static)
        notes.update(Text(text, style="dim"))
        notes.display = bool(parts)

    # -- data flow ---------------------------------------------------------------------------

    def refresh_data(self) -> None:
        self._scans_read.clear()
        self.rapp.refresh_registry(self.registry, first=self.repository)

    def periodic_refresh(self) -> None:
        """The fast tier: the repository on screen (the slow tier checks the rest)."""
        if self.data.status.fetched_at is None:
            self.rapp.refresh_registry(self.registry, first=self.repository)
        elif self.repository is not None:
            self.rapp.revalidate_repository(self.registry, self.repository)

    def data_changed(self, registry: str, repository: str | None) -> None:
        self.data_changed_batch(registry, {repository})

    def data_changed_batch(self, registry: str, repositories: set[str | None]) -> None:
        if registry != self.registry:
            return
        named = {name for name in repositories if name is not None}
        if None in repositories:
            self._show_title()
        self._repos_changed(named)
        if None in repositories or self.repository in named:
            self.show_tags()

    def clock_moved(self) -> None:
        """Ages move: recompute the visible cells; only lines that read differently redraw."""
        for table_id in ("#repos", "#tags"):
            self.query_one(table_id, VirtualTable).invalidate()
        self._show_title()

    def apply_filter(self, table_id: str, text_filter: TextFilter) -> None:
        if table_id == "repos":
            self.show_repos()
        else:
            self.show_tags()

    def select_repository(self, repository: str) -> None:
        """Point the tags pane at `repository`, loading it first if needed."""
        if repository != self.repository:
            self.marked.clear()
        self.repository = repository
        self.expanded.clear()
        self.show_tags()
        if repository not in self.data.tables:
            self.rapp.load_repository(self.registry, repository)

    @on(VirtualTable.CursorMoved, "#repos")
    def _repo_highlighted(self, event: VirtualTable.CursorMoved) -> None:
        row = event.row
        if isinstance(row, RepoRow) and row.repository and row.repository != self.repository:
            self.select_repository(row.repository)

    @on(VirtualTable.Selected, "#repos")
    def _repo_selected(self, event: VirtualTable.Selected) -> None:
        row = event.row
        if isinstance(row, RepoRow) and row.namespace:
            self._toggle_namespace(row)
        else:
            self.query_one("#tags").focus()

    @on(VirtualTable.Selected, "#tags")
    def _tag_selected(self, event: VirtualTable.Selected) -> None:
        row = event.row
        if isinstance(row, TagRow) and row.record.unreadable:
            self.rapp.report_error(RegistryError(row.record.error), source="tag")
        elif isinstance(row, TagRow):
            self.rapp.open_tag(self.registry, row.record)

    # -- actions -----------------------------------------------------------------------------

    def _tags_focused(self) -> bool:
        return self.focused is self.query_one("#tags")

    def action_sort(self, column: str) -> None:
        on_tags = self._tags_focused() or column == TagSort.VULNS  # only tags have findings
        if on_tags and not self._tags_focused():
            self.query_one("#tags").focus()
        if on_tags:
            if column not in TagSort.__members__.values():
                return
            sort = TagSort(column)
            default_reverse = sort is not TagSort.NAME
            self.tag_reverse = (not self.tag_reverse) if sort is self.tag_sort else default_reverse
            self.tag_sort = sort
            self.show_tags()
        else:
            repo_sort = RepoSort(column)
            self.repo_reverse = (not self.repo_reverse) if repo_sort is self.repo_sort else (
                repo_sort is not RepoSort.NAME)
            self.repo_sort = repo_sort
            self.show_repos()

    def action_scans(self) -> None:
        self.rapp.open_scans(self.registry)

    def action_toggle_tree(self) -> None:
        self.tree_mode = not self.tree_mode
        self.show_repos()

    def _tag_style(self, row: TagRow) -> str:
        if row.record.tag in self.marked:
            return "vtable--marked"
        if row.depth:
            return "vtable--muted"
        return scan_style(self.data.scans.get(row.record.digest))

    def action_toggle_mark(self) -> None:
        """k9s-style marking in the tags pane; in the repositories pane, space folds."""
        table = self.query_one("#tags", VirtualTable)
        row = table.current
        if not self._tags_focused() or not isinstance(row, TagRow):
            self.action_toggle_fold()
            return
        self.marked ^= {row.record.tag}
        table.action_cursor_down()
        self.show_tags()
        table.invalidate()

    def action_toggle_fold(self) -> None:
        table = self._focused_table()
        row = table.current if table is not None else None
        if isinstance(row, RepoRow) and row.namespace:
            self._toggle_namespace(row)
        elif isinstance(row, TagRow) and row.depth == 0 and row.children:
            self.expanded ^= {row.key}
            self.show_tags()
            self.query_one("#tags", VirtualTable).refresh_rows([row])

    def read_only_mode(self) -> bool:
        return self.rapp.registry_read_only(self.registry)

    def is_down(self) -> bool:
        """The registry does not answer: nothing that needs it can work."""
        return status_word(self.data.status) == "down"

    def _refusal(self, action: str) -> str | None:
        """Why `action` is not offered here (None: it is), as the operator is told it."""
        verb = REFUSED.get(action)
        if verb is None:
            return None
        if action in self.DESTRUCTIVE and self.read_only_mode():
            reason = self.rapp.config.read_only_source(self.data.config, self.rapp.read_only_flag)
            return f"read-only: {verb} is disabled for {self.registry} ({reason})"
        if self.is_down():
            failure = failure_text(self.data.status, self.rapp.retry_in(self.registry))
            return f"{verb} is disabled for {self.registry} while it is {failure}"
        return None

    def on_key(self, event: events.Key) -> None:
        """Keys not bound here (read-only, registry down) say why instead of doing nothing."""
        for namespace, bindings in self._binding_chain:
            if namespace is not self:
                continue
            for binding in bindings.key_to_bindings.get(event.key, ()):
                refusal = self._refusal(binding.action.partition("(")[0])
                if refusal is not None:
                    event.stop()
                    self.notify(safe_text(refusal, 400), severity="warning", markup=False)
                    return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer metrics and logs only where the config says where to find them, and
        nothing that changes the registry in read-only mode (False: not bound at all)."""
        if action in NEEDS_REGISTRY:
            return self._refusal(action) is None
        if action == "metrics":
            return self.data.config.prometheus is not None
        if action == "logs":
            return has_logs(self.rapp, self.registry)
        return True

    def action_metrics(self) -> None:
        from regtui.services.metrics import MetricsService
        from regtui.ui.screens.metrics import MetricsScreen

        if self.data.config.prometheus is not None:
            service = MetricsService(self.data.config)
            self.app.push_screen(MetricsScreen(service, interval=self.rapp.config.refresh_interval))

    def action_logs(self) -> None:
        from regtui.ui.screens.logs import LogsScreen

        sources = log_sources(self.rapp, self.registry)
        if sources:
            self.app.push_screen(LogsScreen(sources, repository_filter=self.repository),
                                 callback=self._logs_closed)

    def _logs_closed(self, repository: str | None) -> None:
        """Enter on a log line names a repository: show it here."""
        if repository:
            self.focus_repository(repository)

    # -- storage and operations (every change goes through the operations service) ---------

    def action_storage(self) -> None:
        from regtui.services.gc import storage_root
        from regtui.ui.screens.storage import StorageScreen, dashboard_records

        service = self.rapp.service(self.registry)
        if not isinstance(service, InventoryService):
            self.rapp.report_error(UsageError("storage usage needs a live registry"))
            return
        config = self.data.config
        self.app.push_screen(StorageScreen(service, storage_root(config.gc) if config.gc
                                           else None, config,
                                           known=lambda: dashboard_records(self.data)))

    def _operations(self) -> OperationsService | None:
        try:
            return self.rapp.operations(self.registry)
        except RegtuiError as error:
            self.rapp.report_error(error)
            return None

    def action_delete_tag(self) -> None:
        if self.read_only_mode():
            return
        row = self.query_one("#tags", VirtualTable).current
        if self.repository is not None and self.marked:
            targets = [Target(self.repository, tag) for tag in sorted(self.marked)]
        elif isinstance(row, TagRow) and self.repository is not None:
            targets = [Target(self.repository, row.record.tag)]
        else:
            self.notify("Select a tag in the tags pane first", severity="warning")
            return
        if not refuse_second_change(self.app):
            self.run_delete(targets)

    def action_delete_repository(self) -> None:
        if self.read_only_mode() or self.repository is None:
            return
        if not refuse_second_change(self.app):
            self.run_delete_repository(self.repository)

    # Changes are never `exclusive`: a second key must not cancel a delete under way.
    @work(group=CHANGE_GROUP, name="delete", exit_on_error=False)
    async def run_delete(self, targets: list[Target]) -> None:
        ops = self._operations()
        if ops is None:
            return
        records = self.rapp.complete_records(self.registry)
        try:
            results = await delete_with_confirmation(self.app, ops, targets, records)
            self.marked -= {r.target.tag or "" for r in results if r.ok}
        finally:
            self.rapp.refresh_touched(self.registry, {t.repository for t in targets})

    @work(group=CHANGE_GROUP, name="delete repository", exit_on_error=False)
    async def run_delete_repository(self, repository: str) -> None:
        ops = self._operations()
        if ops is None:
            return
        records = self.rapp.complete_records(self.registry)
        if records is not None:
            ops.use_records(records)
        targets = await ops.repository_targets([repository])
        try:
            await delete_with_confirmation(self.app, ops, targets)
        finally:
            self.rapp.refresh_touched(self.registry, [repository])

    def action_retention(self) -> None:
        from regtui.ui.screens.retention import RetentionScreen

        if not self.read_only_mode() and (ops := self._operations()) is not None:
            self.app.push_screen(RetentionScreen(ops, scope=self.repository or ""))

    def action_gc(self) -> None:
        from regtui.ui.screens.gc import GcScreen

        if not self.read_only_mode() and (ops := self._operations()) is not None:
            self.app.push_screen(GcScreen(ops))

    def _toggle_namespace(self, row: RepoRow) -> None:
        path = row.key.removeprefix("ns:")
        self.collapsed ^= {path}
        self.show_repos(keep=row.key)

    def context_commands(self) -> list[ContextCommand]:
        commands = super().context_commands()  # from the bindings active here
        for name in self.data.names[:500]:
            commands.append(ContextCommand(f"Open repository {name}", f"in {self.registry}",
                                           partial(self.rapp.jump, f"{self.registry}/{name}")))
        return commands

    def focus_repository(self, repository: str) -> None:
        """Used by command mode: put the cursor on `repository` and show its tags."""
        self.collapsed = {p for p in self.collapsed if not repository.startswith(p + "/")}
        self.show_repos(keep=repository)
        self.select_repository(repository)
        self.query_one("#tags").focus()


def _subtitle(sort: object, reverse: bool, text_filter: TextFilter) -> str:
    arrow = "↓" if reverse else "↑"
    shown = f" · filter {safe_text(text_filter.query, 40)}" if not text_filter.is_empty else ""
    return f"sort {sort} {arrow}{shown}"


def _repo_style(row: RepoRow) -> str:
    return "vtable--muted" if row.namespace else ""


__all__ = ["RegistryScreen", "TagTable"]
