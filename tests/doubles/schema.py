"""Vendor API facts as the project's own data, and the checks that hold a double to them.

A *subset file* (`tests/doubles/specs/<name>_subset.json`) keeps, for the operations regtui
uses, what the vendor's published spec says: method and path template, parameters (name,
where, type, format, enum, required), request body and response schemas per status, and
every definition those reach (field names, types, enums, nullability). Descriptions and
examples are left out. It is extracted from the vendor file (`extract_subset`, Swagger 2.0
or OpenAPI 3), committed, and compared with the vendor file wherever that is present
(`subset_drift`; `tests/test_schema_subsets.py`), so the doubles never read a vendor file.

For a double (Harbor's here; any other vendor's the same way):

    api = load_subset("harbor")                            # or a Path to a subset file
    template = api.validate_request("GET", raw_path, query)  # path, method, query params
    api.validate_response("GET", template, 200, body)         # the answer about to be sent

Both raise `SchemaViolation` (an AssertionError) naming the operation and what is wrong.
Responses are held to a stricter standard than a real server: an object may carry only the
properties the spec names, so a misspelt field in a double fails instead of going unread.
An operation the vendor spec lacks may be written by hand with `"x-regtui-not-in-vendor":
"why"`; the drift check skips it and says so.

`python -m tests.doubles.schema SUBSET.json [--add "GET /path"]` re-extracts a subset from
its vendor file (found as `../shared/specs/<vendor_file>` beside the repository).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

import jsonschema

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
SUBSETS: Final = Path(__file__).resolve().parent / "specs"


def _vendor_specs(root: Path) -> Path:
    """`shared/specs` beside the repository (CI has it); for a git worktree, beside the
    main checkout it belongs to (`.git` is then a file naming `<main>/.git/worktrees/x`)."""
    beside = root.parent / "shared" / "specs"
    dot_git = root / ".git"
    if beside.is_dir() or not dot_git.is_file():
        return beside
    gitdir = Path(dot_git.read_text(encoding="utf-8").partition("gitdir:")[2].strip())
    main_root = (root / gitdir).resolve().parents[2]
    return main_root.parent / "shared" / "specs"


VENDOR_SPECS: Final = _vendor_specs(REPO_ROOT)
"""Where the vendors' full files are; never an absolute path of one machine."""
NOT_IN_VENDOR: Final = "x-regtui-not-in-vendor"
INT_RANGES: Final = {"int32": 2**31, "int64": 2**63}
METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options")
KEPT: Final = frozenset({
    "type", "format", "enum", "items", "properties", "required", "additionalProperties",
    "$ref", "x-nullable", "nullable", "allOf", "anyOf", "oneOf", "minimum", "maximum",
    "pattern", "minItems", "maxItems",
})
"""Schema keywords that are facts about the wire format; the rest is prose."""

Json = Any


class SchemaViolation(AssertionError):
    """A request a double received, or an answer it was about to send, is not in the spec."""


# ---------------------------------------------------------------------------------------------
# Validating against a subset


