"""Credentials never go where a bearer challenge should not send them; echoes are redacted.

The rules are checked as a table (`realm_refusal`), then end to end: the real CLI against
the real lab registry (htpasswd and token auth) behind a loopback proxy that falsifies the
challenge's realm, a token endpoint's redirect, or echoes the Authorization header in an
error body. A network guard (an audit hook) records every connect and refuses any outside
loopback, so "169.254.169.254 was never contacted" is a fact of the record, not a hope.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from regtui.cli import main
from regtui.config import AuthConfig, RegistryConfig, load_config
from regtui.errors import AuthError, ConfigError
from regtui.lab import Lab
from regtui.redact import REDACTED, redact
from regtui.registry.auth.realm import check_realm, ip_literal, realm_refusal
from tests.doubles.challenge_proxy import ChallengeProxy, TlsFiles, self_signed
from tests.doubles.netguard import NetGuard, net_guard


def reg(url: str, *realms: str) -> RegistryConfig:
    return RegistryConfig(name="r", url=url, auth=AuthConfig(token_realms=realms))


# --- the rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "realm"),
    [
        ("https://registry-1.docker.io", "https://auth.docker.io/token"),
        ("https://registry.gitlab.com", "https://gitlab.com/jwt/auth"),
        ("https://ghcr.io", "https://ghcr.io/token"),
        ("https://myreg.azurecr.io", "https://myreg.azurecr.io/oauth2/token"),
        ("https://myreg.azurecr.io", "https://azurecr.io/token"),  # the provider, a parent
        ("https://harbor.example.co.uk", "https://auth.example.co.uk/service/token"),
        ("https://docker.io", "https://auth.docker.io/token"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5001/token"),
        ("http://localhost:5000", "http://127.0.0.1:5001/token"),
        ("http://10.0.0.5:5000", "http://10.0.0.5:5001/token"),
        ("http://registry.corp.example", "https://auth.corp.example/token"),  # an upgrade
    ],
)
def test_realms_on_the_registrys_own_domain_pass(registry: str, realm: str) -> None:
    assert realm_refusal(reg(registry), httpx.URL(realm)) is None


@pytest.mark.parametrize(
    ("registry", "realm", "why"),
    [
        ("https://registry.example.com", "http://registry.example.com/token",
         "plain http for an https registry"),
        ("https://registry.example.com", "https://auth.attacker.net/token",
         "auth.attacker.net is not the registry's host or on its domain"),
        ("https://myreg.azurecr.io", "https://evil.azurecr.io/token", "not the registry's"),
        ("https://1.dkr.ecr.eu-west-1.amazonaws.com", "https://2.dkr.ecr.eu-west-1.amazonaws.com",
         "not the registry's"),
        ("https://harbor.example.co.uk", "https://evil.co.uk/token", "not the registry's"),
        ("https://harbor.example.co.uk", "https://co.uk/token", "not the registry's"),
        ("https://registry.example.com", "https://169.254.169.254/token", "a link-local address"),
        ("https://registry.example.com", "https://2852039166/token", "a link-local address"),
        ("https://registry.example.com", "https://0xa9.0xfe.0xa9.0xfe/t", "a link-local address"),
        ("https://registry.example.com", "https://[::ffff:169.254.169.254]/t", "link-local"),
        ("https://registry.example.com", "https://[fe80::1]/t", "a link-local address"),
        ("https://registry.example.com", "https://10.1.2.3/token", "a private address"),
        ("https://registry.example.com", "https://localhost/token", "a loopback address"),
        ("http://127.0.0.1:5000", "http://169.254.169.254/token", "a link-local address"),
        ("http://127.0.0.1:5000", "http://10.0.0.1/token", "a private address"),
        ("http://10.0.0.5:5000", "http://10.0.0.6/token", "not the registry's host"),
        ("https://203.0.113.9", "https://198.51.100.7/token", "not the registry's host"),
    ],
)
def test_hostile_realms_are_refused(registry: str, realm: str, why: str) -> None:
    refusal = realm_refusal(reg(registry), httpx.URL(realm))
    assert refusal is not None and why in refusal


def test_token_realms_trust_a_host_and_only_an_http_entry_allows_plain_http() -> None:
    realm = httpx.URL("http://auth.internal:8080/token")
    assert realm_refusal(reg("http://registry.corp.example", "auth.internal"), realm) is None
    assert realm_refusal(reg("http://registry.corp.example", "auth.internal:9"), realm)
    https = "https://registry.corp.example"
    assert realm_refusal(reg(https, "auth.internal"), realm) == "plain http for an https registry"
    assert realm_refusal(reg(https, "http://auth.internal:8080"), realm) is None
    metadata = httpx.URL("http://169.254.169.254/latest")
    assert realm_refusal(reg("http://registry.corp.example", "169.254.169.254"), metadata) is None


def test_the_refusal_names_the_realm_and_the_key_that_would_allow_it() -> None:
    with pytest.raises(AuthError) as caught:
        check_realm(reg("https://registry.example.com"), "http://auth.example.com:8080/token")
    assert str(caught.value) == (
        "registry r: refused bearer token realm http://auth.example.com:8080/token (plain http "
        "for an https registry); nothing was sent to it. To trust it, add "
        "'http://auth.example.com:8080' to token_realms in [registries.auth] of registry r"
    )
    with pytest.raises(AuthError, match=r"add '169\.254\.169\.254' to token_realms"):
        check_realm(reg("https://registry.example.com"), "https://169.254.169.254/token")


@pytest.mark.parametrize("spelling", ["169.254.169.254", "2852039166", "0251.0376.0251.0376",
                                      "169.254.43518", "169.254.169.254.", "::ffff:a9fe:a9fe"])
def test_every_spelling_of_the_metadata_address_is_an_address(spelling: str) -> None:
    assert str(ip_literal(spelling)) == "169.254.169.254"


def test_token_realms_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[registries]]\nname = "r"\nurl = "https://r.example.com"\n'
                    '[registries.auth]\ntoken_realms = ["Auth.Example.NET", "http://a.b:81"]\n')
    assert load_config(path, env={}).registry("r").auth.token_realms == (
        "auth.example.net", "http://a.b:81")
    path.write_text('[[registries]]\nname = "r"\nurl = "https://r.example.com"\n'
                    '[registries.auth]\ntoken_realms = ["https://a.b/token"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == (
        f"{path}: registries[0].auth.token_realms[0]: expected a host like auth.example.com, "
        'host:port or http://host:port, got "https://a.b/token"'
    )


def test_redact_cuts_what_credentials_look_like_and_leaves_the_message() -> None:
    basic = "Basic " + base64.b64encode(b"ci:pa55word-x").decode()
    text = redact(f'denied: Authorization: {basic}; body {{"token": "abc.def"}} refresh_token=zz')
    assert "cGE1NXdvcmQ" not in text and "abc.def" not in text and "zz" not in text
    assert text.startswith("denied: Authorization: ") and text.count(REDACTED) == 3
    kept = "registry r sent a bearer challenge with an unusable realm; Basic or Bearer challenge"
    assert redact(kept) == kept


# --- end to end: the CLI against the real lab behind a hostile proxy ---------------------------


def write_config(tmp_path: Path, url: str, *, ca: Path | None = None,
                 realms: tuple[str, ...] = ()) -> Path:
    lines = ['[[registries]]', 'name = "lab"', f"url = {json.dumps(url)}"]
    if ca is not None:
        lines.append(f"ca_file = {json.dumps(str(ca))}")
    lines += ["[registries.auth]", 'username = "regtui"', 'password_env = "LAB_PW"',
              f"token_realms = {json.dumps(list(realms))}"]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def guard() -> Iterator[NetGuard]:
    with net_guard() as watched:
        yield watched


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return self_signed(tmp_path)


def token_port(lab: Lab) -> int:
    return httpx.URL(lab.token_url or "").port or 0


def sent_to(guard: NetGuard, port: int) -> int:
    return sum(1 for _, p in guard.connects if p == port)


@pytest.mark.lab
@pytest.mark.parametrize(
    ("realm", "needles"),
    [
        ("http://169.254.169.254/token", ("a link-local address", "'169.254.169.254'")),
        ("http://2852039166/latest/meta-data", ("a link-local address", "'2852039166'")),
        ("http://auth.attacker.test:{port}/token", ("auth.attacker.test is not the registry's",
                                                     "'auth.attacker.test'")),
    ],
)
def test_hostile_realm_is_refused_before_any_traffic(
    token_lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, guard: NetGuard, realm: str, needles: tuple[str, ...],
) -> None:
    realm = realm.format(port=token_port(token_lab))
    monkeypatch.setenv("LAB_PW", token_lab.password or "")
    with ChallengeProxy(token_lab.url, realm=realm) as proxy:
        status, out, err = run_cli(capsys, "inventory", "--config",
                                   str(write_config(tmp_path, proxy.url)))
    line = one_line(err)
    assert status == 1 and out == ""
    assert f"refused bearer token realm {realm}" in line and "token_realms" in line
    for needle in needles:
        assert needle in line
    assert guard.outside_loopback() == [] and sent_to(guard, token_port(token_lab)) == 0
    host = httpx.URL(realm).host
    assert host not in guard.lookups, "the realm's name must not even be resolved"
    assert all("Authorization" not in s.headers for s in proxy.seen)


@pytest.mark.lab
def test_plain_http_realm_for_an_https_registry_is_refused_then_allowed_by_config(
    token_lab: Lab, tmp_path: Path, tls: TlsFiles, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, guard: NetGuard,
) -> None:
    """The real registry's own challenge (an http realm) reached through https is a downgrade."""
    monkeypatch.setenv("LAB_PW", token_lab.password or "")
    port = token_port(token_lab)
    with ChallengeProxy(token_lab.url, tls=tls) as proxy:
        config = write_config(tmp_path, proxy.url, ca=tls.cert)
        status, _, err = run_cli(capsys, "inventory", "--config", str(config))
        line = one_line(err)
        assert status == 1 and "(plain http for an https registry)" in line
        assert f"add 'http://127.0.0.1:{port}' to token_realms" in line
        assert sent_to(guard, port) == 0
        trusted = write_config(tmp_path, proxy.url, ca=tls.cert,
                               realms=(f"http://127.0.0.1:{port}",))
        status, out, err = run_cli(capsys, "inventory", "--config", str(trusted))
    assert status == 0, err
    assert {json.loads(line)["repository"] for line in out.splitlines()} >= {"app"}
    assert sent_to(guard, port) >= 1 and guard.outside_loopback() == []


