"""Read vulnerability reports, recognised by what they contain rather than by a media type.

`application/json` says little: a Trivy report, a cosign vuln predicate, a DSSE envelope and an
SBOM can all arrive under it. `parse_report` reads at most `MAX_REPORT_BYTES`, looks at the
JSON's shape, and returns a `ScanReport`, or raises `ReportError` with one line saying what
was wrong: not JSON (truncated?), an SBOM, an in-toto statement of another predicate, too big.

Shapes handled: Trivy JSON schema v2 (`trivy image -f json`), SARIF 2.1 (`-f sarif`), the cosign
vulnerability predicate (`-f cosign-vuln`, the layer `trivy referrer put` pushes), DSSE envelopes
and bare in-toto statements carrying that predicate (`cosign attest --type vuln`), and Harbor's
vulnerabilities addition (keyed by report MIME type).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from regtui.errors import RegtuiError
from regtui.registry.scan_models import (
    Finding,
    ScanReport,
    Severity,
    SeverityCounts,
    parse_status,
)

MAX_REPORT_BYTES: Final = 128 * 1024 * 1024
"""A 50,000-finding Trivy report with full descriptions is about 100 MB."""
MAX_FIELD: Final = 4096
"""Longest text kept per field (descriptions); everything is cut again when shown."""
MAX_REFERENCES: Final = 50
VULN_PREDICATE: Final = "https://cosign.sigstore.dev/attestation/vuln/v1"
IN_TOTO_PAYLOAD: Final = "application/vnd.in-toto+json"
VULN_CLASSES: Final = frozenset({"os-pkgs", "lang-pkgs"})
"""Trivy Result classes whose entries are vulnerabilities (not secret, config, license...)."""
_SARIF_FIELD = re.compile(r"^(Package|Installed Version|Fixed Version|Severity): ?(.*)$", re.M)
_NOT_VULN_TAGS: Final = frozenset({"misconfiguration", "secret", "license"})


class ReportError(RegtuiError):
    """A report could not be used; the message says why, and the rest of the pane goes on."""


def parse_report(data: bytes, origin: str, *, limit: int = MAX_REPORT_BYTES) -> ScanReport:
    """One report from raw bytes; `origin` (file, referrer digest) is named in every error."""
    if len(data) > limit:
        raise ReportError(f"report {origin} is {len(data)} bytes, more than the "
                          f"{limit} regtui reads; not read")
    try:
        document = json.loads(data)
    except UnicodeDecodeError:
        raise ReportError(f"report {origin} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        at_end = exc.pos >= len(data.rstrip()) - 1 or exc.msg.startswith("Unterminated")
        truncated = " (truncated?)" if at_end else ""
        raise ReportError(f"report {origin} is not valid JSON{truncated}: {exc.msg} at line "
                          f"{exc.lineno} column {exc.colno}") from None
    return parse_document(document, origin)


def parse_document(document: object, origin: str) -> ScanReport:
    """The already-decoded JSON of a report, recognised by its shape."""
    if not isinstance(document, dict):
        raise ReportError(f"report {origin} is a JSON {type(document).__name__}, "
                          "not a vulnerability report")
    if "SchemaVersion" in document and ("Results" in document or "ArtifactName" in document):
        return parse_trivy(document, origin)
    if isinstance(document.get("runs"), list) and "version" in document:
        return parse_sarif(document, origin)
    if isinstance(document.get("scanner"), dict) and "result" in document["scanner"]:
        return parse_cosign_vuln(document, origin)
    if "payloadType" in document and "payload" in document:
        return parse_dsse(document, origin)
    if "predicateType" in document and "_type" in document:
        return parse_statement(document, origin)
    harbor = _harbor_report(document)
    if harbor is not None:
        return parse_harbor(harbor, origin)
    raise ReportError(f"report {origin} is {_what_it_is(document)}, not a vulnerability report")


def _what_it_is(document: Mapping[str, Any]) -> str:
    if "bomFormat" in document:
        return "a CycloneDX SBOM"
    if "spdxVersion" in document:
        return "an SPDX SBOM"
    if "critical" in document and "payload" in document:
        return "a cosign signature payload"
    keys = ", ".join(sorted(str(k)[:40] for k in document)[:5])
    return f"a JSON object with keys {keys or '(none)'}"


# -- small typed readers: every list may be missing or null -----------------------------------


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object, limit: int = MAX_FIELD) -> str:
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_time(value: object) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Go writes 9 digits; Python reads 6)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _references(values: Iterable[object]) -> tuple[str, ...]:
    return tuple(_text(v, 500) for v in list(values)[:MAX_REFERENCES] if isinstance(v, str))


def _finish(format_: str, scanner: str, version: str, scanned_at: datetime | None,
            findings: list[Finding], origin: str, **extra: Any) -> ScanReport:
    return ScanReport(format=format_, scanner=scanner, scanner_version=version,
                      scanned_at=scanned_at, counts=SeverityCounts.of_findings(findings),
                      findings=tuple(findings), origin=origin, **extra)


# -- Trivy JSON, schema v2 ---------------------------------------------------------------------


def parse_trivy(document: Mapping[str, Any], origin: str, *, scanner: str = "Trivy",
                version: str = "", scanned_at: datetime | None = None,
                format_: str = "trivy") -> ScanReport:
    schema = document.get("SchemaVersion")
    if schema != 2:
        raise ReportError(f"report {origin} is Trivy schema version {_text(schema, 20) or '?'}; "
                          "regtui reads version 2")
    metadata = _dict(document.get("Metadata"))
    findings = [finding for result in _list(document.get("Results"))
                for finding in _trivy_findings(_dict(result))]
    trivy = _dict(document.get("Trivy"))
    return _finish(
        format_, scanner, version or _text(trivy.get("Version"), 100),
        scanned_at or parse_time(document.get("CreatedAt")), findings, origin,
        artifact_name=_text(document.get("ArtifactName"), 1000),
        repo_digests=tuple(_text(d, 1000) for d in _list(metadata.get("RepoDigests"))
                           if isinstance(d, str)))


def _str(value: object, limit: int) -> str:
    """`_text` with the common case (a short string) first: it runs 15 times per finding."""
    if type(value) is str:
        return value if len(value) <= limit else value[:limit]
    return _text(value, limit)


def _trivy_findings(result: Mapping[str, Any]) -> Iterator[Finding]:
    klass = result.get("Class")
    if isinstance(klass, str) and klass not in VULN_CLASSES:
        return  # secrets, misconfigurations, licenses: not vulnerability findings
    target = _text(result.get("Target"), 1000)
    parse_severity = Severity.parse
    for entry in _list(result.get("Vulnerabilities")):
        if type(entry) is not dict:
            continue
        get = entry.get
        references = get("References")
        yield Finding(
            _str(get("VulnerabilityID"), 200), _str(get("PkgName"), 500),
            _str(get("InstalledVersion"), 200), _str(get("FixedVersion"), 500),
            parse_severity(get("Severity")), parse_status(get("Status")),
            _trivy_score(entry), _str(get("Title"), 1000), _str(get("Description"), MAX_FIELD),
            _str(get("PrimaryURL"), 500),
            _references(references) if type(references) is list and references else (),
            target, _str(get("PkgPath"), 1000))


def _trivy_score(entry: Mapping[str, Any]) -> float | None:
    """The severity source's CVSS v3 score, else NVD's, else any v3, else any v2."""
    cvss = entry.get("CVSS")
    if not cvss or type(cvss) is not dict:
        return None
    source = entry.get("SeveritySource")
    for vendor in (cvss.get(source) if type(source) is str else None, cvss.get("nvd")):
        if type(vendor) is dict:
            score = vendor.get("V3Score")
            if type(score) is float or type(score) is int:
                return float(score)
    ordered = [cvss.get(source) if type(source) is str else None, cvss.get("nvd"),
               *cvss.values()]
    for key in ("V3Score", "V40Score", "V2Score"):
        for vendor in ordered:
            found = _number(_dict(vendor).get(key))
            if found is not None:
                return found
    return None


# -- SARIF 2.1 ---------------------------------------------------------------------------------


def severity_of_score(score: float | None) -> Severity:
    """GitHub's mapping of `security-severity` scores to levels."""
    if score is None:
        return Severity.UNKNOWN
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.UNKNOWN


