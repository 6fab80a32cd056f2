"""regtui's own OCI push code: blobs and manifests, written the way the distribution spec says.

The lab seeds registries with it and the operations service uses it to write placeholder
manifests for safe tag deletion, so it must work against the real registry, not a mock.
Every function takes a client that already carries any auth, and the registry base URL.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

import httpx

from regtui.errors import AuthError, NotFoundError, ProtocolError, RegistryError

OCTET_STREAM = "application/octet-stream"


def sha256_digest(data: bytes) -> str:
    """The digest a registry computes for these bytes; compared with what it answers."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


NAME_RE: Final = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
"""The distribution spec's repository name grammar."""
REFERENCE_RE: Final = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|[a-z0-9]+:[a-f0-9]{32,})$")
"""A tag, or a digest."""


def check_name(repo: str) -> str:
    """Refuse what is not a repository name: `a/../b` would be normalised to another path."""
    if not NAME_RE.match(repo) or len(repo) > 255:
        raise ProtocolError(f"refusing to write to {repo[:100]!r}: not a valid repository name")
    return repo


def _name(repo: str) -> str:
    return check_name(repo)


def _ref(reference: str) -> str:
    if not REFERENCE_RE.match(reference):
        raise ProtocolError(f"refusing to use {reference[:100]!r}: not a valid tag or digest")
    return reference


def _url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def _fail(response: httpx.Response, what: str) -> RegistryError:
    """Turn an unexpected answer into the one-line error class an operator can act on."""
    url = str(response.request.url)
    detail = " ".join(response.text.split())[:200]
    message = f"{what} failed: {response.status_code} from {url}: {detail}"
    if response.status_code in (401, 403):
        return AuthError(message)
    if response.status_code == 404:
        return NotFoundError(message)
    return RegistryError(message)


async def _send(client: httpx.AsyncClient, request: httpx.Request, what: str) -> httpx.Response:
    """Send, turning transport failures into a `RegistryError` that names the URL."""
    try:
        return await client.send(request)
    except httpx.HTTPError as error:
        raise RegistryError(f"{what} failed: cannot reach {request.url}: {error}") from error


async def blob_exists(client: httpx.AsyncClient, base: str, repo: str, digest: str) -> bool:
    """HEAD the blob, so pushing the same layer twice costs one small request."""
    request = client.build_request("HEAD", _url(base, f"/v2/{_name(repo)}/blobs/{_ref(digest)}"))
    response = await _send(client, request, f"checking blob {repo}@{digest}")
    if response.status_code == 200:
        return True
    if response.status_code == 404:
        return False
    raise _fail(response, f"checking blob {repo}@{digest}")


def upload_url(base: str, location: str, digest: str) -> str:
    """Resolve a `Location` (relative or absolute, maybe with a query) and add the digest."""
    if not location:
        raise ProtocolError(f"registry {base} started an upload without a Location header")
    url = httpx.URL(base.rstrip("/") + "/").join(location)
    return str(url.copy_add_param("digest", digest))


async def _start_upload(
    client: httpx.AsyncClient, base: str, repo: str, digest: str, mount_from: str | None
) -> str | None:
    """POST an upload (or a mount); None means the mount made the blob exist already."""
    params = {"mount": digest, "from": mount_from} if mount_from else {}
    url = _url(base, f"/v2/{_name(repo)}/blobs/uploads/")
    request = client.build_request("POST", url, params=params)
    response = await _send(client, request, f"starting upload of {repo}@{digest}")
    if response.status_code == 201 and mount_from:
        return None
    if response.status_code != 202:
        raise _fail(response, f"starting upload of {repo}@{digest}")
    return upload_url(base, response.headers.get("Location", ""), digest)


async def _finish_upload(
    client: httpx.AsyncClient, url: str, repo: str, digest: str, data: bytes
) -> None:
    """PUT the whole blob in one request (monolithic upload) and check the digest answered."""
    headers = {"Content-Type": OCTET_STREAM, "Content-Length": str(len(data))}
    request = client.build_request("PUT", url, content=data, headers=headers)
    response = await _send(client, request, f"uploading {repo}@{digest}")
    if response.status_code != 201:
        raise _fail(response, f"uploading {repo}@{digest}")
    answered = response.headers.get("Docker-Content-Digest", digest)
    if answered != digest:
        raise ProtocolError(
            f"registry stored blob {repo}@{digest} as {answered} ({response.request.url})"
        )


async def push_blob(
    client: httpx.AsyncClient,
    base: str,
    repo: str,
    data: bytes,
    *,
    mount_from: str | None = None,
    assume_missing: bool = False,
) -> str:
    """Make `data` a blob of `repo` and return its digest; skips or mounts when it can.

    `assume_missing` skips the HEAD probe for callers that know the repository lacks the
    blob (the lab seeding an empty registry), saving a round trip per blob.
    """
    digest = sha256_digest(data)
    if not assume_missing and await blob_exists(client, base, repo, digest):
        return digest
    url = await _start_upload(client, base, repo, digest, mount_from)
    if url is not None:
        await _finish_upload(client, url, repo, digest, data)
    return digest


async def push_manifest(
    client: httpx.AsyncClient,
    base: str,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str,
) -> str:
    """PUT a manifest under a tag or digest; the registry must agree on the digest."""
    digest = sha256_digest(body)
    request = client.build_request(
        "PUT",
        _url(base, f"/v2/{_name(repo)}/manifests/{_ref(reference)}"),
        content=body,
        headers={"Content-Type": media_type},
    )
    what = f"pushing manifest {repo}:{reference}"
    response = await _send(client, request, what)
    if response.status_code != 201:
        raise _fail(response, what)
    answered = response.headers.get("Docker-Content-Digest", "")
    if answered != digest:
        raise ProtocolError(
            f"{what}: registry answered digest {answered or '(none)'}, expected {digest} "
            f"({response.request.url})"
        )
    return digest


async def delete_manifest(client: httpx.AsyncClient, base: str, repo: str, digest: str) -> None:
    """DELETE a manifest by digest; every tag pointing at it goes with it on distribution."""
    if not digest.startswith("sha256:"):
        raise RegistryError(
            f"refusing to delete {repo}@{digest}: a digest is required, not a tag")
    url = _url(base, f"/v2/{_name(repo)}/manifests/{_ref(digest)}")
    request = client.build_request("DELETE", url)
    what = f"deleting manifest {repo}@{digest}"
    response = await _send(client, request, what)
    if response.status_code == 405:
        raise RegistryError(
            f"{what}: deletion is disabled on {base} (storage.delete.enabled is false)"
        )
    if response.status_code != 202:
        raise _fail(response, what)
