"""`GET /metrics`: the farm in Prometheus text format (`link_sync_*`, label `printer`).

Gauges are read from the FarmState at scrape time, so they are never stale and
cost nothing between scrapes. Counters and histograms are fed by the farm's
events as they happen (`FarmState.listen`). The histograms are farm-wide (no
`printer` label): 500 printers times a dozen buckets would be 6,000 series per
histogram for little gain; per-printer totals are in the counters.

Each app has its own registry, so nothing leaks between two servers in one process.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from link_sync import redact
from link_sync.watch.events import WatchEvent
from link_sync.watch.state import FarmState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds: a one-file sync takes about one, a big farm update an hour.
DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, float("inf"))
#: Bytes per second: the slowest printers take 25 kB/s, the fastest about 1 MB/s.
RATE_BUCKETS = (
    *(k * 1000 for k in (10, 25, 50, 100, 250, 500)),
    *(m * 1_000_000 for m in (1, 2.5, 5, 10)),
    float("inf"),
)


class FarmGauges(Collector):
    """Per-printer gauges, read from the farm at each scrape."""

    def __init__(self, farm: FarmState) -> None:
        self.farm = farm

    def collect(self) -> Iterator[Metric]:
        farm = self.farm
        up = GaugeMetricFamily(
            "link_sync_up",
            "1 if the printer answered its last request, 0 if not",
            labels=["printer"],
        )
        state = GaugeMetricFamily(
            "link_sync_printer_state",
            "1 for the state the printer reports (IDLE, PRINTING, ...)",
            labels=["printer", "state"],
        )
        in_sync = GaugeMetricFamily(
            "link_sync_in_sync",
            "1 if the printer holds exactly the master's files",
            labels=["printer"],
        )
        pending_files = GaugeMetricFamily(
            "link_sync_pending_files",
            "files still to upload, replace or delete",
            labels=["printer"],
        )
        pending_bytes = GaugeMetricFamily(
            "link_sync_pending_bytes", "bytes still to upload", labels=["printer"]
        )
        watching = GaugeMetricFamily(
            "link_sync_watching", "1 if the printer is watched, 0 if paused", labels=["printer"]
        )
        last_time = GaugeMetricFamily(
            "link_sync_last_sync_timestamp_seconds",
            "when the printer's last sync ended (Unix time)",
            labels=["printer"],
        )
        last_ok = GaugeMetricFamily(
            "link_sync_last_sync_success",
            "1 if the printer's last sync ended in sync (or busy), 0 if not",
            labels=["printer"],
        )
        for view in farm.printers.values():
            name = [view.name]
            if view.reachable is not None:
                up.add_metric(name, 1 if view.reachable else 0)
            if view.state:
                state.add_metric([view.name, redact.redact(view.state)], 1)
            if view.in_sync is not None:
                in_sync.add_metric(name, 1 if view.in_sync else 0)
            pending_files.add_metric(name, view.pending_files)
            pending_bytes.add_metric(name, view.pending_bytes)
            watching.add_metric(name, 1 if view.watching is True else 0)
            if view.last_sync is not None:
                last_time.add_metric(name, view.last_sync.time)
                last_ok.add_metric(name, 1 if view.last_sync.status in ("synced", "busy") else 0)
        yield from (up, state, in_sync, pending_files, pending_bytes, watching, last_time, last_ok)
        yield GaugeMetricFamily(
            "link_sync_master_files", "print files in the master folder", value=farm.master.files
        )
        yield GaugeMetricFamily(
            "link_sync_master_available",
            "1 while the master folder is there and not empty",
            value=1 if farm.master.available else 0,
        )


class Metrics:
    """The registry of one app: farm gauges plus counters and histograms fed by events."""

    def __init__(self, farm: FarmState) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(FarmGauges(farm))

        def per_printer(name: str, doc: str) -> Counter:
            return Counter(name, doc, labelnames=["printer"], registry=self.registry)

        self.files = {
            "uploaded": per_printer("link_sync_files_uploaded", "files uploaded"),
            "replaced": per_printer("link_sync_files_replaced", "stale files overwritten"),
            "deleted": per_printer("link_sync_files_deleted", "excess files deleted"),
        }
        self.bytes_sent = per_printer(
            "link_sync_bytes_sent", "bytes of files uploaded and verified"
        )
        self.failures = Counter(
            "link_sync_failures",
            "failures: kind=file (one file), sync (a printer's sync), unreachable",
            labelnames=["printer", "kind"],
            registry=self.registry,
        )
        self.sync_duration = Histogram(
            "link_sync_sync_duration_seconds",
            "how long a printer's sync took",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.upload_rate = Histogram(
            "link_sync_upload_rate_bytes_per_second",
            "each upload's average rate",
            buckets=RATE_BUCKETS,
            registry=self.registry,
        )
        for name in farm.printers:  # series start at 0, so increase() sees the first one
            for counter in (*self.files.values(), self.bytes_sent):
                counter.labels(name)
        farm.listen(self.count)

    def count(self, event: WatchEvent) -> None:
        printer = event.printer
        if printer is None:
            return
        kind = event.event
        if kind in self.files:
            self.files[kind].labels(printer).inc()
            if kind != "deleted" and event.bytes:
                self.bytes_sent.labels(printer).inc(event.bytes)
                if event.seconds:
                    self.upload_rate.observe(event.bytes / event.seconds)
        elif kind == "failed":
            self.failures.labels(printer, "file" if event.path else "sync").inc()
            if event.path is None and event.seconds is not None:
                self.sync_duration.observe(event.seconds)
        elif kind == "unreachable":
            self.failures.labels(printer, "unreachable").inc()
        elif kind == "synced" and event.seconds is not None:
            self.sync_duration.observe(event.seconds)

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE}
        )
