"""Credentials left by podman, skopeo and buildah (containers-auth.json(5)), and by docker.

The auth.json written here is what `skopeo login` 1.9.3 writes (checked by hand against
the real binary: `{"auths": {"127.0.0.1:PORT": {"auth": base64("user:password")}}}` at
`$XDG_RUNTIME_DIR/containers/auth.json`, tab-indented). The end-to-end tests run the real
CLI against the real lab registry with htpasswd auth and no [registries.auth] at all.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from regtui.cli import main
from regtui.config import AuthConfig, RegistryConfig
from regtui.errors import AuthError
from regtui.lab import Lab
from regtui.registry.auth import Credentials, auth_files, resolve_credentials

FAKES = Path(__file__).parent / "fakes"
HOST = "localhost:5000"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def podman_auth(path: Path, entries: dict[str, str], **extra: object) -> Path:
    """An auth.json as podman/skopeo/buildah login write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"auths": {key: {"auth": b64(login)} for key, login in entries.items()}, **extra}
    path.write_text(json.dumps(data, indent="\t"), encoding="utf-8")
    return path


@pytest.fixture
def homes(tmp_path: Path) -> dict[str, str]:
    """Every place credentials can live, each its own directory, none written yet."""
    env = {name: str(tmp_path / name.lower()) for name in
           ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG", "HOME")}
    for value in env.values():
        Path(value).mkdir()
    return env


def runtime_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"


def config_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "containers" / "auth.json"


def docker_file(env: dict[str, str]) -> Path:
    return Path(env["DOCKER_CONFIG"]) / "config.json"


def registry(url: str = f"http://{HOST}") -> RegistryConfig:
    return RegistryConfig(name="lab", url=url)


def test_search_order_is_the_containers_tools_then_docker(homes: dict[str, str]) -> None:
    assert [f.path for f in auth_files(homes)] == [
        runtime_file(homes), config_file(homes), docker_file(homes)]
    explicit = {**homes, "REGISTRY_AUTH_FILE": str(Path(homes["HOME"]) / "ci-auth.json")}
    assert [f.path for f in auth_files(explicit)] == [
        Path(homes["HOME"]) / "ci-auth.json", config_file(homes), docker_file(homes)]
    bare = {"HOME": homes["HOME"]}
    assert [f.path for f in auth_files(bare)] == [
        Path(f"/run/containers/{os.getuid()}/auth.json"),
        Path(homes["HOME"]) / ".config" / "containers" / "auth.json",
        Path(homes["HOME"]) / ".docker" / "config.json"]


def test_the_first_file_with_an_entry_wins(homes: dict[str, str]) -> None:
    podman_auth(docker_file(homes), {HOST: "docker-user:d-pw"})
    assert resolve_credentials(registry(), homes) == Credentials("docker-user", "d-pw")
    podman_auth(config_file(homes), {HOST: "config-user:c-pw"})
    assert resolve_credentials(registry(), homes) == Credentials("config-user", "c-pw")
    podman_auth(runtime_file(homes), {"other:1": "x:y"})  # no entry for us: keep looking
    assert resolve_credentials(registry(), homes) == Credentials("config-user", "c-pw")
    podman_auth(runtime_file(homes), {HOST: "runtime-user:r-pw"})
    assert resolve_credentials(registry(), homes) == Credentials("runtime-user", "r-pw")
    explicit = podman_auth(Path(homes["HOME"]) / "ci.json", {HOST: "ci-user:ci-pw"})
    env = {**homes, "REGISTRY_AUTH_FILE": str(explicit)}
    assert resolve_credentials(registry(), env) == Credentials("ci-user", "ci-pw")


def test_containers_keys_docker_io_and_namespaces(homes: dict[str, str]) -> None:
    podman_auth(runtime_file(homes), {"docker.io": "hubber:h-pw", "quay.io/team/app": "q:q-pw"})
    hub = registry("https://registry-1.docker.io")
    assert resolve_credentials(hub, homes) == Credentials("hubber", "h-pw")
    assert resolve_credentials(registry("https://quay.io"), homes) == Credentials("q", "q-pw")


def test_docker_config_false_skips_every_login_file(homes: dict[str, str]) -> None:
    podman_auth(runtime_file(homes), {HOST: "u:p"})
    reg = RegistryConfig(name="lab", url=f"http://{HOST}")
    off = RegistryConfig(name="lab", url=reg.url, auth=AuthConfig(docker_config=False))
    assert resolve_credentials(reg, homes) == Credentials("u", "p")
    assert resolve_credentials(off, homes) is None


def test_a_malformed_containers_file_is_named(homes: dict[str, str]) -> None:
    path = runtime_file(homes)
    path.parent.mkdir(parents=True)
    path.write_text('{"auths": {"localhost:5000": {"auth": "not base64!"}}}')
    with pytest.raises(AuthError) as caught:
        resolve_credentials(registry(), homes)
    assert str(caught.value) == (
        f"{path}: malformed containers auth file: auths['localhost:5000'].auth is not base64 "
        "user:password"
    )


def test_a_credential_helper_named_in_the_containers_file(
    homes: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store.json"
    store.write_text(json.dumps({"docker.io": {"Username": "hub-h", "Secret": "hs"}}))
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HELPER_STORE", str(store))
    podman_auth(runtime_file(homes), {}, credHelpers={"docker.io": "fake"})
    hub = registry("https://registry-1.docker.io")
    # the containers tools ask a helper with the registry's name, not docker's v1 URL
    assert resolve_credentials(hub, homes) == Credentials("hub-h", "hs")


# --- the real lab with htpasswd auth, through the CLI ------------------------------------------


def plain_config(tmp_path: Path, lab: Lab) -> Path:
    """No [registries.auth]: whatever the operator logged in with must be found."""
    path = tmp_path / "config.toml"
    path.write_text(f'[[registries]]\nname = "lab"\nurl = "{lab.url}"\n')
    return path


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)


def inventory(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, str, str]:
    status = main(["inventory", "--config", str(config)])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.lab
def test_podman_login_file_reads_the_real_registry(
    htpasswd_lab: Lab, tmp_path: Path, homes: dict[str, str],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_env(monkeypatch, homes)
    config = plain_config(tmp_path, htpasswd_lab)
    status, out, err = inventory(capsys, config)
    assert status == 1 and out == ""
    assert err.strip() == (
        "regtui: registry lab requires a login: set [registries.auth] or use docker login, "
        "podman login or skopeo login")
    host = htpasswd_lab.url.split("://", 1)[1]
    podman_auth(runtime_file(homes), {host: f"{htpasswd_lab.username}:{htpasswd_lab.password}"})
    status, out, err = inventory(capsys, config)
    assert status == 0, err
    assert {json.loads(line)["repository"] for line in out.splitlines()} >= {"app"}


@pytest.mark.lab
def test_registry_auth_file_reads_the_real_registry(
    htpasswd_lab: Lab, tmp_path: Path, homes: dict[str, str],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_env(monkeypatch, homes)
    host = htpasswd_lab.url.split("://", 1)[1]
    podman_auth(runtime_file(homes), {host: f"{htpasswd_lab.username}:stale-password"})
    explicit = podman_auth(tmp_path / "ci-auth.json",
                           {host: f"{htpasswd_lab.username}:{htpasswd_lab.password}"})
    config = plain_config(tmp_path, htpasswd_lab)
    status, _, err = inventory(capsys, config)
    assert status == 1 and "authentication failed for user regtui" in err  # the stale one
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(explicit))
    status, out, err = inventory(capsys, config)
    assert status == 0, err
    assert out.strip()


@pytest.mark.lab
@pytest.mark.parametrize("where", ["docker credsStore", "containers credHelpers"])
def test_fake_credential_helper_reads_the_real_registry(
    htpasswd_lab: Lab, tmp_path: Path, homes: dict[str, str], where: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_env(monkeypatch, homes)
    host = htpasswd_lab.url.split("://", 1)[1]
    store, log = tmp_path / "store.json", tmp_path / "helper.log"
    store.write_text(json.dumps(
        {host: {"Username": htpasswd_lab.username, "Secret": htpasswd_lab.password}}))
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HELPER_STORE", str(store))
    monkeypatch.setenv("FAKE_HELPER_LOG", str(log))
    if where == "docker credsStore":
        docker_file(homes).write_text(json.dumps({"credsStore": "fake", "auths": {host: {}}}))
    else:
        podman_auth(runtime_file(homes), {}, credHelpers={host: "fake"})
    status, out, err = inventory(capsys, plain_config(tmp_path, htpasswd_lab))
    assert status == 0, err
    assert out.strip() and log.read_text().splitlines() == [f"get {host}"]


# --- the real `skopeo login` against the real lab ----------------------------------------------


def skopeo_login(lab: Lab, env: dict[str, str], *extra: str) -> None:
    """The real skopeo (Debian's package), with only the environment given: where it writes
    is decided by XDG_RUNTIME_DIR / REGISTRY_AUTH_FILE, as on an operator's machine."""
    skopeo = shutil.which("skopeo")
    assert skopeo is not None, "skopeo is not installed: apt-get install skopeo"
    host = lab.url.split("://", 1)[1]
    assert lab.username is not None and lab.password is not None
    result = subprocess.run(
        [skopeo, "login", "--tls-verify=false", "--username", lab.username,
         "--password-stdin", *extra, host],
        input=lab.password, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], **env}, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.lab
@pytest.mark.parametrize("where", ["XDG_RUNTIME_DIR", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG"])
def test_real_skopeo_login_reads_the_real_registry(
    htpasswd_lab: Lab, tmp_path: Path, homes: dict[str, str], where: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`skopeo login` without `--authfile` used to leave regtui without credentials.

    Where skopeo 1.9.3 writes (containers/common's default auth file): `$REGISTRY_AUTH_FILE`,
    else `$DOCKER_CONFIG/config.json` when DOCKER_CONFIG is set, else
    `$XDG_RUNTIME_DIR/containers/auth.json`; regtui must find each.
    """
    env = dict(homes)
    if where != "DOCKER_CONFIG":
        del env["DOCKER_CONFIG"]
    if where == "REGISTRY_AUTH_FILE":
        env["REGISTRY_AUTH_FILE"] = str(tmp_path / "ci" / "auth.json")
    use_env(monkeypatch, env)
    for key in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE"):
        if key in env:
            monkeypatch.setenv(key, env[key])
        else:
            monkeypatch.delenv(key, raising=False)
    config = plain_config(tmp_path, htpasswd_lab)
    status, _, err = inventory(capsys, config)
    assert status == 1 and "skopeo login" in err and "podman login" in err, err
    skopeo_login(htpasswd_lab, env)
    written = {"XDG_RUNTIME_DIR": runtime_file(homes), "DOCKER_CONFIG": docker_file(homes),
               "REGISTRY_AUTH_FILE": Path(env.get("REGISTRY_AUTH_FILE", "-"))}[where]
    assert written.is_file(), f"skopeo wrote elsewhere: {sorted(tmp_path.rglob('*.json'))}"
    status, out, err = inventory(capsys, config)
    assert status == 0, err
    assert {json.loads(line)["repository"] for line in out.splitlines()} >= {"app"}
