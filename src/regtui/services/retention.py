"""Retention: which tags a policy would delete. Pure, so a dry run and the real run agree.

Signatures, attestations and SBOMs are never selected on their own: they follow their image,
and the delete plan lists the ones a deletion orphans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from regtui.errors import UsageError
from regtui.registry.models import TagRecord
from regtui.services.impact import group_by_repository

_DURATION: Final = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `2w` ...; anything else is a one-line usage error."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise UsageError(f"--older-than {text!r}: expected a number and a unit (s, m, h, d, w), "
                         "for example 30d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def compile_pattern(option: str, pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"{option} {pattern!r} is not a valid regular expression: {exc}") from exc


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    match: re.Pattern[str] | None = None
    """Only tags matching this (search, not full match) are candidates."""
    protect: re.Pattern[str] | None = None
    """Tags matching this are never deleted."""
    older_than: timedelta | None = None
    keep_last: int | None = None
    """Keep the newest N candidates of each repository, by created time."""

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 0:
            raise UsageError("--keep-last must be 0 or more")
        if self.older_than is None and self.keep_last is None and self.match is None:
            raise UsageError("a retention policy needs --keep-last, --older-than or --match")


def in_scope(repository: str, scope: str) -> bool:
    """`scope` is a repository or a namespace: `team-a` covers `team-a/releases`, not
    `team-ab`; an empty scope covers everything."""
    scope = scope.strip().strip("/")
    return not scope or repository == scope or repository.startswith(scope + "/")


def select(records: Iterable[TagRecord], policy: RetentionPolicy,
           now: datetime) -> list[TagRecord]:
    """The tags the policy deletes, per repository, in a stable order."""
    selected: list[TagRecord] = []
    for _, tags in sorted(group_by_repository(records).items()):
        selected.extend(_select_repository(tags, policy, now))
    return selected


def _select_repository(tags: Sequence[TagRecord], policy: RetentionPolicy,
                       now: datetime) -> list[TagRecord]:
    candidates = [t for t in tags if _is_candidate(t, policy)]
    # Newest first; tags without a created time count as newest, so they are never aged out.
    newest_first = sorted(candidates, key=lambda t: (_age_time(t) is None, _age_time(t) or now,
                                                     t.tag), reverse=True)
    kept = set() if policy.keep_last is None else {
        t.tag for t in newest_first[:policy.keep_last]}
    cutoff = now - policy.older_than if policy.older_than is not None else None
    return sorted(
        (t for t in candidates
         if t.tag not in kept
         and (cutoff is None or ((when := _age_time(t)) is not None and when < cutoff))),
        key=lambda t: t.tag,
    )


def _age_time(tag: TagRecord) -> datetime | None:
    """How old a tag is: its push time where the registry keeps one, else its created time
    (a reproducible build's epoch included: such an image is as old as it says)."""
    return tag.push_time


def _is_candidate(tag: TagRecord, policy: RetentionPolicy) -> bool:
    if tag.artifact_kind.is_supplement:
        return False
    if policy.protect is not None and policy.protect.search(tag.tag):
        return False
    return policy.match is None or policy.match.search(tag.tag) is not None
