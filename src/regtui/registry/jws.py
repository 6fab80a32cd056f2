"""The bytes a signed schema1 manifest's digest covers: its JWS payload, not the body.

Below the cache and the parser both: the cache checks what it keeps against the digest the
same way a fetched manifest is checked, so a signed schema1 is cached like any manifest.
"""

from __future__ import annotations

import base64
import binascii
import json


def manifest_digest_content(data: bytes) -> bytes:
    """The bytes a manifest's digest is computed over: the body itself, except for a signed
    schema1 manifest, whose digest covers the JWS payload (libtrust's `Payload()`: the body up
    to the first signature's `formatLength`, then its decoded `formatTail`)."""
    if b'"signatures"' not in data:
        return data
    payload = _jws_payload(data)
    return data if payload is None else payload


def _jws_payload(data: bytes) -> bytes | None:
    try:
        body = json.loads(data)
        protected = body["signatures"][0]["protected"]
        header = json.loads(_b64url(protected))
        length, tail = header["formatLength"], _b64url(header["formatTail"])
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error):
        return None
    if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= len(data):
        return None
    return data[:length] + tail


def _b64url(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not a string")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
