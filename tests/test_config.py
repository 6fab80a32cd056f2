"""`regtui.config`: the file format, every validation message, env overrides, URL rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from regtui.config import (
    AuthConfig,
    Config,
    GcConfig,
    LogSourceConfig,
    PrometheusConfig,
    RegistryConfig,
    adhoc_registry,
    config_path,
    load_config,
    registry_env_prefix,
)
from regtui.errors import ConfigError

EXAMPLE = """
read_only = false
refresh_interval = 15
theme = "nord"
[keymap]
filter = "slash"
[[registries]]
name = "lab"
url = "http://127.0.0.1:5000"
flavor = "distribution"
concurrency = 4
[registries.auth]
username = "ci"
password_env = "LAB_PASSWORD"
[registries.prometheus]
url = "http://127.0.0.1:9090"
selector = 'job="registry"'
[registries.prometheus.queries]
pull_rate = "rate(x[5m])"
[[registries.logs]]
type = "file"
path = "/var/log/registry.log"
[[registries.logs]]
type = "command"
command = "journalctl -fu docker-registry"
name = "journal"
[registries.gc]
command = "docker-registry garbage-collect {flags} {config}"
config = "/etc/docker/registry/config.yml"
[[registries]]
name = "hub"
url = "registry-1.docker.io"
flavor = "dockerhub"
read_only = true
timeout = 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), env=env or {})


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env)
    message = str(caught.value)
    assert "\n" not in message
    return message


def registry_toml(extra: str = "", url: str = "http://127.0.0.1:5000") -> str:
    return f'[[registries]]\nname = "lab"\nurl = "{url}"\n{extra}\n'


# --- the whole file -----------------------------------------------------------------------


def test_example_file_loads_into_the_contract_dataclasses(tmp_path: Path) -> None:
    config = load(tmp_path, EXAMPLE)
    assert (config.read_only, config.refresh_interval, config.theme) == (False, 15.0, "nord")
    assert dict(config.keymap) == {"filter": "slash"}
    lab, hub = config.registries
    assert lab == RegistryConfig(
        name="lab",
        url="http://127.0.0.1:5000",
        concurrency=4,
        auth=AuthConfig(username="ci", password_env="LAB_PASSWORD"),
        prometheus=PrometheusConfig(
            url="http://127.0.0.1:9090",
            selector='job="registry"',
            queries={"pull_rate": "rate(x[5m])"},
        ),
        logs=(
            LogSourceConfig(type="file", path=Path("/var/log/registry.log")),
            LogSourceConfig(
                type="command", command="journalctl -fu docker-registry", name="journal"
            ),
        ),
        gc=GcConfig(config="/etc/docker/registry/config.yml"),
    )
    assert (hub.url, hub.flavor, hub.read_only, hub.timeout) == (
        "https://registry-1.docker.io",
        "dockerhub",
        True,
        5.0,
    )
    assert lab.read_only is None and hub.host == "registry-1.docker.io"
    assert config.path == tmp_path / "config.toml"


def test_configs_are_frozen_and_hashable(tmp_path: Path) -> None:
    config = load(tmp_path, EXAMPLE)
    assert hash(config.registries[0]) == hash(load(tmp_path, EXAMPLE).registries[0])
    with pytest.raises(AttributeError):
        config.registries[0].name = "other"  # type: ignore[misc]


def test_defaults_of_an_empty_file(tmp_path: Path) -> None:
    config = load(tmp_path, "", {"XDG_CACHE_HOME": "/c", "XDG_STATE_HOME": "/s"})
    assert config.registries == () and config.read_only is False
    assert (config.refresh_interval, config.theme) == (30.0, "regtui-dusk")
    assert (config.cache_dir, config.state_dir) == (Path("/c/regtui"), Path("/s/regtui"))


# --- finding the file ---------------------------------------------------------------------


def test_config_path_precedence(tmp_path: Path) -> None:
    assert config_path({"REGTUI_CONFIG": "/a/b.toml", "XDG_CONFIG_HOME": "/x"}) == Path("/a/b.toml")
    assert config_path({"XDG_CONFIG_HOME": "/x"}) == Path("/x/regtui/config.toml")
    assert config_path({}) == Path("~/.config/regtui/config.toml").expanduser()


