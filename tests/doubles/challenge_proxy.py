"""A loopback proxy in front of a real lab registry that turns hostile on request.

Everything is forwarded to the real `docker-registry` (and its answers sent back as they
are) except what a test asks to falsify: the `realm` of a bearer challenge, a token endpoint
that redirects elsewhere, or an error body echoing the request's Authorization header. It
can serve TLS with a self-signed certificate (`self_signed`), so an https registry exists
on loopback without a TLS lab. Every request it receives is recorded.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                        "host", "upgrade", "proxy-connection"})
_REALM = re.compile(r'realm="[^"]*"')


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def self_signed(directory: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A certificate for `host` (an IP SAN) that is its own CA: give it as `ca_file`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "proxy-cert.pem", directory / "proxy-key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


@dataclass
class Seen:
    method: str
    path: str
    headers: httpx.Headers
    """Case-insensitive, as HTTP is: a client may send `authorization` in lower case."""


@dataclass
class ChallengeProxy:
    """`with ChallengeProxy(lab.url, realm=...) as proxy:` then point regtui at `proxy.url`."""

    upstream: str
    realm: str | None = None
    """Replaces the realm of every challenge the registry sends."""
    token_redirect: str | None = None
    """`GET /token` on the proxy answers 302 to this URL."""
    echo_methods: frozenset[str] = frozenset()
    """Requests with these methods that carry an Authorization header answer 500 with the
    header in the body (those without it are forwarded, so the registry still challenges)."""
    tls: TlsFiles | None = None
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.cert, self.tls.key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._client = httpx.Client(base_url=self.upstream, timeout=30)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> ChallengeProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
        self._thread.join(5)

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        """What the proxy sends back for one request."""
        self.seen.append(Seen(method, path, httpx.Headers(headers)))
        if path.startswith("/token") and self.token_redirect:
            return 302, {"Location": self.token_redirect}, b""
        echoed = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if method in self.echo_methods and echoed:
            message = f"request refused; you sent Authorization: {echoed}"
            error = {"errors": [{"code": "UNKNOWN", "message": message, "detail": echoed}]}
            return 500, {"Content-Type": "application/json"}, json.dumps(error).encode()
        forward = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = self._client.request(method, path, headers=forward, content=body)
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
               and k.lower() != "content-encoding"}
        if upstream.status_code == 401 and self.realm is not None:
            challenge = upstream.headers.get("www-authenticate", "")
            out["www-authenticate"] = _REALM.sub(f'realm="{self.realm}"', challenge)
        return upstream.status_code, out, upstream.content


def _handler(proxy: ChallengeProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items()}
            status, out, content = proxy.answer(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `proxy.seen`."""

    return Handler
