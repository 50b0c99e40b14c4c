"""The monitor noticing that it is itself the broken part, paged through the Twilio sandbox on
SQLite and PostgreSQL: the database refusing writes (results held, then written, none lost), the
SMS provider failing (paged by voice), the disk nearly full, and the database gone altogether
(an emergency SMS, straight through the channel)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import ReturningDatabase
from sqlalchemy import func, select, text

from monitor.config.models import SELF_PROBE, MonitorConfig, SelfConfig
from monitor.detection.detector import Detector
from monitor.detection.store import DatabaseIncidents
from monitor.oncall import on_call
from monitor.selfwatch.checks import Vitals
from monitor.selfwatch.emergency import EmergencyPager
from monitor.selfwatch.watch import RECOVER_AFTER, SelfWatch
from monitor.storage.database import Database
from monitor.storage.incidents import get_incident, latest_incident, open_incident
from monitor.storage.recorder import Recorder, RecorderStats
from monitor.storage.records import ResultRecord
from monitor.storage.repository import StoredResult, ensure_probes
from monitor.storage.tables import Incident, Result
from monitor.testing.twilio import TwilioScenario


def run(at: datetime, index: int) -> ResultRecord:
    return ResultRecord(
        probe="login",
        location="local",
        due_at=at,
        started_at=at + timedelta(milliseconds=index),
        duration_ms=40,
        ok=True,
        status=200,
    )


async def refuse_result_writes(db: Database) -> None:
    """The database refusing every new result, as a full disk or a revoked grant would."""
    async with db.engine.begin() as conn:
        if db.engine.dialect.name == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_results BEFORE INSERT ON results "
                    "BEGIN SELECT RAISE(ABORT, 'results refused by the test'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE FUNCTION refuse_results() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'results refused by the test'; END $$ LANGUAGE plpgsql"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_results BEFORE INSERT ON results "
                    "FOR EACH STATEMENT EXECUTE FUNCTION refuse_results()"
                )
            )


async def accept_result_writes(db: Database) -> None:
    async with db.engine.begin() as conn:
        if db.engine.dialect.name == "sqlite":
            await conn.execute(text("DROP TRIGGER refuse_results"))
        else:
            await conn.execute(text("DROP TRIGGER refuse_results ON results"))
            await conn.execute(text("DROP FUNCTION refuse_results()"))


def with_self(scenario: TwilioScenario, watch: SelfConfig) -> MonitorConfig:
    config: MonitorConfig = scenario.config.model_copy(update={"watch_self": watch})
    return config


async def wait_for(condition: object, *, what: str, seconds: float = 20.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def stored_results(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Result)) or 0)


def watch_of(scenario: TwilioScenario, vitals: object, **kwargs: object) -> SelfWatch:
    assert callable(vitals)
    return SelfWatch(
        kwargs.pop("db", scenario.db),  # type: ignore[arg-type]
        config=lambda: scenario.config,
        clock=scenario.clock,
        vitals=vitals,  # type: ignore[arg-type]
        disk_path=kwargs.pop("disk_path", None),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def database_gone(
    scenario: TwilioScenario, unreachable_url: str
) -> AsyncIterator[tuple[SelfWatch, EmergencyPager]]:
    """Self checks over a database that cannot be reached, its recorder failing for 5 minutes
    already; the emergency pager sends through the scenario's Twilio channels."""
    gone = Database.connect(unreachable_url)
    recorder = Recorder(gone, clock=scenario.clock, probe_ids={"login": 1}, flush_interval=0.05)
    await recorder.start()
    pager = EmergencyPager(
        config=lambda: scenario.config, channels=scenario.engine.channels, on_call=on_call
    )
    watch = SelfWatch(
        gone,
        config=lambda: scenario.config,
        clock=scenario.clock,
        vitals=lambda: Vitals(now=scenario.now, recorder=recorder.stats),
        disk_path=None,
        emergency=pager,
    )
    try:
        recorder.record(run(scenario.now, 0))
        await wait_for(lambda: recorder.stats.failing_since is not None, what="a failed write")
        scenario.clock.advance(timedelta(minutes=5))
        yield watch, pager
    finally:
        await recorder.stop(timeout=0.5)
        await gone.dispose()


