"""The project's own subsets of vendor API specs (tests/doubles/specs/*.yaml), for the doubles.

A double validates every request it receives (operation, query parameters, JSON body) and
every answer it is about to send against the subset, so it cannot drift from what regtui
was written against. The subsets are data committed with the project, so the doubles work
on any machine; `vendor_drift` compares a subset with the vendor's full file (found next to
the repository as `../shared/specs`), so a subset that no longer matches the vendor fails.

The vendor file may be OpenAPI 3 (Docker Hub, Nexus) or Swagger 2.0 (Harbor).
Subset format (a small OpenAPI 3 dialect): `operations` (method, path template, `query`
name -> schema, `body`, `responses` status -> schema or null, `outside_spec` reason) and
`schemas` (`$ref: "#/schemas/<name>"`). `x-deviation` marks a node where live answers differ
from the vendor file; `vendor_lacks` a response the vendor file leaves undeclared.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml

HERE: Final = Path(__file__).resolve().parent / "specs"
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
SCALAR_KEYS: Final = ("type", "format", "enum")
INT_RANGES: Final = {"int32": 2**31, "int64": 2**63}
Json = Any


class SpecViolation(AssertionError):
    """A request or answer that the subset does not allow."""


def vendor_specs_dir(root: Path = REPO_ROOT) -> Path:
    """`../shared/specs` beside the repository; for a git worktree, beside its main checkout."""
    candidates = [root.parent / "shared" / "specs"]
    dot_git = root / ".git"
    if dot_git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        text = dot_git.read_text(encoding="utf-8").strip()
        gitdir = Path(text.removeprefix("gitdir:").strip())
        if gitdir.parent.name == "worktrees":
            candidates.append(gitdir.parent.parent.parent.parent / "shared" / "specs")
    override = os.environ.get("REGTUI_SPECS_DIR")
    if override:
        candidates.insert(0, Path(override))
    return next((c for c in candidates if c.is_dir()), candidates[0])


@cache
def _yaml(path: Path) -> Json:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the Nexus file is 750 kB
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)


def _format_checker() -> jsonschema.FormatChecker:
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


def _to_json_schema(node: Json) -> Json:
    """Subset schema -> JSON Schema draft 4: refs to definitions, nullable, strict objects."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items()
           if not key.startswith("x-")}
    if "$ref" in out:
        return {"$ref": out["$ref"].replace("#/schemas/", "#/definitions/")}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False  # the double is ours: no field the spec lacks
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


class SubsetSpec:
    """One subset file: checks requests a double receives and answers it sends."""

    def __init__(self, name: str) -> None:
        self.path = HERE / name
        self.doc: Json = _yaml(self.path)
        common: Json = self.doc.get("common_responses") or {}
        self.operations: dict[tuple[str, str], Json] = {
            (op["method"], op["path"]): {**op, "responses": {**common, **op["responses"]}}
            for op in self.doc["operations"]}
        self.definitions = _to_json_schema(self.doc["schemas"])
        self._checker = _format_checker()

    def operation(self, method: str, template: str) -> Json:
        try:
            return self.operations[(method, template)]
        except KeyError:
            raise SpecViolation(f"{method} {template} is not an operation of "
                                f"{self.path.name}") from None

    def _validate(self, schema: Json, value: Json, where: str) -> None:
        validator = jsonschema.Draft4Validator(
            {**_to_json_schema(schema), "definitions": self.definitions},
            format_checker=self._checker)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            at = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise SpecViolation(f"{where}: at {at}: {error.message}")

    def check_request(self, method: str, template: str, query: Mapping[str, list[str]],
                      body: Json = None) -> None:
        """Every query parameter declared and well typed, required ones present, body valid."""
        op = self.operation(method, template)
        declared: Mapping[str, Json] = op.get("query") or {}
        where = f"request {method} {template}"
        for name, values in query.items():
            if name not in declared:
                raise SpecViolation(f"{where}: undeclared query parameter {name!r}")
            schema = {k: v for k, v in declared[name].items() if k != "required"}
            for value in values:
                typed: Json = value
                if schema.get("type") == "integer":
                    try:
                        typed = int(value)
                    except ValueError:
                        raise SpecViolation(f"{where}: {name}={value!r} is not an integer"
                                            ) from None
                elif schema.get("type") == "boolean":
                    if value not in ("true", "false"):
                        raise SpecViolation(f"{where}: {name}={value!r} is not true or false")
                    typed = value == "true"
                self._validate(schema, typed, f"{where}: parameter {name}")
        for name, schema in declared.items():
            if schema.get("required") and name not in query:
                raise SpecViolation(f"{where}: required query parameter {name!r} missing")
        if "body" in op:
            self._validate(op["body"], body, f"{where}: body")
        elif body is not None:
            raise SpecViolation(f"{where}: the operation takes no body")

    def response_schema(self, method: str, template: str, status: int) -> Json:
        responses: Mapping[str, Json] = self.operation(method, template)["responses"]
        key = str(status) if str(status) in responses else "default"
        if key not in responses:
            raise SpecViolation(f"{method} {template}: status {status} is not declared")
        schema = responses[key]
        if isinstance(schema, dict) and "vendor_lacks" in schema:
            return schema["schema"]
        return schema

    def validate(self, method: str, template: str, status: int, body: Json) -> None:
        """An answer the double is about to send; `None` body for bodiless answers."""
        schema = self.response_schema(method, template, status)
        where = f"{method} {template} {status}"
        if schema is None:
            if body is not None:
                raise SpecViolation(f"{where}: the subset declares no body")
            return
        self._validate(schema, body, where)