def parse_sarif(document: Mapping[str, Any], origin: str, *, scanned_at: datetime | None = None,
                ) -> ScanReport:
    runs = [_dict(run) for run in _list(document.get("runs"))]
    if not str(document.get("version", "")).startswith("2."):
        raise ReportError(f"report {origin} is SARIF {_text(document.get('version'), 20)}; "
                          "regtui reads SARIF 2.x")
    findings: list[Finding] = []
    scanner = version = ""
    for run in runs:
        driver = _dict(_dict(run.get("tool")).get("driver"))
        scanner = scanner or _text(driver.get("name"), 100)
        version = version or _text(driver.get("version"), 100)
        rules = [_dict(rule) for rule in _list(driver.get("rules"))]
        by_id = {_text(rule.get("id"), 200): rule for rule in rules}
        for result in _list(run.get("results")):
            finding = _sarif_finding(_dict(result), rules, by_id)
            if finding is not None:
                findings.append(finding)
        for invocation in _list(run.get("invocations")):
            scanned_at = scanned_at or parse_time(_dict(invocation).get("endTimeUtc"))
    return _finish("sarif", scanner or "SARIF", version, scanned_at, findings, origin)


def _sarif_finding(result: Mapping[str, Any], rules: list[dict[str, Any]],
                   by_id: Mapping[str, dict[str, Any]]) -> Finding | None:
    rule_id = _text(result.get("ruleId"), 200)
    index = result.get("ruleIndex")
    rule = (rules[index] if isinstance(index, int) and 0 <= index < len(rules)
            and _text(rules[index].get("id"), 200) in ("", rule_id) else by_id.get(rule_id, {}))
    properties = _dict(rule.get("properties"))
    tags = {t.lower() for t in _list(properties.get("tags")) if isinstance(t, str)}
    if tags & _NOT_VULN_TAGS:
        return None
    message = _text(_dict(result.get("message")).get("text"), MAX_FIELD)
    fields = dict(_SARIF_FIELD.findall(message))
    score = _number(properties.get("security-severity"))
    named = next((Severity.parse(t) for t in tags if Severity.parse(t) is not Severity.UNKNOWN
                  or t == "unknown"), None)
    severity = named if named is not None else (
        Severity.parse(fields["Severity"]) if "Severity" in fields else severity_of_score(score))
    package, installed = fields.get("Package", ""), fields.get("Installed Version", "")
    if not package:
        package, installed = _sarif_location_package(result)
    return Finding(
        vulnerability_id=rule_id, package=package.strip(), installed_version=installed.strip(),
        fixed_version=fields.get("Fixed Version", "").strip(), severity=severity,
        cvss_score=score,
        title=_text(_dict(rule.get("shortDescription")).get("text"), 1000),
        description=_text(_dict(rule.get("fullDescription")).get("text")),
        primary_url=_text(rule.get("helpUri"), 500))