async def test_refused_writes_page_monitor_self_and_the_held_results_are_written_after(
    twilio_scenario: TwilioScenario,
) -> None:
    scenario = twilio_scenario
    ids = await ensure_probes(scenario.db, ["login"], now=scenario.now)
    recorder = Recorder(
        scenario.db, clock=scenario.clock, probe_ids=ids, flush_interval=0.05, batch_size=50
    )
    await recorder.start()
    watch = watch_of(scenario, lambda: Vitals(now=scenario.now, recorder=recorder.stats))
    await refuse_result_writes(scenario.db)
    try:
        for index in range(300):
            recorder.record(run(scenario.now, index))
        await wait_for(lambda: recorder.stats.failing_since is not None, what="a refused write")

        assert await watch.check() == []  # refused for less than a minute: not trouble yet
        scenario.clock.advance(timedelta(seconds=61))
        [trouble] = await watch.check()

        assert trouble.kind == "database"
        assert trouble.summary == "database refuses writes for 61s: 300 results held"
        await scenario.tick()
        sms = scenario.phone("alice").expect_sms(SELF_PROBE).last_sms
        assert sms is not None and "MAJOR" in sms and "300 results held" in sms
    finally:
        await accept_result_writes(scenario.db)

    await wait_for(lambda: recorder.stats.pending == 0, what="the held results to be written")
    assert await stored_results(scenario.db) == 300  # none lost within the bound
    assert recorder.stats.dropped == 0
    assert await watch.check() == []
    scenario.clock.advance(RECOVER_AFTER)
    await watch.check()
    incident = await latest_incident(scenario.db, probe=SELF_PROBE)
    assert incident is not None and incident.state == "resolved"
    await scenario.tick()
    scenario.phone("alice").expect_resolved(SELF_PROBE)
    await recorder.stop()


async def test_results_past_the_buffer_bound_are_dropped_oldest_first_and_counted(
    twilio_scenario: TwilioScenario,
) -> None:
    scenario = twilio_scenario
    ids = await ensure_probes(scenario.db, ["login"], now=scenario.now)
    recorder = Recorder(
        scenario.db,
        clock=scenario.clock,
        probe_ids=ids,
        flush_interval=0.05,
        batch_size=10,
        max_buffer=100,
    )
    await recorder.start()
    watch = watch_of(scenario, lambda: Vitals(now=scenario.now, recorder=recorder.stats))
    await refuse_result_writes(scenario.db)
    try:
        for index in range(150):
            recorder.record(run(scenario.now, index))
        await wait_for(lambda: recorder.stats.failing_since is not None, what="a refused write")
        scenario.clock.advance(timedelta(minutes=2))
        [trouble] = await watch.check()
        assert trouble.summary.endswith("100 results held, 50 DROPPED")
    finally:
        await accept_result_writes(scenario.db)
    await wait_for(lambda: recorder.stats.pending == 0, what="the held results to be written")
    async with scenario.db.session() as session:
        first = await session.scalar(select(func.min(Result.started_at)))
    assert await stored_results(scenario.db) == 100
    assert first == run(scenario.now - timedelta(minutes=2), 50).started_at  # the newest kept
    await recorder.stop()


async def test_a_failing_sms_provider_pages_monitor_self_by_voice(
    twilio_scenario: TwilioScenario,
) -> None:
    scenario = twilio_scenario
    scenario.scenario.config = with_self(scenario, SelfConfig(provider_failures=1))
    assert scenario.monitor_app is not None
    # Delivery callbacks reach the webhooks' engine object: in `monitor run` it is the one
    # engine; here the scenario's engine sends and the web app's hears the callbacks.
    heard = scenario.monitor_app.state.web.tracker.engine.stats
    watch = watch_of(
        scenario, lambda: Vitals(now=scenario.now, engine=heard, engine_started_at=scenario.now)
    )
    scenario.phone("alice").behave(sms="fail")

    await scenario.open("login")  # the SMS fails (the provider says failed): alice is called
    await scenario.tick()
    scenario.phone("alice").expect_sms("login")  # sent, then reported failed
    scenario.phone("alice").expect_call("login").hang_up()
    [trouble] = await watch.check()

    assert trouble.kind == "provider"
    assert trouble.summary.startswith("sms failing: 1 sends in a row")
    await scenario.tick()  # monitor-self's SMS fails too: alice's next channel is voice
    await scenario.tick()
    scenario.phone("alice").expect_sms(SELF_PROBE)
    scenario.phone("alice").expect_call(SELF_PROBE.replace("-", " ")).hang_up()