@cache
def hub_spec() -> SubsetSpec:
    return SubsetSpec("dockerhub-subset.yaml")


@cache
def nexus_spec() -> SubsetSpec:
    return SubsetSpec("nexus3-subset.yaml")


@cache
def harbor_spec() -> SubsetSpec:
    return SubsetSpec("harbor-subset.yaml")


# -- the subset against the vendor's full file ---------------------------------------------------


class _Vendor:
    """An OpenAPI 3 or Swagger 2.0 document with its `$ref`s resolved on demand."""

    def __init__(self, doc: Json) -> None:
        self.doc = doc
        self.swagger = "swagger" in doc
        self.prefix = (doc.get("basePath", "") if self.swagger else
                       doc.get("servers", [{}])[0].get("url", "") if "openapi" in doc else "")

    def parameter_schema(self, parameter: Json) -> Json:
        """OpenAPI 3 keeps a parameter's type under `schema`; Swagger 2 on the parameter."""
        parameter = self.resolve(parameter)
        return parameter.get("schema") or {k: v for k, v in parameter.items()
                                           if k not in ("name", "in", "required")}

    def request_schema(self, operation: Json) -> Json:
        """A request body's schema: `requestBody` (OpenAPI 3) or the `in: body` parameter."""
        if not self.swagger:
            return self.json_schema(operation.get("requestBody") or {})
        body = [p for p in map(self.resolve, operation.get("parameters", []))
                if p.get("in") == "body"]
        return body[0].get("schema") if body else None

    def resolve(self, node: Json) -> Json:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            target: Json = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node, seen = target, seen + 1
        return node

    def properties(self, node: Json) -> dict[str, Json]:
        node = self.resolve(node)
        found: dict[str, Json] = dict(node.get("properties") or {})
        for part in node.get("allOf") or []:
            found.update(self.properties(part))
        return found

    def scalar(self, node: Json, key: str) -> Json:
        """`type`, `format` or `enum` of a schema, looking into `allOf` parts."""
        node = self.resolve(node)
        if key in node:
            return node[key]
        return next((found for part in node.get("allOf") or []
                     if (found := self.scalar(part, key)) is not None), None)

    def json_schema(self, holder: Json) -> Json:
        """The JSON schema of a response or request body, or None when it declares none."""
        holder = self.resolve(holder)
        if self.swagger:
            return (holder or {}).get("schema")
        content = (holder or {}).get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        return None if media is None else media.get("schema")


def vendor_drift(subset_name: str, vendor_dir: Path, subset_dir: Path = HERE) -> list[str]:
    """Every way the subset departs from the vendor file: one line each, empty when none."""
    subset = _yaml(subset_dir / subset_name)
    vendor = _Vendor(_yaml(vendor_dir / subset["vendor"]))
    problems: list[str] = []
    common: Json = subset.get("common_responses") or {}
    for op in subset["operations"]:
        merged = {**op, "responses": {**common, **op["responses"]}}
        problems.extend(_operation_drift(merged, subset, vendor))
    return problems


