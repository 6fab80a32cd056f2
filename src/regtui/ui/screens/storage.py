"""Storage usage: totals, top repositories as bars, and a namespace tree like ncdu.

Computed in a worker as the inventory streams in, with the repositories read so far shown in
the progress line; every number is the one `regtui storage` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len, chop_cells
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker

from regtui.config import RegistryConfig
from regtui.errors import RegtuiError
from regtui.registry.models import TagRecord
from regtui.render.fleet import mode_word
from regtui.render.formats import plural, size
from regtui.services.inventory import InventoryService
from regtui.services.metrics import (
    CONFIG,
    ChartResult,
    MetricsError,
    MetricsService,
    range_by_label,
)
from regtui.services.storage import StorageReport, Usage, storage_report
from regtui.text import safe_text
from regtui.ui.data import RegistryData
from regtui.ui.screens.funnel import FunnelScreen
from regtui.ui.screens.metrics import chart_lines
from regtui.ui.widgets.badge import ReadOnlyBadge
from regtui.ui.widgets.charts import MetricChart
from regtui.ui.widgets.footer import PriorityFooter

BAR_WIDTH = 24
SORT_KEYS = ("stored_bytes", "unique_bytes", "name")
COLUMNS = (("STORED", "stored_bytes"), ("UNIQUE", "unique_bytes"), ("SHARED", "shared_bytes"))
SIZE_WIDTH = 11
"""One size column: `1023.9 MiB` and a space; sizes are never cut."""
NAME_MIN = 8
BAR_NAME_ROOM = 20
"""Cells kept for the repository name next to a bar before the bar gives way."""

Known = Callable[[], Mapping[str, Sequence[TagRecord]] | None]
"""Every repository's records as the dashboard already read them, or None when incomplete."""


def size_columns(usage: Usage) -> str:
    return "".join(f"{size(getattr(usage, key)):>{SIZE_WIDTH}}" for _, key in COLUMNS)


def fit_name(text: str, width: int) -> str:
    """Pad or cut (with an ellipsis) to exactly `width` cells."""
    if cell_len(text) <= width:
        return text + " " * (width - cell_len(text))
    return chop_cells(text, max(1, width - 1))[0] + "…"


def bar_width(room: int) -> int:
    """Bars as long as the pane allows once a size and a readable name fit beside them."""
    if room <= 0:  # not laid out yet
        return BAR_WIDTH
    return max(4, min(BAR_WIDTH, room - SIZE_WIDTH - 2 - BAR_NAME_ROOM))


class UsageTree(Tree[Usage]):
    """The namespace tree with its sizes in fixed columns at the right edge, whatever a
    node's depth, so they line up under the column headers (`header_text`)."""

    class Resized(Message):
        """The width changed: the header above must be laid out again."""

    def _content_width(self) -> int:
        return max(NAME_MIN + SIZE_WIDTH * len(COLUMNS), self.scrollable_content_region.width)

    def name_width(self, depth: int, icon: int) -> int:
        room = self._content_width() - depth * self.guide_depth - icon
        return max(NAME_MIN, room - SIZE_WIDTH * len(COLUMNS))

    def header_text(self) -> str:
        """NAME, then the size column titles right-aligned over their columns."""
        titles = "".join(f"{title:>{SIZE_WIDTH}}" for title, _ in COLUMNS)
        return "NAME".ljust(self.name_width(0, 0)) + titles

    def render_label(self, node: TreeNode[Usage], base_style: Style, style: Style) -> Text:
        usage = node.data
        if usage is None:
            return super().render_label(node, base_style, style)
        depth, parent = 0, node.parent
        while parent is not None:
            depth, parent = depth + 1, parent.parent
        icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        icon = icon if node.allow_expand else ""
        name = str(node.label)
        label = Text(fit_name(name, self.name_width(depth, len(icon))) + size_columns(usage))
        label.stylize(style)
        return Text.assemble((icon, base_style), label)

    def on_resize(self, event: events.Resize) -> None:
        self._invalidate()
        self.post_message(self.Resized())


def bar_lines(usages: list[Usage], key: str, width: int = BAR_WIDTH) -> Text:
    """Horizontal bars, scaled to the largest value; plain text, so they work in 16 colours."""
    text = Text()
    largest = max((getattr(u, key) for u in usages), default=0) or 1
    for usage in usages:
        value = getattr(usage, key)
        filled = round(width * value / largest)
        text.append("█" * filled + "░" * (width - filled), style="bold")
        text.append(f" {size(value):>10}  {safe_text(usage.name, 60)}\n")
    return text


def quota_lines(report: StorageReport, width: int = BAR_WIDTH) -> Text:
    """used / limit per project with a bar; unlimited projects show just what they use."""
    text = Text()
    for quota in report.quotas:
        name = safe_text(quota.project, 40)
        if quota.limit_bytes:
            filled = min(width, round(width * quota.used_bytes / quota.limit_bytes))
            text.append("█" * filled + "░" * (width - filled), style="bold")
            text.append(f" {size(quota.used_bytes)} / {size(quota.limit_bytes)}  {name}\n")
        else:
            text.append(f"{'':{width}} {size(quota.used_bytes)} / unlimited  {name}\n")
    return text