def test_missing_default_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_config(env={"XDG_CONFIG_HOME": str(tmp_path), "REGTUI_THEME": "nord"})
    assert config.registries == () and config.path is None and config.theme == "nord"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(missing, env={})
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(env={"REGTUI_CONFIG": str(missing)})


def test_env_config_path_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, 'theme = "dracula"\n')
    assert load_config(env={"REGTUI_CONFIG": str(path)}).theme == "dracula"


# --- syntax and unknown keys --------------------------------------------------------------


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'theme = "x"\n\nread_only = yes\n')
    assert message.startswith(f"{tmp_path / 'config.toml'}:3:13: TOML syntax error")
    assert "line 3, column 13" in message and message.endswith("Invalid value")


def test_toml_error_at_end_of_document_still_has_a_position(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'theme = "x"\nread_only = "unterminated')
    assert message == (
        f"{tmp_path / 'config.toml'}:2:26: TOML syntax error at line 2, column 26: "
        "Unterminated string"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            registry_toml('[registries.auth]\nusername = "u"\npasword_env = "X"'),
            "registries[0].auth.pasword_env: unknown key; did you mean 'password_env'?",
        ),
        (
            "refresh_intervall = 3",
            "refresh_intervall: unknown key; did you mean 'refresh_interval'?",
        ),
        (registry_toml("concurency = 3"), "registries[0].concurency: unknown key; did you mean"),
        (
            registry_toml("[registries.prometheus]\nurl = 'http://p:9090'\nselecter = 'a'"),
            "registries[0].prometheus.selecter: unknown key; did you mean 'selector'?",
        ),
        ("zzz = 1", "zzz: unknown key; known keys: registries, read_only"),
    ],
)
def test_unknown_keys_suggest_the_closest(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path / "config.toml") + ": ")
    assert expected in message


