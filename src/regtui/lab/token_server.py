"""A small docker token server: basic credentials in, RS256 JWTs the real registry trusts out.

The registry verifies the JWT's `x5c` leaf certificate against `auth.token.rootcertbundle`
(distribution `registry/auth/token/token.go`, `parseAndVerifyCertChain`), so the token header
carries the self-signed certificate and the registry is given the same certificate as CA.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOKEN_TTL = 300
REPOSITORY_ACTIONS = ("pull", "push", "delete")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    """An RSA key and the self-signed certificate the registry is told to trust."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def generate(cls, common_name: str = "regtui-lab-token") -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def write_cert(self, path: Path) -> None:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWS whose header carries the certificate as `x5c`."""
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


def parse_scope(scope: str) -> dict[str, Any] | None:
    """`type:name:actions`; the name may itself hold colons (a host:port prefix)."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


def grant(scope: dict[str, Any]) -> dict[str, Any]:
    """What an authenticated lab user may do: everything on repositories, the catalog."""
    allowed: tuple[str, ...] = ("*",) if scope["type"] == "registry" else REPOSITORY_ACTIONS
    actions = [a for a in scope["actions"] if a in allowed or "*" in allowed]
    return {"type": scope["type"], "name": scope["name"], "actions": actions}


@dataclass
class TokenIssuer:
    """Checks credentials and builds the claims; kept apart from HTTP so it reads plainly."""

    signing_key: SigningKey
    issuer: str
    users: dict[str, str] = field(default_factory=dict)

    def check(self, authorization: str | None) -> str | None:
        """The user name for good basic credentials, "" for anonymous; None if wrong."""
        if not authorization:
            return ""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.users.get(user)
        if expected is None or not hmac.compare_digest(expected, password):
            return None
        return user

    def token(self, user: str, service: str, scopes: list[str]) -> dict[str, Any]:
        now = int(time.time())
        parsed = [s for s in (parse_scope(x) for x in scopes) if s is not None]
        access = [grant(s) for s in parsed] if user else []
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": service,
            "exp": now + TOKEN_TTL,
            "nbf": now - 1,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = self.signing_key.sign(claims)
        issued = dt.datetime.fromtimestamp(now, dt.UTC).isoformat().replace("+00:00", "Z")
        return {"token": token, "access_token": token, "expires_in": TOKEN_TTL, "issued_at": issued}


def _handler(issuer: TokenIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/token":
                self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return
            user = issuer.check(self.headers.get("Authorization"))
            if user is None:
                body = {"errors": [{"code": "UNAUTHORIZED", "message": "wrong credentials"}]}
                self._reply(401, body)
                return
            query = parse_qs(url.query)
            service = query.get("service", [""])[0]
            self._reply(200, issuer.token(user, service, query.get("scope", [])))

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the lab's output is the registry log, not this."""

    return Handler


class TokenServer:
    """`ThreadingHTTPServer` on a free loopback port, served from a daemon thread."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="regtui-lab-token", daemon=True
        )

    @property
    def url(self) -> str:
        """The realm: `http://127.0.0.1:PORT/token`."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
