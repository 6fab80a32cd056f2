"""Secrets out of error text: the one function every error message passes through.

A registry, a token server or a proxy in front of them may echo what it was sent, an
`Authorization: Basic ...` header or a token, inside an error body that regtui quotes. Two
nets catch that: patterns for what credentials look like on the wire (auth schemes, JWTs,
`"token": ...` fields), and the exact secrets this process has sent, remembered as they are
sent, so even an echo in an unknown shape is cut. This module imports nothing of regtui's,
so any layer may use it.
"""

from __future__ import annotations

import base64
import re
from collections import OrderedDict
from typing import Final

REDACTED: Final = "[redacted]"
MAX_REMEMBERED: Final = 512
MIN_SECRET_LENGTH: Final = 8
"""Shorter strings are too often plain words ("wrong", "admin") to cut wherever they appear;
the patterns still catch them in the shapes credentials are echoed in."""

_CREDENTIAL = r"(?=[A-Za-z0-9._~+/=-]*[A-Z0-9+/=])[A-Za-z0-9._~+/=-]{8,}"
"""A token68 value; it must hold a capital, digit or `+/=`, so `Bearer challenge` stays."""
_SCHEME_CREDENTIALS = re.compile(rf"(?i:\b(basic|bearer|digest|negotiate))(\s+){_CREDENTIAL}")
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-registry-auth|x-auth-token)"
    r"(\"?\s*[:=]\s*\"?)((?:[A-Za-z]+\s+)?[^\s\",;}]+)"
)
_SECRET_KEYS = (
    r"(?:access_token|refresh_token|id_token|identitytoken|token|password|passwd|secret|"
    r"client_secret|auth)"
)
_JSON_FIELD = re.compile(rf'(?i)("{_SECRET_KEYS}"\s*:\s*")([^"]*)(")')
_FORM_FIELD = re.compile(rf"(?i)(\b{_SECRET_KEYS}=)([^&\s\"]+)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")

_remembered: OrderedDict[str, None] = OrderedDict()


def remember_secret(secret: str) -> None:
    """Note a secret this process sends (a password, a token), so its echo is cut.

    Bounded: the oldest are forgotten first; tokens are short-lived anyway.
    """
    if len(secret) < MIN_SECRET_LENGTH:
        return
    _remembered[secret] = None
    _remembered.move_to_end(secret)
    while len(_remembered) > MAX_REMEMBERED:
        _remembered.popitem(last=False)


def remember_login(username: str, password: str) -> None:
    """A user's password and the Basic value built from it (what an echo would show)."""
    remember_secret(password)
    remember_secret(base64.b64encode(f"{username}:{password}".encode()).decode("ascii"))


def redact(text: str) -> str:
    """`text` with every credential-looking value and every remembered secret cut."""
    for secret in sorted(_remembered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _HEADER.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    text = _SCHEME_CREDENTIALS.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _JSON_FIELD.sub(lambda m: f"{m[1]}{REDACTED}{m[3]}", text)
    return _FORM_FIELD.sub(lambda m: f"{m[1]}{REDACTED}", text)