def _sarif_location_package(result: Mapping[str, Any]) -> tuple[str, str]:
    """`target: pkg@version`, the location message Trivy writes."""
    for location in _list(result.get("locations")):
        text = _text(_dict(_dict(location).get("message")).get("text"), 1000)
        _, _, tail = text.rpartition(": ")
        name, at, version = tail.rpartition("@")
        if at and name:
            return name, version
    return "", ""


# -- cosign vuln predicate, DSSE, in-toto ------------------------------------------------------


def parse_cosign_vuln(predicate: Mapping[str, Any], origin: str,
                      subjects: tuple[str, ...] = ()) -> ScanReport:
    """`scanner.result` is the scanner's own report (Trivy JSON for Trivy); the scan's time is
    `metadata.scanFinishedOn`."""
    scanner = _dict(predicate.get("scanner"))
    uri = _text(scanner.get("uri"), 300)
    version = _text(scanner.get("version"), 100)
    finished = parse_time(_dict(predicate.get("metadata")).get("scanFinishedOn"))
    name = _scanner_name(uri)
    result = scanner.get("result")
    if not isinstance(result, dict):
        raise ReportError(f"report {origin}: the cosign vuln predicate's scanner.result is "
                          "not an object")
    if "SchemaVersion" in result:
        report = parse_trivy(result, origin, scanner=name, version=version,
                             scanned_at=finished, format_="cosign-vuln")
    elif isinstance(result.get("runs"), list):
        report = parse_sarif(result, origin, scanned_at=finished)
    else:
        raise ReportError(f"report {origin}: the cosign vuln predicate's result from "
                          f"{uri or 'an unnamed scanner'} is in a format regtui does not read")
    if subjects:
        report = replace(report, subject_digests=subjects)
    return report


