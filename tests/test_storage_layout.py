"""The registry's config.yml is read as YAML, whatever its style; a missing layout says why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from regtui.config import GcConfig
from regtui.lab import Lab
from regtui.services.gc import storage_layout
from tests.lab_fixtures import LabFactory


def layout_of(tmp: Path, text: str) -> tuple[Path | None, str]:
    config = tmp / "config.yml"
    config.write_text(text)
    return storage_layout(GcConfig(config=str(config)))


@pytest.mark.parametrize("style", [
    "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\n"
    "  delete:\n    enabled: true\n",
    "version: 0.1\nstorage: {{filesystem: {{rootdirectory: {root}}}, delete: {{enabled: true}}}}\n",
    'version: 0.1\nstorage:\n  filesystem: {{"rootdirectory": "{root}"}}  # flow, quoted\n',
    '{{"version": 0.1, "storage": {{"filesystem": {{"rootdirectory": "{root}"}}}}}}\n',
    "storage:\n  delete: {{enabled: true}}\n  filesystem:\n    rootdirectory: >-\n      {root}\n",
], ids=["block", "flow", "quoted-flow", "json", "folded"])
def test_every_yaml_style_finds_the_root(tmp_path: Path, style: str) -> None:
    root = tmp_path / "data"
    (root / "docker").mkdir(parents=True)
    assert layout_of(tmp_path, style.format(root=root)) == (root, "")


@pytest.mark.parametrize(("text", "why"), [
    ("storage:\n  s3: {bucket: b, region: r}\n", "storage driver is s3, not filesystem"),
    ("storage: [1, 2\n", "not valid YAML"),
    ("log: {level: info}\n", "no storage section"),
    ("storage: {filesystem: {rootdirectory: /nonexistent/regtui}}\n", "holds no docker/ tree"),
])
def test_a_layout_that_cannot_be_found_says_why(tmp_path: Path, text: str, why: str) -> None:
    root, reason = layout_of(tmp_path, text)
    assert root is None and why in reason and str(tmp_path / "config.yml") in reason


def test_a_missing_config_file_says_so(tmp_path: Path) -> None:
    root, reason = storage_layout(GcConfig(config=str(tmp_path / "absent.yml")))
    assert root is None and "cannot read it" in reason


@pytest.mark.lab
def test_flow_style_config_of_the_real_registry_gives_untagged_bytes(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    """The registry itself runs on the flow-style file, and regtui reads its layout from it."""
    lab: Lab = lab_factory()
    real = json.loads(lab.config_file.read_text())
    root = real["storage"]["filesystem"]["rootdirectory"]
    storage = f"{{filesystem: {{rootdirectory: {root}}}, delete: {{enabled: true}}}}"
    lab.config_file.write_text(f"version: 0.1\nlog: {json.dumps(real['log'])}\n"
                               f"storage: {storage}\nhttp: {json.dumps(real['http'])}\n")
    lab.restart_registry()  # the real registry accepts the flow style
    config = tmp_path / "regtui.toml"
    config.write_text(lab.regtui_config_toml())  # [registries.gc] config = the lab's file
    done = subprocess.run([sys.executable, "-m", "regtui", "storage", "--format", "json",
                           "--config", str(config)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["untagged_bytes"] is not None
    lab.config_file.write_text("storage: {s3: {bucket: b}}\n")  # read by regtui only
    done = subprocess.run([sys.executable, "-m", "regtui", "storage", "--format", "json",
                           "--config", str(config)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["untagged_bytes"] is None
    assert "untagged bytes unknown" in done.stderr and "s3, not filesystem" in done.stderr