def summary_text(report: StorageReport) -> Text:
    untagged = "unknown (no readable storage path)" if report.untagged_bytes is None \
        else size(report.untagged_bytes)
    total = report.total
    return Text(f"{size(total.stored_bytes)} stored in "
                f"{plural(total.repositories, 'repository', 'repositories')} and "
                f"{plural(total.tags, 'tag')}, each blob counted once (logical size, as the "
                f"fleet sums it per repository: {size(report.logical_bytes)}); "
                f"untagged: {untagged}")


class StorageScreen(FunnelScreen[None]):
    DEFAULT_CSS = """
    StorageScreen #storage-summary, StorageScreen #storage-progress { height: auto; }
    StorageScreen #storage-progress { color: $text-muted; }
    StorageScreen Horizontal { height: 1fr; max-height: 14; min-height: 4; }
    StorageScreen .bars {
        width: 1fr; border: round $border-blurred; height: 100%; overflow: hidden;
    }
    StorageScreen .bars Static { text-wrap: nowrap; text-overflow: ellipsis; }
    StorageScreen #storage-tree-box { height: 2fr; min-height: 8; border: round $border-blurred; }
    StorageScreen #storage-tree-header { height: 1; color: $text-muted; text-style: bold; }
    StorageScreen UsageTree { height: 1fr; scrollbar-gutter: stable; overflow-x: hidden; }
    StorageScreen #storage-quotas { height: auto; border: round $border-blurred; }
    StorageScreen #storage-trend { height: 1fr; max-height: 12; min-height: 4; }
    StorageScreen #storage-trend-note { height: auto; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="storage.back"),
        Binding("s", "cycle_sort", "Sort", id="storage.cycle-sort",
                tooltip="Sort the tree by stored bytes, unique bytes or name"),
        Binding("r", "reload", "Refresh", id="storage.refresh"),
    ]

    def __init__(self, inventory: InventoryService, storage_root: Path | None,
                 registry: RegistryConfig | None = None,
                 metrics: MetricsService | None = None, known: Known | None = None) -> None:
        super().__init__()
        self.known = known
        """The dashboard's records: used on entry when complete, instead of a second walk."""
        self.source = ""
        """Where the numbers came from (the dashboard's data or a walk just now)."""
        self.inventory = inventory
        self.storage_root = storage_root
        self.registry = registry
        """With `[registries.prometheus]`, the pane also shows the storage trend."""
        self.metrics = metrics or (MetricsService(registry) if registry is not None
                                   and registry.prometheus is not None else None)
        self.report: StorageReport | None = None
        self.sort_key = SORT_KEYS[0]

    def compose(self) -> ComposeResult:
        yield ReadOnlyBadge()
        yield Static(Text(f"Storage — {safe_text(self.inventory.name, 60)} · "
                          f"{mode_word(self.inventory.read_only)}"), id="title")
        yield Static(id="storage-summary")
        yield Static(Text("reading the registry…"), id="storage-progress")
        with Horizontal():
            with Vertical(classes="bars"):
                yield Static(Text("Top by stored bytes"))
                yield Static(id="bars-stored")
            with Vertical(classes="bars"):
                yield Static(Text("Top by unique bytes (freed if deleted)"))
                yield Static(id="bars-unique")
        yield Static(id="storage-quotas")
        if self.metrics is not None:
            yield MetricChart("Storage trend (24h)", "bytes", id="storage-trend")
            yield Static(id="storage-trend-note")
        with Vertical(id="storage-tree-box"):
            yield Static(id="storage-tree-header")
            yield UsageTree("registry", id="storage-tree")
        yield PriorityFooter()

    def on_mount(self) -> None:
        self._start(use_known=True)

    def action_reload(self) -> None:
        """`r` reads every repository again: the operator asked for the registry's word."""
        self._start(use_known=False)

    def _start(self, *, use_known: bool) -> None:
        known = self.known() if use_known and self.known is not None else None
        self.compute(known)
        if self.metrics is not None:
            self.trend(self.metrics)

    @work(thread=True, exclusive=True, group="storage-trend", exit_on_error=False)
    def trend(self, service: MetricsService) -> None:
        """One range query in a thread (the Prometheus client is synchronous)."""
        trange = range_by_label("24h")
        try:
            if "storage" not in service.charts():
                raise MetricsError(CONFIG, service.missing_reason("storage"))
            result = service.fetch("storage", trange)
        except RegtuiError as error:
            self.app.call_from_thread(self._trend_failed, str(error))
            return
        self.app.call_from_thread(self._trend_shown, result)

    def worker_failed(self, worker: Worker[Any], message: str) -> None:
        super().worker_failed(worker, message)
        if worker.group == "storage":
            self.query_one("#storage-progress", Static).update(
                Text(f"reading the registry failed: {message} (r to retry)"))

    def _trend_shown(self, result: ChartResult) -> None:
        self.query_one("#storage-trend", MetricChart).show(
            chart_lines("storage", result), result.start.timestamp(), result.end.timestamp())
        self.query_one("#storage-trend-note", Static).display = False

    def _trend_failed(self, message: str) -> None:
        self.query_one("#storage-trend", MetricChart).display = False
        self.query_one("#storage-trend-note", Static).update(
            Text(f"storage trend: {safe_text(message, 300)}"))

    @work(exclusive=True, group="storage", exit_on_error=False)
    async def compute(self, known: Mapping[str, Sequence[TagRecord]] | None = None) -> None:
        progress = self.query_one("#storage-progress", Static)

        def on_repository(done: int, total: int) -> None:
            progress.update(Text(f"read {done} of {plural(total, 'repository', 'repositories')}…"))

        if known is not None:
            count = plural(len(known), "repository", "repositories")
            progress.update(Text(f"from the dashboard's data ({count})…"))
        self.report = await storage_report(self.inventory, storage_root=self.storage_root,
                                           on_repository=on_repository, known=known)
        self.source = "from the dashboard's data, r re-reads the registry" if known is not None \
            else "read from the registry just now"
        self._show_progress()
        self.show(self.report)

    def _show_progress(self) -> None:
        self.query_one("#storage-progress", Static).update(Text(
            f"sorted by {self.sort_key.replace('_', ' ')}  (s to change) · {self.source}"))

    def show(self, report: StorageReport) -> None:
        self.query_one("#storage-summary", Static).update(summary_text(report))
        self._show_bars(report)
        quotas = self.query_one("#storage-quotas", Static)
        quotas.update(quota_lines(report))
        quotas.display = bool(report.quotas)
        self._fill_tree(report)

    def _show_bars(self, report: StorageReport) -> None:
        for key, name in (("stored_bytes", "#bars-stored"), ("unique_bytes", "#bars-unique")):
            bars = self.query_one(name, Static)
            bars.update(bar_lines(report.top(key), key, bar_width(bars.size.width)))

    def on_resize(self, event: events.Resize) -> None:
        if self.report is not None:
            self._show_bars(self.report)

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        if self.report is not None:
            self._show_progress()
            self._fill_tree(self.report)

    def on_usage_tree_resized(self, message: UsageTree.Resized) -> None:
        tree = self.query_one(UsageTree)
        self.query_one("#storage-tree-header", Static).update(Text(tree.header_text()))

    def _fill_tree(self, report: StorageReport) -> None:
        """Build the tree in the current order; open namespaces stay open, the cursor stays
        on the same scope."""
        tree = self.query_one(UsageTree)
        opened = {node.data.name for node in _walk(tree.root)
                  if node.data is not None and node.is_expanded}
        current = tree.cursor_node.data.name if tree.cursor_node is not None and \
            tree.cursor_node.data is not None else None
        tree.clear()
        tree.root.set_label(Text(safe_text(report.registry, 60)))
        tree.root.data = report.total
        nodes: dict[str, TreeNode[Usage]] = {"": tree.root}
        scopes = sorted([*report.namespaces, *report.repositories], key=self._order)
        namespaces = {u.name for u in report.namespaces}
        for usage in sorted(scopes, key=lambda u: u.name.count("/")):
            parent = nodes.get(usage.name.rpartition("/")[0], tree.root)
            label = Text(f"{safe_text(usage.name.rpartition('/')[2], 80)}"
                         f"{'/' if usage.name in namespaces else ''}")
            if usage.name in namespaces:
                nodes[usage.name] = parent.add(label, data=usage,
                                               expand=usage.name in opened)
            else:
                parent.add_leaf(label, data=usage)
        tree.root.expand()
        self.query_one("#storage-tree-header", Static).update(Text(tree.header_text()))
        if current is not None:
            self.call_after_refresh(self._move_cursor, current)

    def _move_cursor(self, name: str) -> None:
        tree = self.query_one(UsageTree)
        for node in _walk(tree.root):
            if node.data is not None and node.data.name == name:
                tree.move_cursor(node)
                return

    def _order(self, usage: Usage) -> tuple[int, str]:
        if self.sort_key == "name":
            return (0, usage.name)
        return (-int(getattr(usage, self.sort_key)), usage.name)


def dashboard_records(data: RegistryData) -> dict[str, Sequence[TagRecord]] | None:
    """The dashboard's records of one registry (a `RegistryData`), when every repository was
    read in this session without an error: then they are what a new walk would read."""
    if not data.complete():
        return None
    return {name: data.summaries[name].tags for name in data.names}


def _walk(node: TreeNode[Usage]) -> list[TreeNode[Usage]]:
    """`node` and everything under it, depth first."""
    found = [node]
    for child in node.children:
        found += _walk(child)
    return found
