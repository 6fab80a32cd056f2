"""The metrics service against a real Prometheus: backfilled history, the live lab, failures.

Expected numbers come from the history's rates (`tests/fixtures/metrics/history.py`) or from
the requests a test made itself, never from the code under test.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from regtui.config import FrozenMap, PrometheusConfig, RegistryConfig
from regtui.lab import Lab
from regtui.lab.process import free_port
from regtui.services.metric_profiles import PUSH_MATCHERS, resolve_queries
from regtui.services.metrics import (
    CONFIG,
    EMPTY,
    HTTP,
    MALFORMED,
    TIMEOUT,
    UNREACHABLE,
    Backoff,
    ChartResult,
    LatencyRow,
    MetricsError,
    MetricsService,
    Series,
    Thresholds,
    TimeRange,
    breakdown_rows,
    class_lines,
    failure_ratios,
    format_value,
    latency_rows,
    parse_result,
    range_by_label,
    render_query,
    selector_prefix,
    storage_trend,
    summarize,
)
from tests.fixtures.metrics import Backfilled, backfilled_prometheus
from tests.fixtures.metrics import history as hist

NODE = FrozenMap({"node_selector": f'mountpoint="{hist.MOUNTPOINT}"'})


def service(url: str, selector: str = 'job="registry"', flavor: str = "distribution",
            clock: Callable[[], datetime] = lambda: hist.END, **prom: object) -> MetricsService:
    config = PrometheusConfig(url=url, selector=selector, **prom)  # type: ignore[arg-type]
    registry = RegistryConfig(name="lab", url="http://127.0.0.1:5000", flavor=flavor,
                              prometheus=config)
    return MetricsService(registry, clock=clock, timeout=2.0)


# --- pure parts ---


def test_placeholders_and_selector() -> None:
    assert selector_prefix(' {job="registry"} ') == 'job="registry", '
    assert selector_prefix("") == ""
    text = render_query("x{${sel}a=\"1\"}[${window}] $1 ${1}", {"sel": "j, ", "window": "5s"}, "w")
    assert text == 'x{j, a="1"}[5s] $1 ${1}'
    with pytest.raises(MetricsError) as caught:
        render_query("x{${sle}}", {"sel": ""}, "registry 'lab' query 'traffic'")
    assert caught.value.kind == CONFIG
    assert "${sle}" in str(caught.value) and "'traffic'" in str(caught.value)


def test_overrides_replace_one_query_and_node_selector_switches_storage() -> None:
    queries = resolve_queries("distribution", {"in_flight": "up"})
    assert queries["in_flight"] == "up"
    assert "storage" not in queries
    assert "node_filesystem_avail_bytes" in resolve_queries("distribution", NODE)["storage"]
    assert "harbor_project_quota_usage_byte" in resolve_queries("harbor", {})["storage"]
    assert "node_selector" not in resolve_queries("harbor", NODE)


def test_unknown_override_key_is_a_config_error() -> None:
    with pytest.raises(MetricsError) as caught:
        service("http://127.0.0.1:9090", queries=FrozenMap({"trafic": "up"}))
    assert caught.value.kind == CONFIG
    assert "[registries.prometheus.queries] 'trafic' is no chart" in str(caught.value)
    assert "traffic" in str(caught.value)


def test_thresholds_and_backoff() -> None:
    limits = Thresholds(warn=0.02, critical=0.1)
    assert [limits.level(v) for v in (0.0, 0.02, 0.099, 0.1, None, math.nan)] == [
        "ok", "warn", "warn", "critical", "unknown", "unknown"]
    backoff = Backoff(10.0, cap=35.0)
    assert [backoff.next_delay(ok) for ok in (False, False, False, False, True)] == [
        10.0, 20.0, 35.0, 35.0, 10.0]


def _result(*series: Series, chart: str = "push_failures") -> ChartResult:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return ChartResult(chart, "q", series, now, now, now)


def test_class_lines_fill_zero_only_where_pushes_happened() -> None:
    result = _result(Series({"class": "2xx"}, ((1, 0.9), (2, math.nan), (3, 1.0))),
                     Series({"class": "4xx"}, ((1, 0.1),)))
    lines = class_lines(result, ("4xx", "5xx"))
    assert lines["4xx"].points[0] == (1, 0.1) and lines["4xx"].points[2] == (3, 0.0)
    assert math.isnan(lines["5xx"].points[1][1])
    assert failure_ratios(result) == {"4xx": 0.0, "5xx": 0.0}
    assert failure_ratios(None) == {"4xx": None, "5xx": None}


def test_storage_trend_and_text() -> None:
    day = 86400.0
    used = Series({"series": "used"}, ((0, 10.0), (day, 20.0), (2 * day, 30.0)))
    cap = Series({"series": "capacity"}, ((2 * day, 100.0),))
    trend = storage_trend(_result(used, cap, chart="storage"))
    assert trend.growth_per_day == pytest.approx(10.0)
    assert trend.days_until_full == pytest.approx(7.0)
    assert format_value(1536, "bytes") == "1.5 KiB"
    assert format_value(0.0123, "ratio") == "1.23%"
    assert format_value(math.nan, "rps") == "–"
    assert summarize("used", used, "bytes") == "used: now 30 B · min 10 B · max 30 B"


@pytest.mark.parametrize("raw", [{"x": 1}, [{"metric": 1, "values": []}],
                                 [{"metric": {}, "values": [["a", "b"]]}],
                                 [{"metric": {}, "values": [[1]]}], [{"values": []}]])
def test_off_shape_results_are_malformed(raw: object) -> None:
    with pytest.raises(MetricsError) as caught:
        parse_result(raw, instant=False, where="registry 'lab'")
    assert caught.value.kind == MALFORMED


def test_service_module_does_not_import_textual() -> None:
    code = "import sys, regtui.services.metrics; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# --- backfilled Prometheus: fixed history, fixed 'now' ---


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    with backfilled_prometheus(tmp_path_factory.mktemp("prom")) as prom:
        yield prom


def _push_rate(*codes: str) -> float:
    return sum(rate for (handler, method, code), rate in hist.RATES.items()
               if method in ("put", "post", "patch")
               and handler in ("blob_upload", "blob_upload_chunk", "manifest")
               and (not codes or code[0] in codes))


def test_backfilled_push_failure_rate(backfilled: Backfilled) -> None:
    refresh = service(backfilled.url).fetch_all(range_by_label("1h"))
    assert refresh.errors == {}
    ratios = failure_ratios(refresh.results["push_failures"])
    assert ratios["4xx"] == pytest.approx(_push_rate("4") / _push_rate(), rel=1e-3)
    assert ratios["5xx"] == pytest.approx(_push_rate("5") / _push_rate(), rel=1e-3)
    five = class_lines(refresh.results["push_failures"], ("5xx",))["5xx"]
    before = [v for t, v in five.points if t < hist.FAILURE_START - 180]
    assert before and set(before) == {0.0}  # no 5xx before the backend went bad


def test_backfilled_breakdown_traffic_latency(backfilled: Backfilled) -> None:
    svc = service(backfilled.url)
    refresh = svc.fetch_all(range_by_label("1h"), ["push_breakdown", "traffic", "latency"])
    rows: dict[tuple[str, str], float] = {(r.handler, r.code): r.count for r in breakdown_rows(
        refresh.results["push_breakdown"])}
    assert rows[("blob_upload", "401")] == pytest.approx(hist.RATES[
        ("blob_upload", "post", "401")] * 3600, rel=1e-3)
    assert rows[("manifest", "500")] == pytest.approx(0.09 * 40 * 60, rel=1e-3)
    assert next(iter(breakdown_rows(refresh.results["push_breakdown"]))).code == "500"
    rates: dict[str, float | None] = {s.label("direction"): s.last
                                      for s in refresh.results["traffic"].series}
    assert rates["push"] == pytest.approx(_push_rate(), rel=1e-3)
    assert rates["pull"] == pytest.approx(19.0, rel=1e-3)
    latency: dict[str, LatencyRow] = {r.handler: r
                                      for r in latency_rows(refresh.results["latency"])}
    assert set(latency) == {"blob", "manifest", "blob_upload_chunk"}
    for row in latency.values():
        assert row.p50 is not None and row.p95 is not None and row.p99 is not None
        assert 0 < row.p50 < row.p95 <= row.p99
    p95 = [latency[h].p95 or 0.0 for h in ("blob", "manifest", "blob_upload_chunk")]
    assert p95 == sorted(p95) and len(set(p95)) == 3


def test_backfilled_storage_from_node_exporter(backfilled: Backfilled) -> None:
    svc = service(backfilled.url, queries=NODE)
    assert "storage" in svc.charts()
    trend = storage_trend(svc.fetch("storage", range_by_label("6h")))
    assert trend.used == hist.USED_AT_END and trend.capacity == hist.CAPACITY
    assert trend.growth_per_day == pytest.approx(hist.GROWTH_PER_HOUR * 24, rel=1e-3)
    full = (hist.CAPACITY - hist.USED_AT_END) / (hist.GROWTH_PER_HOUR * 24)
    assert trend.days_until_full == pytest.approx(full, rel=1e-3)


def test_backfilled_harbor_profile(backfilled: Backfilled) -> None:
    svc = service(backfilled.url, flavor="harbor")
    assert {"harbor_health", "harbor_core", "storage", "push_failures"} <= set(svc.charts())
    refresh = svc.fetch_all(range_by_label("1h"))
    assert refresh.errors == {}
    health = {s.label("series"): s.last for s in refresh.results["harbor_health"].series}
    end = hist.END.timestamp()
    want = {f"up {c}": float(hist.harbor_up(c, end)) for c in ("core", "jobservice", "registry")}
    want |= {f"queue {k}": float(v[0]) for k, v in hist.HARBOR_QUEUES.items()}
    want |= {f"latency {k}": v[1] for k, v in hist.HARBOR_QUEUES.items()}
    assert health == want
    core = {s.label("operation"): s.last for s in refresh.results["harbor_core"].series}
    assert core == pytest.approx({op: r for (_, _, op), r in hist.HARBOR_CORE.items()})
    trend = storage_trend(refresh.results["storage"])
    assert trend.used == sum(hist.QUOTA_USED.values())
    assert trend.capacity is None and trend.days_until_full is None  # team-a is unlimited
    ratios = failure_ratios(refresh.results["push_failures"])  # Harbor's registry series
    assert ratios["5xx"] == pytest.approx(_push_rate("5") / _push_rate(), rel=1e-3)


def test_storage_without_node_exporter_says_how_to_configure(backfilled: Backfilled) -> None:
    svc = service(backfilled.url)
    assert "storage" not in svc.charts()
    assert "node_selector" in svc.missing_reason("storage")


def test_empty_result_is_reported_per_chart(backfilled: Backfilled) -> None:
    refresh = service(backfilled.url, selector='job="nope"').fetch_all(range_by_label("1h"))
    assert refresh.results == {}
    assert {e.kind for e in refresh.errors.values()} == {EMPTY}
    message = str(refresh.errors["traffic"])
    assert 'job="nope"' in message and backfilled.url in message
    assert not refresh.transient_failure


def test_bad_override_is_prometheus_400_and_only_that_chart(backfilled: Backfilled) -> None:
    svc = service(backfilled.url, queries=FrozenMap({"in_flight": "sum(rate(x[5m]"}))
    refresh = svc.fetch_all(range_by_label("1h"))
    error = refresh.errors["in_flight"]
    assert error.kind == HTTP and "HTTP 400" in str(error) and "parse error" in str(error)
    assert "'in_flight'" in str(error) and "\n" not in str(error)
    assert set(refresh.results) == {"push_failures", "push_breakdown", "traffic", "latency"}


def test_one_query_per_chart(backfilled: Backfilled) -> None:
    svc = service(backfilled.url, queries=NODE)
    calls: list[str] = []
    client = svc._connect()
    session = client._session
    original = session.request

    def counting(method: str, url: str, **kw: object) -> object:
        calls.append(url)
        return original(method, url, **kw)

    session.request = counting
    refresh = svc.fetch_all(range_by_label("24h"))
    assert refresh.errors == {}
    assert len(calls) == len(svc.charts()) == 6


# --- failures: unreachable, slow, HTTP 500, malformed JSON ---


def test_unreachable_prometheus_fails_fast_once() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    refresh = service(url).fetch_all(range_by_label("1h"))
    assert time.monotonic() - started < 2
    assert {e.kind for e in refresh.errors.values()} == {UNREACHABLE}
    assert len(refresh.errors) == len(service(url).charts())
    message = str(refresh.errors["push_failures"])
    assert url in message and "unreachable" in message and "connection refused" in message
    assert refresh.transient_failure


class FakePrometheus(BaseHTTPRequestHandler):
    """Answers what a broken Prometheus (or a proxy in front of it) might."""

    mode = "ok"
    seen: list[dict[str, str]] = []  # noqa: RUF012

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        if self.mode == "slow":
            time.sleep(3)
        status, body = {
            "500": (500, b'{"status":"error","errorType":"internal","error":"disk on fire"}'),
            "502": (502, b"<html>Bad Gateway</html>"),
            "malformed": (200, b'{"status":"success","data":{"result":[{"metric"'),
            "nodata": (200, b'{"status":"success"}'),
        }.get(self.mode, (200, b'{"status":"success","data":{"resultType":"matrix","result":['
                              b'{"metric":{},"values":[[1,"1"]]}]}}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake() -> Iterator[tuple[str, type[FakePrometheus]]]:
    handler = type("Handler", (FakePrometheus,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("mode", "kind", "words"), [
    ("500", HTTP, "HTTP 500: disk on fire"),
    ("502", HTTP, "HTTP 502: <html>Bad Gateway</html>"),
    ("malformed", MALFORMED, "malformed answer"),
    ("nodata", MALFORMED, "malformed answer"),
    ("slow", TIMEOUT, "no answer within 2s"),
])
def test_broken_answers_are_classified(fake: tuple[str, type[FakePrometheus]], mode: str,
                                       kind: str, words: str) -> None:
    url, handler = fake
    handler.mode = mode
    with pytest.raises(MetricsError) as caught:
        service(url).fetch("traffic", range_by_label("1h"))
    assert caught.value.kind == kind
    text = str(caught.value)
    assert words in text and url in text and "'traffic'" in text and "\n" not in text
    assert len(handler.seen) == 1  # no hidden retries: the screen owns the backoff


def test_bearer_token_and_basic_auth_are_sent(fake: tuple[str, type[FakePrometheus]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = fake
    monkeypatch.setenv("PROM_TOKEN", "s3cret")
    service(url, bearer_token_env="PROM_TOKEN").fetch("traffic", range_by_label("1h"))
    assert handler.seen[-1]["Authorization"] == "Bearer s3cret"
    monkeypatch.setenv("PROM_PW", "pw")
    service(url, username="ops", password_env="PROM_PW").fetch("traffic", range_by_label("1h"))
    assert handler.seen[-1]["Authorization"] == "Basic b3BzOnB3"
    monkeypatch.delenv("PROM_TOKEN")
    with pytest.raises(MetricsError) as caught:
        service(url, bearer_token_env="PROM_TOKEN").fetch("traffic", range_by_label("1h"))
    assert caught.value.kind == CONFIG and "$PROM_TOKEN" in str(caught.value)


def _self_signed(root: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, so the TLS options meet a real handshake."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = root / "cert.pem", root / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_options(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (FakePrometheus,), {"seen": []}))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(MetricsError) as caught:
            service(url).fetch("traffic", range_by_label("1h"))
        assert caught.value.kind == UNREACHABLE
        assert "TLS failed (certificate verify failed" in str(caught.value)
        assert service(url, ca_file=cert).fetch("traffic", range_by_label("1h")).series
        assert service(url, insecure=True).fetch("traffic", range_by_label("1h")).series
    finally:
        server.shutdown()
        server.server_close()


# --- the live lab: a known mix of pushes, the failure rate Prometheus computes ---


def _prom_value(lab: Lab, query: str) -> list[object]:
    assert lab.prometheus_url
    answer = httpx.get(f"{lab.prometheus_url}/api/v1/query", params={"query": query}).json()
    result: list[object] = answer["data"]["result"]
    return result


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


class PushMix:
    """Pushes that succeed, are unauthorized, or carry a wrong digest; counts what came back."""

    def __init__(self, lab: Lab) -> None:
        assert lab.username and lab.password
        self.base = lab.url
        self.storage = lab.storage_dir
        self.authed = httpx.Client(auth=(lab.username, lab.password), timeout=10)
        self.anonymous = httpx.Client(timeout=10)
        self.codes: list[int] = []
        self.serial = 0

    def _count(self, response: httpx.Response) -> httpx.Response:
        self.codes.append(response.status_code)
        return response

    def _upload(self, client: httpx.Client, data: bytes, digest: str,
                sabotage: bool = False) -> int:
        start = self._count(client.post(f"{self.base}/v2/mix/blobs/uploads/"))
        if start.status_code != 202:
            return start.status_code
        if sabotage:
            self._break_upload(start.headers["Docker-Upload-UUID"])
        location = httpx.URL(self.base).join(start.headers["Location"])
        put = client.put(location.copy_merge_params({"digest": digest}), content=data)
        return self._count(put).status_code

    def good_blob(self) -> str:
        self.serial += 1
        data = f"blob {self.serial} {time.time_ns()}".encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        assert self._upload(self.authed, data, digest) == 201
        return digest

    def manifest(self, client: httpx.Client, expect: int) -> None:
        self.serial += 1
        data = f"config {self.serial} {time.time_ns()}".encode()
        if expect == 201:
            assert self._upload(client, data, "sha256:" + hashlib.sha256(data).hexdigest()) == 201
        body = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
                       "size": len(data)},
            "layers": []}).encode()
        headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        put = client.put(f"{self.base}/v2/mix/manifests/t{self.serial}", content=body,
                         headers=headers)
        assert self._count(put).status_code == expect, put.text

    def _break_upload(self, uuid: str) -> None:
        """The upload's data file becomes a directory: the registry's final PUT answers 500."""
        data = self.storage / "docker/registry/v2/repositories/mix/_uploads" / uuid / "data"
        data.unlink()
        data.mkdir()
        (data / "in-the-way").write_bytes(b"")

    def broken_upload(self) -> None:
        data = b"doomed"
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        assert self._upload(self.authed, data, digest, sabotage=True) == 500

    def unauthorized_upload(self) -> None:
        assert self._upload(self.anonymous, b"x", "sha256:" + "0" * 64) == 401

    def wrong_digest(self) -> None:
        assert self._upload(self.authed, b"real bytes", "sha256:" + "1" * 64) == 400

    def round(self, good: int, unauthorized: int, wrong: int, broken: int = 0) -> None:
        for _ in range(good):
            self.good_blob()
        self.manifest(self.authed, 201)
        self.manifest(self.anonymous, 401)
        for _ in range(unauthorized):
            self.unauthorized_upload()
        for _ in range(wrong):
            self.wrong_digest()
        for _ in range(broken):
            self.broken_upload()

    def ratio(self, first: int) -> tuple[float, float]:
        codes = self.codes[first:]
        return (sum(400 <= c < 500 for c in codes) / len(codes),
                sum(c >= 500 for c in codes) / len(codes))


@pytest.mark.lab
def test_live_push_failure_rate_matches_the_pushes(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(auth="htpasswd", prometheus=True)
    _wait_for(lambda: bool(_prom_value(lab, 'up{job="registry"} == 1')), "the first scrape")
    mix = PushMix(lab)
    mix.round(good=3, unauthorized=2, wrong=2, broken=1)  # creates every series in the window
    _wait_for(lambda: bool(_prom_value(
        lab, f'registry_http_requests_total{{code="500",{PUSH_MATCHERS}}}')), "the 500 series")
    time.sleep(2.5)
    start, first = time.time(), len(mix.codes)
    time.sleep(1.5)
    mix.round(good=6, unauthorized=3, wrong=2, broken=2)
    time.sleep(3.0)
    end = time.time()
    want_4xx, want_5xx = mix.ratio(first)
    assert 0.2 < want_4xx < 0.6 and 0.05 < want_5xx < 0.2
    window = math.ceil(end - start)
    trange = TimeRange("test", window, window, window)
    svc = service(lab.prometheus_url or "", clock=lambda: datetime.fromtimestamp(end, UTC))
    ratios = failure_ratios(svc.fetch("push_failures", trange))
    assert ratios["4xx"] == pytest.approx(want_4xx, abs=0.02)
    assert ratios["5xx"] == pytest.approx(want_5xx, abs=0.02)
