"""`regtui.registry.auth`: credential sources, docker config.json, helpers, challenges, flows.

The flows run against an in-process double of a registry and its token server, written from
the distribution token spec (`httpx.MockTransport`); the lead's lab tests repeat the Basic
and Bearer cases against the real docker-registry.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from regtui.config import AuthConfig, RegistryConfig, adhoc_registry, load_config
from regtui.errors import AuthError
from regtui.lab import Lab
from regtui.registry.auth import (
    Challenge,
    Credentials,
    RegistryAuth,
    parse_www_authenticate,
    resolve_credentials,
    run_credential_helper,
    scope_for,
)
from regtui.registry.mediatypes import MANIFEST_ACCEPT

FAKES = Path(__file__).parent / "fakes"
SECRET = "s3cr3t-Pa55"


def registry(
    name: str = "lab", url: str = "http://localhost:5000", **auth: str | bool
) -> RegistryConfig:
    return RegistryConfig(name=name, url=url, auth=AuthConfig(**auth))  # type: ignore[arg-type]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def docker_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private DOCKER_CONFIG and the fake credential helper first on PATH."""
    path = tmp_path / "docker"
    path.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HELPER_LOG", str(tmp_path / "helper.log"))
    for var in ("FAKE_HELPER_FAIL", "FAKE_HELPER_STORE", "FAKE_HELPER_SLEEP"):
        monkeypatch.delenv(var, raising=False)
    return path


def write_docker_config(docker_dir: Path, data: object) -> Path:
    path = docker_dir / "config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def helper_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: dict[str, tuple[str, str]]
) -> None:
    store = tmp_path / "store.json"
    store.write_text(json.dumps({k: {"Username": u, "Secret": s} for k, (u, s) in entries.items()}))
    monkeypatch.setenv("FAKE_HELPER_STORE", str(store))


def helper_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "helper.log"
    return log.read_text().splitlines() if log.exists() else []


# --- resolve_credentials: env and regtui config ---------------------------------------------


def loaded(tmp_path: Path, env: dict[str, str], auth: str = "") -> RegistryConfig:
    """A registry as the CLI gets it: from a config file, with env overrides applied."""
    path = tmp_path / "config.toml"
    path.write_text(f'[[registries]]\nname = "lab"\nurl = "localhost:5000"\n{auth}\n')
    return load_config(path, env=env).registry("lab")


def test_env_password_override_beats_everything(docker_dir: Path, tmp_path: Path) -> None:
    write_docker_config(docker_dir, {"auths": {"localhost:5000": {"auth": b64("d:dpw")}}})
    auth = '[registries.auth]\nusername = "cfg"\npassword_env = "LAB_PW"'
    env = {"REGTUI_LAB_PASSWORD": "envpw", "LAB_PW": "cfgpw", "DOCKER_CONFIG": str(docker_dir)}
    assert resolve_credentials(loaded(tmp_path, env, auth), env) == Credentials("cfg", "envpw")
    env["REGTUI_LAB_USERNAME"] = "envuser"
    reg = loaded(tmp_path, env, auth)
    assert resolve_credentials(reg, env) == Credentials("envuser", "envpw")


def test_env_username_is_read_once_by_the_config(docker_dir: Path) -> None:
    """auth.py trusts `auth.username`; the env override is config.py's job alone."""
    reg = registry(username="cfg", password_env="LAB_PW")
    env = {"LAB_PW": SECRET, "REGTUI_LAB_USERNAME": "ignored-here"}
    assert resolve_credentials(reg, env) == Credentials("cfg", SECRET)
    adhoc = adhoc_registry("localhost:5000", env={"REGTUI_LOCALHOST_5000_USERNAME": "adhoc"})
    assert adhoc.auth.username == "adhoc"


def test_env_password_without_any_username_is_an_error() -> None:
    with pytest.raises(AuthError, match="REGTUI_LAB_PASSWORD is set but no user name"):
        resolve_credentials(registry(), {"REGTUI_LAB_PASSWORD": SECRET})


def test_password_env(docker_dir: Path) -> None:
    reg = registry(username="ci", password_env="LAB_PW")
    assert resolve_credentials(reg, {"LAB_PW": SECRET}) == Credentials("ci", SECRET)
    with pytest.raises(AuthError) as caught:
        resolve_credentials(reg, {})
    assert str(caught.value) == (
        "registry lab: environment variable LAB_PW (auth.password_env) is not set"
    )
    with pytest.raises(AuthError, match=r"LAB_PW \(auth\.password_env\) is empty$"):
        resolve_credentials(reg, {"LAB_PW": ""})