@dataclass
class ApiSubset:
    """One vendor API, as far as regtui uses it; loaded from a subset file."""

    doc: Mapping[str, Json]
    path: Path | None = None
    strict: bool = True
    _tightened: dict[bool, Json] = field(default_factory=dict, repr=False)

    def definitions(self, *, strict: bool) -> Json:
        """The definitions in draft 4, read strictly (answers) or not (requests); once."""
        if strict not in self._tightened:
            self._tightened[strict] = _tighten(self.doc.get("definitions", {}), strict=strict)
        return self._tightened[strict]

    @property
    def base_path(self) -> str:
        return str(self.doc.get("base_path", ""))

    @property
    def vendor_path(self) -> Path:
        """The vendor's full file this subset was taken from."""
        return VENDOR_SPECS / str(self.doc["vendor_file"])

    def operation(self, method: str, template: str) -> Mapping[str, Json]:
        try:
            found: Mapping[str, Json] = self.doc["operations"][f"{method.upper()} {template}"]
        except KeyError:
            raise SchemaViolation(f"{method} {template} is not an operation in the spec") from None
        return found

    def response_schema(self, method: str, template: str, status: int) -> Json | None:
        """The schema of one answer; None when the spec declares no body for it."""
        responses = self.operation(method, template)["responses"]
        response = responses.get(str(status), responses.get("default"))
        if response is None:
            raise SchemaViolation(f"{method} {template}: status {status} is not declared")
        schema = response.get("schema")
        return None if schema is None else _tighten(copy.deepcopy(schema), strict=self.strict)

    def validate_response(self, method: str, template: str, status: int, body: Json) -> None:
        """Raise `SchemaViolation` naming the operation and the first bad field."""
        schema = self.response_schema(method, template, status)
        if schema is None:
            if body is not None:
                raise SchemaViolation(f"{method} {template} {status}: the spec declares no body")
            return
        self._check(schema, body, f"{method} {template} {status}")

    validate = validate_response  # the name the Harbor double has always used

    def validate_request(self, method: str, path: str, query: Mapping[str, Iterable[str]],
                         body: Json = None) -> str:
        """Check a received request: an operation of the spec, declared path and query
        parameters of the right type, the required ones present. Returns its template."""
        template, path_values = self.match(method, path)
        operation = self.operation(method, template)
        where = f"{method} {template}"
        parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
        for name, value in path_values.items():
            self._parameter(parameters[("path", name)], value, where)
        for name, values in query.items():
            declared = parameters.get(("query", name))
            if declared is None:
                known = sorted(n for (where_in, n) in parameters if where_in == "query")
                raise SchemaViolation(f"{where}: query parameter {name!r} is not in the spec "
                                      f"(declared: {', '.join(known) or 'none'})")
            for value in values:
                self._parameter(declared, value, where)
        for (where_in, name), declared in parameters.items():
            if where_in == "query" and declared.get("required") and name not in query:
                raise SchemaViolation(f"{where}: required query parameter {name!r} is missing")
        if body is not None and "body" in operation:
            self._check(_tighten(copy.deepcopy(operation["body"]), strict=False), body,
                        f"{where} request body", answer=False)
        return template

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        """The operation template a raw (still percent-encoded) path is an instance of."""
        if self.base_path and not path.startswith(self.base_path + "/"):
            raise SchemaViolation(f"{method} {path}: outside the API's base path {self.base_path}")
        segments = path[len(self.base_path):].strip("/").split("/")
        for key in self.doc["operations"]:
            op_method, template = key.split(" ", 1)
            parts = template.strip("/").split("/")
            if op_method != method.upper() or len(parts) != len(segments):
                continue
            values = {p[1:-1]: unquote(s) for p, s in zip(parts, segments, strict=True)
                      if p.startswith("{")}
            if all(p == s or p.startswith("{") for p, s in zip(parts, segments, strict=True)):
                return template, values
        raise SchemaViolation(f"{method} {path} is not an operation in the spec")

    def _parameter(self, declared: Mapping[str, Json], raw: str, where: str) -> None:
        schema = declared.get("schema", {})
        value = _coerce(raw, schema)
        self._check(_tighten(copy.deepcopy(schema), strict=False), value,
                    f"{where}: {declared['in']} parameter {declared['name']}={raw!r}",
                    answer=False)

    def _check(self, schema: Json, value: Json, where: str, *, answer: bool = True) -> None:
        """Answers are held to the strict reading (only named fields); requests are not."""
        definitions = self.definitions(strict=self.strict and answer)
        validator = jsonschema.Draft4Validator({**schema, "definitions": definitions},
                                               format_checker=FORMATS)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            at = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise SchemaViolation(f"{where}: at {at}: {error.message}")


def _coerce(raw: str, schema: Mapping[str, Json]) -> Json:
    """A query or path value as the type the spec declares (so `abc` is not an integer)."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?[0-9]+", raw):
        return int(raw)
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    if kind == "array":
        return raw.split(",")
    return raw


def _format_checker() -> jsonschema.FormatChecker:
    """Formats the specs use, checked without optional jsonschema extras."""
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


FORMATS: Final = _format_checker()


def _tighten(node: Json, *, strict: bool) -> Json:
    """Swagger/OpenAPI-isms into plain draft 4, recursively (`x-nullable`, `nullable`)."""
    if isinstance(node, list):
        return [_tighten(item, strict=strict) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _tighten(value, strict=strict) for key, value in node.items()}
    if not strict and out == {"type": "object"}:
        # go-swagger (Harbor) writes Go's interface{} as a bare object: GC's parameters are
        # `{"dry_run": true}` in Harbor's own UI. Requests get that reading; answers do not.
        return {}
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if out.get("x-nullable") is True or out.get("nullable") is True:
        if "$ref" in out:
            return {"anyOf": [{"type": "null"}, {"$ref": out["$ref"]}]}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
    return out


def load_subset(name_or_path: str | Path, *, strict: bool = True) -> ApiSubset:
    """`load_subset("harbor")` reads `tests/doubles/specs/harbor_subset.json`."""
    path = Path(name_or_path) if isinstance(name_or_path, Path) else (
        SUBSETS / f"{name_or_path}_subset.json")
    return ApiSubset(_read_json(path), path, strict)


@cache
def _read_json(path: Path) -> Mapping[str, Json]:
    data: Mapping[str, Json] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def harbor_responses() -> ApiSubset:
    """Harbor's subset, parsed once per test session."""
    return load_subset("harbor")


