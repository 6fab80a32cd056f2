"""Tag detail: manifest, layers, config, index platforms, referrers and pull references."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual.worker import Worker

from regtui.registry.models import ImageConfig, Manifest, Referrer, TagRecord
from regtui.render.clipboard import Grammar
from regtui.render.detail import (
    activity_lines,
    config_sections,
    layer_rows,
    layers_note,
    manifest_text,
    platform_rows,
    platforms_note,
    pull_references,
    referrer_rows,
    referrers_note,
    total_size,
)
from regtui.render.formats import short_digest
from regtui.text import safe_text
from regtui.ui.log_sources import has_logs, log_sources
from regtui.ui.screens.base import BaseScreen
from regtui.ui.widgets.tables import sync_rows


@dataclass
class ManifestLoaded(Message):
    manifest: Manifest


@dataclass
class ConfigLoaded(Message):
    config: ImageConfig


@dataclass
class PlatformSizes(Message):
    sizes: dict[str, int]


@dataclass
class ReferrersLoaded(Message):
    referrers: list[Referrer]


class TagScreen(BaseScreen):
    """Everything about one tag; `c`/`d` copy the pull reference (OSC 52 works over SSH)."""

    DEFAULT_CSS = """
    TagScreen .detail-note { height: auto; padding: 0 1; color: $text-muted; }
    TagScreen .detail-note.-hidden { display: none; }
    """
    LISTS = ("layers", "platforms", "referrers")
    """The tabs that are tables; each has a note saying why it is empty (or still loading)."""
    BINDINGS_TITLE = "Tag detail"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy('tag')", "Copy pull by tag", id="detail.copy-tag",
                tooltip="Copy `docker pull host/repo:tag` to the clipboard"),
        Binding("d", "copy('digest')", "Copy pull by digest", id="detail.copy-digest",
                tooltip="Copy `docker pull host/repo@digest` to the clipboard"),
        Binding("l", "logs", "Logs", id="detail.logs",
                tooltip="This registry's logs, filtered to this tag's repository"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "logs":
            return has_logs(self.rapp, self.registry)
        return True

    def action_logs(self) -> None:
        from regtui.ui.screens.logs import LogsScreen

        sources = log_sources(self.rapp, self.registry)
        if sources:
            self.app.push_screen(LogsScreen(sources,
                                            repository_filter=self.record.repository))

    def __init__(self, registry: str, record: TagRecord, host: str) -> None:
        super().__init__()
        self.registry = registry
        self.record = record
        self.by_tag, self.by_digest = pull_references(
            host, record.repository, record.tag, record.digest)
        self.manifest: Manifest | None = None

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="detail"):
            with TabPane("Manifest", id="tab-manifest"), VerticalScroll():
                yield Static(Text("loading manifest…"), id="manifest")
            with TabPane("Layers", id="tab-layers"):
                yield _note("layers")
                yield _table("layers", "DIGEST", "SIZE", "MEDIA TYPE")
            with TabPane("Config", id="tab-config"), VerticalScroll():
                yield Static(Text("loading config…"), id="config")
            with TabPane("Platforms", id="tab-platforms"):
                yield _note("platforms")
                yield _table("platforms", "PLATFORM", "DIGEST", "SIZE")
            with TabPane("Referrers", id="tab-referrers"):
                yield _note("referrers")
                yield _table("referrers", "KIND", "ARTIFACT TYPE", "DIGEST", "SIZE", "TAG")
            with TabPane("Pull", id="tab-pull"):
                yield Static(self._pull_text(), id="pull")

    def on_mount(self) -> None:
        super().on_mount()
        record = self.record
        self.set_title(f"{record.registry} · {record.repository}:{record.tag} · "
                       f"{short_digest(record.digest, 19)} · {record.artifact_kind.value}")
        self.refresh_data()

    def _pull_text(self) -> Text:
        text = Text()
        text.append("By tag (c to copy)\n", style="bold")
        text.append(safe_text(self.by_tag, 1000) + "\n\n")
        text.append("By digest (d to copy)\n", style="bold")
        text.append(safe_text(self.by_digest, 1000))
        if self.rapp.service(self.registry).capabilities.tag_activity:
            text.append("\n\nActivity (from the registry's tag listing)\n", style="bold")
            for label, value in activity_lines(self.record, self.rapp.clock()):
                text.append(f"{label}: {value}\n")
        return text

    def refresh_data(self) -> None:
        self._load()

    @work(group="detail", exclusive=True, exit_on_error=False)
    async def _load(self) -> None:
        """Manifest first (it decides what else to fetch), then config or children, referrers."""
        service = self.rapp.service(self.registry)
        repo, digest = self.record.repository, self.record.digest
        manifest = await service.manifest(repo, digest)
        self.post_message(ManifestLoaded(manifest))
        if manifest.is_index:
            children = await asyncio.gather(*(service.manifest(repo, child.digest)
                                              for child in manifest.manifests))
            self.post_message(PlatformSizes({c.digest: total_size(c) for c in children}))
        elif manifest.config is not None:
            config = await service.image_config(repo, manifest.config.digest)
            self.post_message(ConfigLoaded(config))
        self.post_message(ReferrersLoaded(await service.referrers(repo, digest)))

    @on(ManifestLoaded)
    def _manifest_loaded(self, message: ManifestLoaded) -> None:
        self.manifest = message.manifest
        syntax = Syntax(manifest_text(message.manifest), "json", theme="ansi_dark",
                        word_wrap=True, background_color="default")
        self.query_one("#manifest", Static).update(syntax)
        rows = layer_rows(message.manifest)
        sync_rows(self._dt("layers"), [(f"{i}:{row[0]}", row) for i, row in enumerate(rows)])
        self._set_note("layers", layers_note(message.manifest))
        self._set_note("platforms", platforms_note(message.manifest))
        if message.manifest.is_index:
            self._show_platforms({})
            self.query_one("#config", Static).update(Text("an index has no config: see Platforms"))

    @on(PlatformSizes)
    def _sizes_loaded(self, message: PlatformSizes) -> None:
        self._show_platforms(message.sizes)

    def _show_platforms(self, sizes: dict[str, int]) -> None:
        if self.manifest is None:
            return
        rows = platform_rows(self.manifest, sizes)
        sync_rows(self._dt("platforms"),
                  [(f"{i}:{r.digest}", (r.platform, r.digest, r.size)) for i, r in enumerate(rows)])

    @on(ConfigLoaded)
    def _config_loaded(self, message: ConfigLoaded) -> None:
        text = Text()
        for title, lines in config_sections(message.config):
            text.append(f"{title}\n", style="bold")
            for line in lines:
                text.append(f"  {line}\n")
        self.query_one("#config", Static).update(text)

    @on(ReferrersLoaded)
    def _referrers_loaded(self, message: ReferrersLoaded) -> None:
        rows = referrer_rows(message.referrers)
        sync_rows(self._dt("referrers"), [(f"{i}:{row[2]}", row) for i, row in enumerate(rows)])
        self._set_note("referrers", referrers_note(message.referrers))

    def _set_note(self, name: str, reason: str | None) -> None:
        """Show why a table is empty instead of the empty table, or the table alone."""
        note = self.query_one(f"#{name}-note", Static)
        note.remove_class("-loading")
        note.set_class(reason is None, "-hidden")
        if reason is not None:
            note.update(Text(reason))
        self._dt(name).set_class(reason is not None, "-empty")

    def worker_failed(self, worker: Worker[Any], message: str) -> None:
        """The error line says what failed; a tab still loading says it was not read."""
        super().worker_failed(worker, message)
        for name in self.LISTS:
            note = self.query_one(f"#{name}-note", Static)
            if note.has_class("-loading"):
                self._set_note(name, "not read: the load failed (see the error line)")

    def _dt(self, name: str) -> DataTable[Text]:
        return self.query_one(f"#{name}", DataTable)

    def action_copy(self, which: str) -> None:
        reference = self.by_tag if which == "tag" else self.by_digest
        self.rapp.copy_checked(reference, Grammar.PULL_COMMAND)


def _note(name: str) -> Static:
    """Where an empty table says why; it says loading until the data comes."""
    return Static(Text("loading…"), id=f"{name}-note", classes="detail-note -loading")


def _table(name: str, *labels: str) -> DataTable[Text]:
    table: DataTable[Text] = DataTable(id=name, cursor_type="row", zebra_stripes=True)
    for label in labels:
        table.add_column(label, key=label.lower())
    return table
