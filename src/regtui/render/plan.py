"""The delete preview as plain lines: one wording for the TUI dialog and `regtui delete`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from regtui.render.formats import short_digest, size
from regtui.services.impact import DeletePlan, TagImpact
from regtui.text import safe_text

if TYPE_CHECKING:
    from regtui.services.operations import DeleteResult

MAX_LISTED: Final = 200


def plan_lines(plan: DeletePlan, *, full_digest: bool = False,
               limit: int | None = MAX_LISTED) -> list[str]:
    lines: list[str] = []
    shown = plan.impacts if limit is None else plan.impacts[:limit]
    for impact in shown:
        lines.extend(impact_lines(impact, full_digest=full_digest))
    if len(shown) < len(plan.impacts):
        lines.append(f"... and {len(plan.impacts) - len(shown)} more")
    lines.extend(f"problem: {safe_text(p, 300)}" for p in plan.problems)
    lines.append(
        f"{len(plan.impacts)} to delete on {safe_text(plan.registry, 80)}; reclaimable by "
        f"garbage-collect: {size(plan.reclaimable_bytes)} ({plan.reclaimable_bytes} bytes); "
        f"with --delete-untagged: {size(plan.reclaimable_untagged_bytes)}")
    return lines


def impact_lines(impact: TagImpact, *, full_digest: bool = False) -> list[str]:
    digest = impact.digest if full_digest else short_digest(impact.digest)
    lines = [f"{safe_text(str(impact.target), 300)}  {digest}",
             f"  how: {impact.strategy.value}"]
    if impact.siblings:
        lines.append(f"  survives (same digest): {_names(impact.siblings)}")
    if impact.removed_with_manifest:
        lines.append(f"  also removed (same manifest): {_names(impact.removed_with_manifest)}")
    if impact.needed_by:
        lines.append(f"  kept because index tags list it: {_names(impact.needed_by)}")
    if impact.orphaned_children:
        lines.append(f"  index children left untagged: {len(impact.orphaned_children)}")
    if impact.orphaned_referrers:
        lines.append(f"  orphaned referrers: {_names(impact.orphaned_referrers)}")
    return lines


def _names(names: tuple[str, ...], limit: int = 12) -> str:
    shown = ", ".join(safe_text(n, 128) for n in names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def outcome_count(results: Sequence[DeleteResult]) -> str:
    """`3 deleted, 1 not deleted`: the same words in the CLI, the dialog's notice, retention."""
    failed = sum(1 for r in results if not r.ok)
    return f"{len(results) - failed} deleted, {failed} not deleted"