async def test_a_disk_below_its_free_space_threshold_pages_monitor_self(
    twilio_scenario: TwilioScenario, tmp_path: Path
) -> None:
    scenario = twilio_scenario
    # A threshold above the free space there is now: the disk is "full" for this monitor.
    scenario.scenario.config = with_self(scenario, SelfConfig(min_free_disk_mb=10**9))
    watch = watch_of(scenario, lambda: Vitals(now=scenario.now), disk_path=tmp_path)

    [trouble] = await watch.check()

    assert trouble.kind == "disk" and trouble.summary.startswith("disk almost full: ")
    assert f"MB free at {tmp_path}" in trouble.summary
    await scenario.tick()
    scenario.phone("alice").expect_sms("disk almost full")
    scenario.scenario.config = with_self(scenario, SelfConfig())
    assert await watch.check() == []


async def test_with_the_database_gone_an_emergency_sms_goes_straight_out(
    twilio_scenario: TwilioScenario, unreachable_url: str
) -> None:
    scenario = twilio_scenario
    async with database_gone(scenario, unreachable_url) as (watch, pager):
        await watch.check()

        sms = scenario.phone("alice").expect_sms("monitor-self: database refuses writes").last_sms
        assert sms is not None and "Other alerts cannot page" in sms
        await watch.check()  # the same outage a moment later: no second SMS yet
        scenario.phone("alice").expect_nothing()
        scenario.clock.advance(timedelta(minutes=31))
        await watch.check()
        scenario.phone("alice").expect_sms("monitor-self")
    assert watch.incident_id is None  # nothing could be stored
    assert pager.emergency is not None  # until the all-clear


def test_the_self_config_has_safe_defaults() -> None:
    config = MonitorConfig()
    assert config.watch_self.heartbeat_url is None
    assert config.watch_self.database_failing_for == timedelta(minutes=1)
    assert config.watch_self.provider_failures == 3
    assert MonitorConfig.model_validate({"self": {"policy": None}}).watch_self.policy is None


