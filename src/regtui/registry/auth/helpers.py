"""docker credential helpers (`docker-credential-<name> get`): ECR, ACR, GCR, keychains.

The protocol is docker-credential-helpers': the server on stdin, `{"ServerURL", "Username",
"Secret"}` JSON on stdout, "credentials not found" for a miss. A failing helper's first
line (stderr, else stdout: helpers print their errors there) becomes the message.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from regtui.errors import AuthError
from regtui.registry.auth.credentials import (
    HELPER_TIMEOUT,
    IDENTITY_TOKEN_USER,
    Credentials,
    first_line,
)

_NOT_FOUND = "credentials not found"


def run_credential_helper(
    helper: str, server: str, *, timeout: float = HELPER_TIMEOUT
) -> Credentials | None:
    """`docker-credential-<helper> get` with the server on stdin; None when it has nothing."""
    program = f"docker-credential-{helper}"
    executable = shutil.which(program)
    if executable is None:
        raise AuthError(f"credential helper {program} (for {server}) not found on PATH")
    try:
        done = subprocess.run(
            [executable, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        message = f"credential helper {program} timed out after {timeout:g} s for {server}"
        raise AuthError(message) from None
    except OSError as exc:
        raise AuthError(f"credential helper {program} could not run: {exc.strerror}") from None
    return _helper_answer(program, server, done)


def _helper_answer(
    program: str, server: str, done: subprocess.CompletedProcess[str]
) -> Credentials | None:
    if done.returncode != 0:
        # Helpers print "credentials not found in native keychain" on stdout for a miss.
        if _NOT_FOUND in done.stdout.lower() or _NOT_FOUND in done.stderr.lower():
            return None
        reason = first_line(done.stderr) or first_line(done.stdout) or f"exit {done.returncode}"
        raise AuthError(f"credential helper {program} failed for {server}: {reason}")
    try:
        answer = json.loads(done.stdout)
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("Secret"), str):
        raise AuthError(
            f"credential helper {program} answered something other than "
            f'{{"ServerURL","Username","Secret"}} JSON for {server}'
        )
    username, secret = str(answer.get("Username") or ""), answer["Secret"]
    if not secret:
        return None
    if username == IDENTITY_TOKEN_USER:
        return Credentials(username, secret, identity_token=True)
    return Credentials(username, secret)
