"""The self checks' thresholds, the heartbeat (a real HTTP server as the dead man's switch),
and a running monitor pinging it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config.models import SelfConfig
from monitor.escalation.engine import EngineStats
from monitor.probing.scheduler import SchedulerStats
from monitor.selfwatch.checks import (
    MIN_LATENESS_SAMPLES,
    DiskUsage,
    Trouble,
    Vitals,
    all_troubles,
    disk_trouble,
)
from monitor.selfwatch.heartbeat import Heartbeat
from monitor.storage.recorder import RecorderStats
from monitor.testing.runtime import eventually, running_monitor

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
SELF = SelfConfig()


def recorder(
    *, failing_for: timedelta | None, pending: int = 10, dropped: int = 0
) -> RecorderStats:
    return RecorderStats(
        taken=100,
        stored=100 - pending - dropped,
        pending=pending,
        failed_flushes=3,
        dropped=dropped,
        rejected=0,
        failing_since=None if failing_for is None else NOW - failing_for,
    )


def monitor_logs(caplog: pytest.LogCaptureFixture) -> str:
    # Only the monitor's own lines: the test server's access log shows the path, as it should.
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("monitor"))


def kinds(vitals: Vitals, config: SelfConfig = SELF) -> list[str]:
    return [trouble.kind for trouble in all_troubles(vitals, config, disk_path=None)]


def test_a_database_refusing_writes_is_trouble_only_past_its_threshold() -> None:
    assert kinds(Vitals(now=NOW, recorder=recorder(failing_for=None))) == []
    assert kinds(Vitals(now=NOW, recorder=recorder(failing_for=timedelta(seconds=59)))) == []
    [trouble] = all_troubles(
        Vitals(now=NOW, recorder=recorder(failing_for=timedelta(minutes=5), dropped=7)),
        SELF,
        disk_path=None,
    )
    assert trouble == Trouble(
        "database", "database refuses writes for 5m: 10 results held, 7 DROPPED"
    )


def test_a_channel_failing_in_a_row_is_trouble_until_it_works_again() -> None:
    stats = EngineStats()
    vitals = Vitals(now=NOW, engine=stats, engine_started_at=NOW)
    for _ in range(2):
        stats.channel_failed("sms", "Twilio 30008: unknown error")
    assert kinds(vitals) == []
    stats.channel_failed("sms", "Twilio 30008: unknown error")
    [trouble] = all_troubles(vitals, SELF, disk_path=None)
    assert trouble.summary == "sms failing: 3 sends in a row (Twilio 30008: unknown error)"
    stats.channel_worked("sms")
    assert kinds(vitals) == []


def test_probes_running_late_is_trouble_by_their_p99() -> None:
    stats = SchedulerStats()
    for _ in range(MIN_LATENESS_SAMPLES - 1):
        stats.lateness_ms.add(45_000)
    assert kinds(Vitals(now=NOW, scheduler=stats)) == []  # too few runs to judge
    stats.lateness_ms.add(45_000)
    assert kinds(Vitals(now=NOW, scheduler=stats)) == ["lateness"]
    assert (
        kinds(Vitals(now=NOW, scheduler=stats), SelfConfig(max_lateness=timedelta(minutes=1))) == []
    )


def test_an_engine_without_a_tick_for_a_minute_is_stalled() -> None:
    stats = EngineStats()
    started = NOW - timedelta(seconds=30)
    assert kinds(Vitals(now=NOW, engine=stats, engine_started_at=started)) == []
    # A tick from an earlier term as leader does not make a new term look stalled.
    stats.last_tick = NOW - timedelta(minutes=10)
    assert kinds(Vitals(now=NOW, engine=stats, engine_started_at=started)) == []
    started = NOW - timedelta(minutes=5)
    stats.last_tick = NOW - timedelta(seconds=61)
    [trouble] = all_troubles(
        Vitals(now=NOW, engine=stats, engine_started_at=started), SELF, disk_path=None
    )
    assert trouble.summary == "escalation engine stalled: no tick for 61s"
    assert kinds(Vitals(now=NOW, scheduler_running=False)) == ["scheduler"]


def test_free_disk_space_below_the_threshold_is_trouble(tmp_path: Path) -> None:
    assert disk_trouble(tmp_path, SelfConfig(min_free_disk_mb=0)) is None
    full = disk_trouble(tmp_path, SelfConfig(min_free_disk_mb=10**9))  # more than any disk
    assert full is not None and full.kind == "disk"

    def nearly_full(_: Path) -> DiskUsage:
        return DiskUsage(total=10 * 1024**3, used=10 * 1024**3 - 200 * 1024**2, free=200 * 1024**2)

    tight = disk_trouble(tmp_path, SELF, read=nearly_full)
    assert tight == Trouble("disk", f"disk almost full: 200 MB free at {tmp_path} (limit 500 MB)")
    gone = disk_trouble(tmp_path / "missing", SELF)
    assert gone is not None and gone.summary.startswith("cannot read free space")


async def test_the_heartbeat_pings_only_while_nothing_vital_is_wrong(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/ping/secret-uuid").respond_with_data("OK")
    troubles: list[Trouble] = []
    heartbeat = Heartbeat(
        url=lambda: httpserver.url_for("/ping/secret-uuid"),
        every=lambda: timedelta(minutes=1),
        troubles=lambda: troubles,
    )

    assert await heartbeat.beat()
    troubles.append(Trouble("database", "database refuses writes for 2m: 9 results held"))
    with caplog.at_level(logging.WARNING):
        assert not await heartbeat.beat()

    assert len(httpserver.log) == 1
    assert (heartbeat.sent, heartbeat.withheld) == (1, 1)
    said = monitor_logs(caplog)
    assert "heartbeat withheld" in said and "secret-uuid" not in said


async def test_a_heartbeat_endpoint_failing_is_logged_without_its_secret(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/ping/secret-uuid").respond_with_data("nope", status=503)
    heartbeat = Heartbeat(
        url=lambda: httpserver.url_for("/ping/secret-uuid"),
        every=lambda: timedelta(minutes=1),
        troubles=list,
    )
    with caplog.at_level(logging.WARNING):
        assert not await heartbeat.beat()
    assert heartbeat.failed == 1
    said = monitor_logs(caplog)
    assert "HTTP 503" in said and "secret-uuid" not in said


async def test_a_running_monitor_pings_its_heartbeat(
    httpserver: HTTPServer, database_url: str, tmp_path: Path
) -> None:
    httpserver.expect_request("/ping").respond_with_data("OK")
    config = tmp_path / "config.yaml"
    config.write_text(
        f'self: {{heartbeat_url: "{httpserver.url_for("/ping")}", heartbeat_every: 1s}}\n'
        'probes: [{name: login, interval: 1h, request: {url: "http://127.0.0.1:9/"}}]\n'
    )
    async with running_monitor(config, database_url=database_url) as runtime:
        await eventually(lambda: len(httpserver.log) >= 2, what="two heartbeats")
        assert runtime.self_watch is not None and runtime.self_watch.troubles == []
    pings = len(httpserver.log)
    await asyncio.sleep(1.5)
    assert len(httpserver.log) == pings  # a stopped monitor vouches for nothing