async def test_a_revoked_insert_grant_on_postgresql_pages_and_loses_nothing(
    twilio_scenario: TwilioScenario, database_url: str
) -> None:
    """The issue's own way to break it: the recorder's database user loses its INSERT right."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no users; the trigger test above covers it")
    scenario = twilio_scenario
    ids = await ensure_probes(scenario.db, ["login"], now=scenario.now)
    async with scenario.db.engine.begin() as conn:
        await conn.execute(
            text(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'monitor_writer')"
                " THEN CREATE ROLE monitor_writer LOGIN; END IF; END $$"
            )
        )
        await conn.execute(text("GRANT USAGE ON SCHEMA public TO monitor_writer"))
        await conn.execute(text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO monitor_writer"))
        await conn.execute(text("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO monitor_writer"))
    writer = Database.connect(database_url.replace("postgres@", "monitor_writer@", 1))
    recorder = Recorder(writer, clock=scenario.clock, probe_ids=ids, flush_interval=0.05)
    await recorder.start()
    watch = watch_of(scenario, lambda: Vitals(now=scenario.now, recorder=recorder.stats))
    try:
        for index in range(120):
            recorder.record(run(scenario.now, index))
        await wait_for(lambda: recorder.stats.failing_since is not None, what="a refused write")
        scenario.clock.advance(timedelta(minutes=2))
        [trouble] = await watch.check()
        assert trouble.summary == "database refuses writes for 2m: 120 results held"
        await scenario.tick()
        scenario.phone("alice").expect_sms("database refuses writes")

        async with scenario.db.engine.begin() as conn:
            await conn.execute(text("GRANT INSERT ON results TO monitor_writer"))
        await wait_for(lambda: recorder.stats.pending == 0, what="the held results to be written")
        assert await stored_results(scenario.db) == 120
    finally:
        await recorder.stop(timeout=1)
        await writer.dispose()
        async with scenario.db.engine.begin() as conn:
            await conn.execute(text("DROP OWNED BY monitor_writer"))


async def test_only_the_instance_in_trouble_resolves_its_monitor_self_incident(
    twilio_scenario: TwilioScenario, tmp_path: Path
) -> None:
    scenario = twilio_scenario
    scenario.scenario.config = with_self(scenario, SelfConfig(min_free_disk_mb=10**9))
    full = watch_of(scenario, lambda: Vitals(now=scenario.now), disk_path=tmp_path, instance="eu-1")
    healthy = watch_of(scenario, lambda: Vitals(now=scenario.now), instance="us-1")
    await healthy.start()
    assert [t.kind for t in await full.check()] == ["disk"]
    assert full.incident_id is not None

    # The healthy instance, clean for longer than RECOVER_AFTER, leaves it open...
    await healthy.check()
    scenario.clock.advance(RECOVER_AFTER * 2)
    await healthy.check()
    # ...and so does a leader rebuilding its detector (monitor-self is not a probe).
    detector = Detector(probes=[], store=DatabaseIncidents(scenario.db), clock=scenario.clock)

    async def nothing() -> AsyncIterator[StoredResult]:
        return
        yield

    await detector.rebuild(nothing())
    incident = await latest_incident(scenario.db, probe=SELF_PROBE)
    assert incident is not None and incident.state == "triggered"
    assert incident.rule.endswith("(eu-1)")

    # A second instance in trouble notes its own on the same incident instead of another one.
    lagging = watch_of(
        scenario,
        lambda: Vitals(now=scenario.now, scheduler_running=False),
        instance="us-1",
    )
    await lagging.check()
    events = [event.detail for event in await scenario.events(full.incident_id)]
    assert any("(us-1): probe scheduler stopped" in detail for detail in events)
    assert lagging.incident_id is None

    # Restarted, the instance in trouble takes its own incident back and resolves it when well.
    again = watch_of(scenario, lambda: Vitals(now=scenario.now), instance="eu-1")
    await again.start()
    assert again.incident_id == full.incident_id
    scenario.scenario.config = with_self(scenario, SelfConfig())
    await again.check()
    scenario.clock.advance(RECOVER_AFTER)
    await again.check()
    resolved = await latest_incident(scenario.db, probe=SELF_PROBE)
    assert resolved is not None and resolved.state == "resolved"


async def test_an_emergency_sms_the_provider_refused_is_tried_again_at_the_next_check(
    twilio_scenario: TwilioScenario, unreachable_url: str
) -> None:
    scenario = twilio_scenario
    async with database_gone(scenario, unreachable_url) as (watch, pager):
        scenario.http.post("/sandbox/faults", json={"status": 503, "times": 2}).raise_for_status()

        await watch.check()  # Twilio answers 503: nothing reached alice
        scenario.phone("alice").expect_nothing()
        scenario.clock.advance(timedelta(seconds=10))
        await watch.check()  # the next check, not 30 minutes later: 503 again
        scenario.phone("alice").expect_nothing()
        scenario.clock.advance(timedelta(seconds=10))
        await watch.check()

        scenario.phone("alice").expect_sms("monitor-self: database refuses writes")
        # For the timeline once the database is back: the failure said once, then the SMS.
        assert pager.emergency is not None
        assert [detail for _, detail in pager.emergency.notes] == [
            "emergency SMS to Alice could not be sent (the database was unreachable)",
            "emergency SMS to Alice sent by sms (the database was unreachable)",
        ]


def recorder_failing_since(since: datetime | None) -> RecorderStats:
    return RecorderStats(
        taken=10,
        stored=0 if since else 10,
        pending=10 if since else 0,
        failed_flushes=5 if since else 0,
        dropped=0,
        rejected=0,
        failing_since=since,
    )


async def test_the_time_without_the_database_is_recorded_once_it_is_back(
    twilio_scenario: TwilioScenario, returning_database: ReturningDatabase
) -> None:
    scenario = twilio_scenario
    went = scenario.now
    stats = [recorder_failing_since(went)]
    pager = EmergencyPager(
        config=lambda: scenario.config, channels=scenario.engine.channels, on_call=on_call
    )
    returning = Database.connect(returning_database.url)
    watch = SelfWatch(
        returning,
        config=lambda: scenario.config,
        clock=scenario.clock,
        vitals=lambda: Vitals(now=scenario.now, recorder=stats[0]),
        disk_path=None,
        emergency=pager,
    )
    try:
        scenario.clock.advance(timedelta(minutes=2))
        first_page = scenario.now
        await watch.check()
        scenario.phone("alice").expect_sms("monitor-self: database refuses writes for 2m")
        scenario.clock.advance(timedelta(minutes=31))
        await watch.check()
        scenario.phone("alice").expect_sms("monitor-self: database refuses writes for 33m")

        stats[0] = recorder_failing_since(None)  # the checks pass, the database is not back yet
        scenario.clock.advance(timedelta(seconds=50))
        assert await watch.check() == []
        scenario.phone("alice").expect_nothing()  # no "works again" before it is written down

        await returning_database.come_back()
        scenario.clock.advance(timedelta(seconds=10))
        assert await watch.check() == []

        sms = scenario.phone("alice").expect_sms("the monitor works again (broken for 32m)")
        incident = await latest_incident(returning, probe=SELF_PROBE)
        assert incident is not None and f"MON-{incident.id} has the timeline" in str(sms.last_sms)
        assert incident.state == "resolved" and incident.severity == "major"
        assert (incident.opened_at, incident.resolved_at) == (first_page, scenario.now)
        found = await get_incident(returning, incident.id)
        assert found is not None
        timeline = [(event.at - first_page, event.kind, event.detail) for event in found[1]]
        emergency = "emergency SMS to Alice sent by sms (the database was unreachable)"
        assert timeline == [
            (timedelta(0), "opened", "major: database refuses writes for 2m: 10 results held"),
            (timedelta(0), "note", emergency),
            (timedelta(minutes=31), "note", emergency),
            (timedelta(minutes=32), "resolved", "the database works again"),
        ]
        await scenario.tick()  # recorded, not paging: nothing more goes out
        scenario.phone("alice").expect_nothing()
    finally:
        await returning.dispose()


async def test_an_outage_is_written_on_another_instances_open_self_incident(
    twilio_scenario: TwilioScenario, returning_database: ReturningDatabase
) -> None:
    """Every instance texts while the database is gone; once it is back, the story goes on the
    monitor-self incident already open (here another instance's), not one more per instance."""
    scenario = twilio_scenario
    stats = [recorder_failing_since(scenario.now)]
    pager = EmergencyPager(
        config=lambda: scenario.config, channels=scenario.engine.channels, on_call=on_call
    )
    returning = Database.connect(returning_database.url)
    watch = watch_of(
        scenario,
        lambda: Vitals(now=scenario.now, recorder=stats[0]),
        emergency=pager,
        instance="host-a, all at local",
        db=returning,  # not the scenario's: this one comes and goes
    )
    try:
        scenario.clock.advance(timedelta(minutes=2))
        await watch.check()
        scenario.phone("alice").expect_sms("monitor-self: database refuses writes")

        await returning_database.come_back()
        theirs = await open_incident(
            returning,
            probe=SELF_PROBE,
            severity="major",
            rule="the monitor watching itself (host-b, all at local)",
            figures="disk almost full",
            cause=None,
            at=scenario.now,
        )
        stats[0] = recorder_failing_since(None)
        scenario.clock.advance(timedelta(seconds=10))
        assert await watch.check() == []

        scenario.phone("alice").expect_sms(f"MON-{theirs.incident.id} has the timeline")
        found = await get_incident(returning, theirs.incident.id)
        assert found is not None
        assert [event.detail for event in found[1] if event.kind == "note"] == [
            "the monitor watching itself (host-a, all at local): emergency SMS to Alice sent by "
            "sms (the database was unreachable)"
        ]
        async with returning.session() as session:
            count = await session.scalar(select(func.count()).select_from(Incident))
        assert count == 1  # no incident of its own
    finally:
        await returning.dispose()
