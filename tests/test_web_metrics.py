"""/metrics of a real running monitor (the Runtime, probing real HTTP servers on 127.0.0.1):
the text parses with prometheus-client's own parser and the counts move as probes run, an
incident opens, a page goes out and a forged webhook is refused."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.clock import ManualClock, SystemClock
from monitor.config import load_config
from monitor.config.models import MonitorConfig
from monitor.runtime import Runtime, RuntimeOptions
from monitor.storage.database import Database
from monitor.testing.web import web_context
from monitor.web import WebContext, WebServer, create_app

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class Target:
    """The API the `login` probe checks: answering, until the test breaks it."""

    broken: bool = False

    def respond(self, _request: Request) -> Response:
        return Response("down", status=503) if self.broken else Response("fine")


@pytest.fixture
def target() -> Target:
    return Target()


@pytest.fixture
async def monitor(
    tmp_path: Path, database_url: str, httpserver: HTTPServer, target: Target
) -> AsyncIterator[httpx.AsyncClient]:
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/login").respond_with_handler(target.respond)
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            defaults: {{policy: urgent}}
            people:
              - {{id: alice, name: Alice, phone: "+4915110000001", channels: [sms]}}
            policies:
              - name: urgent
                levels: [{{notify: [{{person: alice}}], escalate_after: 1h}}]
            probes:
              - name: healthy
                interval: 1s
                timeout: 900ms
                request: {{url: "{httpserver.url_for("/ok")}"}}
              - name: login
                interval: 1s
                timeout: 900ms
                request: {{url: "{httpserver.url_for("/login")}"}}
                conditions: ["[STATUS] == 200"]
                alert:
                  trigger: [{{consecutive_failures: 1}}]
                  confirm: {{runs: 0}}
            """
        )
    )
    runtime = Runtime(
        load_config(config),
        options=RuntimeOptions(database_url=database_url, listen="127.0.0.1:0", summary_every=0),
        clock=SystemClock(),
        emit=lambda line: None,
    )
    await runtime.start()
    try:
        assert runtime.web is not None
        async with httpx.AsyncClient(base_url=runtime.web.url, timeout=10) as client:
            yield client
    finally:
        await runtime.stop()


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def eventually(
    client: httpx.AsyncClient, check: Callable[[Samples], bool], *, what: str
) -> Samples:
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        samples = await scrape(client)
        if check(samples):
            return samples
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def runs(samples: Samples, probe: str, outcome: str) -> float:
    return value(samples, "monitor_probe_runs_total", probe=probe, outcome=outcome)


def open_incidents(samples: Samples) -> float:
    return sum(
        value(samples, "monitor_open_incidents", severity=severity)
        for severity in ("degraded", "partial", "major")
    )


async def test_counts_move_as_probes_run_incidents_open_and_pages_go_out(
    monitor: httpx.AsyncClient, target: Target
) -> None:
    first = await scrape(monitor)
    healthy = await eventually(
        monitor,
        lambda s: (
            runs(s, "healthy", "ok") >= runs(first, "healthy", "ok") + 2
            and runs(s, "login", "ok") >= 1
        ),
        what="two more runs of healthy and one of login",
    )
    assert open_incidents(healthy) == 0
    assert value(healthy, "monitor_pages", channel="sms", status="sent") == 0
    assert 0 <= value(healthy, "monitor_engine_tick_lag_seconds") < 10

    target.broken = True
    broken = await eventually(
        monitor,
        lambda s: (
            open_incidents(s) == 1
            and value(s, "monitor_pages", channel="sms", status="sent") >= 1
            and value(s, "monitor_recorder_results_total", state="stored") >= 1
        ),
        what="an incident open, its page sent and results stored",
    )

    assert runs(broken, "login", "failed") >= 1
    assert runs(broken, "healthy", "failed") == 0
    count = runs(broken, "healthy", "ok")
    assert value(broken, "monitor_probe_duration_seconds_count", probe="healthy") == count
    assert (
        value(broken, "monitor_probe_duration_seconds_bucket", probe="healthy", le="+Inf") == count
    )
    assert value(broken, "monitor_pages_sent_total", channel="sms") >= 1
    assert value(broken, "monitor_engine_ticks_total") >= 1
    assert ("monitor_scheduler_lateness_seconds", (("quantile", "0.99"),)) in broken
    assert value(broken, "monitor_recorder_results_total", state="dropped") == 0
    assert value(broken, "monitor_recorder_failed_flushes_total") == 0
    assert value(broken, "monitor_database_up") == 1


async def test_a_refused_webhook_is_counted(monitor: httpx.AsyncClient) -> None:
    before = await scrape(monitor)

    forged = await monitor.post("/twilio/sms", data={"From": "+4915110000001", "Body": "ACK"})

    assert forged.status_code == 403
    after = await scrape(monitor)
    route = "/twilio/sms"
    assert value(after, "monitor_webhook_rejections_total", route=route) == (
        value(before, "monitor_webhook_rejections_total", route=route) + 1
    )
    assert value(after, "monitor_webhook_requests_total", route=route) == 0


async def test_without_a_running_monitor_the_database_and_webhooks_are_still_reported(
    database: Database, unreachable_url: str
) -> None:
    config = MonitorConfig.model_validate({"probes": []})
    gone = Database.connect(unreachable_url)
    try:
        up = await scrape_app(web_context(database, clock=ManualClock(NOW), config=lambda: config))
        down = await scrape_app(web_context(gone, clock=ManualClock(NOW), config=lambda: config))
    finally:
        await gone.dispose()

    assert value(up, "monitor_database_up") == 1
    assert ("monitor_open_incidents", (("severity", "major"),)) in up
    assert not any(name.startswith("monitor_probe_") for name, _ in up)  # nothing ran
    assert value(down, "monitor_database_up") == 0  # still an answer: what it could read
    assert ("monitor_open_incidents", (("severity", "major"),)) not in down


async def scrape_app(web: WebContext) -> Samples:
    server = WebServer(create_app(web), listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            return await scrape(client)
    finally:
        await server.stop()
