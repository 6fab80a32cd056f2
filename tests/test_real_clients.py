"""Images made by real clients (umoci, skopeo, buildah), read by regtui, checked against
`skopeo inspect` field by field.

The clients are the Debian packages (the Makefile's DEBS); like the lab's binaries they are
never skipped: a missing one fails with the way to install it. buildah runs with the vfs
storage driver in a temporary root, so no daemon or overlay mount is needed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regtui.config import load_config
from regtui.lab import Lab, start_lab
from regtui.registry.cache import flush_all
from regtui.registry.models import ImageConfig, Manifest, TagRecord
from regtui.services.inventory import InventoryService, open_registry
from tests.faultproxy import FaultProxy
from tests.test_cli_errors import regtui

pytestmark = pytest.mark.lab
NANOSECONDS = "2024-05-06T07:08:09.123456789Z"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {name} (make debs does)")
    return path


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed: {result.stderr.strip()[-500:]}")
    return result


@dataclass
class Pushed:
    lab: Lab
    refs: list[str]
    """`repository:tag` of every image pushed, for the field-by-field comparison."""
    blob_only: str
    """The repository an interrupted schema1 push left without a manifest."""


def _umoci_layout(work: Path) -> str:
    """An OCI layout with one image: a file layer, labels, env, a nanosecond `created`."""
    umoci = tool("umoci")
    layout = work / "oci"
    run(umoci, "init", "--layout", str(layout))
    run(umoci, "new", "--image", f"{layout}:img")
    bundle = work / "bundle"
    run(umoci, "unpack", "--rootless", "--image", f"{layout}:img", str(bundle))
    (bundle / "rootfs" / "hello.txt").write_text("hello from umoci\n")
    run(umoci, "repack", "--image", f"{layout}:img", str(bundle))
    run(umoci, "config", "--image", f"{layout}:img", "--config.label", "org.example=umoci",
        "--config.env", "X=1", "--config.cmd", "/hello", "--os", "linux",
        "--architecture", "arm64", "--created", NANOSECONDS)
    return f"oci:{layout}:img"


def _buildah_push(work: Path, host: str) -> list[str]:
    """buildah from scratch (vfs), a copied file and a label, pushed as OCI and as Docker v2."""
    buildah = [tool("buildah"), "--storage-driver", "vfs", "--root", str(work / "store"),
               "--runroot", str(work / "run")]
    container = run(*buildah, "from", "scratch").stdout.strip().splitlines()[-1]
    source = work / "payload.txt"
    source.write_text("hello from buildah\n")
    run(*buildah, "copy", container, str(source), "/payload.txt")
    run(*buildah, "config", "--label", "org.example=buildah", "--env", "Y=2", "--os", "linux",
        "--arch", "amd64", container)
    run(*buildah, "commit", container, "regtui-test")
    refs = []
    for fmt, tag in (("oci", "oci"), ("v2s2", "docker")):
        run(*buildah, "push", "--tls-verify=false", "--format", fmt, "regtui-test",
            f"docker://{host}/buildah/img:{tag}")
        refs.append(f"buildah/img:{tag}")
    return refs


def _enable_schema1(lab: Lab) -> None:
    """distribution 2.8 refuses schema1 pushes unless `compatibility.schema1.enabled`."""
    config = json.loads(lab.config_file.read_text())
    config["compatibility"] = {"schema1": {"enabled": True}}
    lab.config_file.write_text(json.dumps(config))
    lab.restart_registry()


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    skopeo = tool("skopeo")
    work = tmp_path_factory.mktemp("clients")
    with start_lab(auth="none", dataset="minimal", prometheus=False) as lab:
        host = lab.url.removeprefix("http://")
        layout = _umoci_layout(work)
        copy = [skopeo, "--insecure-policy", "copy", "--dest-tls-verify=false"]
        run(*copy, layout, f"docker://{host}/umoci/img:1")
        refs = ["umoci/img:1", *_buildah_push(work, host)]
        # 2.8.2 refuses the schema1 manifest (500) after its blobs were uploaded.
        refused = run(*copy, "--format", "v2s1", layout, f"docker://{host}/interrupted/v2s1:1",
                      check=False)
        assert refused.returncode != 0, "the registry was expected to refuse schema1"
        _enable_schema1(lab)
        run(*copy, "--format", "v2s1", layout, f"docker://{host}/schema1/img:1")
        refs.append("schema1/img:1")
        yield Pushed(lab, refs, "interrupted/v2s1")


def inspect(lab: Lab, ref: str) -> dict[str, Any]:
    host = lab.url.removeprefix("http://")
    out = run(tool("skopeo"), "inspect", "--tls-verify=false", f"docker://{host}/{ref}").stdout
    value: dict[str, Any] = json.loads(out)
    return value


def _config_file(lab: Lab, tmp: Path) -> Path:
    path = tmp / "config.toml"
    path.write_text(lab.regtui_config_toml())
    return path


async def _read(service: InventoryService, ref: str) -> tuple[TagRecord, Manifest,
                                                                ImageConfig | None]:
    repository, tag = ref.rsplit(":", 1)
    [record] = [r for r in await service.tag_records(repository) if r.tag == tag]
    manifest = await service.manifest(repository, record.digest)
    return record, manifest, await service.config_of(repository, manifest)


def test_inventory_of_real_clients_images_exits_0(pushed: Pushed, tmp_path: Path) -> None:
    """The signed schema1 verifies; the repository holding only blobs has no tags."""
    result = regtui("inventory", "--config", str(_config_file(pushed.lab, tmp_path)))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    seen = {f"{r['repository']}:{r['tag']}" for r in records}
    assert set(pushed.refs) <= seen
    assert not any(r["repository"] == pushed.blob_only for r in records)
    storage = regtui("storage", "--config", str(_config_file(pushed.lab, tmp_path)))
    assert storage.returncode == 0, storage.stderr


def test_fields_match_skopeo_inspect(pushed: Pushed, tmp_path: Path) -> None:
    config = load_config(_config_file(pushed.lab, tmp_path))
    service = open_registry(config.registries[0], config, read_only=True)

    async def read_all() -> list[tuple[TagRecord, Manifest, ImageConfig | None]]:
        try:
            return [await _read(service, ref) for ref in pushed.refs]
        finally:
            await service.aclose()

    for ref, (record, manifest, image) in zip(pushed.refs, asyncio.run(read_all()),
                                              strict=True):
        expected = inspect(pushed.lab, ref)
        assert image is not None, ref
        assert record.digest == expected["Digest"], ref
        assert record.created_text == expected["Created"], ref
        assert image.created_text == expected["Created"], ref
        assert image.platform is not None, ref
        assert (image.platform.os, image.platform.architecture) == (
            expected["Os"], expected["Architecture"]), ref
        assert record.platforms == (f"{expected['Os']}/{expected['Architecture']}",), ref
        assert dict(image.labels) == (expected["Labels"] or {}), ref
        assert list(image.env) == (expected["Env"] or []), ref
        layers = [layer.digest for layer in manifest.layers]
        # schema1 lists fsLayers newest first; skopeo reports them base first.
        assert (layers[::-1] if manifest.is_schema1 else layers) == expected["Layers"], ref
    assert any(r.startswith("umoci") for r in pushed.refs)


def test_schema1_is_shown_read_only_with_its_registry_digest(pushed: Pushed,
                                                             tmp_path: Path) -> None:
    config = load_config(_config_file(pushed.lab, tmp_path))
    service = open_registry(config.registries[0], config, read_only=True)

    async def read() -> tuple[TagRecord, Manifest, ImageConfig | None]:
        try:
            return await _read(service, "schema1/img:1")
        finally:
            await service.aclose()

    record, manifest, image = asyncio.run(read())
    assert manifest.is_schema1 and manifest.media_type.endswith("prettyjws")
    assert record.digest == inspect(pushed.lab, "schema1/img:1")["Digest"]
    assert image is not None and image.created_text == NANOSECONDS


def test_a_warm_walk_sends_no_get_for_a_signed_schema1(pushed: Pushed, tmp_path: Path) -> None:
    """A signed schema1 is cached like any manifest, though its bytes do not hash to its
    digest (the registry names it by its JWS payload): the second walk only HEADs it."""
    path = "/v2/schema1/img/manifests/"
    with FaultProxy(pushed.lab.url) as proxy:
        toml = tmp_path / "config.toml"
        toml.write_text(f'cache_dir = "{tmp_path / "cache"}"\n\n[[registries]]\nname = "lab"\n'
                        f'url = "{proxy.url}"\n')
        config = load_config(toml)

        async def walk() -> list[str]:
            service = open_registry(config.registries[0], config, read_only=True)
            try:
                return [r.digest for r in await service.tag_records("schema1/img")]
            finally:
                await service.aclose()
                flush_all()

        cold = asyncio.run(walk())
        assert proxy.count("GET", path) >= 1, "the cold walk reads it"
        proxy.reset()
        assert asyncio.run(walk()) == cold
        assert proxy.count("GET", path) == 0, [r.target for r in proxy.requests]
        assert proxy.count("HEAD", path) == 1