# --- types and ranges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('read_only = "yes"', 'read_only: expected a boolean, got "yes"'),
        ("refresh_interval = 0", "refresh_interval: expected a number greater than 0, got 0"),
        ('refresh_interval = "5"', 'refresh_interval: expected a number, got "5"'),
        ("theme = 3", "theme: expected a string, got 3"),
        ('keymap = "x"', 'keymap: expected a table, got "x"'),
        ("[keymap]\nfilter = 1", "keymap.filter: expected a string, got 1"),
        ("registries = 1", "registries: expected an array of tables ([[registries]]), got 1"),
        ("registries = [1]", "registries[0]: expected a table, got 1"),
        (
            registry_toml('concurrency = "8"'),
            'registries[0].concurrency: expected an integer, got "8"',
        ),
        (
            registry_toml("concurrency = true"),
            "registries[0].concurrency: expected an integer, got true",
        ),
        (
            registry_toml("concurrency = 0"),
            "registries[0].concurrency: expected an integer from 1 to 64, got 0",
        ),
        (
            registry_toml("concurrency = 65"),
            "registries[0].concurrency: expected an integer from 1 to 64, got 65",
        ),
        (
            registry_toml("timeout = 0"),
            "registries[0].timeout: expected a number greater than 0, got 0",
        ),
        (
            registry_toml("timeout = -1.5"),
            "registries[0].timeout: expected a number greater than 0, got -1.5",
        ),
        (registry_toml("timeout = true"), "registries[0].timeout: expected a number, got true"),
        (
            registry_toml("retries = -1"),
            "registries[0].retries: expected an integer of at least 0, got -1",
        ),
        (
            registry_toml('flavor = "gitlab"'),
            "registries[0].flavor: expected one of distribution, harbor, dockerhub, nexus, "
            'ecr, acr, gcr, ghcr, quay, oci, got "gitlab"',
        ),
        (registry_toml('insecure = "no"'), 'registries[0].insecure: expected a boolean, got "no"'),
        (registry_toml("read_only = 1"), "registries[0].read_only: expected a boolean, got 1"),
        (registry_toml("ca_file = [1]"), "registries[0].ca_file: expected a string, got an array"),
        (registry_toml("auth = 3"), "registries[0].auth: expected a table, got 3"),
        (
            registry_toml("[registries.auth]\ndocker_config = 'no'"),
            'registries[0].auth.docker_config: expected a boolean, got "no"',
        ),
        (
            '[[registries]]\nurl = "http://127.0.0.1:5000"',
            "registries[0].name: missing required key (expected a string)",
        ),
        (
            '[[registries]]\nname = ""\nurl = "http://127.0.0.1:5000"',
            'registries[0].name: expected a non-empty string, got ""',
        ),
        (
            '[[registries]]\nname = "lab"',
            "registries[0].url: missing required key (expected a string)",
        ),
        (
            registry_toml() + registry_toml(url="http://127.0.0.1:5001"),
            'registries[1].name: duplicate registry name "lab" (also registries[0])',
        ),
        (
            registry_toml("[registries.prometheus]\nselector = 'a'"),
            "registries[0].prometheus.url: missing required key (expected a string)",
        ),
        (
            registry_toml("[registries.prometheus]\nurl = 'http://p'\nqueries = {a = 1}"),
            "registries[0].prometheus.queries.a: expected a string, got 1",
        ),
        (
            registry_toml("logs = {type = 'file'}"),
            "registries[0].logs: expected an array of tables, got a table",
        ),
        (
            registry_toml("[[registries.logs]]\npath = '/x'"),
            "registries[0].logs[0].type: missing required key (expected a string)",
        ),
        (
            registry_toml("[[registries.logs]]\ntype = 'syslog'"),
            'registries[0].logs[0].type: expected one of file, command, got "syslog"',
        ),
        (
            registry_toml("[[registries.logs]]\ntype = 'file'"),
            'registries[0].logs[0].path: missing: type = "file" needs a path',
        ),
        (
            registry_toml("[[registries.logs]]\ntype = 'command'"),
            'registries[0].logs[0].command: missing: type = "command" needs a command',
        ),
        (
            registry_toml("[registries.gc]\ncommand = 1"),
            "registries[0].gc.command: expected a string, got 1",
        ),
        (
            registry_toml("[registries.auth]\npassword_env = 'X'"),
            "registries[0].auth.username: missing: password_env/password_command need a username",
        ),
        (
            registry_toml(
                "[registries.auth]\nusername = 'u'\npassword_env = 'X'\npassword_command = 'echo'"
            ),
            "registries[0].auth: set password_env or password_command, not both",
        ),
        ("theme = 1979-05-27", "theme: expected a string, got a date/time (1979-05-27)"),
    ],
)
def test_validation_messages(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message == f"{tmp_path / 'config.toml'}: {expected}"


def test_ca_file_is_expanded_but_need_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    reg = load(tmp_path, registry_toml("ca_file = '~/certs/ca.pem'")).registries[0]
    assert reg.ca_file == tmp_path / "certs" / "ca.pem" and not reg.ca_file.exists()


# --- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "insecure", "url", "host"),
    [
        ("registry.example.com", False, "https://registry.example.com", "registry.example.com"),
        (
            "registry.example.com:5000/",
            False,
            "https://registry.example.com:5000",
            "registry.example.com:5000",
        ),
        ("localhost:5000", False, "http://localhost:5000", "localhost:5000"),
        ("127.0.0.2:5000", False, "http://127.0.0.2:5000", "127.0.0.2:5000"),
        ("[::1]:5000", False, "http://[::1]:5000", "[::1]:5000"),
        ("https://Reg.Example.COM/", False, "https://reg.example.com", "reg.example.com"),
        ("http://10.0.0.5:5000", True, "http://10.0.0.5:5000", "10.0.0.5:5000"),
        ("http://localhost:5000", False, "http://localhost:5000", "localhost:5000"),
    ],
)
def test_url_normalization(tmp_path: Path, raw: str, insecure: bool, url: str, host: str) -> None:
    extra = "insecure = true" if insecure else ""
    reg = load(tmp_path, registry_toml(extra, url=raw)).registries[0]
    assert (reg.url, reg.host) == (url, host)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "http://10.0.0.5:5000",
            'plain http to non-loopback host 10.0.0.5 needs insecure = true, got "http://10.0.0.5:5000"',
        ),
        ("ftp://host", 'expected a URL like https://host[:port] (no path), got "ftp://host"'),
        (
            "https://host/v2/",
            'expected a URL like https://host[:port] (no path), got "https://host/v2/"',
        ),
        ("https://host:99999", 'expected a URL like https://host[:port], got "https://host:99999"'),
        ("https://", 'expected a URL like https://host[:port] (no path), got "https://"'),
    ],
)
def test_url_errors(tmp_path: Path, raw: str, expected: str) -> None:
    message = error_of(tmp_path, registry_toml(url=raw))
    assert message.startswith(f"{tmp_path / 'config.toml'}: registries[0].url: {expected}")