def _operation_drift(op: Json, subset: Json, vendor: _Vendor) -> list[str]:
    method, path = op["method"].lower(), op["path"]
    name = f"{op['method']} {path}"
    item = vendor.doc["paths"].get(path) or {}
    if op.get("outside_spec"):
        return [f"{name} is now in the vendor file: validate it as the vendor defines it"] \
            if method in item else []
    if method not in item:
        return [f"{name}: not an operation in the vendor file"]
    found = item[method]
    problems: list[str] = []
    params = {p["name"]: p for p in map(vendor.resolve,
                                         [*item.get("parameters", []),
                                          *found.get("parameters", [])])}
    for param, schema in (op.get("query") or {}).items():
        declared = params.get(param)
        if declared is None or declared.get("in") != "query":
            problems.append(f"{name}: query parameter {param!r} not in the vendor file")
            continue
        if bool(schema.get("required")) != bool(declared.get("required")):
            problems.append(f"{name}: parameter {param!r} required differs from the vendor")
        mine = {k: v for k, v in schema.items() if k != "required"}
        problems.extend(_schema_drift(mine, vendor.parameter_schema(declared), subset, vendor,
                                      f"{name} parameter {param}"))
    if "body" in op:
        theirs = vendor.request_schema(found)
        if theirs is None:
            problems.append(f"{name}: the vendor file declares no request body")
        else:
            problems.extend(_schema_drift(op["body"], theirs, subset, vendor, f"{name} body"))
    responses = found.get("responses") or {}
    for status, schema in op["responses"].items():
        problems.extend(_response_drift(name, str(status), schema, responses, subset, vendor))
    return problems


def _response_drift(name: str, status: str, schema: Json, responses: Json, subset: Json,
                    vendor: _Vendor) -> list[str]:
    where = f"{name} {status}"
    declared = responses.get(status) or responses.get("default")
    if isinstance(schema, dict) and "vendor_lacks" in schema:
        exact = responses.get(status)
        if exact is not None and (schema["schema"] is None
                                  or vendor.json_schema(exact) is not None):
            return [f"{where}: the vendor file now declares this answer: use its schema"]
        return []
    if declared is None:
        return [f"{where}: status not declared in the vendor file"]
    theirs = vendor.json_schema(declared)
    if schema is None:
        return []
    if theirs is None:
        return [f"{where}: the vendor file declares no body"]
    return _schema_drift(schema, theirs, subset, vendor, where)


def _schema_drift(mine: Json, theirs: Json, subset: Json, vendor: _Vendor,
                  where: str) -> list[str]:
    """`mine` must say nothing the vendor's schema does not: same types, known fields."""
    while isinstance(mine, dict) and "$ref" in mine:
        mine = subset["schemas"][mine["$ref"].removeprefix("#/schemas/")]
    theirs = vendor.resolve(theirs)
    if not isinstance(mine, dict) or not isinstance(theirs, dict):
        return []
    if "x-deviation" in mine or "x-outside-spec" in mine:
        return []
    problems: list[str] = []
    for key in SCALAR_KEYS:
        if key in mine and mine[key] != vendor.scalar(theirs, key):
            problems.append(f"{where}: {key} is {mine[key]!r} here, "
                            f"{vendor.scalar(theirs, key)!r} in the vendor file")
    if mine.get("nullable") is True and True not in (theirs.get("nullable"),
                                                     theirs.get("x-nullable")):
        problems.append(f"{where}: nullable here, not in the vendor file")
    missing = set(mine.get("required") or []) - set(theirs.get("required") or [])
    if missing:
        problems.append(f"{where}: {sorted(missing)} required here, not in the vendor file")
    if "properties" in mine:
        known = vendor.properties(theirs)
        for field, sub in mine["properties"].items():
            if field not in known:
                problems.append(f"{where}: field {field!r} is not in the vendor file")
                continue
            problems.extend(_schema_drift(sub, known[field], subset, vendor,
                                          f"{where}.{field}"))
    for key in ("items", "additionalProperties"):
        if isinstance(mine.get(key), dict):
            problems.extend(_schema_drift(mine[key], theirs.get(key) or {}, subset, vendor,
                                          f"{where}[{key}]"))
    return problems


def deep_copy(value: Json) -> Json:
    """Answers are built from shared model data: validate and send a copy."""
    return copy.deepcopy(value)