def test_password_command(docker_dir: Path) -> None:
    reg = registry(username="AWS", password_command=f"printf '{SECRET}\\n'")
    assert resolve_credentials(reg, {}) == Credentials("AWS", SECRET)


def test_failing_password_command_shows_stderr_but_never_stdout(docker_dir: Path) -> None:
    command = f"echo {SECRET}; echo 'token expired' >&2; echo more >&2; exit 3"
    with pytest.raises(AuthError) as caught:
        resolve_credentials(registry(username="u", password_command=command), {})
    assert str(caught.value) == "registry lab: auth.password_command failed: token expired"
    silent = registry(username="u", password_command="exit 4")
    with pytest.raises(AuthError, match="failed: exit status 4"):
        resolve_credentials(silent, {})


def test_username_without_any_password_is_an_error(docker_dir: Path) -> None:
    with pytest.raises(AuthError, match=r"registry lab: auth\.username is set but no password"):
        resolve_credentials(registry(username="ci"), {"DOCKER_CONFIG": str(docker_dir)})


def test_no_credentials_anywhere_is_anonymous(docker_dir: Path) -> None:
    assert resolve_credentials(registry(), {"DOCKER_CONFIG": str(docker_dir)}) is None


def test_repr_hides_the_password() -> None:
    assert SECRET not in repr(Credentials("u", SECRET))


# --- docker config.json --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "entry", "expected"),
    [
        ("localhost:5000", {"auth": b64(f"ci:{SECRET}")}, Credentials("ci", SECRET)),
        ("https://localhost:5000", {"auth": b64("ci:pa:ss")}, Credentials("ci", "pa:ss")),
        (
            "http://localhost:5000/v2/",
            {"username": "ci", "password": SECRET},
            Credentials("ci", SECRET),
        ),
        (
            "localhost:5000",
            {"identitytoken": "refresh-me"},
            Credentials("<token>", "refresh-me", identity_token=True),
        ),
        (
            "localhost:5000",
            {"auth": b64("ci:x"), "identitytoken": "refresh-me"},
            Credentials("ci", "refresh-me", identity_token=True),
        ),
        ("localhost:5000", {}, None),
        ("localhost:5001", {"auth": b64("ci:x")}, None),
    ],
)
def test_auths_entries(
    docker_dir: Path, key: str, entry: dict[str, str], expected: Credentials | None
) -> None:
    write_docker_config(docker_dir, {"auths": {key: entry}})
    assert resolve_credentials(registry(), {"DOCKER_CONFIG": str(docker_dir)}) == expected


def test_docker_hub_is_filed_under_its_v1_url(docker_dir: Path) -> None:
    write_docker_config(
        docker_dir, {"auths": {"https://index.docker.io/v1/": {"auth": b64("hubber:pw")}}}
    )
    for url in ("https://registry-1.docker.io", "https://docker.io"):
        reg = registry(name="hub", url=url)
        assert resolve_credentials(reg, {"DOCKER_CONFIG": str(docker_dir)}) == Credentials(
            "hubber", "pw"
        )


def test_docker_config_ignored_when_disabled(docker_dir: Path) -> None:
    write_docker_config(docker_dir, {"auths": {"localhost:5000": {"auth": b64("ci:x")}}})
    reg = registry(docker_config=False)
    assert resolve_credentials(reg, {"DOCKER_CONFIG": str(docker_dir)}) is None


def test_home_docker_config_is_the_default(tmp_path: Path) -> None:
    (tmp_path / ".docker").mkdir()
    write_docker_config(tmp_path / ".docker", {"auths": {"localhost:5000": {"auth": b64("h:p")}}})
    assert resolve_credentials(registry(), {"HOME": str(tmp_path)}) == Credentials("h", "p")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "{not json",
            "malformed docker config: Expecting property name enclosed in double "
            "quotes at line 1 column 2",
        ),
        ("[]", "malformed docker config: expected a JSON object"),
        ('{"auths": []}', "malformed docker config: auths must be an object"),
        (
            '{"auths": {"localhost:5000": {"auth": "%%%"}}}',
            "malformed docker config: auths['localhost:5000'].auth is not base64 user:password",
        ),
        (
            '{"auths": {"localhost:5000": "x"}}',
            "malformed docker config: auths['localhost:5000'] must be an object",
        ),
        (
            '{"credHelpers": {"localhost:5000": 3}}',
            "malformed docker config: helper names must be strings",
        ),
    ],
)
def test_malformed_docker_config_names_the_file(
    docker_dir: Path, content: str, expected: str
) -> None:
    path = docker_dir / "config.json"
    path.write_text(content)
    with pytest.raises(AuthError) as caught:
        resolve_credentials(registry(), {"DOCKER_CONFIG": str(docker_dir)})
    assert str(caught.value) == f"{path}: {expected}"


