"""Operating the CA: one access line per request (text and JSON), `-v` without libraries' debug output, the
start-up line saying what is bound, and Prometheus metrics on metricsAddress scraped by the real
`prometheus` server from a CA with two workers."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from plica.testing import (
    CAFiles,
    ProvKey,
    admin_key,
    ca_process,
    csr_pem,
    ec_key,
    free_port,
    make_ca,
    make_csr,
    wait_for,
)

pytestmark = pytest.mark.slow


def post_sign(
    files: CAFiles, prov: ProvKey, cn: str, *, token: str | None = None, rid: str | None = None
) -> int:
    ott = token or prov.token(cn, f"{files.url}/1.0/sign", sans=[cn])
    body = json.dumps({"csr": csr_pem(make_csr(ec_key(), cn, [cn])), "ott": ott}).encode()
    req = urllib.request.Request(f"{files.url}/1.0/sign", data=body, method="POST")
    if rid:
        req.add_header("X-Smallstep-Id", rid)
    ctx = ssl.create_default_context(cafile=str(files.root))
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def get(url: str, files: CAFiles | None = None) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(files.root)) if files else None
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ============================================================================ the access log


def test_json_access_log_names_provisioner_and_request_id_and_v_is_quiet(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    admin = admin_key(files)
    log = tmp_path / "server.log"
    with ca_process(files, extra_args=["--log-format", "json", "-v"], log=log):
        assert post_sign(files, admin, "a.example", rid="trace-123") == 201
        assert post_sign(files, admin, "b.example", token="not-a-token") == 401
        assert get(f"{files.url}/health", files)[0] == 200
        wait_for(lambda: log.read_text().count('"plica.access"') >= 3, what="three access lines")
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert records and len(records) == len(log.read_text().splitlines())  # every line is JSON
    access = [r for r in records if r["logger"] == "plica.access"]
    ok = next(r for r in access if r["request-id"] == "trace-123")
    assert (ok["method"], ok["path"], ok["status"], ok["provisioner"]) == ("POST", "/1.0/sign", 201, "admin")
    assert isinstance(ok["duration-ns"], int) and ok["duration-ns"] > 0 and ok["level"] == "info"
    refused = next(r for r in access if r["status"] == 401)
    assert refused["provisioner"] == "" and refused["level"] == "warning" and len(refused["request-id"]) == 32
    assert any(r["path"] == "/health" and r["status"] == 200 for r in access)
    # -v: Plica's debug lines, none of the libraries' (asyncio's "Using selector", aiohttp's, ...)
    assert any(r["level"] == "debug" and r["logger"].startswith("plica") for r in records)
    noisy = [r for r in records if r["level"] == "debug" and not r["logger"].startswith("plica")]
    assert noisy == []


def test_text_access_log_line(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    log = tmp_path / "server.log"
    with ca_process(files, log=log):
        assert post_sign(files, admin_key(files), "t.example", rid="rid-7") == 201
        wait_for(lambda: "rid-7" in log.read_text(), what="the access line")
    line = next(line for line in log.read_text().splitlines() if "rid-7" in line)
    assert re.search(
        r' INFO plica\.access: POST /1\.0/sign 201 [0-9.]+ms provisioner="admin" request-id=rid-7$', line
    ), line


def test_common_format_access_lines_from_the_server(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    cfg = files.config()
    cfg["logger"] = {"format": "common"}
    files.write_config(cfg)
    log = tmp_path / "server.log"
    with ca_process(files, log=log):
        assert post_sign(files, admin_key(files), "c.example", rid="rid-c") == 201
        assert get(f"{files.url}/health?x=1", files)[0] == 200
        wait_for(lambda: "/health?x=1" in log.read_text(), what="the access lines")
    lines = log.read_text().splitlines()
    stamp = r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\]"
    assert any(
        re.fullmatch(rf'127\.0\.0\.1 - - {stamp} "POST /1\.0/sign HTTP/1\.1" 201 -', ln) for ln in lines
    )
    assert any(
        re.fullmatch(rf'127\.0\.0\.1 - - {stamp} "GET /health\?x=1 HTTP/1\.1" 200 -', ln) for ln in lines
    )


def test_request_ids_differ_across_a_fork() -> None:
    """New request ids come from Python's generator, which a forked worker reseeds: a worker's first id is
    not the master's next one (nor a sibling's)."""
    from aiohttp.test_utils import make_mocked_request

    from plica.http.access import request_id

    request = make_mocked_request("GET", "/health")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child writes its first id and ends
        os.write(w, request_id(request).encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 64).decode()
    os.waitpid(pid, 0)
    os.close(r)
    mine = request_id(request)
    assert len(child) == len(mine) == 32 and int(child, 16) >= 0 and child != mine


def test_ca_json_logger_block_sets_the_format_and_the_trace_header(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    cfg = files.config()
    cfg["logger"] = {"format": "json", "traceHeader": "X-Trace-Id"}  # step-ca's logger block
    files.write_config(cfg)
    log = tmp_path / "server.log"
    with ca_process(files, log=log):
        ott = admin_key(files).token("l.example", f"{files.url}/1.0/sign", sans=["l.example"])
        body = json.dumps(
            {"csr": csr_pem(make_csr(ec_key(), "l.example", ["l.example"])), "ott": ott}
        ).encode()
        req = urllib.request.Request(f"{files.url}/1.0/sign", data=body, method="POST")
        req.add_header("X-Trace-Id", "from-the-trace-header")
        ctx = ssl.create_default_context(cafile=str(files.root))
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            assert r.status == 201 and r.headers["X-Request-Id"] == "from-the-trace-header"
        wait_for(lambda: "from-the-trace-header" in log.read_text(), what="the access line")
    line = next(x for x in log.read_text().splitlines() if "from-the-trace-header" in x)
    assert json.loads(line)["provisioner"] == "admin"


# ============================================================================ metrics, scraped by Prometheus


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in the exposition format (None when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        m = re.match(r"(\S+?)(\{(.*)\})? (\S+)$", line)
        if m is None or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def prom_query(base: str, query: str) -> list[dict[str, Any]]:
    _, body = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    out = json.loads(body)
    assert out["status"] == "success", out
    result: list[dict[str, Any]] = out["data"]["result"]
    return result


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the prometheus server (Debian package)")
def test_prometheus_scrapes_step_ca_metrics_from_two_workers(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    metrics_port = free_port()
    cfg = files.config()
    cfg["metricsAddress"] = f"127.0.0.1:{metrics_port}"
    cfg["address"] = f":{files.port}"  # every interface, which the start-up line says
    files.write_config(cfg)
    admin = admin_key(files)
    log = tmp_path / "server.log"
    with ca_process(files, workers=2, log=log):
        wait_for(lambda: log.read_text().count("serving metrics on") >= 2, what="two workers serving metrics")
        assert f"serving https://0.0.0.0:{files.port} on every network interface" in log.read_text()
        for i in range(6):
            assert post_sign(files, admin, f"m{i}.example") == 201
        assert post_sign(files, admin, "x.example", token="not-a-token") == 401
        # Any worker may answer a scrape; each answer has the totals of both.
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        for _ in range(6):
            status, body = get(url)
            text = body.decode()
            assert status == 200
            assert metric(text, "step_ca_x509_signed_total", provisioner="admin", success="true") == 6.0
            assert metric(text, "step_ca_x509_signed_total", provisioner="", success="false") == 1.0
            assert (
                metric(
                    text,
                    "plica_http_request_duration_seconds_count",
                    method="POST",
                    route="/1.0/sign",
                    code="201",
                )
                == 6.0
            )
            assert (
                metric(text, "plica_provisioner_request_duration_seconds_count", provisioner="admin") == 6.0
            )
            assert (metric(text, "step_ca_uptime_seconds") or 0) > 0

        # The real Prometheus server scrapes it, and its query API shows the series.
        prom_port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n"
            f"  - job_name: plica\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        )
        prom_log = (tmp_path / "prometheus.log").open("wb")
        prom = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=prom_log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{prom_port}"
        try:

            def scraped() -> bool:
                try:
                    return bool(prom_query(base, 'step_ca_x509_signed_total{success="true"}'))
                except (OSError, ValueError):
                    return False

            wait_for(scraped, timeout=60, what="prometheus to scrape the CA")
            (signed,) = prom_query(base, 'step_ca_x509_signed_total{success="true"}')
            assert signed["metric"]["provisioner"] == "admin" and signed["metric"]["job"] == "plica"
            assert float(signed["value"][1]) == 6.0
            p99 = prom_query(
                base,
                "histogram_quantile(0.99, sum by (le) "
                '(plica_http_request_duration_seconds_bucket{route="/1.0/sign", code="201"}))',
            )
            assert p99 and 0 < float(p99[0]["value"][1]) <= 10
            (per_prov,) = prom_query(base, "plica_provisioner_request_duration_seconds_count")
            assert per_prov["metric"]["provisioner"] == "admin" and float(per_prov["value"][1]) == 6.0
            (up,) = prom_query(base, 'up{job="plica"}')
            assert up["value"][1] == "1"
        finally:
            prom.terminate()
            try:
                prom.wait(timeout=20)
            except subprocess.TimeoutExpired:
                prom.kill()
            prom_log.close()


def test_without_metrics_address_no_metrics_are_served(tmp_path: Path) -> None:
    files = make_ca(tmp_path, ssh=False)
    log = tmp_path / "server.log"
    with ca_process(files, log=log):
        assert post_sign(files, admin_key(files), "n.example") == 201
    assert "metrics" not in log.read_text()


# ============================================================================ what is counted, in process


async def test_counters_follow_step_ca_for_x509_ssh_and_renewal(tmp_path: Path) -> None:
    import aiohttp
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from plica.metrics import MULTIPROC_ENV, PrometheusMeter
    from plica.testing import Api, in_process_ca, write_leaf

    assert not os.environ.get(MULTIPROC_ENV)  # one process: the meter's own registry
    files = make_ca(tmp_path)
    admin = admin_key(files)
    async with in_process_ca(files) as authority, aiohttp.ClientSession() as session:
        meter = authority.meter = PrometheusMeter(time.time())
        api = Api(files, session)
        r, key = await api.sign(admin, "c.example")
        assert r.status == 201
        crt, kf = write_leaf(tmp_path, "c", r, key)
        assert (await api.post("/renew", ctx=api.mtls(crt, kf))).status == 201
        pub = ed25519.Ed25519PrivateKey.generate().public_key()
        line = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1]
        line = line.decode()
        step = {"ssh": {"certType": "user", "keyID": "alice", "principals": ["alice"]}}
        ott = admin.token("alice", api.aud("/ssh/sign"), step=step)
        r = await api.post("/ssh/sign", {"publicKey": line, "ott": ott, "certType": "user", "keyID": "alice",
                                         "principals": ["alice"]})  # fmt: skip
        assert r.status == 201, r.raw
        text = meter.exposition()[0].decode()
    assert metric(text, "step_ca_x509_signed_total", provisioner="admin", success="true") == 1.0
    assert metric(text, "step_ca_x509_renewed_total", provisioner="admin", success="true") == 1.0
    assert metric(text, "step_ca_ssh_signed_total", provisioner="admin", success="true", type="user") == 1.0
    assert metric(text, "plica_http_request_duration_seconds_count", route="/renew", code="201") == 1.0
    assert metric(text, "plica_provisioner_request_duration_seconds_count", provisioner="admin") == 3.0


async def test_a_protocol_plugin_names_its_provisioner_in_the_access_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("plica_acme")
    import logging

    import aiohttp

    from plica.testing import Api, in_process_ca

    files = make_ca(tmp_path, ssh=False)
    files.add_provisioner({"type": "ACME", "name": "acme-1"})
    async with in_process_ca(files) as _, aiohttp.ClientSession() as session:
        with caplog.at_level(logging.INFO, logger="plica.access"):
            r = await Api(files, session).get("/acme/acme-1/directory")
            assert r.status == 200
    (line,) = [rec for rec in caplog.records if rec.name == "plica.access"]
    assert line.access["provisioner"] == "acme-1" and line.access["path"] == "/acme/acme-1/directory"  # type: ignore[attr-defined]


def test_common_log_format_access_line() -> None:
    import logging

    from plica.logs import CommonFormatter

    record = logging.LogRecord("plica.access", logging.INFO, __file__, 1, "x", None, None)
    record.created = 0
    record.access = {  # type: ignore[attr-defined]
        "remote-address": "192.0.2.7",
        "method": "POST",
        "path": "/1.0/sign",
        "protocol": "HTTP/1.1",
        "status": 201,
    }
    assert CommonFormatter().format(record) == (
        '192.0.2.7 - - [01/Jan/1970:00:00:00 +0000] "POST /1.0/sign HTTP/1.1" 201 -'
    )