def subset_files() -> list[Path]:
    """Every subset file the project has (the drift test checks each)."""
    return sorted(SUBSETS.glob("*_subset.json"))


# ---------------------------------------------------------------------------------------------
# Extracting a subset from a vendor file, and finding drift


@cache
def load_vendor(path: Path) -> Mapping[str, Json]:
    """A vendor's full Swagger 2.0 / OpenAPI 3 file (YAML or JSON), parsed once: copy it
    before changing it."""
    import yaml  # only the drift check and the extractor read vendor files

    with path.open(encoding="utf-8") as handle:
        data: Mapping[str, Json] = yaml.safe_load(handle)
    return data


def extract_subset(vendor: Mapping[str, Json], operations: Iterable[str], *,
                   vendor_file: str) -> dict[str, Json]:
    """The facts of `operations` ("GET /path/{x}") and every definition they reach."""
    found: dict[str, Json] = {}
    for key in operations:
        method, template = key.split(" ", 1)
        found[key] = _operation_facts(vendor, method.lower(), template)
    reached = _definitions(vendor, found)
    return {"vendor_file": vendor_file, "base_path": _base_path(vendor),
            "operations": found, "definitions": reached}


def _base_path(vendor: Mapping[str, Json]) -> str:
    if "basePath" in vendor:
        return str(vendor["basePath"]).rstrip("/")
    servers = vendor.get("servers") or [{}]
    url = str(servers[0].get("url", ""))
    return re.sub(r"^[a-z]+://[^/]+", "", url).rstrip("/")


def _operation_facts(vendor: Mapping[str, Json], method: str, template: str) -> dict[str, Json]:
    item = vendor.get("paths", {}).get(template)
    if not item or method not in item:
        raise SchemaViolation(f"{method.upper()} {template} is not in the vendor spec")
    operation = item[method]
    shared = [_resolve(vendor, p) for p in item.get("parameters", [])]
    params = [_resolve(vendor, p) for p in operation.get("parameters", [])]
    facts: dict[str, Json] = {"parameters": [], "responses": {}}
    for param in _merge_parameters(shared, params):
        if param["in"] == "body":
            facts["body"] = _facts(param.get("schema", {}))
        elif param["in"] in ("path", "query"):
            facts["parameters"].append(_parameter_facts(param))
    request_body = operation.get("requestBody")
    if request_body:
        schema = _json_schema(_resolve(vendor, request_body))
        if schema is not None:
            facts["body"] = _facts(schema)
    for status, response in operation.get("responses", {}).items():
        schema = _json_schema(_resolve(vendor, response))
        facts["responses"][str(status)] = {} if schema is None else {"schema": _facts(schema)}
    return facts


def _merge_parameters(shared: list[Json], own: list[Json]) -> list[Json]:
    """Operation parameters override path-level ones with the same name and place."""
    merged = {(p["in"], p["name"]): p for p in shared}
    merged.update({(p["in"], p["name"]): p for p in own})
    return sorted(merged.values(), key=lambda p: (p["in"], p["name"]))


def _parameter_facts(param: Mapping[str, Json]) -> dict[str, Json]:
    if "schema" in param:  # OpenAPI 3
        schema = _facts(param["schema"])
    else:  # Swagger 2: the schema keywords sit on the parameter itself
        schema = _facts({k: v for k, v in param.items() if k not in ("name", "in", "required")})
    return {"name": param["name"], "in": param["in"], "required": bool(param.get("required")),
            "schema": schema}


def _json_schema(response: Mapping[str, Json]) -> Json | None:
    if "schema" in response:  # Swagger 2
        return response["schema"]
    for media, body in (response.get("content") or {}).items():  # OpenAPI 3
        if "json" in media or media in ("*/*", "text/plain"):
            return body.get("schema")
    return None


