"""The project's vendor API subsets (tests/doubles/specs) against the vendors' full files.

The doubles validate against the subsets only, so they run on any machine; this test is
what still catches the vendor changing a path, a parameter, a field or an enum. The full
files live in `shared/specs` beside the repository: CI has them (a missing file fails
there), a developer machine may not (the test skips and says where it looked).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from tests.doubles.schema import (
    SchemaViolation,
    load_subset,
    load_vendor,
    subset_drift,
    subset_files,
)

REQUIRED = bool(os.environ.get("REGTUI_REQUIRE_LAB") or os.environ.get("CI"))


def vendor_or_skip(path: Path) -> Path:
    if not path.is_file():
        message = f"vendor spec {path} not found (shared/specs is not beside the repository)"
        if REQUIRED:
            pytest.fail(f"{message}; CI must have it, so drift cannot go unchecked")
        pytest.skip(message)
    return path


def test_the_project_has_a_harbor_subset() -> None:
    assert "harbor_subset.json" in [p.name for p in subset_files()]


@pytest.mark.parametrize("subset", subset_files(), ids=lambda p: p.stem)
def test_subset_states_what_the_vendor_spec_states(subset: Path) -> None:
    api = load_subset(subset)
    vendor = load_vendor(vendor_or_skip(api.vendor_path))
    assert subset_drift(api.doc, vendor) == []


def test_drift_is_reported_field_by_field() -> None:
    """The check can fail: a changed type, a renamed field, a new enum value, a lost path."""
    api = load_subset("harbor")
    vendor = copy.deepcopy(dict(load_vendor(vendor_or_skip(api.vendor_path))))
    vendor["definitions"]["Repository"]["properties"]["artifact_count"]["type"] = "string"
    vendor["definitions"]["Project"]["properties"]["repo_total"] = (
        vendor["definitions"]["Project"]["properties"].pop("repo_count"))
    del vendor["paths"]["/system/gc/{gc_id}/log"]
    drift = subset_drift(api.doc, vendor)
    assert drift == ["GET /system/gc/{gc_id}/log is not in the vendor spec"]
    vendor["paths"]["/system/gc/{gc_id}/log"] = load_vendor(api.vendor_path)["paths"][
        "/system/gc/{gc_id}/log"]
    drift = subset_drift(api.doc, vendor)
    assert 'definition Repository/properties/artifact_count/type: "integer" vs the ' \
           'vendor\'s "string"' in drift
    assert "definition Project/properties/repo_count: ours only" in drift
    assert "definition Project/properties/repo_total: the vendor's only" in drift


def test_requests_are_held_to_the_subset() -> None:
    api = load_subset("harbor")
    path = "/api/v2.0/projects/lab/repositories/team%252Fapp/artifacts/sha256:ab"
    template = api.validate_request("GET", path, {"with_tag": ["false"]})
    assert template.endswith("/artifacts/{reference}")
    with pytest.raises(SchemaViolation, match="query parameter 'pagesize' is not in the spec"):
        api.validate_request("GET", "/api/v2.0/projects", {"pagesize": ["10"]})
    with pytest.raises(SchemaViolation, match=r"page_size='500'.*100"):
        api.validate_request("GET", "/api/v2.0/projects", {"page_size": ["500"]})
    with pytest.raises(SchemaViolation, match=r"with_detail='maybe'"):
        api.validate_request("GET", "/api/v2.0/projects", {"with_detail": ["maybe"]})
    with pytest.raises(SchemaViolation, match=r"DELETE /api/v2\.0/projects/lab is not an op"):
        api.validate_request("DELETE", "/api/v2.0/projects/lab", {})
    with pytest.raises(SchemaViolation, match="outside the API's base path"):
        api.validate_request("GET", "/api/v1/projects", {})
