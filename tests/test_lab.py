"""The lab against the real binaries, and regtui's push code against the real registry."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from regtui.errors import AuthError, ProtocolError
from regtui.lab import Lab, LabError, start_lab
from regtui.lab import seed as seedmod
from regtui.registry import mediatypes as mt
from regtui.registry.push import (
    delete_manifest,
    push_blob,
    push_manifest,
    sha256_digest,
    upload_url,
)

pytestmark = pytest.mark.lab

LabFactory = Callable[..., Lab]
ACCEPT = {"Accept": mt.MANIFEST_ACCEPT}


def catalog(client: httpx.Client, base: str, first: str = "/v2/_catalog") -> list[str]:
    """Every repository, following `Link` headers the way a client must."""
    names: list[str] = []
    url: str | None = base + first
    while url:
        response = client.get(url)
        response.raise_for_status()
        names += response.json()["repositories"]
        link = response.headers.get("Link", "")
        url = base + link.split(";")[0].strip("<> ") if link else None
    return names


def digest_of(client: httpx.Client, base: str, repo: str, ref: str) -> str:
    response = client.head(f"{base}/v2/{repo}/manifests/{ref}", headers=ACCEPT)
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]


def manifest(client: httpx.Client, base: str, repo: str, ref: str) -> dict[str, Any]:
    response = client.get(f"{base}/v2/{repo}/manifests/{ref}", headers=ACCEPT)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def all_tag_digests(client: httpx.Client, base: str) -> dict[str, str]:
    """`repo:tag -> digest` for the whole registry, from raw HTTP only."""
    found: dict[str, str] = {}
    for repo in catalog(client, base):
        tags = client.get(f"{base}/v2/{repo}/tags/list").json()["tags"] or []
        for tag in tags:
            found[f"{repo}:{tag}"] = digest_of(client, base, repo, tag)
    return found


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def test_registry_answers_v2_with_api_version(lab: Lab, http: httpx.Client) -> None:
    response = http.get(lab.url + "/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_catalog_pages_hold_every_repository(lab: Lab, http: httpx.Client) -> None:
    first = http.get(lab.url + "/v2/_catalog")
    names = catalog(http, lab.url)
    assert len(first.json()["repositories"]) == 100 and 'rel="next"' in first.headers["Link"]
    assert len(names) > 100 and len(names) == len(set(names))
    assert {seedmod.NESTED, seedmod.GONE, seedmod.APP, "library/base"} <= set(names)
    assert any(n.startswith("team-a/") for n in names)
    assert any(n.startswith("library/img") for n in names)


def test_catalog_page_size_is_capped_at_1000(lab: Lab, http: httpx.Client) -> None:
    assert http.get(lab.url + "/v2/_catalog?n=1000").status_code == 200
    refused = http.get(lab.url + "/v2/_catalog?n=1001")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"


def test_repository_without_tags_answers_null(lab: Lab, http: httpx.Client) -> None:
    response = http.get(f"{lab.url}/v2/{seedmod.GONE}/tags/list")
    assert response.status_code == 200
    assert "tags" in response.json() and response.json()["tags"] is None


def test_shared_tags_resolve_to_one_digest(lab: Lab, http: httpx.Client) -> None:
    one = digest_of(http, lab.url, seedmod.APP, "1.2.3")
    two = digest_of(http, lab.url, seedmod.APP, "stable")
    older = digest_of(http, lab.url, seedmod.APP, "1.2.2")
    assert one == two != older


def test_releases_repository_has_hundreds_of_tags(lab: Lab, http: httpx.Client) -> None:
    tags = http.get(f"{lab.url}/v2/{seedmod.RELEASES}/tags/list").json()["tags"]
    assert len(tags) == 301 and {"1.0.0", "3.9.9", "latest"} <= set(tags)
    latest = digest_of(http, lab.url, seedmod.RELEASES, "latest")
    assert latest == digest_of(http, lab.url, seedmod.RELEASES, "3.9.9")


def test_both_manifest_kinds_and_untagged_manifest(lab: Lab, http: httpx.Client) -> None:
    assert manifest(http, lab.url, seedmod.APP, "1.2.3")["mediaType"] == mt.OCI_MANIFEST
    assert manifest(http, lab.url, seedmod.APP, "1.2.2")["mediaType"] == mt.DOCKER_MANIFEST
    assert lab.seeded is not None
    untagged = lab.seeded.untagged_image
    assert untagged in lab.seeded.untagged[seedmod.APP]
    tagged = {digest_of(http, lab.url, seedmod.APP, t) for t in ("1.2.2", "1.2.3")}
    assert untagged not in tagged
    assert manifest(http, lab.url, seedmod.APP, untagged)["schemaVersion"] == 2


def test_multiarch_index_and_list_share_a_base_layer(lab: Lab, http: httpx.Client) -> None:
    index = manifest(http, lab.url, seedmod.MULTIARCH, "1.0")
    platforms = {
        "/".join(v for v in (p["os"], p["architecture"], p.get("variant", "")) if v)
        for p in (m["platform"] for m in index["manifests"])
    }
    assert platforms == {"linux/amd64", "linux/arm64/v8", "linux/arm/v7"}
    listing = manifest(http, lab.url, seedmod.MULTIARCH, "docker-list")
    assert listing["mediaType"] == mt.DOCKER_LIST
    children = [
        manifest(http, lab.url, seedmod.MULTIARCH, m["digest"]) for m in listing["manifests"]
    ]
    layer_sets = [{layer["digest"] for layer in child["layers"]} for child in children]
    assert len(children) == 2 and layer_sets[0] & layer_sets[1]


def test_signature_attestation_and_sbom_referrer(lab: Lab, http: httpx.Client) -> None:
    image = digest_of(http, lab.url, seedmod.APP, "1.2.3")
    tag = image.replace(":", "-")
    sig = manifest(http, lab.url, seedmod.APP, tag + ".sig")["layers"][0]
    assert sig["mediaType"] == mt.COSIGN_SIMPLESIGNING
    assert seedmod.COSIGN_SIGNATURE_ANNOTATION in sig["annotations"]
    att = manifest(http, lab.url, seedmod.APP, tag + ".att")["layers"][0]
    assert att["mediaType"] == mt.DSSE_ENVELOPE
    referrers = manifest(http, lab.url, seedmod.APP, tag)
    assert referrers["mediaType"] == mt.OCI_INDEX
    sbom = manifest(http, lab.url, seedmod.APP, referrers["manifests"][0]["digest"])
    assert sbom["artifactType"] == "application/spdx+json"
    assert sbom["subject"]["digest"] == image and sbom["config"]["mediaType"] == mt.OCI_EMPTY


def test_hostile_config_keeps_its_control_characters(lab: Lab, http: httpx.Client) -> None:
    config_digest = manifest(http, lab.url, seedmod.HOSTILE, "latest")["config"]["digest"]
    config = http.get(f"{lab.url}/v2/{seedmod.HOSTILE}/blobs/{config_digest}").json()
    labels = config["config"]["Labels"]
    assert labels["markup.link"] == "[link=http://evil]y[/]"
    assert "\x1b]52;" in labels["osc52"] and "\x07" in labels["bell"]
    assert len(labels["huge"]) == 10240
    assert any("\x1b[31m" in h["created_by"] for h in config["history"])


def test_prometheus_scrapes_registry_requests(lab: Lab, http: httpx.Client) -> None:
    assert lab.prometheus_url is not None
    http.get(lab.url + "/v2/")
    deadline = time.monotonic() + 20
    result: list[Any] = []
    while not result and time.monotonic() < deadline:
        answer = http.get(
            lab.prometheus_url + "/api/v1/query",
            params={"query": 'registry_http_requests_total{job="registry"}'},
        )
        result = answer.json()["data"]["result"]
        time.sleep(0.5)
    assert result, "Prometheus never scraped registry_http_requests_total"
    assert sum(float(r["value"][1]) for r in result) > 0


def test_registry_log_has_json_lines_and_access_log(lab: Lab, http: httpx.Client) -> None:
    http.get(lab.url + "/v2/_catalog?n=3")
    lines = lab.log_file.read_text().splitlines()
    json_lines = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(entry.get("http.request.uri") == "/v2/_catalog?n=3" for entry in json_lines)
    assert any('"GET /v2/_catalog?n=3 HTTP/1.1"' in line for line in lines)


def test_regtui_config_toml_points_at_the_lab(lab: Lab) -> None:
    config = tomllib.loads(lab.regtui_config_toml())
    (registry,) = config["registries"]
    assert registry["url"] == lab.url and registry["flavor"] == "distribution"
    assert registry["prometheus"]["url"] == lab.prometheus_url
    assert registry["logs"][0]["path"] == str(lab.log_file)
    assert registry["gc"]["config"] == str(lab.config_file) and "auth" not in registry


def test_htpasswd_lab_refuses_anonymous_and_accepts_credentials(
    htpasswd_lab: Lab, http: httpx.Client
) -> None:
    anonymous = http.get(htpasswd_lab.url + "/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert htpasswd_lab.username and htpasswd_lab.password
    good = (htpasswd_lab.username, htpasswd_lab.password)
    assert http.get(htpasswd_lab.url + "/v2/_catalog", auth=good).status_code == 200
    bad = (htpasswd_lab.username, htpasswd_lab.password + "x")
    assert http.get(htpasswd_lab.url + "/v2/", auth=bad).status_code == 401
    auth = tomllib.loads(htpasswd_lab.regtui_config_toml())["registries"][0]["auth"]
    assert auth == {"username": htpasswd_lab.username, "password_env": "REGTUI_LAB_PASSWORD"}


def bearer(lab: Lab, http: httpx.Client, scope: str, auth: tuple[str, str] | None) -> str:
    assert lab.token_url is not None
    answer = http.get(lab.token_url, params={"service": "regtui-lab", "scope": scope}, auth=auth)
    answer.raise_for_status()
    assert answer.json()["expires_in"] == 300 and answer.json()["issued_at"]
    token: str = answer.json()["token"]
    return token


def test_token_lab_issues_tokens_the_registry_accepts(token_lab: Lab, http: httpx.Client) -> None:
    challenge = http.get(token_lab.url + "/v2/").headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer") and f'realm="{token_lab.token_url}"' in challenge
    assert token_lab.username and token_lab.password
    creds = (token_lab.username, token_lab.password)
    pull = bearer(token_lab, http, f"repository:{seedmod.APP}:pull", creds)
    headers = {"Authorization": f"Bearer {pull}"}
    tags = http.get(f"{token_lab.url}/v2/{seedmod.APP}/tags/list", headers=headers)
    assert tags.status_code == 200 and "stable" in tags.json()["tags"]
    listing = bearer(token_lab, http, "registry:catalog:*", creds)
    answer = http.get(
        token_lab.url + "/v2/_catalog", headers={"Authorization": f"Bearer {listing}"}
    )
    assert answer.status_code == 200 and seedmod.APP in answer.json()["repositories"]


def test_token_server_refuses_wrong_password_and_anonymous_gets_nothing(
    token_lab: Lab, http: httpx.Client
) -> None:
    assert token_lab.token_url and token_lab.username
    wrong = http.get(
        token_lab.token_url,
        params={"service": "regtui-lab", "scope": f"repository:{seedmod.APP}:pull"},
        auth=(token_lab.username, "not-the-password"),
    )
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["code"] == "UNAUTHORIZED"
    anonymous = bearer(token_lab, http, f"repository:{seedmod.APP}:pull", None)
    refused = http.get(
        f"{token_lab.url}/v2/{seedmod.APP}/tags/list",
        headers={"Authorization": f"Bearer {anonymous}"},
    )
    assert refused.status_code == 401


def test_seeding_is_deterministic(lab: Lab, lab_factory: LabFactory, http: httpx.Client) -> None:
    first, second = lab_factory(), lab_factory()
    one, two = all_tag_digests(http, first.url), all_tag_digests(http, second.url)
    assert one == two and len(one) > 20
    shared = f"{seedmod.APP}:1.2.3"
    assert one[shared] == digest_of(http, lab.url, seedmod.APP, "1.2.3")


def test_restart_registry_keeps_storage(lab_factory: LabFactory, http: httpx.Client) -> None:
    small = lab_factory()
    before = digest_of(http, small.url, seedmod.APP, "stable")
    old_pid = small.children["registry"].pid
    small.restart_registry()
    assert small.children["registry"].pid != old_pid
    assert digest_of(http, small.url, seedmod.APP, "stable") == before


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_leaves_no_process_and_no_directory(http: httpx.Client) -> None:
    started = start_lab(auth="token", dataset="minimal", prometheus=True)
    pids = started.pids
    assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)
    assert started.token_url is not None
    started.stop()
    assert not any(pid_alive(pid) for pid in pids)
    assert not started.root.exists()
    with pytest.raises(httpx.ConnectError):
        http.get(started.token_url)


def test_children_die_when_the_python_parent_is_killed(tmp_path: Path) -> None:
    script = (
        "import time, pathlib\n"
        "from regtui.lab import start_lab\n"
        f"root = pathlib.Path({str(tmp_path)!r})\n"
        "lab = start_lab(dataset='minimal', prometheus=False, root=root)\n"
        "print(*lab.pids, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert pids and all(pid_alive(pid) for pid in pids)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(pid_alive(pid) for pid in pids)


def test_main_runs_until_sigterm_then_tears_down(http: httpx.Client) -> None:
    command = [sys.executable, "-m", "regtui.lab", "--dataset", "minimal", "--no-prometheus"]
    main = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert main.stdout is not None
    lines = []
    for line in main.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    url = next(line.split()[1] for line in lines if line.startswith("registry:"))
    assert http.get(url + "/v2/").status_code == 200
    main.send_signal(signal.SIGTERM)
    rest, _ = main.communicate(timeout=20)
    assert main.returncode == 0 and "lab stopped." in rest
    with pytest.raises(httpx.ConnectError):
        http.get(url + "/v2/")


def test_missing_binary_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError) as caught:
        start_lab(dataset="minimal", root=tmp_path / "lab")
    assert str(caught.value) == (
        "docker-registry not found: run `make test` (it installs it) or "
        "`apt-get install -y docker-registry`"
    )


def test_registry_that_fails_to_start_reports_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "docker-registry"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'configuration error: boom' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    with pytest.raises(
        LabError, match=r"docker-registry exited with 3 .*configuration error: boom"
    ):
        start_lab(dataset="minimal", prometheus=False, root=tmp_path / "lab")


# --- regtui.registry.push against the real registry ------------------------------------


async def test_push_blob_uploads_then_skips_then_mounts(lab_factory: LabFactory) -> None:
    target = lab_factory()
    data = seedmod.blob_bytes("push-test", 3000)
    async with httpx.AsyncClient() as client:
        digest = await push_blob(client, target.url, "push/one", data)
        assert digest == sha256_digest(data)
        assert await push_blob(client, target.url, "push/one", data) == digest
        await push_blob(client, target.url, "push/two", data, mount_from="push/one")
        stored = await client.get(f"{target.url}/v2/push/two/blobs/{digest}")
    assert stored.status_code == 200 and stored.content == data
    log = target.log_file.read_text()
    assert log.count(f"mount={digest.replace(':', '%3A')}&from=push%2Fone") == 1
    assert log.count("PUT /v2/push/one/blobs/uploads/") == 1
    assert "PUT /v2/push/two/blobs/uploads/" not in log


async def test_push_and_delete_manifest(lab_factory: LabFactory) -> None:
    target = lab_factory()
    config = b"{}"
    body = seedmod.canonical(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": seedmod.descriptor(mt.OCI_EMPTY, config),
            "layers": [],
        }
    )
    async with httpx.AsyncClient() as client:
        await push_blob(client, target.url, "push/m", config)
        digest = await push_manifest(client, target.url, "push/m", "t1", body, mt.OCI_MANIFEST)
        got = await client.get(f"{target.url}/v2/push/m/manifests/t1", headers=ACCEPT)
        assert got.headers["Docker-Content-Digest"] == digest and got.content == body
        await delete_manifest(client, target.url, "push/m", digest)
        gone = await client.get(f"{target.url}/v2/push/m/manifests/{digest}", headers=ACCEPT)
    assert gone.status_code == 404


async def test_push_without_credentials_is_an_auth_error(htpasswd_lab: Lab) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(AuthError, match=r"401 from http://127\.0\.0\.1:\d+/v2/x/blobs/"):
            await push_blob(client, htpasswd_lab.url, "x", b"data")


def test_upload_url_keeps_query_and_resolves_relative_locations() -> None:
    base = "http://127.0.0.1:5000"
    relative = upload_url(base, "/v2/r/blobs/uploads/u1?_state=abc", "sha256:00")
    assert relative == "http://127.0.0.1:5000/v2/r/blobs/uploads/u1?_state=abc&digest=sha256%3A00"
    absolute = upload_url(base, "http://other:9/up/u2", "sha256:00")
    assert absolute == "http://other:9/up/u2?digest=sha256%3A00"


async def test_push_manifest_refuses_a_wrong_digest_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, headers={"Docker-Content-Digest": "sha256:" + "0" * 64})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProtocolError, match=r"answered digest sha256:0+, expected sha256:"):
            await push_manifest(client, "http://reg", "r", "t", b"{}", mt.OCI_MANIFEST)


def test_restart_from_a_short_lived_thread_survives_the_thread(
    lab_factory: LabFactory, http: httpx.Client
) -> None:
    """PDEATHSIG follows the forking thread, so restarts must not fork from the caller's."""
    small = lab_factory()
    worker = threading.Thread(target=small.restart_registry)
    worker.start()
    worker.join()
    time.sleep(0.5)
    assert small.children["registry"].alive()
    assert http.get(small.url + "/v2/").status_code == 200


def test_a_port_taken_before_the_registry_binds_is_retried(
    monkeypatch: pytest.MonkeyPatch, http: httpx.Client
) -> None:
    from regtui.lab.process import free_port as real

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    ports = iter([taken])
    monkeypatch.setattr("regtui.lab.free_port", lambda: next(ports, None) or real())
    try:
        with start_lab(dataset="minimal", prometheus=False) as retried:
            assert retried.url != f"http://127.0.0.1:{taken}"
            assert http.get(retried.url + "/v2/").status_code == 200
            assert "address already in use" in retried.log_file.read_text()
    finally:
        squatter.close()
