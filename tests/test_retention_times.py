"""Retention ages tags by push time where the registry keeps one, else by created time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from regtui.registry.models import ArtifactKind, TagRecord
from regtui.services.retention import RetentionPolicy, select
from regtui.text import Untrusted as U

NOW = datetime(2026, 6, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def record(tag: str, created: datetime | None, pushed: datetime | None = None) -> TagRecord:
    return TagRecord("lab", U("app"), U(tag), "sha256:" + tag.encode().hex().ljust(64, "0")[:64],
                     U("application/vnd.oci.image.manifest.v1+json"), 1, (), created,
                     ArtifactKind.IMAGE, pushed_at=pushed)


def test_an_epoch_build_is_as_old_as_it_says_unless_the_registry_knows_its_push() -> None:
    policy = RetentionPolicy(older_than=timedelta(days=30))
    records = [record("reproducible", EPOCH),
               record("pushed-yesterday", EPOCH, pushed=NOW - timedelta(days=1)),
               record("fresh", NOW - timedelta(days=2)),
               record("undated", None)]
    assert [r.tag for r in select(records, policy, NOW)] == ["reproducible"]


def test_keep_last_orders_by_push_time_first() -> None:
    policy = RetentionPolicy(keep_last=1)
    records = [record("old-build-new-push", EPOCH, pushed=NOW - timedelta(hours=1)),
               record("new-build", NOW - timedelta(days=3))]
    assert [r.tag for r in select(records, policy, NOW)] == ["new-build"]
