"""What a login is: a user and a secret, kept out of reprs and remembered for redaction."""

from __future__ import annotations

from dataclasses import dataclass, field

from regtui.redact import remember_login

IDENTITY_TOKEN_USER = "<token>"
HELPER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    """A user and a secret; with `identity_token` the secret is an OAuth2 refresh token."""

    username: str
    """The login name; `<token>` for an identity token from docker's config or a helper."""
    password: str = field(repr=False)
    """The secret; kept out of `repr` so it cannot end up in a log or a traceback."""
    identity_token: bool = False
    """True when `password` is an OAuth2 refresh token for the token endpoint."""

    def __post_init__(self) -> None:
        # Whatever may be sent is what an echo in an error body would show: cut it there.
        remember_login(self.username, self.password)


def first_line(text: str) -> str:
    """The first non-blank line, cut to 200 characters: what a failing tool said."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else ""
