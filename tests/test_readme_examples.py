"""The README's registry examples: every one loads, and the mechanisms they rely on work.

Each TOML block of the README's "Docker Hub, Nexus and the cloud registries" section is
loaded as a config file. Then the ECR example (a `password_command` login, an alias, a
configured list) and the GitLab example (a refused catalog) are pointed at the real lab
registry behind htpasswd auth: a catalog refused without login falls back to the list and
says so; with the command's password, the configured repositories' tags are read.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from regtui.config import AuthConfig, Config, RegistryConfig, load_config
from regtui.lab import Lab
from regtui.registry.factory import open_backend

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "### Docker Hub, Nexus and the cloud registries"


def examples() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start)
    blocks = re.findall(r"```toml\n(.*?)```", text[start:end], re.S)
    found: dict[str, str] = {}
    for block in blocks:
        name = re.search(r'^name = "([^"]+)"', block, re.M)
        assert name is not None, f"README example without a name:\n{block}"
        found[name.group(1)] = block
    return found


def load(block: str, tmp_path: Path) -> RegistryConfig:
    path = tmp_path / "config.toml"
    path.write_text(block, encoding="utf-8")
    [registry] = load_config(path, env={}).registries
    return registry


def test_every_example_loads(tmp_path: Path) -> None:
    found = {name: load(block, tmp_path) for name, block in examples().items()}
    assert set(found) == {"hub", "nexus", "prod-ecr", "acr", "gar", "ghcr", "quay", "gitlab"}
    assert {r.flavor for r in found.values()} == {"dockerhub", "nexus", "ecr", "acr", "gcr",
                                                  "ghcr", "quay", "oci"}
    assert found["hub"].repositories == ("library/nginx", "myorg/*")
    assert found["prod-ecr"].shown_host == "prod-ecr"
    assert found["prod-ecr"].host == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert Config(registries=tuple(found.values())).find("gar-eu") is found["gar"]
    assert all(r.auth.password_env or r.auth.password_command for r in found.values())


@pytest.mark.lab
async def test_refused_catalog_uses_the_configured_list_and_says_why(
        htpasswd_lab: Lab, tmp_path: Path) -> None:
    gitlab = replace(load(examples()["gitlab"], tmp_path), url=htpasswd_lab.url,
                     repositories=("app", "team-a/*"), auth=AuthConfig(docker_config=False))
    backend = open_backend(gitlab, Config(cache_dir=tmp_path / "cache"), read_only=True)
    try:
        names = [name async for name in backend.repositories()]
    finally:
        await backend.aclose()
    assert names == ["app"]
    [note] = backend.health().notes
    assert note.startswith("repositories: configured list (the catalog is refused: HTTP 401)")
    assert "team-a/* skipped" in note


@pytest.mark.lab
async def test_password_command_login_reads_the_configured_repositories(
        htpasswd_lab: Lab, tmp_path: Path) -> None:
    ecr = load(examples()["prod-ecr"], tmp_path)
    assert htpasswd_lab.username and htpasswd_lab.password
    ecr = replace(ecr, url=htpasswd_lab.url, repositories=("app", "team-a/releases"),
                  auth=AuthConfig(username=htpasswd_lab.username,
                                  password_command=f"echo {shlex.quote(htpasswd_lab.password)}",
                                  docker_config=False))
    backend = open_backend(ecr, Config(cache_dir=tmp_path / "cache"), read_only=True)
    try:
        names = [name async for name in backend.repositories()]
        tags = await backend.tags("app")
    finally:
        await backend.aclose()
    assert "app" in names and "team-a/releases" in names  # the catalog answered: no note
    assert backend.health().notes == () and "stable" in tags


@pytest.mark.lab
async def test_a_flavor_without_catalog_reads_only_the_list_and_says_so(
        htpasswd_lab: Lab, tmp_path: Path) -> None:
    ghcr = load(examples()["ghcr"], tmp_path)
    assert htpasswd_lab.username and htpasswd_lab.password
    ghcr = replace(ghcr, url=htpasswd_lab.url, repositories=("team-a/releases",),
                   auth=AuthConfig(username=htpasswd_lab.username,
                                   password_command=f"echo {shlex.quote(htpasswd_lab.password)}",
                                   docker_config=False))
    backend = open_backend(ghcr, Config(cache_dir=tmp_path / "cache"), read_only=True)
    try:
        names = [name async for name in backend.repositories()]
        tags = await backend.tags("team-a/releases")
    finally:
        await backend.aclose()
    assert names == ["team-a/releases"] and "latest" in tags
    assert backend.health().notes == ("repositories: configured list (this flavor has no "
                                      "catalog)",)
