"""/metrics of a real running monitor (the Runtime, probing real HTTP servers on 127.0.0.1):
the text parses with prometheus-client's own parser and the counts move as probes run, an
incident opens, a page goes out and a forged webhook is refused."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from monitor.clock import SystemClock
from monitor.config import load_config
from monitor.runtime import Runtime, RuntimeOptions

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def monitor(
    tmp_path: Path, database_url: str, httpserver: HTTPServer
) -> AsyncIterator[httpx.AsyncClient]:
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/broken").respond_with_data("down", status=503)
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
              - name: broken
                interval: 1s
                timeout: 900ms
                request: {{url: "{httpserver.url_for("/broken")}"}}
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


async def eventually(client: httpx.AsyncClient, check: object, *, what: str) -> Samples:
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        samples = await scrape(client)
        if check(samples):  # type: ignore[operator]
            return samples
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_counts_move_as_probes_run_incidents_open_and_pages_go_out(
    monitor: httpx.AsyncClient,
) -> None:
    first = await scrape(monitor)

    later = await eventually(
        monitor,
        lambda s: (
            value(s, "monitor_probe_runs_total", probe="healthy", outcome="ok")
            >= value(first, "monitor_probe_runs_total", probe="healthy", outcome="ok") + 2
            and value(s, "monitor_pages", channel="sms", status="sent") >= 1
        ),
        what="two more healthy runs and a page sent",
    )

    assert value(later, "monitor_probe_runs_total", probe="healthy", outcome="failed") == 0
    assert value(later, "monitor_probe_runs_total", probe="broken", outcome="failed") >= 1
    assert value(later, "monitor_probe_runs_total", probe="broken", outcome="ok") == 0
    runs = value(later, "monitor_probe_runs_total", probe="healthy", outcome="ok")
    assert value(later, "monitor_probe_duration_seconds_count", probe="healthy") == runs
    assert value(later, "monitor_probe_duration_seconds_bucket", probe="healthy", le="+Inf") == runs
    open_incidents = sum(
        value(later, "monitor_open_incidents", severity=severity)
        for severity in ("degraded", "partial", "major")
    )
    assert open_incidents == 1
    assert value(later, "monitor_pages_sent_total", channel="sms") >= 1
    assert value(later, "monitor_engine_ticks_total") >= 1
    assert 0 <= value(later, "monitor_engine_tick_lag_seconds") < 10
    assert ("monitor_scheduler_lateness_seconds", (("quantile", "0.99"),)) in later
    assert value(later, "monitor_recorder_results_total", state="dropped") == 0
    assert value(later, "monitor_database_up") == 1


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