def test_creds_store_is_asked_with_the_host(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper_store(tmp_path, monkeypatch, {"localhost:5000": ("store-user", SECRET)})
    write_docker_config(docker_dir, {"credsStore": "fake", "auths": {"localhost:5000": {}}})
    env = {"DOCKER_CONFIG": str(docker_dir)}
    assert resolve_credentials(registry(), env) == Credentials("store-user", SECRET)
    assert helper_calls(tmp_path) == ["get localhost:5000"]


def test_creds_store_miss_falls_back_to_auths(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper_store(tmp_path, monkeypatch, {})
    write_docker_config(
        docker_dir, {"credsStore": "fake", "auths": {"localhost:5000": {"auth": b64("a:b")}}}
    )
    assert resolve_credentials(registry(), {"DOCKER_CONFIG": str(docker_dir)}) == Credentials(
        "a", "b"
    )
    assert helper_calls(tmp_path) == ["get localhost:5000"]


def test_cred_helpers_beat_creds_store_and_auths(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper_store(tmp_path, monkeypatch, {"https://index.docker.io/v1/": ("<token>", "idt")})
    write_docker_config(
        docker_dir,
        {
            "credsStore": "absent-helper",
            "credHelpers": {"docker.io": "fake"},
            "auths": {"https://index.docker.io/v1/": {"auth": b64("a:b")}},
        },
    )
    reg = registry(name="hub", url="https://registry-1.docker.io")
    found = resolve_credentials(reg, {"DOCKER_CONFIG": str(docker_dir)})
    assert found == Credentials("<token>", "idt", identity_token=True)
    assert helper_calls(tmp_path) == ["get https://index.docker.io/v1/"]


# --- run_credential_helper -----------------------------------------------------------------


def test_helper_found_and_not_found(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper_store(tmp_path, monkeypatch, {"reg.example": ("u", SECRET)})
    assert run_credential_helper("fake", "reg.example") == Credentials("u", SECRET)
    assert run_credential_helper("fake", "other.example") is None
    assert helper_calls(tmp_path) == ["get reg.example", "get other.example"]


def test_helper_failure_is_one_line_from_stderr(
    docker_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_HELPER_FAIL", "error getting credentials - token expired")
    with pytest.raises(AuthError) as caught:
        run_credential_helper("fake", "123.dkr.ecr.eu-west-1.amazonaws.com")
    assert str(caught.value) == (
        "credential helper docker-credential-fake failed for 123.dkr.ecr.eu-west-1.amazonaws.com: "
        "error getting credentials - token expired"
    )


def test_helper_missing(docker_dir: Path) -> None:
    with pytest.raises(AuthError) as caught:
        run_credential_helper("nonexistent-xyz", "reg.example")
    assert str(caught.value) == (
        "credential helper docker-credential-nonexistent-xyz (for reg.example) not found on PATH"
    )


def test_helper_timeout(docker_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_HELPER_SLEEP", "5")
    with pytest.raises(AuthError, match=r"docker-credential-fake timed out after 0\.3 s"):
        run_credential_helper("fake", "reg.example", timeout=0.3)


def test_helper_answering_garbage(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bin"
    bad.mkdir()
    script = bad / "docker-credential-garbage"
    script.write_text('#!/bin/sh\necho \'{"Username": "u", "Secret": 3}\'\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bad}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(AuthError, match="docker-credential-garbage answered something other"):
        run_credential_helper("garbage", "reg.example")


# --- WWW-Authenticate ----------------------------------------------------------------------


def test_docker_hub_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/ubuntu:pull"'
    )
    assert parse_www_authenticate(header) == [
        Challenge(
            "Bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/ubuntu:pull",
            },
        )
    ]


def test_quoted_commas_and_escaped_quotes() -> None:
    header = (
        'Bearer realm="https://a/t?x=1,2", error="bad \\"q\\"" , '
        'scope="repository:a/b:pull,push repository:c:pull"'
    )
    [challenge] = parse_www_authenticate(header)
    assert challenge.params == {
        "realm": "https://a/t?x=1,2",
        "error": 'bad "q"',
        "scope": "repository:a/b:pull,push repository:c:pull",
    }


def test_several_challenges_in_one_header_and_several_headers() -> None:
    rfc = 'Newauth realm="apps", type=1, title="Login Page", Basic realm="simple"'
    assert parse_www_authenticate(rfc) == [
        Challenge("Newauth", {"realm": "apps", "type": "1", "title": "Login Page"}),
        Challenge("Basic", {"realm": "simple"}),
    ]
    found = parse_www_authenticate(['Negotiate abc==, Basic REALM="x"', "bearer realm=y"])
    assert found == [
        Challenge("Negotiate", {"token68": "abc=="}),
        Challenge("Basic", {"realm": "x"}),
        Challenge("bearer", {"realm": "y"}),
    ]
    assert found[2].is_bearer and found[1].is_basic and not found[0].is_basic
    assert parse_www_authenticate("") == [] and parse_www_authenticate(", ,") == []


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/", ""),
        ("GET", "/v2/_catalog", "registry:catalog:*"),
        ("GET", "/v2/library/alpine/manifests/latest", "repository:library/alpine:pull"),
        ("HEAD", "/v2/a/b/c/manifests/sha256:abc", "repository:a/b/c:pull"),
        ("GET", "/v2/x/tags/manifests/v1", "repository:x/tags:pull"),
        ("GET", "/v2/app/tags/list", "repository:app:pull"),
        ("GET", "/v2/app/blobs/sha256:abc", "repository:app:pull"),
        ("GET", "/v2/app/referrers/sha256:abc", "repository:app:pull"),
        ("POST", "/v2/team/app/blobs/uploads/", "repository:team/app:pull,push"),
        ("PATCH", "/v2/team/app/blobs/uploads/uuid-1", "repository:team/app:pull,push"),
        ("PUT", "/v2/app/manifests/v1", "repository:app:pull,push"),
        ("DELETE", "/v2/app/manifests/sha256:abc", "repository:app:delete"),
        ("GET", "/v2/app/unknown/x", ""),
    ],
)
def test_scope_for(method: str, path: str, scope: str) -> None:
    assert scope_for(method, path) == scope


# --- RegistryAuth against a registry and token server double --------------------------------

REALM = "https://auth.example.com/token"
HOST = "registry.example.com:5000"


@dataclass
class FakeRegistry:
    """Registry + token server per the distribution token spec; records every request."""

    mode: str = "bearer"
    users: dict[str, str] = field(default_factory=lambda: {"ci": SECRET})
    expires_in: int | None = 300
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    token_status: int = 200
    token_body: bytes | None = None
    anonymous_pull: bool = False
    grants: dict[str, set[str]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        # httpx re-sends the same Request object on a retry: keep a snapshot of each send.
        snapshot = httpx.Request(
            request.method,
            request.url,
            headers=request.headers.copy(),
            content=request.content,
            extensions=dict(request.extensions),
        )
        self.requests.append(snapshot)
        if request.url.host == "auth.example.com":
            return self.token(request)
        return self.basic(request) if self.mode == "basic" else self.bearer(request)

    def user_of(self, header: str) -> str | None:
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == password else None

    def basic(self, request: httpx.Request) -> httpx.Response:
        if self.user_of(request.headers.get("Authorization", "")) is None:
            return unauthorized('Basic realm="Registry Realm"', "authentication required")
        return httpx.Response(200, json={"ok": True})

    def bearer(self, request: httpx.Request) -> httpx.Response:
        scope = scope_for(request.method, request.url.path)
        header = request.headers.get("Authorization", "")
        granted = self.grants.get(header.removeprefix("Bearer "), set())
        if not header.startswith("Bearer ") or (scope and scope not in granted):
            challenge = f'Bearer realm="{REALM}",service="{HOST}"'
            if scope:
                challenge += f',scope="{scope}"'
            return unauthorized(challenge, "authentication required")
        return httpx.Response(200, json={"ok": True})

    def token(self, request: httpx.Request) -> httpx.Response:
        assert request.extensions.get("regtui_token_request") is True
        if self.token_status != 200 or self.token_body is not None:
            return httpx.Response(self.token_status, content=self.token_body or b"oops")
        if request.method == "POST":
            form = parse_qs(request.content.decode())
            user = self.refresh_tokens.get(form["refresh_token"][0])
            scopes = form["scope"][0].split()
        else:
            user = self.user_of(request.headers.get("Authorization", ""))
            scopes = request.url.params.get_list("scope")
            if "Authorization" in request.headers and user is None:
                return httpx.Response(401, json={"details": "incorrect username or password"})
        if user is None and not self.anonymous_pull:
            scopes = []
        token = f"tok-{len(self.grants) + 1}"
        self.grants[token] = set(scopes)
        body: dict[str, object] = {"token" if request.method == "GET" else "access_token": token}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(200, json=body)

    def count(self, host: str) -> int:
        return sum(1 for r in self.requests if r.url.host == host)


class Streamed(httpx.AsyncByteStream):
    """A body httpx has not read yet, as from a real connection (MockTransport pre-reads
    `content=`), so the flow's own reading of 401 bodies is exercised."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def unauthorized(challenge: str, message: str) -> httpx.Response:
    body = {"errors": [{"code": "UNAUTHORIZED", "message": message, "detail": None}]}
    headers = {"WWW-Authenticate": challenge, "Content-Type": "application/json"}
    return httpx.Response(401, headers=headers, stream=Streamed(json.dumps(body).encode()))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingSource:
    """The lazy credentials callable, counting how often it is asked."""

    def __init__(self, found: Credentials | AuthError | None) -> None:
        self.found, self.calls = found, 0

    def __call__(self) -> Credentials | None:
        self.calls += 1
        if isinstance(self.found, AuthError):
            raise self.found
        return self.found


def client(
    fake: FakeRegistry, source: Callable[[], Credentials | None], clock: Clock | None = None
) -> httpx.AsyncClient:
    reg = RegistryConfig(name="lab", url=f"https://{HOST}")
    auth = RegistryAuth(reg, source, clock=clock or Clock())
    return httpx.AsyncClient(
        transport=httpx.MockTransport(fake.handler), auth=auth, base_url=f"https://{HOST}"
    )


async def test_basic_flow_remembers_the_scheme() -> None:
    fake, source = FakeRegistry(mode="basic"), CountingSource(Credentials("ci", SECRET))
    async with client(fake, source) as http:
        assert (await http.get("/v2/app/tags/list")).status_code == 200
        assert len(fake.requests) == 2 and "Authorization" not in fake.requests[0].headers
        assert (await http.get("/v2/other/tags/list")).status_code == 200
    assert len(fake.requests) == 3 and source.calls == 1
    assert fake.requests[2].headers["Authorization"] == "Basic " + b64(f"ci:{SECRET}")


async def test_basic_without_credentials_asks_for_a_login() -> None:
    fake = FakeRegistry(mode="basic")
    async with client(fake, CountingSource(None)) as http:
        with pytest.raises(AuthError) as caught:
            await http.get("/v2/")
    assert str(caught.value) == (
        "registry lab requires a login: set [registries.auth] or use docker login, podman login "
        "or skopeo login"
    )


async def test_basic_wrong_password() -> None:
    fake = FakeRegistry(mode="basic")
    async with client(fake, CountingSource(Credentials("ci", "wrong-pw"))) as http:
        with pytest.raises(AuthError) as caught:
            await http.get("/v2/")
    assert str(caught.value) == (
        f"authentication failed for user ci at {HOST}: authentication required"
    )
    assert "wrong-pw" not in str(caught.value) and len(fake.requests) == 2


async def test_bearer_flow_follows_the_token_spec() -> None:
    fake, source = FakeRegistry(), CountingSource(Credentials("ci", SECRET))
    async with client(fake, source) as http:
        response = await http.get("/v2/library/alpine/manifests/latest")
    assert response.status_code == 200
    first, token_request, retry = fake.requests
    assert "Authorization" not in first.headers
    assert (token_request.method, str(token_request.url.copy_with(query=None))) == ("GET", REALM)
    assert token_request.url.params.get_list("scope") == ["repository:library/alpine:pull"]
    assert token_request.url.params["service"] == HOST
    assert token_request.url.params["account"] == "ci"
    assert token_request.headers["Authorization"] == "Basic " + b64(f"ci:{SECRET}")
    assert retry.headers["Authorization"] == "Bearer tok-1"


async def test_cached_token_is_reused_and_new_scopes_skip_the_401() -> None:
    fake = FakeRegistry()
    async with client(fake, CountingSource(Credentials("ci", SECRET))) as http:
        await http.get("/v2/app/manifests/v1")
        assert len(fake.requests) == 3
        await http.get("/v2/app/manifests/v2")
        await http.head("/v2/app/blobs/sha256:abc")
        assert len(fake.requests) == 5 and fake.count("auth.example.com") == 1
        assert (await http.delete("/v2/app/manifests/sha256:abc")).status_code == 200
    assert fake.count("auth.example.com") == 2 and len(fake.requests) == 7
    assert fake.requests[-2].url.params.get_list("scope") == ["repository:app:delete"]


async def test_concurrent_requests_share_one_token_fetch() -> None:
    fake = FakeRegistry()
    async with client(fake, CountingSource(Credentials("ci", SECRET))) as http:
        responses = await asyncio.gather(*(http.get("/v2/app/tags/list") for _ in range(8)))
    assert {r.status_code for r in responses} == {200}
    assert fake.count("auth.example.com") == 1


@pytest.mark.parametrize(("expires_in", "still_fresh", "stale"), [(300, 280, 291), (None, 50, 55)])
async def test_token_refreshed_before_expiry(
    expires_in: int | None, still_fresh: float, stale: float
) -> None:
    fake, clock = FakeRegistry(expires_in=expires_in), Clock()
    async with client(fake, CountingSource(Credentials("ci", SECRET)), clock) as http:
        await http.get("/v2/app/tags/list")
        clock.now += still_fresh
        await http.get("/v2/app/tags/list")
        assert fake.count("auth.example.com") == 1
        clock.now += stale - still_fresh
        await http.get("/v2/app/tags/list")
    assert fake.count("auth.example.com") == 2 and len(fake.requests) == 6
    assert fake.requests[-1].headers["Authorization"] == "Bearer tok-2"


async def test_token_revoked_by_the_registry_is_fetched_again_once() -> None:
    fake = FakeRegistry()
    async with client(fake, CountingSource(Credentials("ci", SECRET))) as http:
        await http.get("/v2/app/tags/list")
        fake.grants["tok-1"] = set()
        assert (await http.get("/v2/app/tags/list")).status_code == 200
    assert fake.count("auth.example.com") == 2
    assert fake.requests[-1].headers["Authorization"] == "Bearer tok-2"


async def test_bearer_wrong_password_reports_the_token_servers_message() -> None:
    fake = FakeRegistry()
    async with client(fake, CountingSource(Credentials("ci", "bad-pw"))) as http:
        with pytest.raises(AuthError) as caught:
            await http.get("/v2/app/tags/list")
    assert str(caught.value) == (
        f"authentication failed for user ci at {HOST}: incorrect username or password"
    )
    assert "bad-pw" not in str(caught.value)


async def test_user_without_access_fails_after_one_retry() -> None:
    fake = FakeRegistry(users={"ci": SECRET, "guest": "pw"})
    fake.anonymous_pull = False

    def deny(request: httpx.Request) -> httpx.Response:
        response = fake.handler(request)
        if request.url.host == "auth.example.com":
            fake.grants = {token: set() for token in fake.grants}
        return response

    reg = RegistryConfig(name="lab", url=f"https://{HOST}")
    auth = RegistryAuth(reg, CountingSource(Credentials("guest", "pw")))
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(deny), auth=auth, base_url=f"https://{HOST}"
    ) as http:
        with pytest.raises(AuthError) as caught:
            await http.get("/v2/private/tags/list")
    assert str(caught.value) == (
        f"authentication failed for user guest at {HOST}: authentication required"
    )
    assert len(fake.requests) == 3


async def test_anonymous_bearer_pull_and_login_required() -> None:
    fake = FakeRegistry(anonymous_pull=True)
    async with client(fake, CountingSource(None)) as http:
        assert (await http.get("/v2/library/alpine/tags/list")).status_code == 200
        token_request = fake.requests[1]
        assert "Authorization" not in token_request.headers
        assert "account" not in token_request.url.params
        fake.anonymous_pull = False
        with pytest.raises(AuthError, match=r"^registry lab requires a login: set"):
            await http.get("/v2/private/tags/list")


async def test_identity_token_uses_the_oauth2_refresh_grant() -> None:
    fake = FakeRegistry(refresh_tokens={"idt-1": "ci"})
    creds = Credentials("<token>", "idt-1", identity_token=True)
    async with client(fake, CountingSource(creds)) as http:
        assert (await http.get("/v2/app/tags/list")).status_code == 200
    token_request = fake.requests[1]
    assert token_request.method == "POST"
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["idt-1"],
        "service": [HOST],
        "client_id": ["regtui"],
        "scope": ["repository:app:pull"],
    }
    assert "Authorization" not in token_request.headers


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            500,
            b'{"errors": [{"message": "db down"}]}',
            f"token endpoint {REALM} for registry lab answered 500: db down",
        ),
        (
            200,
            b"<html>proxy login</html>",
            f"token endpoint {REALM} for registry lab answered without a token",
        ),
        (
            200,
            b'{"expires_in": 30}',
            f"token endpoint {REALM} for registry lab answered without a token",
        ),
    ],
)
async def test_broken_token_endpoint_names_the_realm(
    status: int, body: bytes, expected: str
) -> None:
    fake = FakeRegistry(token_status=status, token_body=body)
    async with client(fake, CountingSource(Credentials("ci", SECRET))) as http:
        with pytest.raises(AuthError) as caught:
            await http.get("/v2/app/tags/list")
    assert str(caught.value).startswith(expected)


async def test_unusable_challenges() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        header = "Bearer service=x" if request.url.path == "/v2/" else "Digest realm=x"
        return unauthorized(header, "nope")

    reg = RegistryConfig(name="lab", url=f"https://{HOST}")
    auth = RegistryAuth(reg, CountingSource(None))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as http:
        with pytest.raises(AuthError, match="sent a bearer challenge with an unusable realm ''"):
            await http.get(f"https://{HOST}/v2/")
        with pytest.raises(AuthError, match="answered 401 for /v2/_catalog without a Basic or"):
            await http.get(f"https://{HOST}/v2/_catalog")


async def test_credential_errors_surface_and_are_asked_once() -> None:
    fake = FakeRegistry()
    source = CountingSource(AuthError("registry lab: auth.password_command failed: boom"))
    async with client(fake, source) as http:
        for _ in range(2):
            with pytest.raises(AuthError, match="password_command failed: boom"):
                await http.get("/v2/app/tags/list")
    assert source.calls == 1


async def test_anonymous_registry_never_asks_for_credentials() -> None:
    source = CountingSource(Credentials("ci", SECRET))
    handler = lambda request: httpx.Response(200, json={})  # noqa: E731
    reg = RegistryConfig(name="lab", url=f"https://{HOST}")
    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, auth=RegistryAuth(reg, source)) as http:
        assert (await http.get(f"https://{HOST}/v2/")).status_code == 200
    assert source.calls == 0


# --- the real docker-registry: htpasswd and token auth (tests/lab_fixtures.py) ---------------


@dataclass
class Seen:
    """Every request the client sent, token requests included (httpx hooks see both)."""

    requests: list[tuple[str, str]] = field(default_factory=list)

    async def hook(self, request: httpx.Request) -> None:
        self.requests.append((request.method, str(request.url)))

    def to(self, url_prefix: str) -> int:
        return sum(1 for _, url in self.requests if url.startswith(url_prefix))


def lab_registry(lab: Lab, tmp_path: Path, env: dict[str, str]) -> RegistryConfig:
    """The lab's own regtui config.toml, loaded the way the CLI loads it."""
    path = tmp_path / "config.toml"
    path.write_text(lab.regtui_config_toml())
    return load_config(path, env=env).registry("lab")


def lab_client(reg: RegistryConfig, env: dict[str, str], seen: Seen) -> httpx.AsyncClient:
    auth = RegistryAuth(reg, lambda: resolve_credentials(reg, env))
    return httpx.AsyncClient(base_url=reg.url, auth=auth, event_hooks={"request": [seen.hook]})


async def catalog_and_tags(http: httpx.AsyncClient) -> list[str]:
    catalog = await http.get("/v2/_catalog")
    assert catalog.status_code == 200, catalog.text
    repository = catalog.json()["repositories"][0]
    tags = await http.get(f"/v2/{repository}/tags/list")
    assert tags.status_code == 200, tags.text
    return [str(tag) for tag in tags.json()["tags"] or []]


@pytest.mark.lab
async def test_real_htpasswd_registry(htpasswd_lab: Lab, tmp_path: Path) -> None:
    env = {"REGTUI_LAB_PASSWORD": htpasswd_lab.password or "", "DOCKER_CONFIG": str(tmp_path)}
    reg, seen = lab_registry(htpasswd_lab, tmp_path, env), Seen()
    async with lab_client(reg, env, seen) as http:
        assert await catalog_and_tags(http)
        assert len(seen.requests) == 3  # 401, retry with Basic, then Basic up front
        ping = await http.get("/v2/")
    assert ping.status_code == 200 and len(seen.requests) == 4


@pytest.mark.lab
async def test_real_htpasswd_wrong_password_and_anonymous(
    htpasswd_lab: Lab, tmp_path: Path
) -> None:
    env = {"REGTUI_LAB_PASSWORD": "not-the-password", "DOCKER_CONFIG": str(tmp_path)}
    reg = lab_registry(htpasswd_lab, tmp_path, env)
    async with lab_client(reg, env, Seen()) as http:
        with pytest.raises(AuthError) as caught:
            await http.get("/v2/_catalog")
    assert str(caught.value) == (
        f"authentication failed for user regtui at {reg.host}: authentication required"
    )
    anonymous = RegistryConfig(name="lab", url=reg.url)
    async with lab_client(anonymous, {"DOCKER_CONFIG": str(tmp_path)}, Seen()) as http:
        with pytest.raises(AuthError, match=r"^registry lab requires a login"):
            await http.get("/v2/_catalog")


@pytest.mark.lab
async def test_real_token_registry_caches_tokens_per_scope(token_lab: Lab, tmp_path: Path) -> None:
    env = {"REGTUI_LAB_PASSWORD": token_lab.password or "", "DOCKER_CONFIG": str(tmp_path)}
    reg, seen = lab_registry(token_lab, tmp_path, env), Seen()
    realm = token_lab.token_url or ""
    async with lab_client(reg, env, seen) as http:
        tags = await catalog_and_tags(http)
        repository = (await http.get("/v2/_catalog")).json()["repositories"][0]
        accept = {"Accept": MANIFEST_ACCEPT}
        head = await http.head(f"/v2/{repository}/manifests/{tags[0]}", headers=accept)
        assert head.status_code == 200
        again = await http.get(f"/v2/{repository}/tags/list")
    assert again.status_code == 200
    # one token for the catalog, one for the repository's pull scope; the rest reuse them
    assert seen.to(realm) == 2
    assert len(seen.requests) == 3 + 2 + 1 + 1 + 1


@pytest.mark.lab
async def test_real_token_registry_refusals(token_lab: Lab, tmp_path: Path) -> None:
    env = {"REGTUI_LAB_PASSWORD": "wrong", "DOCKER_CONFIG": str(tmp_path)}
    reg = lab_registry(token_lab, tmp_path, env)
    async with lab_client(reg, env, Seen()) as http:
        with pytest.raises(AuthError) as caught:
            await http.get("/v2/_catalog")
    assert str(caught.value) == (
        f"authentication failed for user regtui at {reg.host}: wrong credentials"
    )
    anonymous = RegistryConfig(name="lab", url=reg.url)
    async with lab_client(anonymous, {"DOCKER_CONFIG": str(tmp_path)}, Seen()) as http:
        with pytest.raises(AuthError, match=r"^registry lab requires a login"):
            await http.get("/v2/_catalog")


@pytest.mark.lab
async def test_real_token_registry_with_docker_login_and_helper(
    token_lab: Lab, docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `docker login` leaves behind (auths, then a credsStore) is enough to log in."""
    reg = RegistryConfig(name="lab", url=token_lab.url)
    env = {"DOCKER_CONFIG": str(docker_dir)}
    login = b64(f"{token_lab.username}:{token_lab.password}")
    write_docker_config(docker_dir, {"auths": {reg.host: {"auth": login}}})
    async with lab_client(reg, env, Seen()) as http:
        assert await catalog_and_tags(http)
    helper_store(
        tmp_path, monkeypatch, {reg.host: (token_lab.username or "", token_lab.password or "")}
    )
    write_docker_config(docker_dir, {"credsStore": "fake", "auths": {reg.host: {}}})
    async with lab_client(reg, env, Seen()) as http:
        assert await catalog_and_tags(http)
    assert helper_calls(tmp_path) == [f"get {reg.host}"]
