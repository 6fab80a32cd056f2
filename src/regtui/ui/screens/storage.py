"""Storage usage: totals, top repositories as bars, and a namespace tree like ncdu.

Computed in a worker as the inventory streams in, with the repositories read so far shown in
the progress line; every number is the one `regtui storage` prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker

from regtui.config import RegistryConfig
from regtui.errors import RegtuiError
from regtui.render.formats import size
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
from regtui.ui.screens.funnel import FunnelScreen
from regtui.ui.screens.metrics import chart_lines
from regtui.ui.widgets.badge import ReadOnlyBadge
from regtui.ui.widgets.charts import MetricChart

BAR_WIDTH = 24
SORT_KEYS = ("stored_bytes", "unique_bytes", "name")


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
    return Text(f"{size(report.total.stored_bytes)} stored in {report.total.repositories} "
                f"repositories and {report.total.tags} tags, each blob counted once; "
                f"untagged: {untagged}")


class StorageScreen(FunnelScreen[None]):
    DEFAULT_CSS = """
    StorageScreen #storage-summary, StorageScreen #storage-progress { height: auto; }
    StorageScreen #storage-progress { color: $text-muted; }
    StorageScreen Horizontal { height: auto; max-height: 14; }
    StorageScreen .bars { width: 1fr; border: round $panel; height: auto; }
    StorageScreen Tree { height: 1fr; border: round $panel; }
    StorageScreen #storage-quotas { height: auto; border: round $panel; }
    StorageScreen #storage-trend { height: 12; }
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
                 metrics: MetricsService | None = None) -> None:
        super().__init__()
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
        yield Static(Text(f"Storage — {safe_text(self.inventory.name, 60)}"), id="title")
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
        yield Tree("registry", id="storage-tree")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.compute()
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
    async def compute(self) -> None:
        progress = self.query_one("#storage-progress", Static)

        def on_repository(done: int, total: int) -> None:
            progress.update(Text(f"read {done} of {total} repositories…"))

        self.report = await storage_report(self.inventory, storage_root=self.storage_root,
                                           on_repository=on_repository)
        progress.update(Text(f"sorted by {self.sort_key.replace('_', ' ')}  (s to change)"))
        self.show(self.report)

    def show(self, report: StorageReport) -> None:
        self.query_one("#storage-summary", Static).update(summary_text(report))
        self.query_one("#bars-stored", Static).update(bar_lines(report.top("stored_bytes"),
                                                                "stored_bytes"))
        self.query_one("#bars-unique", Static).update(bar_lines(report.top("unique_bytes"),
                                                                "unique_bytes"))
        quotas = self.query_one("#storage-quotas", Static)
        quotas.update(quota_lines(report))
        quotas.display = bool(report.quotas)
        self._fill_tree(report)

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        if self.report is not None:
            self.query_one("#storage-progress", Static).update(
                Text(f"sorted by {self.sort_key.replace('_', ' ')}  (s to change)"))
            self._fill_tree(self.report)

    def _fill_tree(self, report: StorageReport) -> None:
        tree: Tree[Usage] = self.query_one("#storage-tree", Tree)
        tree.clear()
        tree.root.set_label(Text(f"{safe_text(report.registry, 60)}  "
                                 f"{size(report.total.stored_bytes)}"))
        nodes: dict[str, TreeNode[Usage]] = {"": tree.root}
        scopes = sorted([*report.namespaces, *report.repositories], key=self._order)
        namespaces = {u.name for u in report.namespaces}
        for usage in sorted(scopes, key=lambda u: u.name.count("/")):
            parent = nodes.get(usage.name.rpartition("/")[0], tree.root)
            label = Text(f"{size(usage.stored_bytes):>10} {size(usage.unique_bytes):>10}  "
                         f"{safe_text(usage.name.rpartition('/')[2], 80)}"
                         f"{'/' if usage.name in namespaces else ''}")
            if usage.name in namespaces:
                nodes[usage.name] = parent.add(label, data=usage, expand=False)
            else:
                parent.add_leaf(label, data=usage)
        tree.root.expand()

    def _order(self, usage: Usage) -> tuple[int, str]:
        if self.sort_key == "name":
            return (0, usage.name)
        return (-int(getattr(usage, self.sort_key)), usage.name)
