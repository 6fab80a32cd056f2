"""Flavor profiles: which PromQL answers each metrics chart, as data.

A profile is a table `query id -> PromQL template`. Adding a flavor is adding a table here;
an operator overrides one query with `[registries.prometheus.queries] <id> = "..."`.
Templates use `${name}` placeholders (PromQL's own `$1` in `label_replace` is left alone):

- `${sel}`: the registry's label selector plus a trailing comma (empty when none), written
  first inside the braces: `metric{${sel}handler="blob"}`;
- `${push}` / `${pull}`: the matchers that pick push / pull requests of distribution;
- `${window}`: the `rate()` window for one chart point; `${range}`: the whole selected range;
- `${node}`: node_exporter matchers for the storage volume (the `node_selector` query key).

Facts these rest on (distribution 2.8, checked against a live registry): handlers are the
route names with `_` (`base`, `manifest`, `blob`, `blob_upload`, `blob_upload_chunk`, `tags`,
`catalog`), methods are lower case, the final upload PUT is counted under
`blob_upload_chunk`, and auth failures (401) are counted too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

REQUESTS: Final = "registry_http_requests_total"
DURATION: Final = "registry_http_request_duration_seconds_bucket"
PUSH_MATCHERS: Final = 'handler=~"blob_upload|blob_upload_chunk|manifest", method=~"put|post|patch"'
PULL_MATCHERS: Final = 'handler=~"blob|manifest", method=~"get|head"'
NODE_SELECTOR_KEY: Final = "node_selector"
"""The `queries` key whose value is node_exporter matchers for the registry's volume."""


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """How one chart looks: what the numbers are and which label names a line."""

    id: str
    title: str
    unit: str
    """`ratio`, `rps` (requests/s), `seconds`, `bytes` or `count`."""
    legend: str
    """Label whose value names each line (`class`, `direction`, ...); empty: one line."""
    instant: bool = False
    """Asked once at the end of the range (tables, stats) instead of as a range."""


CHARTS: Final[Mapping[str, ChartSpec]] = MappingProxyType({
    spec.id: spec
    for spec in (
        ChartSpec("push_failures", "Push failure rate", "ratio", "class"),
        ChartSpec("push_breakdown", "Push requests by handler and code", "count", "", True),
        ChartSpec("traffic", "Push and pull requests", "rps", "direction"),
        ChartSpec("latency", "Latency per handler", "seconds", "handler"),
        ChartSpec("in_flight", "In-flight requests", "count", ""),
        ChartSpec("storage", "Storage used", "bytes", "series"),
        ChartSpec("harbor_health", "Harbor components and task queues", "count", "series", True),
        ChartSpec("harbor_core", "Harbor core requests by operation", "rps", "operation"),
    )
})

_PUSH_RATE = f"rate({REQUESTS}{{${{sel}}${{push}}}}[${{window}}])"

DISTRIBUTION: Final[Mapping[str, str]] = MappingProxyType({
    # 2xx/4xx/5xx share of push requests, one line per class; ignoring(class) divides
    # every class by the same total, so a class with no requests simply has no line.
    "push_failures": (
        f'sum by (class) (label_replace({_PUSH_RATE}, "class", "${{1}}xx", "code", "(.)..")) '
        f"/ ignoring (class) group_left sum({_PUSH_RATE})"
    ),
    "push_breakdown": (
        f"sum by (handler, method, code) "
        f"(increase({REQUESTS}{{${{sel}}${{push}}}}[${{range}}]))"
    ),
    "traffic": (
        f'label_replace(sum({_PUSH_RATE}), "direction", "push", "", "") or '
        f'label_replace(sum(rate({REQUESTS}{{${{sel}}${{pull}}}}[${{window}}])), '
        f'"direction", "pull", "", "")'
    ),
    "latency": " or ".join(
        f'label_replace(histogram_quantile({q}, sum by (handler, le) '
        f'(rate({DURATION}{{${{sel}}}}[${{window}}]))), "quantile", "p{p}", "", "")'
        for q, p in (("0.5", "50"), ("0.95", "95"), ("0.99", "99"))
    ),
    "in_flight": "sum(registry_http_in_flight_requests{${sel}})",
})

NODE_STORAGE: Final = (
    'label_replace(max(node_filesystem_size_bytes{${node}} - node_filesystem_avail_bytes{${node}}),'
    ' "series", "used", "", "") or '
    'label_replace(max(node_filesystem_size_bytes{${node}}), "series", "capacity", "", "")'
)

HARBOR: Final[Mapping[str, str]] = MappingProxyType({
    **DISTRIBUTION,
    # A quota of -1 is unlimited: then no capacity is known and no "days until full" shown.
    "storage": (
        'label_replace(sum(harbor_project_quota_usage_byte{${sel}}), "series", "used", "", "") '
        'or label_replace(sum(harbor_project_quota_byte{${sel}}) unless on () '
        '(min(harbor_project_quota_byte{${sel}}) < 0), "series", "capacity", "", "")'
    ),
    "harbor_health": (
        'label_replace(min(harbor_up{${sel}}) by (component), "series", "up $1",'
        ' "component", "(.*)") or label_replace(sum by (type)'
        ' (harbor_task_queue_size{${sel}}), "series", "queue $1",'
        ' "type", "(.*)") or label_replace(max by (type) (harbor_task_queue_latency{${sel}}),'
        ' "series", "latency $1", "type", "(.*)")'
    ),
    "harbor_core": (
        "topk(5, sum by (operation) (rate(harbor_core_http_request_total{${sel}}[${window}])))"
    ),
})

PROFILES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType({
    "distribution": DISTRIBUTION,
    "harbor": HARBOR,
})


def profile_for(flavor: str) -> Mapping[str, str]:
    """Registries that run distribution underneath (most flavors) share its metric names."""
    return PROFILES.get(flavor, DISTRIBUTION)


def unknown_overrides(overrides: Mapping[str, str]) -> list[str]:
    """Override keys that name no chart (typos), so they are reported, not silently unused."""
    known = {*CHARTS, NODE_SELECTOR_KEY}
    return sorted(key for key in overrides if key not in known)


def resolve_queries(flavor: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """The profile with the operator's overrides on top; node_exporter storage if configured."""
    queries = dict(profile_for(flavor))
    if overrides.get(NODE_SELECTOR_KEY):
        queries["storage"] = NODE_STORAGE
    queries.update({k: v for k, v in overrides.items() if k != NODE_SELECTOR_KEY})
    return queries