def _scanner_name(uri: str) -> str:
    """`pkg:github/aquasecurity/trivy@v0.50.0` -> `Trivy`."""
    path = uri.split("@", 1)[0].rstrip("/")
    name = path.rsplit("/", 1)[-1] if path else ""
    return name.capitalize() if name.islower() else (name or "scanner")


def parse_dsse(envelope: Mapping[str, Any], origin: str) -> ScanReport:
    payload_type = _text(envelope.get("payloadType"), 200)
    if payload_type != IN_TOTO_PAYLOAD:
        raise ReportError(f"report {origin} is a DSSE envelope of {payload_type or '(no type)'}, "
                          "not an in-toto statement")
    try:
        raw = base64.b64decode(str(envelope.get("payload", "")), validate=True)
        statement = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ReportError(f"report {origin}: the DSSE payload is not base64-encoded JSON") from None
    if not isinstance(statement, dict):
        raise ReportError(f"report {origin}: the DSSE payload is not an in-toto statement")
    return parse_statement(statement, origin)


def parse_statement(statement: Mapping[str, Any], origin: str) -> ScanReport:
    predicate_type = _text(statement.get("predicateType"), 300)
    if predicate_type != VULN_PREDICATE:
        raise ReportError(f"report {origin} is an in-toto statement of {predicate_type or '?'}, "
                          "not a vulnerability report")
    subjects = tuple(
        f"sha256:{digest}" for subject in _list(statement.get("subject"))
        if isinstance(digest := _dict(_dict(subject).get("digest")).get("sha256"), str))
    return parse_cosign_vuln(_dict(statement.get("predicate")), origin, subjects)


# -- Harbor's vulnerabilities addition ---------------------------------------------------------


def _harbor_report(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if isinstance(document.get("vulnerabilities"), list | type(None)) and (
            "scanner" in document or "generated_at" in document):
        return document
    for key, value in document.items():
        if "vuln" in str(key) and isinstance(value, dict) and "vulnerabilities" in value:
            return value
    return None


def parse_harbor(report: Mapping[str, Any], origin: str) -> ScanReport:
    """Harbor's own report format (both MIME types share these fields)."""
    scanner = _dict(report.get("scanner"))
    findings = []
    for entry in _list(report.get("vulnerabilities")):
        if not isinstance(entry, dict):
            continue
        cvss = _dict(entry.get("preferred_cvss"))
        links = _list(entry.get("links"))
        findings.append(Finding(
            vulnerability_id=_text(entry.get("id"), 200),
            package=_text(entry.get("package"), 500),
            installed_version=_text(entry.get("version"), 200),
            fixed_version=_text(entry.get("fix_version"), 500),
            severity=Severity.parse(entry.get("severity")),
            status=parse_status(entry.get("status")),
            cvss_score=_number(cvss.get("score_v3")) or _number(cvss.get("score_v2")),
            description=_text(entry.get("description")),
            primary_url=_text(links[0], 500) if links else "",
            references=_references(links)))
    return _finish("harbor", _text(scanner.get("name"), 100) or "Harbor",
                   _text(scanner.get("version"), 100), parse_time(report.get("generated_at")),
                   findings, origin)
