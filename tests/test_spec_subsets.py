"""The doubles' spec subsets against the vendors' full files, so drift is caught.

The vendor files live beside the repository (`../shared/specs`); CI has them, so there (or
with REGTUI_REQUIRE_LAB) a missing file fails. Elsewhere the test skips, saying where it
looked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


Doc = dict[str, Any]


def _hub_drift(doc: Doc) -> None:
    """OpenAPI 3: a field the vendor lacks, a wrong type, a wrong enum, an unknown parameter."""
    tag = doc["schemas"]["tag"]["properties"]
    tag["pulls_left"] = {"type": "integer"}
    tag["full_size"] = {"type": "string"}
    tag["status"]["enum"] = ["active", "stale"]
    doc["operations"][2]["query"]["per_page"] = {"type": "integer"}


def _harbor_drift(doc: Doc) -> None:
    """Swagger 2.0: a changed type, a lost field, an unknown parameter, a parameter type and
    a path gone from the vendor."""
    doc["schemas"]["Repository"]["properties"]["artifact_count"]["type"] = "string"
    doc["schemas"]["Project"]["properties"]["repo_total"] = {"type": "integer"}
    projects = next(op for op in doc["operations"] if op["path"] == "/projects")
    projects["query"]["pagesize"] = {"type": "integer"}
    projects["query"]["with_detail"] = {"type": "string"}
    doc["operations"].append({"method": "GET", "path": "/replication/nothing",
                              "responses": {"200": None}})


def _nexus_drift(doc: Doc) -> None:
    """The Nexus file: a changed type, a field it lacks, an unknown parameter."""
    repository = doc["schemas"]["DockerAttributes"]["properties"]
    repository["httpPort"] = {"type": "string"}
    repository["grpcPort"] = {"type": "integer"}
    components = next(op for op in doc["operations"] if op["path"] == "/v1/components")
    components["query"]["pageSize"] = {"type": "integer"}


DRIFT = [
    pytest.param("dockerhub-subset.yaml", _hub_drift, [
        "'pulls_left' is not in the vendor file", "full_size: type is 'string' here",
        "status: enum", "'per_page' not in the vendor file"], id="dockerhub"),
    pytest.param("harbor-subset.yaml", _harbor_drift, [
        "artifact_count: type is 'string' here, 'integer' in the vendor file",
        "field 'repo_total' is not in the vendor file",
        "GET /projects: query parameter 'pagesize' not in the vendor file",
        "with_detail: type is 'string' here, 'boolean'",
        "GET /replication/nothing: not an operation in the vendor file"], id="harbor"),
    pytest.param("nexus3-subset.yaml", _nexus_drift, [
        "httpPort: type is 'string' here", "field 'grpcPort' is not in the vendor file",
        "GET /v1/components: query parameter 'pageSize' not in the vendor file"], id="nexus"),
]


@pytest.mark.parametrize(("subset", "drift", "expected"), DRIFT)
def test_drift_from_the_vendor_file_is_caught(tmp_path: Path, subset: str,
                                              drift: Callable[[Doc], None],
                                              expected: list[str]) -> None:
    """Each kind of drift from the vendor's file comes out as a line naming it."""
    vendor = _vendor_file(subset)
    with (HERE / subset).open(encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    drift(doc)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "bad.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    problems = "\n".join(vendor_drift("bad.yaml", vendor.parent, specs))
    missing = [line for line in expected if line not in problems]
    assert missing == [], problems


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
