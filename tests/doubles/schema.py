"""Response schemas from a Swagger 2.0 file, so a test double cannot drift from the real API.

Swagger 2.0 is close to JSON Schema draft 4 but not equal: `x-nullable` allows null, and
objects allow any extra property. The double is ours, so it is held to a stricter standard
than a real server: an object may carry only the properties the spec names (a misspelt field
in the double fails instead of silently never being read).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml

SPECS: Final = Path("/work/shared/specs")
HARBOR_SWAGGER: Final = SPECS / "harbor-v2.0-swagger.yaml"
INT_RANGES: Final = {"int32": 2**31, "int64": 2**63}


class SchemaViolation(AssertionError):
    """A response the double was about to send does not match the spec."""


def _format_checker() -> jsonschema.FormatChecker:
    """Formats Swagger uses, checked without optional jsonschema extras."""
    checker = jsonschema.FormatChecker(formats=())

    def date_time(value: object) -> bool:
        if isinstance(value, str):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    checker.checks("date-time", raises=ValueError)(date_time)

    for name, bound in INT_RANGES.items():
        def in_range(value: object, bound: int = bound) -> bool:
            return not isinstance(value, int) or -bound <= value < bound
        checker.checks(name)(in_range)
    return checker


def _tighten(node: Any, *, strict: bool) -> Any:
    """Rewrite Swagger-isms into plain draft 4, recursively."""
    if isinstance(node, list):
        return [_tighten(item, strict=strict) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _tighten(value, strict=strict) for key, value in node.items()}
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if out.get("x-nullable") is True:
        if "$ref" in out:
            return {"anyOf": [{"type": "null"}, {"$ref": out["$ref"]}]}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
    return out


class SwaggerResponses:
    """The response schema of every operation in one Swagger 2.0 document."""

    def __init__(self, path: Path = HARBOR_SWAGGER, *, strict: bool = True) -> None:
        self.doc: dict[str, Any] = _load(path)
        self.definitions = _tighten(self.doc["definitions"], strict=strict)
        self.strict = strict
        self._checker = _format_checker()

    def response_schema(self, method: str, template: str, status: int) -> dict[str, Any] | None:
        """The schema for one answer; None when the spec declares no body for it."""
        try:
            operation = self.doc["paths"][template][method.lower()]
        except KeyError:
            raise SchemaViolation(f"{method} {template} is not an operation in the spec") from None
        responses: Mapping[str, Any] = operation["responses"]
        response = responses.get(str(status)) or responses.get("default")
        if response is None:
            raise SchemaViolation(f"{method} {template}: status {status} is not declared")
        if "$ref" in response:
            response = self.doc["responses"][response["$ref"].rsplit("/", 1)[1]]
        schema = response.get("schema")
        return None if schema is None else _tighten(copy.deepcopy(schema), strict=self.strict)

    def validate(self, method: str, template: str, status: int, body: object) -> None:
        """Raise `SchemaViolation` naming the operation and the first bad field."""
        schema = self.response_schema(method, template, status)
        if schema is None:
            if body is not None:
                raise SchemaViolation(f"{method} {template} {status}: the spec declares no body")
            return
        validator = jsonschema.Draft4Validator(
            {**schema, "definitions": self.definitions}, format_checker=self._checker)
        error = jsonschema.exceptions.best_match(validator.iter_errors(body))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise SchemaViolation(f"{method} {template} {status}: at {where}: {error.message}")


@cache
def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


@cache
def harbor_responses() -> SwaggerResponses:
    """The Harbor spec, parsed once per test session."""
    return SwaggerResponses(HARBOR_SWAGGER)
