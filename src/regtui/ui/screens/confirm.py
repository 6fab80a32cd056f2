"""The delete confirmation: the impact preview, Cancel focused, typed name for big deletes.

Everything shown comes from the plan, built from plain strings, so a hostile tag name can
neither restyle the dialog nor hide what is about to happen.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from regtui.render.plan import plan_lines
from regtui.services.impact import DeletePlan
from regtui.text import safe_text


def confirmation_word(plan: DeletePlan) -> str:
    """What the operator types for a big delete: the repository (or all of them)."""
    return " ".join(plan.repositories)


class DeleteConfirmScreen(ModalScreen[bool]):
    """Answers True only after an explicit Delete; Escape, Cancel and Enter-by-habit refuse."""

    DEFAULT_CSS = """
    DeleteConfirmScreen { align: center middle; }
    DeleteConfirmScreen > Vertical {
        width: 90%; max-width: 110; height: auto; max-height: 100%;
        border: thick $error; background: $surface; padding: 0 1;
    }
    DeleteConfirmScreen #confirm-title { text-style: bold; color: $error; }
    /* The plan scrolls; the typed name and the buttons always stay on screen (80x24). */
    DeleteConfirmScreen VerticalScroll { height: auto; max-height: 40vh; }
    DeleteConfirmScreen #confirm-typed { margin-top: 1; }
    DeleteConfirmScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    DeleteConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel", tooltip="Delete nothing"),
    ]

    def __init__(self, plan: DeletePlan) -> None:
        super().__init__()
        self.plan = plan
        self.word = confirmation_word(plan) if plan.needs_typed_confirmation else ""

    def compose(self) -> ComposeResult:
        count = len(self.plan.impacts)
        with Vertical():
            yield Static(Text(f"Delete {count} item{'s' if count != 1 else ''} on "
                              f"{safe_text(self.plan.registry, 60)}?"), id="confirm-title")
            with VerticalScroll():
                yield Static(Text("\n".join(plan_lines(self.plan))), id="confirm-plan")
            if self.word:
                yield Static(Text(f"Type {safe_text(self.word, 200)!r} to confirm:"))
                yield Input(placeholder=safe_text(self.word, 200), id="confirm-typed")
            with Horizontal():
                yield Button("Cancel", id="confirm-no", variant="primary")
                yield Button("Delete", id="confirm-yes", variant="error",
                             disabled=bool(self.word) or not self.plan.impacts)

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    @on(Input.Changed, "#confirm-typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm-yes", Button).disabled = event.value.strip() != self.word

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        if not self.query_one("#confirm-yes", Button).disabled:
            self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_cancel(self) -> None:
        self.dismiss(False)


class LeaveConfirm(ModalScreen[bool]):
    """Leaving (or quitting) while a change runs: Stay is focused, Escape stays."""

    DEFAULT_CSS = """
    LeaveConfirm { align: center middle; }
    LeaveConfirm > Vertical {
        width: 90%; max-width: 80; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    LeaveConfirm Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    LeaveConfirm Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stay", "Stay", id="leave.stay", tooltip="Keep the change running"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question), id="leave-question")
            with Horizontal():
                yield Button("Stay", id="leave-no", variant="primary")
                yield Button("Stop it and leave", id="leave-yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#leave-no", Button).focus()

    @on(Button.Pressed, "#leave-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#leave-no")
    def action_stay(self) -> None:
        self.dismiss(False)