def test_credentials_in_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    message = error_of(tmp_path, registry_toml(url="https://ci:hunter2@host"))
    assert "registries[0].url: credentials do not belong in the URL" in message
    assert "hunter2" not in message


def test_adhoc_registry() -> None:
    reg = adhoc_registry("localhost:5000")
    assert (reg.name, reg.url, reg.insecure) == ("localhost:5000", "http://localhost:5000", False)
    assert adhoc_registry("http://10.1.1.1:5000", insecure=True).url == "http://10.1.1.1:5000"
    with pytest.raises(ConfigError, match=r"^--registry: plain http to non-loopback host 10\.1"):
        adhoc_registry("http://10.1.1.1:5000")


# --- env overrides ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("false", False), ("No", False)],
)
def test_env_read_only_beats_the_file(tmp_path: Path, value: str, expected: bool) -> None:
    text = f"read_only = {str(not expected).lower()}"
    assert load(tmp_path, text, {"REGTUI_READ_ONLY": value}).read_only is expected


def test_env_errors_name_the_variable(tmp_path: Path) -> None:
    assert error_of(tmp_path, "", {"REGTUI_READ_ONLY": "maybe"}) == (
        'REGTUI_READ_ONLY: expected 1/true/yes or 0/false/no, got "maybe"'
    )
    assert error_of(tmp_path, "", {"REGTUI_REFRESH_INTERVAL": "soon"}) == (
        'REGTUI_REFRESH_INTERVAL: expected a number greater than 0, got "soon"'
    )
    assert error_of(tmp_path, "", {"REGTUI_REFRESH_INTERVAL": "-2"}) == (
        'REGTUI_REFRESH_INTERVAL: expected a number greater than 0, got "-2"'
    )
    assert error_of(tmp_path, registry_toml(), {"REGTUI_LAB_URL": "http://10.9.9.9"}) == (
        "REGTUI_LAB_URL: plain http to non-loopback host 10.9.9.9 needs insecure = true, "
        'got "http://10.9.9.9"'
    )


def test_env_overrides_beat_the_file(tmp_path: Path) -> None:
    text = 'refresh_interval = 10\ntheme = "nord"\ncache_dir = "/file/cache"\n' + registry_toml(
        "[registries.auth]\nusername = 'file-user'\npassword_env = 'P'"
    )
    env = {
        "REGTUI_REFRESH_INTERVAL": "2.5",
        "REGTUI_THEME": "gruvbox",
        "REGTUI_CACHE_DIR": "/env/cache",
        "REGTUI_STATE_DIR": "/env/state",
        "REGTUI_LAB_URL": "localhost:6000",
        "REGTUI_LAB_USERNAME": "env-user",
    }
    config = load(tmp_path, text, env)
    assert (config.refresh_interval, config.theme) == (2.5, "gruvbox")
    assert (config.cache_dir, config.state_dir) == (Path("/env/cache"), Path("/env/state"))
    reg = config.registries[0]
    assert reg.url == "http://localhost:6000"
    assert reg.auth == AuthConfig(username="env-user", password_env="P")
    without_env = load(tmp_path, text, {"XDG_STATE_HOME": "/xs"})
    assert (without_env.refresh_interval, without_env.theme) == (10.0, "nord")
    assert (without_env.cache_dir, without_env.state_dir) == (
        Path("/file/cache"),
        Path("/xs/regtui"),
    )
    assert without_env.registries[0].url == "http://127.0.0.1:5000"


