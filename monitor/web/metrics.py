"""/metrics in Prometheus' text format (prometheus-client).

Two sources. Probe runs are counted as they finish (`Metrics.observe_run`, called by the
runtime): a counter by probe and outcome and a duration histogram by probe. Everything else is
read at scrape time: the scheduler's, recorder's and engine's own counters (they exist anyway;
copying them into a second set of counters could only drift), open incidents and pages from
the database (two grouped queries over small tables), webhook counts from the web app.

Each Metrics has a registry of its own, not prometheus-client's global one: tests build many
monitors in one process, and a second monitor would otherwise refuse to register its metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, literal_column, select

from monitor.storage.database import Database
from monitor.storage.tables import Incident, PageRow
from monitor.web.context import WebContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SEVERITIES = ("degraded", "partial", "major")
# Probe runs last from milliseconds (a health check) to their timeout (10 s by default).
DURATION_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """What is counted as it happens: one per running monitor."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "monitor_probe_runs",
            "Probe runs that finished, by probe and outcome (ok, failed).",
            ["probe", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "monitor_probe_duration_seconds",
            "How long a probe run took, all its steps.",
            ["probe"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )

    def observe_run(self, probe: str, *, ok: bool, duration_seconds: float) -> None:
        self.runs.labels(probe=probe, outcome="ok" if ok else "failed").inc()
        self.duration.labels(probe=probe).observe(duration_seconds)


@dataclass(eq=False)  # registries keep collectors in a dict: hashed by identity
class _Families(Collector):
    """Metric families computed before the scrape (the database is read with await, and a
    collector's collect() cannot await)."""

    families: list[Metric] = field(default_factory=list)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _counter(name: str, doc: str, label: str, values: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(name, doc, value=value)


def _plain_counter(name: str, doc: str, value: float) -> Metric:
    return CounterMetricFamily(name, doc, value=value)


async def _open_incidents(db: Database) -> Metric:
    async with db.session() as session:
        rows = await session.execute(
            select(Incident.severity, func.count())
            .where(Incident.state != literal_column("'resolved'"))
            .group_by(Incident.severity)
        )
        counts = {severity: int(count) for severity, count in rows}
    family = GaugeMetricFamily(
        "monitor_open_incidents", "Incidents not resolved, by severity.", labels=["severity"]
    )
    for severity in SEVERITIES:
        family.add_metric([severity], counts.get(severity, 0))
    return family


async def _pages(db: Database) -> Metric:
    async with db.session() as session:
        rows = await session.execute(
            select(PageRow.channel, PageRow.status, func.count()).group_by(
                PageRow.channel, PageRow.status
            )
        )
        counts = [(channel, status, int(count)) for channel, status, count in rows]
    family = GaugeMetricFamily(
        "monitor_pages",
        "Pages in the database by channel and status.",
        labels=["channel", "status"],
    )
    for channel, status, count in sorted(counts):
        family.add_metric([channel, status], count)
    return family


def _runtime_families(web: WebContext) -> Iterable[Metric]:
    state = web.state
    if state is None:
        return
    scheduler = state.scheduler_stats()
    if scheduler is not None:
        lateness = GaugeMetricFamily(
            "monitor_scheduler_lateness_seconds",
            "How late probe runs started after they were due (recent runs).",
            labels=["quantile"],
        )
        for quantile, value in (
            ("0.5", scheduler.lateness_ms.p50()),
            ("0.99", scheduler.lateness_ms.p99()),
        ):
            lateness.add_metric([quantile], value / 1000)
        yield lateness
        yield _gauge(
            "monitor_scheduler_runs_in_flight", "Probe runs going on now.", scheduler.running
        )
        yield _counter(
            "monitor_scheduler_trouble",
            "Runs the scheduler could not make as planned, by kind.",
            "kind",
            {
                "missed": scheduler.missed,
                "skipped_overlap": scheduler.skipped_overlap,
                "deadline_exceeded": scheduler.deadline_exceeded,
                "errors": scheduler.errors,
            },
        )
    recorder = state.recorder_stats()
    if recorder is not None:
        yield _counter(
            "monitor_recorder_results",
            "Results taken by the recorder, by what became of them.",
            "state",
            {"stored": recorder.stored, "dropped": recorder.dropped, "rejected": recorder.rejected},
        )
        yield _gauge("monitor_recorder_pending", "Results not written yet.", recorder.pending)
        yield _plain_counter(
            "monitor_recorder_failed_flushes",
            "Batches the database refused.",
            recorder.failed_flushes,
        )
    yield _gauge(
        "monitor_leader",
        "1 while this instance holds the leader lock (it detects and escalates).",
        1 if state.leads() else 0,
    )
    engine = state.engine_stats()
    if engine is not None:
        yield _plain_counter("monitor_engine_ticks", "Escalation engine ticks.", engine.ticks)
        if engine.last_tick is not None:
            lag = (web.clock.now() - engine.last_tick).total_seconds()
            yield _gauge(
                "monitor_engine_tick_lag_seconds", "Seconds since the engine last ticked.", lag
            )
        yield _counter(
            "monitor_engine_step_errors",
            "Engine steps that raised, by step.",
            "step",
            engine.step_errors,
        )
        yield _counter(
            "monitor_pages_sent",
            "Pages handed to a channel, by channel.",
            "channel",
            engine.pages_sent,
        )
        yield _counter(
            "monitor_page_failures",
            "Pages a channel failed for good, by channel.",
            "channel",
            engine.pages_failed,
        )


async def scrape(web: WebContext) -> bytes:
    families = _Families()
    families.families.extend(_runtime_families(web))
    families.families.append(
        _counter(
            "monitor_webhook_requests",
            "Signed Twilio webhook requests accepted, by route.",
            "route",
            web.stats.webhooks,
        )
    )
    families.families.append(
        _counter(
            "monitor_webhook_rejections",
            "Twilio webhook requests refused (missing or wrong signature), by route.",
            "route",
            web.stats.webhook_rejections,
        )
    )
    try:
        families.families += [await _open_incidents(web.db), await _pages(web.db)]
        up = 1
    except Exception:  # a scrape still says what it can, and that the database is away
        up = 0
    families.families.append(
        _gauge("monitor_database_up", "1 when the last scrape could read the database.", up)
    )
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(families)
    body = generate_latest(scraped)
    if web.metrics is not None:
        body = generate_latest(web.metrics.registry) + body
    return body
