"""The doubles' spec subsets against the vendors' full files, so drift is caught.

The vendor files live beside the repository (`../shared/specs`); CI has them, so there a
missing file fails. Elsewhere the test skips, saying where it looked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.doubles.subset import HERE, SpecViolation, SubsetSpec, vendor_drift, vendor_specs_dir

SUBSETS = ["dockerhub-subset.yaml", "nexus3-subset.yaml"]


def _vendor_file(subset: str) -> Path:
    with (HERE / subset).open(encoding="utf-8") as handle:
        name = str(yaml.safe_load(handle)["vendor"])
    path = vendor_specs_dir() / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"vendor spec {path} is missing: CI must provide ../shared/specs")
        pytest.skip(f"vendor spec {path} not present here")
    return path


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
