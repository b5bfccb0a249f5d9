"""Prometheus metrics on ca.json's `metricsAddress` (plain HTTP, `GET /metrics`).

Names: step-ca's for what step-ca counts (`step_ca_uptime_seconds`, `step_ca_x509_signed_total`,
`step_ca_x509_renewed_total`, `step_ca_x509_rekeyed_total` by `provisioner` and `success`; the `ssh_`
ones also by certificate `type`), so dashboards written for step-ca work; Plica's own latency histograms
are `plica_http_request_duration_seconds` (by `method`, `route` — the route's pattern, such as
`/acme/{provisioner}/new-order`, never the raw path — and `code`) and
`plica_provisioner_request_duration_seconds` (by `provisioner`).

Several workers: every worker counts in its own memory-mapped file in one directory (prometheus_client's
multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`, which the master sets before any worker starts), and the
worker that answers a scrape adds up every worker's files, so a scrape sees the CA's totals whichever
worker answers, including workers that have exited. One observation costs a few microseconds.

prometheus_client is imported only by a CA that serves metrics (`PROMETHEUS_MULTIPROC_DIR` must be set
before its first import).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from plica.observe import Kind, Operation, current_provisioner

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def prepare_multiprocess() -> str:
    """Make the directory the workers count in (a fresh one per CA start) and announce it; call in the
    master before prometheus_client is imported and before workers fork. Returns it for `cleanup`."""
    path = tempfile.mkdtemp(prefix="plica-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if os.environ.get(MULTIPROC_ENV) == path:
        del os.environ[MULTIPROC_ENV]


class PrometheusMeter:
    """The metrics of one process (see the module docstring); `count` is `plica.observe.Meter`."""

    def __init__(self, start_time: float) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from prometheus_client.core import GaugeMetricFamily

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # In multiprocess mode values live in the files; the registry a scrape reads is built per scrape.
        own = None if self.multiprocess else CollectorRegistry()
        self.registry = own
        counters: dict[tuple[str, str], Any] = {}
        for kind in ("x509", "ssh"):
            labels = ["provisioner", "success", *(["type"] if kind == "ssh" else [])]
            for op, what in (("signed", "signed"), ("renewed", "renewed"), ("rekeyed", "rekeyed")):
                counters[(kind, op)] = Counter(
                    f"step_ca_{kind}_{op}", f"Number of certificates {what}", labels, registry=own
                )
        self._counters = counters
        self._children: dict[Any, Any] = {}
        self.route_latency = Histogram(
            "plica_http_request_duration_seconds",
            "Time to answer a request, by route pattern",
            ["method", "route", "code"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.provisioner_latency = Histogram(
            "plica_provisioner_request_duration_seconds",
            "Time to answer a request served by a provisioner",
            ["provisioner"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )

        class Uptime:
            def collect(self) -> Iterator[Any]:
                yield GaugeMetricFamily(
                    "step_ca_uptime_seconds",
                    "Number of seconds since service start",
                    time.time() - start_time,
                )

        self._uptime = Uptime()
        if own is not None:
            own.register(self._uptime)  # type: ignore[arg-type]

    # The labelled series are looked up in plain dicts first: prometheus_client's `labels()` validates and
    # locks on every call, a third of an observation's cost.
    def count(self, kind: Kind, operation: Operation, success: bool, cert_type: str = "") -> None:
        key = (kind, operation, current_provisioner(), success, cert_type)
        child = self._children.get(key)
        if child is None:
            labels = [key[2], "true" if success else "false"]
            if kind == "ssh":
                labels.append(cert_type or "unknown")
            child = self._children[key] = self._counters[(kind, operation)].labels(*labels)
        child.inc()

    def observe(self, method: str, route: str, code: int, provisioner: str, seconds: float) -> None:
        key = (method, route, code)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.route_latency.labels(method, route, str(code))
        child.observe(seconds)
        if provisioner:
            child = self._children.get(provisioner)
            if child is None:
                child = self._children[provisioner] = self.provisioner_latency.labels(provisioner)
            child.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        registry = self.registry
        if registry is None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(self._uptime)  # type: ignore[arg-type]
        return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_app(meter: PrometheusMeter) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        body, content_type = meter.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app
