"""`regtui inventory` as an operator meets it: logins, and every failure as one line + status."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from regtui.lab import Lab
from regtui.lab.process import Child, free_port, spawn

pytestmark = pytest.mark.lab
FAKES = Path(__file__).parent / "fakes"


def regtui(*args: str, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "regtui", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})}, cwd=cwd)


def one_line_error(result: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    """The failure is exactly one line on stderr, with no traceback, naming what went wrong."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def config_for(tmp: Path, lab: Lab) -> Path:
    path = tmp / "config.toml"
    text = lab.regtui_config_toml()
    path.write_text(text)
    return path


# -- logins -----------------------------------------------------------------------------------

@pytest.mark.parametrize("lab_name", ["htpasswd_lab", "token_lab"])
def test_login_with_password_env_reads_the_registry(lab_name: str, tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    lab: Lab = request.getfixturevalue(lab_name)
    assert lab.password is not None
    config = config_for(tmp_path, lab)
    result = regtui("inventory", "--config", str(config),
                    env={"REGTUI_LAB_PASSWORD": lab.password})
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["repository"] for r in records} >= {"app", "multiarch"}


@pytest.mark.parametrize("lab_name", ["htpasswd_lab", "token_lab"])
def test_wrong_password_is_one_line_and_exit_1(lab_name: str, tmp_path: Path,
                                               request: pytest.FixtureRequest) -> None:
    lab: Lab = request.getfixturevalue(lab_name)
    result = regtui("inventory", "--config", str(config_for(tmp_path, lab)),
                    env={"REGTUI_LAB_PASSWORD": "not-the-password"})
    line = one_line_error(result, 1, "authentication failed")
    assert "not-the-password" not in line


def test_anonymous_on_a_protected_registry_says_how_to_log_in(htpasswd_lab: Lab) -> None:
    result = regtui("inventory", "--registry", htpasswd_lab.url)
    one_line_error(result, 1, "requires a login")


def test_docker_credential_helper_logs_in(htpasswd_lab: Lab, tmp_path: Path) -> None:
    """credsStore -> docker-credential-fake on PATH, speaking the helper protocol."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(FAKES / "docker-credential-fake", bin_dir / "docker-credential-fake")
    (bin_dir / "docker-credential-fake").chmod(0o755)
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"credsStore": "fake"}))
    host = htpasswd_lab.url.split("://", 1)[1]
    store = tmp_path / "store.json"
    store.write_text(json.dumps({host: {"Username": htpasswd_lab.username,
                                        "Secret": htpasswd_lab.password}}))
    log = tmp_path / "helper.log"
    result = regtui("inventory", "--registry", htpasswd_lab.url, env={
        "DOCKER_CONFIG": str(docker), "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_HELPER_STORE": str(store), "FAKE_HELPER_LOG": str(log)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") > 5
    assert log.read_text().splitlines()[0].startswith("get ")


# -- failures -----------------------------------------------------------------------------------

def test_unreachable_host() -> None:
    port = free_port()
    result = regtui("inventory", "--registry", f"http://127.0.0.1:{port}")
    one_line_error(result, 1, "cannot connect", f"127.0.0.1:{port}")


def test_missing_repository_is_named(lab: Lab) -> None:
    result = regtui("inventory", "--registry", lab.url, "--repository", "no/such-repo")
    assert result.returncode == 1
    assert "no/such-repo" in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_config_names_file_and_place(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[[registries]]\nname = "x"\nurl = \n')
    one_line_error(regtui("inventory", "--config", str(bad)), 2, str(bad), "line 3")


def test_config_with_wrong_type_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[[registries]]\nname = "x"\nurl = "http://127.0.0.1:5000"\n'
                   'concurrency = "eight"\n')
    one_line_error(regtui("inventory", "--config", str(bad)), 2, "concurrency", "integer")


def test_usage_errors_exit_2() -> None:
    one_line_error(regtui("inventory", "--format", "xml", "--registry", "http://127.0.0.1:1"),
                   2, "--format")
    one_line_error(regtui("inventory"), 2, "--registry")


def test_global_options_go_before_or_after_the_subcommand(lab: Lab) -> None:
    before = regtui("--registry", lab.url, "inventory", "--repository", "app")
    after = regtui("inventory", "--repository", "app", "--registry", lab.url)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert before.stdout == after.stdout and before.stdout


def test_progress_bar_goes_to_stderr_only(lab: Lab) -> None:
    result = regtui("inventory", "--registry", lab.url, "--repository", "app",
                    "--progress", "always")
    assert result.returncode == 0
    assert "repositories" in result.stderr and "[" in result.stderr
    assert all(line.startswith("{") for line in result.stdout.splitlines())


# -- TLS, on a real registry serving HTTPS ---------------------------------------------------------

@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The real docker-registry over HTTPS with a self-signed certificate for 127.0.0.1."""
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    config = root / "config.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}",
                 "tls": {"certificate": str(cert), "key": str(key)}},
    }))
    child: Child = spawn("docker-registry", ["docker-registry", "serve", str(config)],
                         root / "registry.log")
    url = f"https://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(url + "/v2/", verify=ssl.create_default_context(cafile=str(cert)),
                          timeout=1)
                break
            except httpx.HTTPError:
                import time

                time.sleep(0.1)
        yield url, cert
    finally:
        child.stop()


def test_tls_failure_is_one_line_and_ca_file_fixes_it(tls_registry: tuple[str, Path],
                                                      tmp_path: Path) -> None:
    url, cert = tls_registry
    one_line_error(regtui("inventory", "--registry", url), 1, "TLS verification failed")
    config = tmp_path / "config.toml"
    config.write_text(f'[[registries]]\nname = "tls"\nurl = "{url}"\nca_file = "{cert}"\n')
    result = regtui("inventory", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # an empty registry, read without error


@pytest.mark.parametrize(("extra", "needle"), [
    ('flavor = "dockerhub"\n', "(dockerhub) has no garbage collection regtui can run"),
    ("", "has no [registries.gc] section"),
])
def test_gc_is_not_offered_where_regtui_cannot_run_it(tmp_path: Path, extra: str,
                                                       needle: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[[registries]]\nname = "r"\nurl = "http://127.0.0.1:{free_port()}"\n'
                      + extra)
    one_line_error(regtui("gc", "--config", str(config)), 2, needle)


def test_hostile_error_bodies_reach_the_terminal_defanged(tmp_path: Path) -> None:
    """A registry whose errors carry OSC 52 / ANSI / BEL: the message shows them, inert."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    evil = '{"errors":[{"code":"DENIED","message":"\\u001b]52;c;ZXZpbA==\\u0007 \\u001b[31mred"}]}'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = evil.encode() if self.path != "/v2/" else b"{}"
            self.send_response(500 if self.path != "/v2/" else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = regtui("inventory", "--registry", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    line = one_line_error(result, 1, "HTTP 500", "DENIED")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "␛]52;c;ZXZpbA==␇" in line


def test_inventory_into_a_closed_pipe_is_quiet(lab: Lab) -> None:
    shell = subprocess.run(
        f"{sys.executable} -m regtui inventory --registry {lab.url} | head -1",
        shell=True, capture_output=True, text=True, timeout=300)
    assert shell.stdout.count("\n") == 1
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr
