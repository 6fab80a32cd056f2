"""One-line errors: every failure an operator can cause or meet ends up as one of these.

The CLI prints `str(error)` on one line and exits with `exit_code`; the TUI shows it in the
error line. No traceback ever reaches the operator for these.
"""

from __future__ import annotations

from regtui.redact import redact
from regtui.text import safe_text


class RegtuiError(Exception):
    """Base class: the message is complete, single-line and names what was wrong and where."""

    exit_code = 1

    def __str__(self) -> str:
        # Messages quote what registries answer: one line, control characters made visible,
        # and any credential a registry echoed back cut out (stderr, error line, audit log).
        return safe_text(redact(" ".join(super().__str__().split())), 1000)


class UsageError(RegtuiError):
    """The command line was wrong."""

    exit_code = 2


class ConfigError(RegtuiError):
    """The configuration file or an environment override was wrong."""

    exit_code = 2


class ReadOnlyError(RegtuiError):
    """A change was attempted in read-only mode; refused before anything left the process."""

    exit_code = 3


class RegistryError(RegtuiError):
    """A registry could not be read: unreachable, refused, or answered something unusable."""

    exit_code = 1


class AuthError(RegistryError):
    """Credentials were missing, wrong, or a credential helper failed."""


class NotFoundError(RegistryError):
    """The registry answered 404 for a repository, tag or digest."""


class ProtocolError(RegistryError):
    """The registry answered something that is not valid for the API (bad JSON, bad digest...)."""


class UnknownRepositoryError(NotFoundError):
    """404 NAME_UNKNOWN: the registry has no tags for this name (it may still list it)."""