def _resolve(vendor: Mapping[str, Json], node: Json) -> Json:
    """Follow a `$ref` to a shared parameter, response or request body."""
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        node = _pointer(vendor, node["$ref"])
    return node


def _pointer(vendor: Mapping[str, Json], ref: str) -> Json:
    node: Json = vendor
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _facts(schema: Json) -> Json:
    """Only the wire-format keywords; refs point at `#/definitions/<name>` in the subset."""
    if isinstance(schema, list):
        return [_facts(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Json] = {}
    for key, value in schema.items():
        if key == "$ref":
            out[key] = "#/definitions/" + str(value).rsplit("/", 1)[1]
        elif key == "properties":
            out[key] = {name: _facts(sub) for name, sub in value.items()}
        elif key in KEPT:
            out[key] = _facts(value)
    return out


def _definitions(vendor: Mapping[str, Json], operations: Mapping[str, Json]) -> dict[str, Json]:
    table = vendor.get("definitions") or vendor.get("components", {}).get("schemas", {})
    reached: dict[str, Json] = {}
    pending = list(_refs(operations))
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached[name] = _facts(table[name])
        pending.extend(_refs(reached[name]))
    return dict(sorted(reached.items()))


def _refs(node: Json) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def subset_drift(subset: Mapping[str, Json], vendor: Mapping[str, Json]) -> list[str]:
    """Every fact of the subset that the vendor file no longer states the same way."""
    checked = [k for k, op in subset["operations"].items() if NOT_IN_VENDOR not in op]
    try:
        fresh = extract_subset(vendor, checked, vendor_file=str(subset["vendor_file"]))
    except (SchemaViolation, KeyError) as exc:
        return [str(exc)]
    problems: list[str] = []
    if fresh["base_path"] != subset.get("base_path", ""):
        problems.append(f"base path: {subset.get('base_path')!r} vs {fresh['base_path']!r}")
    for key in checked:
        problems += _differences(f"operation {key}", subset["operations"][key],
                                 fresh["operations"][key])
    for name, facts in subset.get("definitions", {}).items():
        if name in fresh["definitions"]:
            problems += _differences(f"definition {name}", facts, fresh["definitions"][name])
        elif NOT_IN_VENDOR not in facts:
            problems.append(f"definition {name}: not reached in the vendor spec")
    for name in fresh["definitions"].keys() - subset.get("definitions", {}).keys():
        problems.append(f"definition {name}: reached in the vendor spec, missing here")
    return problems


def _differences(where: str, ours: Json, theirs: Json) -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out: list[str] = []
        for key in sorted(ours.keys() | theirs.keys()):
            if key == NOT_IN_VENDOR:
                continue
            if key not in theirs:
                out.append(f"{where}/{key}: ours only")
            elif key not in ours:
                out.append(f"{where}/{key}: the vendor's only")
            else:
                out += _differences(f"{where}/{key}", ours[key], theirs[key])
        return out
    return [] if ours == theirs else [f"{where}: {json.dumps(ours)} vs the vendor's "
                                      f"{json.dumps(theirs)}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.doubles.schema",
                                     description="re-extract a subset file from its vendor spec")
    parser.add_argument("subset", type=Path)
    parser.add_argument("--vendor-file", help="for a new subset: the file in shared/specs")
    parser.add_argument("--add", action="append", default=[], metavar='"GET /path"')
    args = parser.parse_args(argv)
    old: Mapping[str, Json] = (json.loads(args.subset.read_text()) if args.subset.exists()
                               else {"vendor_file": args.vendor_file, "operations": {}})
    vendor_file = str(args.vendor_file or old["vendor_file"])
    manual = {k: op for k, op in old["operations"].items() if NOT_IN_VENDOR in op}
    wanted = [k for k in old["operations"] if k not in manual] + args.add
    fresh = extract_subset(load_vendor(VENDOR_SPECS / vendor_file), wanted,
                           vendor_file=vendor_file)
    fresh["operations"].update(manual)
    fresh["definitions"].update({k: v for k, v in old.get("definitions", {}).items()
                                 if NOT_IN_VENDOR in v})
    args.subset.write_text(json.dumps(fresh, indent=1, sort_keys=False) + "\n")
    print(f"{args.subset}: {len(fresh['operations'])} operations, "
          f"{len(fresh['definitions'])} definitions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
