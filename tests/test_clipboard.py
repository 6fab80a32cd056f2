"""Only text that matches its claimed grammar in full reaches the clipboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from regtui.render.clipboard import MAX_COPY, CopyRefused, Grammar, checked_copy
from regtui.render.detail import pull_references
from regtui.text import Untrusted as U

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "grammar"), [
    ("docker pull 127.0.0.1:5000/library/alpine:3.20", Grammar.PULL_COMMAND),
    (f"docker pull registry.example.com/a.b/c-d/e_f/g@{DIGEST}", Grammar.PULL_COMMAND),
    ("docker pull [::1]:5000/app:v1.2_rc-3", Grammar.PULL_COMMAND),
    ("localhost:5000/app:latest", Grammar.REFERENCE),
    (DIGEST, Grammar.DIGEST),
    ("sha512:" + "0f" * 64, Grammar.DIGEST),
    ("CVE-2024-3094", Grammar.VULNERABILITY_ID),
    ("GHSA-jfh8-c2jp-5v3q", Grammar.VULNERABILITY_ID),
])
def test_valid_text_is_copied_unchanged(text: str, grammar: Grammar) -> None:
    assert checked_copy(text, grammar) == text


@pytest.mark.parametrize(("text", "grammar"), [
    ("docker pull host/app:line\nbreak; touch /tmp/pwned", Grammar.PULL_COMMAND),
    ("docker pull host/app:v1\n", Grammar.PULL_COMMAND),
    ("docker pull host/app:\x1b]52;c;cHduZWQ=\x07", Grammar.PULL_COMMAND),
    ("docker pull host/App:v1", Grammar.PULL_COMMAND),  # upper case is not a repository name
    ("docker pull host/app:v1; rm -rf ~", Grammar.PULL_COMMAND),
    ("docker pull host/app:v\u202e1", Grammar.PULL_COMMAND),
    ("docker pull host/app:" + "t" * 129, Grammar.PULL_COMMAND),
    ("docker pull host/app@sha256:abc", Grammar.PULL_COMMAND),
    ("host/app:v1 && curl evil", Grammar.REFERENCE),
    ("sha256:" + "AB" * 32, Grammar.DIGEST),
    (DIGEST + "\n", Grammar.DIGEST),
    ("CVE-2024-3094\nrm -rf /", Grammar.VULNERABILITY_ID),
    ("CVE-２０２４-3094", Grammar.VULNERABILITY_ID),  # non-ASCII digits
    ("x" * (MAX_COPY + 1), Grammar.PULL_COMMAND),
])
def test_anything_else_is_refused_with_its_grammar_named(text: str, grammar: Grammar) -> None:
    with pytest.raises(CopyRefused) as refused:
        checked_copy(text, grammar)
    message = str(refused.value)
    assert f"is not a valid {grammar.label}" in message
    assert "\n" not in message and "\x1b" not in message


def test_pull_references_of_a_valid_tag_pass_their_grammar() -> None:
    by_tag, by_digest = pull_references("127.0.0.1:5000", U("team/app"), U("1.0"), DIGEST)
    assert checked_copy(by_tag, Grammar.PULL_COMMAND) == by_tag
    assert checked_copy(by_digest, Grammar.PULL_COMMAND) == by_digest


def test_every_copy_in_the_ui_goes_through_the_checked_copy() -> None:
    """`RegtuiApp.copy_checked` is the only caller of Textual's `copy_to_clipboard`."""
    src = Path(__file__).resolve().parents[1] / "src" / "regtui"
    calls = [f"{path.relative_to(src)}:{number}"
             for path in sorted(src.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if "copy_to_clipboard(" in line]
    assert calls == [f"ui/app.py:{_line_of_checked_copy(src / 'ui' / 'app.py')}"]


def _line_of_checked_copy(app: Path) -> int:
    lines = app.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if "def copy_checked(" in line)
    return next(i for i in range(start, len(lines)) if "copy_to_clipboard(" in lines[i]) + 1
