"""The doubles' spec subsets against the vendors' full files, so drift is caught.

The vendor files live beside the repository (`../shared/specs`); CI has them, so there (or
with REGTUI_REQUIRE_LAB) a missing file fails. Elsewhere the test skips, saying where it
looked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.doubles.subset import HERE, SpecViolation, SubsetSpec, vendor_drift, vendor_specs_dir

SUBSETS = sorted(p.name for p in HERE.glob("*-subset.yaml"))
REQUIRED = bool(os.environ.get("CI") or os.environ.get("REGTUI_REQUIRE_LAB"))


def _vendor_file(subset: str) -> Path:
    with (HERE / subset).open(encoding="utf-8") as handle:
        name = str(yaml.safe_load(handle)["vendor"])
    path = vendor_specs_dir() / name
    if not path.is_file():
        if REQUIRED:
            pytest.fail(f"vendor spec {path} is missing: CI must provide ../shared/specs")
        pytest.skip(f"vendor spec {path} not present here")
    return path


def test_every_vendor_has_a_subset() -> None:
    assert SUBSETS == ["dockerhub-subset.yaml", "harbor-subset.yaml", "nexus3-subset.yaml"]


@pytest.mark.parametrize("subset", SUBSETS)
def test_subset_matches_vendor_file(subset: str) -> None:
    vendor = _vendor_file(subset)
    assert vendor_drift(subset, vendor.parent) == []


def test_drift_is_caught(tmp_path: Path) -> None:
    """A field the vendor lacks, a wrong type and a wrong enum each come out as a line."""
    vendor = _vendor_file("dockerhub-subset.yaml")
    with (HERE / "dockerhub-subset.yaml").open(encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    tag = doc["schemas"]["tag"]["properties"]
    tag["pulls_left"] = {"type": "integer"}
    tag["full_size"] = {"type": "string"}
    tag["status"]["enum"] = ["active", "stale"]
    doc["operations"][2]["query"]["per_page"] = {"type": "integer"}
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "bad.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    problems = "\n".join(vendor_drift("bad.yaml", vendor.parent, specs))
    assert "'pulls_left' is not in the vendor file" in problems
    assert "full_size: type is 'string' here" in problems
    assert "status: enum" in problems
    assert "'per_page' not in the vendor file" in problems


def test_subset_refuses_undeclared_parameter_and_field() -> None:
    spec = SubsetSpec("dockerhub-subset.yaml")
    template = "/v2/namespaces/{namespace}/repositories/{repository}/tags"
    spec.check_request("GET", template, {"page": ["2"], "page_size": ["100"]})
    with pytest.raises(SpecViolation, match="undeclared query parameter 'n'"):
        spec.check_request("GET", template, {"n": ["100"]})
    with pytest.raises(SpecViolation, match="not an integer"):
        spec.check_request("GET", template, {"page": ["two"]})
    with pytest.raises(SpecViolation, match="Additional properties"):
        spec.validate("GET", template, 200, {"count": 0, "results": [], "pages": 1})


def test_swagger_drift_is_caught(tmp_path: Path) -> None:
    """Harbor's file is Swagger 2.0: a changed type, a lost field, an unknown parameter,
    a parameter type and a path gone from the vendor each come out as a line."""
    vendor = _vendor_file("harbor-subset.yaml")
    with (HERE / "harbor-subset.yaml").open(encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    doc["schemas"]["Repository"]["properties"]["artifact_count"]["type"] = "string"
    doc["schemas"]["Project"]["properties"]["repo_total"] = {"type": "integer"}
    projects = next(op for op in doc["operations"] if op["path"] == "/projects")
    projects["query"]["pagesize"] = {"type": "integer"}
    projects["query"]["with_detail"] = {"type": "string"}
    doc["operations"].append({"method": "GET", "path": "/replication/nothing",
                              "responses": {"200": None}})
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "bad.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    problems = "\n".join(vendor_drift("bad.yaml", vendor.parent, specs))
    assert "artifact_count: type is 'string' here, 'integer' in the vendor file" in problems
    assert "field 'repo_total' is not in the vendor file" in problems
    assert "GET /projects: query parameter 'pagesize' not in the vendor file" in problems
    assert "with_detail: type is 'string' here, 'boolean'" in problems
    assert "GET /replication/nothing: not an operation in the vendor file" in problems


def test_harbor_requests_are_held_to_the_subset() -> None:
    spec = SubsetSpec("harbor-subset.yaml")
    artifact = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
    spec.check_request("GET", artifact, {"with_tag": ["false"], "with_scan_overview": ["true"]})
    with pytest.raises(SpecViolation, match="undeclared query parameter 'pagesize'"):
        spec.check_request("GET", "/projects", {"pagesize": ["10"]})
    with pytest.raises(SpecViolation, match=r"page_size.*100"):
        spec.check_request("GET", "/projects", {"page_size": ["500"]})
    with pytest.raises(SpecViolation, match="with_detail='maybe' is not true or false"):
        spec.check_request("GET", "/projects", {"with_detail": ["maybe"]})
    with pytest.raises(SpecViolation, match="DELETE /projects is not an operation"):
        spec.check_request("DELETE", "/projects", {})
    gc = {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}}
    spec.check_request("POST", "/system/gc/schedule", {}, gc)
    with pytest.raises(SpecViolation, match="schedule/type"):
        spec.check_request("POST", "/system/gc/schedule", {}, {"schedule": {"type": "Now"}})
