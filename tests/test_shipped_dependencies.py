"""What `pip install regtui` installs is enough for every command it ships.

Every module under src/regtui (lazy imports inside functions included: `regtui demo --auth
token` imports the lab's token server only when asked) may import only the standard
library, regtui itself, and distributions a plain install of `[project.dependencies]`
brings; the test extra (pytest, jsonschema...) is not there for an operator.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "regtui"


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"]}


def installed_with(names: set[str]) -> set[str]:
    """`names` and everything a plain install of them brings (extras left out)."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = requires(name) or []
        except PackageNotFoundError:
            continue
        pending += [_name(r) for r in requirements if "extra ==" not in r]
    return seen


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, wherever it sits."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@cache
def owners() -> Mapping[str, list[str]]:
    return packages_distributions()


def undeclared(modules: set[str], allowed: set[str]) -> dict[str, str]:
    """Third-party modules whose distribution is not among `allowed`."""
    missing: dict[str, str] = {}
    for module in sorted(modules - set(sys.stdlib_module_names) - {"regtui", "__future__"}):
        dists = {_name(d) for d in owners().get(module, [module])}
        if not dists & allowed:
            missing[module] = ", ".join(sorted(dists))
    return missing


def test_every_import_of_the_package_is_a_declared_dependency() -> None:
    allowed = installed_with(declared())
    missing = {
        f"{path.relative_to(ROOT)}: {module}": dist
        for path in sorted(SOURCE.rglob("*.py"))
        for module, dist in undeclared(imported_modules(path), allowed).items()
    }
    assert missing == {}, "imported by the package but only in an extra (or nowhere)"


def test_the_check_knows_the_lab_needs_cryptography() -> None:
    """The check can fail: without cryptography declared, the token server is caught."""
    token_server = SOURCE / "lab" / "token_server.py"
    without = installed_with(declared() - {"cryptography"})
    assert undeclared(imported_modules(token_server), without) == {
        "cryptography": "cryptography"}
    assert undeclared({"jsonschema", "pytest"}, installed_with(declared())) == {
        "jsonschema": "jsonschema", "pytest": "pytest"}