@pytest.mark.lab
def test_token_endpoint_redirect_to_link_local_is_refused_before_connecting(
    token_lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, guard: NetGuard,
) -> None:
    monkeypatch.setenv("LAB_PW", token_lab.password or "")
    proxy = ChallengeProxy(token_lab.url, token_redirect="http://169.254.169.254/token")
    proxy.realm = f"{proxy.url}/token"  # the registry's own host: the realm itself passes
    with proxy:
        status, _, err = run_cli(capsys, "inventory", "--config",
                                 str(write_config(tmp_path, proxy.url)))
    line = one_line(err)
    assert status == 1
    assert "refused a redirect of its token request to http://169.254.169.254/token" in line
    assert guard.outside_loopback() == []
    assert [s.path.split("?")[0] for s in proxy.seen if s.path.startswith("/token")] == ["/token"]


@pytest.mark.lab
@pytest.mark.parametrize("lab_name", ["htpasswd_lab", "token_lab"])
def test_echoed_authorization_is_redacted_in_the_report_and_the_audit_log(
    lab_name: str, request: pytest.FixtureRequest, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, guard: NetGuard,
) -> None:
    lab: Lab = request.getfixturevalue(lab_name)
    password = lab.password or ""
    monkeypatch.setenv("LAB_PW", password)
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    with ChallengeProxy(lab.url, echo_methods=frozenset({"DELETE"})) as proxy:
        config = write_config(tmp_path, proxy.url)
        status, out, err = run_cli(capsys, "--config", str(config), "delete", "lab/app:1.2.2",
                                 "--yes")
    echoed = [s.headers.get("Authorization", "") for s in proxy.seen if s.method == "DELETE"]
    assert echoed and echoed[0].split()[0] in ("Basic", "Bearer")  # the proxy did echo it
    secret = echoed[0].split()[1]
    audit = (state / "regtui" / "audit.jsonl").read_text()
    failed = [json.loads(line)["outcome"] for line in audit.splitlines()]
    assert status == 1 and any(o.startswith("failed:") for o in failed), (err, failed)
    report = [line for line in out.splitlines() if line.startswith("app:1.2.2: failed:")]
    assert len(report) == 1 and "500" in report[0], out
    for text in (out + err, audit):
        assert secret not in text and password not in text
        assert f"Authorization: {REDACTED}" in text, text
    assert guard.outside_loopback() == []


@pytest.mark.lab
@pytest.mark.parametrize("lab_name", ["htpasswd_lab", "token_lab"])
def test_echoed_authorization_is_redacted_in_the_cli_error_line(
    lab_name: str, request: pytest.FixtureRequest, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, guard: NetGuard,
) -> None:
    lab: Lab = request.getfixturevalue(lab_name)
    monkeypatch.setenv("LAB_PW", lab.password or "")
    with ChallengeProxy(lab.url, echo_methods=frozenset({"GET"})) as proxy:
        status, out, err = run_cli(capsys, "inventory", "--config",
                                   str(write_config(tmp_path, proxy.url)))
    echoed = [s.headers["Authorization"] for s in proxy.seen if "Authorization" in s.headers]
    assert echoed, "the proxy must have seen (and echoed) credentials"
    line = one_line(err)
    assert status == 1 and out == "" and "HTTP 500" in line
    assert f"Authorization: {REDACTED}" in line
    assert echoed[0].split()[1] not in err and (lab.password or "") not in err
    assert guard.outside_loopback() == []