def test_env_url_can_stand_in_for_a_missing_url(tmp_path: Path) -> None:
    text = '[[registries]]\nname = "my-reg.prod"\n'
    config = load(tmp_path, text, {"REGTUI_MY_REG_PROD_URL": "reg.example.com"})
    assert config.registries[0].url == "https://reg.example.com"
    assert registry_env_prefix("my-reg.prod") == "REGTUI_MY_REG_PROD"


def test_default_dirs_without_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load(tmp_path, "", {})
    assert config.cache_dir == tmp_path / ".cache" / "regtui"
    assert config.state_dir == tmp_path / ".local" / "state" / "regtui"


# --- lookups and precedence ---------------------------------------------------------------


def test_registry_lookup_by_name_url_or_host(tmp_path: Path) -> None:
    config = load(tmp_path, EXAMPLE)
    assert config.registry("lab").name == "lab"
    assert config.registry("http://127.0.0.1:5000").name == "lab"
    assert config.registry("registry-1.docker.io").name == "hub"
    with pytest.raises(
        ConfigError,
        match=r"no registry named 'prod' in .*config\.toml "
        r"\(known: lab, hub\)",
    ):
        config.registry("prod")


@pytest.mark.parametrize(
    ("global_ro", "registry_ro", "flag", "expected"),
    [
        (False, None, None, False),
        (True, None, None, True),
        (True, False, None, False),
        (False, True, None, True),
        (False, False, True, True),
        (True, True, False, False),
    ],
)
def test_effective_read_only_precedence(
    global_ro: bool, registry_ro: bool | None, flag: bool | None, expected: bool
) -> None:
    reg = RegistryConfig(name="r", url="https://r", read_only=registry_ro)
    config = Config(registries=(reg,), read_only=global_ro)
    assert config.effective_read_only(reg, flag) is expected
    assert config.effective_read_only(None, None) is global_ro


def test_prometheus_thresholds_and_node_selector(tmp_path: Path) -> None:
    from regtui.services.metrics import RANGES, MetricsService

    path = tmp_path / "config.toml"
    path.write_text('[[registries]]\nname = "r"\nurl = "http://127.0.0.1:5000"\n'
                    '[registries.prometheus]\nurl = "http://127.0.0.1:9090"\n'
                    'push_failure_warn = 0.02\npush_failure_critical = 0.1\n'
                    'node_selector = \'mountpoint="/srv"\'\n')
    config = load_config(path, env={})
    service = MetricsService(config.registries[0])
    assert (service.thresholds.warn, service.thresholds.critical) == (0.02, 0.1)
    assert 'mountpoint="/srv"' in service.promql("storage", RANGES[0])


def test_threshold_out_of_range_and_misordered(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    base = ('[[registries]]\nname = "r"\nurl = "http://127.0.0.1:5000"\n'
            '[registries.prometheus]\nurl = "http://127.0.0.1:9090"\n')
    path.write_text(base + "push_failure_warn = 5\n")
    with pytest.raises(ConfigError, match="push_failure_warn: expected a ratio from 0 to 1"):
        load_config(path, env={})
    path.write_text(base + "push_failure_warn = 0.2\npush_failure_critical = 0.1\n")
    with pytest.raises(ConfigError, match="must not exceed push_failure_critical"):
        load_config(path, env={})


def test_log_buffer_lines_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("log_buffer_lines = 5\n")
    with pytest.raises(ConfigError, match="log_buffer_lines"):
        load_config(path, env={})
    path.write_text("log_buffer_lines = 50000\n")
    assert load_config(path, env={}).log_buffer_lines == 50_000


def test_env_read_only_beats_a_registry_that_says_writable(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[registries]]\nname = "r"\nurl = "http://127.0.0.1:5000"\n'
                    "read_only = false\n")
    config = load_config(path, env={"REGTUI_READ_ONLY": "1"})
    registry = config.registries[0]
    assert config.effective_read_only(registry, None) is True
    assert config.effective_read_only(registry, False) is False, "--write still wins"
    assert load_config(path, env={}).effective_read_only(registry, None) is False
    assert load_config(path, env={"REGTUI_READ_ONLY": "0"}).effective_read_only(
        registry, None) is False
