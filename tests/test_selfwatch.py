"""The self checks' thresholds, the heartbeat (a real HTTP server as the dead man's switch),
and a running monitor pinging it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.clock import ManualClock
from monitor.config.models import SELF_PROBE, ProbeConfig, SelfConfig
from monitor.escalation.engine import EngineStats
from monitor.probing.scheduler import SchedulerStats
from monitor.selfwatch.arrivals import ResultArrivals, Silence
from monitor.selfwatch.checks import (
    MIN_LATENESS_SAMPLES,
    DiskUsage,
    Trouble,
    Vitals,
    all_troubles,
    disk_trouble,
)
from monitor.selfwatch.heartbeat import Heartbeat
from monitor.storage.incidents import latest_incident
from monitor.storage.recorder import Recorder, RecorderStats
from monitor.storage.records import ResultRecord
from monitor.storage.repository import ensure_probes
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


def probe(name: str, *locations: str, interval: int = 30) -> ProbeConfig:
    return ProbeConfig.model_validate(
        {
            "name": name,
            "interval": f"{interval}s",
            "timeout": "5s",
            "locations": list(locations),
            "request": {"url": "http://127.0.0.1/"},
        }
    )


def test_a_location_is_silent_after_its_missed_runs_and_one_line_covers_its_probes() -> None:
    login, signup = probe("login", "eu", "us"), probe("signup", "eu", "us", interval=60)
    arrivals = ResultArrivals(since=NOW)
    # 3 missed runs of 30 s, the 5 s timeout and 10 s for the result to arrive: 105 s.
    assert arrivals.silences([login, signup], now=NOW + timedelta(seconds=105), missed_runs=3) == []
    for name in ("login", "signup"):
        arrivals.heard(name, "eu", at=NOW + timedelta(seconds=100))
    later = NOW + timedelta(seconds=106)
    [silence] = arrivals.silences([login, signup], now=later, missed_runs=3)
    # signup runs every 60 s: it may be quiet 195 s, so only login's silence counts yet.
    assert silence == Silence(location="us", probes=("login",), quiet_for=timedelta(seconds=106))
    much_later = NOW + timedelta(seconds=300)
    assert arrivals.silences([login, signup], now=much_later, missed_runs=3) == [
        Silence(location="eu", probes=("login", "signup"), quiet_for=timedelta(seconds=200)),
        Silence(location="us", probes=("login", "signup"), quiet_for=timedelta(seconds=300)),
    ]
    assert arrivals.silences([login], now=much_later, missed_runs=10) == []


def test_a_probe_added_later_is_quiet_only_from_when_it_was_first_expected() -> None:
    arrivals = ResultArrivals(since=NOW)
    assert arrivals.silences([probe("login", "eu")], now=NOW, missed_runs=3) == []
    added = NOW + timedelta(hours=1)  # a reload added signup an hour after this leader began
    login, signup = probe("login", "eu"), probe("signup", "eu")
    arrivals.heard("login", "eu", at=added)
    assert arrivals.silences([login, signup], now=added, missed_runs=3) == []
    [silence] = arrivals.silences([login, signup], now=added + timedelta(minutes=2), missed_runs=3)
    assert silence.probes == ("login", "signup")
    assert silence.quiet_for == timedelta(minutes=2)


def test_a_probe_disabled_for_an_hour_is_not_silent_when_it_comes_back() -> None:
    login, signup = probe("login", "eu"), probe("signup", "eu")
    arrivals = ResultArrivals(since=NOW)
    arrivals.heard("signup", "eu", at=NOW)
    assert arrivals.silences([login, signup], now=NOW, missed_runs=3) == []
    an_hour = NOW + timedelta(hours=1)
    arrivals.heard("login", "eu", at=an_hour)
    assert arrivals.silences([login], now=an_hour, missed_runs=3) == []  # signup disabled
    back = an_hour + timedelta(seconds=30)  # enabled again, its first run not yet due
    assert arrivals.silences([login, signup], now=back, missed_runs=3) == []
    later = back + timedelta(minutes=2)
    arrivals.heard("login", "eu", at=later)
    [silence] = arrivals.silences([login, signup], now=later, missed_runs=3)
    assert silence.probes == ("signup",) and silence.quiet_for == timedelta(minutes=2)


def test_silent_locations_are_trouble_in_a_line_fit_for_an_sms() -> None:
    many = tuple(f"probe-{n}" for n in range(5))
    vitals = Vitals(
        now=NOW,
        silences=[
            Silence(location="eu", probes=("login",), quiet_for=timedelta(seconds=106)),
            Silence(location="us", probes=many, quiet_for=timedelta(minutes=40)),
        ],
    )
    assert all_troubles(vitals, SELF, disk_path=None) == [
        Trouble("silence", "no results from eu for 106s: login"),
        Trouble("silence", "no results from us for 40m: probe-0, probe-1, probe-2 +2 more"),
    ]
    assert kinds(Vitals(now=NOW, silences=[])) == []


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


async def test_the_leader_opens_monitor_self_when_a_probe_location_goes_quiet(
    database_url: str, tmp_path: Path
) -> None:
    # An engine instance leads; a probe instance in `eu` reports, the one in `us` never started.
    config = tmp_path / "config.yaml"
    config.write_text(
        "probes: [{name: login, interval: 10s, timeout: 2s, locations: [eu, us],\n"
        '          request: {url: "http://127.0.0.1:9/"}, alert: {quorum: 2}}]\n'
    )
    clock = ManualClock(NOW)
    lines: list[str] = []
    async with running_monitor(
        config, database_url=database_url, clock=clock, role="engine", lines=lines
    ) as runtime:
        # SQLite is one instance's database: it says at start that nothing will run login.
        warned = (
            "warning: nothing runs login: on SQLite this is the only instance, and it runs no "
            "probes. To fix: run it with `--role all`, or use PostgreSQL with a `--role probe "
            "--location NAME` instance per location"
        )
        assert (warned in "\n".join(lines)) == database_url.startswith("sqlite")
        assert runtime.database is not None and runtime.self_watch is not None
        # Leading begins with the lock; arrivals are counted from the end of the replay that
        # follows, and the clock must not move before then.
        await eventually(lambda: runtime.arrivals is not None, what="the engine to lead")
        eu = Recorder(
            runtime.database,
            clock=clock,
            probe_ids=await ensure_probes(runtime.database, ["login"], now=NOW),
            flush_interval=0.05,
        )
        await eu.start()
        try:
            for _ in range(5):  # eu reports every 10 s
                clock.advance(timedelta(seconds=10))
                eu.record(
                    ResultRecord(
                        probe="login",
                        location="eu",
                        due_at=clock.now(),
                        started_at=clock.now(),
                        duration_ms=40,
                        ok=True,
                        status=200,
                    )
                )
                await eventually(lambda: eu.stats.pending == 0, what="the eu result stored")
                await eventually(
                    lambda: (
                        runtime.arrivals is not None
                        and runtime.arrivals.last_heard("login", "eu") == clock.now()
                    ),
                    what="the leader to read it",
                )
                troubles = await runtime.self_watch.check()
                quiet = clock.now() - NOW
                # us may be quiet 3 runs (30 s) + the timeout (2 s) + 10 s for arrival: 42 s.
                if quiet <= timedelta(seconds=42):
                    assert troubles == []
            [trouble] = runtime.self_watch.troubles
            assert trouble == Trouble("silence", "no results from us for 50s: login")
            incident = await latest_incident(runtime.database, probe=SELF_PROBE)
            assert incident is not None and incident.state == "triggered"
            assert incident.figures == "no results from us for 50s: login"
        finally:
            await eu.stop()
