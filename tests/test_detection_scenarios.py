"""Detection scenarios in simulated time: the real detector, a manual clock, seeded failures and
the incidents it writes to a real database (SQLite and PostgreSQL). Each scenario asserts the
exact incidents opened and resolved."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from monitor.clock import ManualClock
from monitor.config.models import MaintenanceConfig, ProbeConfig
from monitor.detection import (
    DatabaseIncidents,
    Detector,
    MaintenanceWindow,
    MemoryIncidents,
    backtest,
)
from monitor.storage import Database
from monitor.storage.incidents import (
    IncidentRow,
    get_incident,
    list_incidents,
    resolve_incident,
)
from monitor.storage.records import ResultRecord
from monitor.storage.repository import ensure_probes, insert_results, replay_results
from monitor.storage.silences import add_silence, end_silence, list_silences
from monitor.testing.detection import FailureModel, SimulatedRuns

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def probe(name: str = "login", **fields: Any) -> ProbeConfig:
    return ProbeConfig.model_validate(
        {"name": name, "interval": "30s", "request": {"url": "http://127.0.0.1/"}, **fields}
    )


def between(start: datetime, end: datetime, ratio: float = 1.0, seed: int = 7) -> FailureModel:
    """Runs fail with probability `ratio` in [start, end), seeded; pass otherwise."""
    rng = random.Random(seed)

    def fails(_probe: str, at: datetime, _location: str) -> bool:
        return start <= at < end and rng.random() < ratio

    return fails


class Scenario:
    """A detector over the database, fed by simulated runs."""

    def __init__(
        self,
        database: Database,
        probes: Sequence[ProbeConfig],
        fails: FailureModel,
        *,
        start: datetime = T0,
        maintenance: Sequence[MaintenanceConfig] = (),
        record: bool = False,
        tick_every: timedelta | None = None,
    ) -> None:
        self.database = database
        self.probes = list(probes)
        self.clock = ManualClock(start)
        self.lines: list[str] = []
        self.recorded: list[ResultRecord] = []
        self.windows = [MaintenanceWindow.from_config(m) for m in maintenance]
        self.runs = SimulatedRuns(
            probes,
            clock=self.clock,
            fails=fails,
            record=self._record if record else None,
            tick_every=tick_every,
        )
        self.detector = self.new_detector()

    def new_detector(self) -> Detector:
        async def load_silences(since: datetime) -> Sequence[Any]:
            return await list_silences(self.database, at=since)

        return Detector(
            probes=self.probes,
            store=DatabaseIncidents(self.database),
            clock=self.clock,
            maintenance=self.windows,
            load_silences=load_silences,
            confirm=self.runs.confirm,
            emit=self.lines.append,
        )

    async def _record(self, record: ResultRecord) -> None:
        self.recorded.append(record)

    async def until(self, moment: datetime) -> None:
        await self.runs.run_until(self.detector, moment)

    async def incidents(self) -> list[IncidentRow]:
        return list(reversed(await list_incidents(self.database, limit=1000)))

    def failed_runs(self) -> list[ResultRecord]:
        return [run for run in self.runs.runs if not run.ok]


async def test_thirty_percent_failures_open_one_incident_and_keep_it_open(
    database: Database,
) -> None:
    fault_start, fault_end = T0 + timedelta(minutes=10), T0 + timedelta(hours=3)
    scenario = Scenario(database, [probe()], between(fault_start, fault_end, 0.3, seed=11))
    await scenario.until(fault_end)
    [incident] = await scenario.incidents()
    assert incident.state == "triggered"
    assert incident.severity == "partial"
    assert incident.reopen_count == 0  # never resolved while the failures went on
    assert fault_start < incident.opened_at < fault_start + timedelta(minutes=6)
    assert incident.rule in ("failure_ratio above 20% over 5m", "consecutive_failures 3")
    assert incident.cause == "sign in: [STATUS] (503) == 200"
    # The fault ends: resolved after 3 passing runs and 10 minutes without a failure.
    await scenario.until(fault_end + timedelta(minutes=30))
    [incident] = await scenario.incidents()
    last_failure = scenario.failed_runs()[-1].started_at
    assert incident.state == "resolved"
    assert incident.resolved_at is not None
    assert last_failure + timedelta(minutes=10) <= incident.resolved_at
    assert incident.resolved_at < last_failure + timedelta(minutes=10, seconds=30)
    assert incident.peak_failure_ratio is not None and 0.2 < incident.peak_failure_ratio < 1


async def test_a_blip_whose_confirmation_runs_pass_opens_nothing(database: Database) -> None:
    failed: list[datetime] = []

    def one_failure(_probe: str, at: datetime, _location: str) -> bool:
        if failed or at < T0 + timedelta(minutes=5):
            return False
        failed.append(at)
        return True

    scenario = Scenario(database, [probe()], one_failure)
    await scenario.until(T0 + timedelta(minutes=30))
    assert len(scenario.failed_runs()) == 1
    assert scenario.runs.confirmation_runs == 5
    confirmations = [run for run in scenario.runs.runs if run.confirmation]
    failed_at = scenario.failed_runs()[0].started_at
    # The first confirmation right after the failed run, then every 5 s.
    assert [run.started_at - failed_at for run in confirmations] == [
        timedelta(milliseconds=50) + timedelta(seconds=5 * i) for i in range(5)
    ]
    assert await scenario.incidents() == []


async def test_a_total_outage_opens_a_major_incident_within_a_minute(database: Database) -> None:
    fault_start = T0 + timedelta(minutes=5)
    scenario = Scenario(database, [probe()], between(fault_start, T0 + timedelta(hours=1)))
    await scenario.until(T0 + timedelta(minutes=20))
    [incident] = await scenario.incidents()
    first_failure = scenario.failed_runs()[0].started_at
    assert incident.severity == "major"
    assert incident.rule == "failure_ratio above 20% over 5m"
    assert incident.figures == "100% of 10 runs failed in 5m"
    # Ten runs: the failed one, confirmation runs (the first at once, then every 5 s) and the
    # next scheduled run.
    assert incident.opened_at - first_failure == timedelta(seconds=35, milliseconds=50)
    found = await get_incident(database, incident.id)
    assert found is not None
    assert [event.kind for event in found[1]] == ["opened"]


async def test_a_ten_second_hiccup_opens_nothing(database: Database) -> None:
    # Three failed runs in a row (the scheduled one and two confirmation runs 5 s apart), then
    # the service is back: 3 of 10 runs failed, but the trouble is over before it could open.
    hiccup = T0 + timedelta(minutes=5)
    scenario = Scenario(database, [probe()], between(hiccup, hiccup + timedelta(seconds=35)))
    await scenario.until(T0 + timedelta(minutes=30))
    assert len(scenario.failed_runs()) == 3
    assert await scenario.incidents() == []


@pytest.mark.parametrize(
    ("successes", "min_duration", "resolve_after"),
    [
        (5, "3m", timedelta(minutes=3)),
        (5, "0s", timedelta(seconds=150)),
        (3, "1m", timedelta(minutes=1, seconds=30)),
    ],
)
async def test_recovery_needs_the_configured_successes_and_duration(
    database: Database, successes: int, min_duration: str, resolve_after: timedelta
) -> None:
    # Only the consecutive rule: a failure ratio still above its threshold would hold the
    # recovery back by itself (see the 30% scenario).
    alert = {
        "trigger": [{"consecutive_failures": 3}],
        "recover": {"consecutive_successes": successes, "min_duration": min_duration},
    }
    fault_end = T0 + timedelta(minutes=15)
    scenario = Scenario(
        database, [probe(alert=alert)], between(T0 + timedelta(minutes=5), fault_end)
    )
    await scenario.until(T0 + timedelta(minutes=40))
    [incident] = await scenario.incidents()
    last_failure = scenario.failed_runs()[-1].started_at
    # Runs every 30 s after the last failure: the first run that satisfies both asks for
    # confirmation runs (at once, then every 5 s); the fifth passing one resolves it.
    confirmed = timedelta(seconds=20, milliseconds=50)
    assert incident.resolved_at == last_failure + resolve_after + confirmed


async def test_a_quick_refailure_reopens_the_same_incident(database: Database) -> None:
    outages = [
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)),
        # Resolved about 10 min after the first outage; fails again 3 minutes later.
        (T0 + timedelta(minutes=23), T0 + timedelta(minutes=28)),
        # Resolved again at about 38 min; this one comes after the 10-minute flap window.
        (T0 + timedelta(minutes=60), T0 + timedelta(minutes=65)),
    ]

    def fails(_probe: str, at: datetime, _location: str) -> bool:
        return any(start <= at < end for start, end in outages)

    scenario = Scenario(database, [probe()], fails)
    await scenario.until(T0 + timedelta(minutes=90))
    first, second = await scenario.incidents()
    assert first.reopen_count == 1
    assert first.state == second.state == "resolved"
    assert first.opened_at < outages[1][0] < second.opened_at
    found = await get_incident(database, first.id)
    assert found is not None
    assert [event.kind for event in found[1]] == ["opened", "resolved", "reopened", "resolved"]


async def test_a_restart_during_an_outage_continues_the_same_incident(database: Database) -> None:
    fault_start, fault_end = T0 + timedelta(minutes=5), T0 + timedelta(minutes=40)
    scenario = Scenario(
        database, [probe()], between(fault_start, fault_end, 0.5, seed=3), record=True
    )
    await scenario.until(T0 + timedelta(minutes=20))
    [incident] = await scenario.incidents()
    assert incident.state == "triggered"
    # The monitor restarts: a new detector rebuilds its state from the stored runs.
    await ensure_probes(database, ["login"], now=scenario.clock.now())
    await insert_results(database, scenario.recorded, {"login": await _probe_id(database)})
    scenario.detector = scenario.new_detector()
    await scenario.detector.rebuild(
        replay_results(database, since=scenario.clock.now() - scenario.detector.horizon)
    )
    assert scenario.detector.open_incident_id("login") == incident.id
    await scenario.until(T0 + timedelta(hours=1, minutes=10))
    [after] = await scenario.incidents()
    assert after.id == incident.id
    assert after.state == "resolved"


async def test_a_restart_opens_the_incident_a_crash_lost(database: Database) -> None:
    # The runs reached the database, the incident did not (the process died in between).
    fault_start = T0 + timedelta(minutes=5)
    scenario = Scenario(
        database, [probe()], between(fault_start, T0 + timedelta(hours=1)), record=True
    )
    memory = MemoryIncidents()
    scenario.detector = Detector(
        probes=scenario.probes, store=memory, clock=scenario.clock, confirm=scenario.runs.confirm
    )
    await scenario.until(T0 + timedelta(minutes=10))
    assert len(memory.incidents) == 1
    await ensure_probes(database, ["login"], now=scenario.clock.now())
    await insert_results(database, scenario.recorded, {"login": await _probe_id(database)})
    scenario.detector = scenario.new_detector()
    await scenario.detector.rebuild(
        replay_results(database, since=scenario.clock.now() - scenario.detector.horizon)
    )
    [incident] = await scenario.incidents()
    assert incident.state == "triggered"
    assert incident.severity == "major"
    assert incident.opened_at == scenario.recorded[-1].started_at  # opened at the rebuild


async def test_quorum_two_of_three_locations(database: Database) -> None:
    failing: set[str] = set()

    def fails(_probe: str, _at: datetime, location: str) -> bool:
        return location in failing

    alert = {"quorum": 2}
    scenario = Scenario(database, [probe(locations=["fra", "iad", "sin"], alert=alert)], fails)
    failing.add("fra")  # one location down: its network, not the service
    await scenario.until(T0 + timedelta(minutes=15))
    assert await scenario.incidents() == []
    failing.add("iad")
    await scenario.until(T0 + timedelta(minutes=20))
    [incident] = await scenario.incidents()
    assert incident.severity == "partial"  # sin still passes
    failing.add("sin")
    await scenario.until(T0 + timedelta(minutes=25))
    [incident] = await scenario.incidents()
    assert incident.severity == "major"
    found = await get_incident(database, incident.id)
    assert found is not None
    assert [event.kind for event in found[1]] == ["opened", "severity"]
    # Back to one failing location: fewer than the quorum, so it resolves.
    failing.difference_update({"iad", "sin"})
    await scenario.until(T0 + timedelta(minutes=40))
    [incident] = await scenario.incidents()
    assert incident.state == "resolved"


async def test_burn_rate_fires_on_a_slow_error_rate_that_failure_ratio_misses(
    database: Database,
) -> None:
    slow_burn = between(T0, T0 + timedelta(hours=2), 0.02, seed=5)
    burn = probe("burn", alert={"trigger": [{"burn_rate": {"slo": "99.9%"}}]})
    ratio = probe("ratio", alert={"trigger": [{"failure_ratio": {"above": 0.2}}]})
    scenario = Scenario(database, [burn, ratio], slow_burn)
    await scenario.until(T0 + timedelta(hours=1))
    incidents = await scenario.incidents()
    assert [incident.probe for incident in incidents] == ["burn"]
    assert incidents[0].rule == "burn_rate slo 99.9%"
    assert "14.4x the 0.1% budget" in incidents[0].figures
    assert len([run for run in scenario.failed_runs() if run.probe == "ratio"]) >= 2


BERLIN_SUNDAY_0130_FOR_2H = MaintenanceConfig.model_validate(
    {
        "probes": ["login"],
        "every": ["sun"],
        "start": "01:30",
        "duration": "2h",
        "timezone": "Europe/Berlin",
        "reason": "LB swap",
    }
)


@pytest.mark.parametrize(
    ("window_start", "window_end"),
    [
        # The week before the change: CET, UTC+1.
        (datetime(2026, 3, 22, 0, 30, tzinfo=UTC), datetime(2026, 3, 22, 2, 30, tzinfo=UTC)),
        # The night of the change (02:00 CET -> 03:00 CEST): 2 real hours, ending 04:30 CEST.
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 2, 30, tzinfo=UTC)),
        # The week after: CEST, UTC+2.
        (datetime(2026, 4, 4, 23, 30, tzinfo=UTC), datetime(2026, 4, 5, 1, 30, tzinfo=UTC)),
    ],
)
async def test_maintenance_across_a_dst_change_suppresses_exactly_the_window(
    database: Database, window_start: datetime, window_end: datetime
) -> None:
    # Down from the moment the window opens until well after it closes.
    scenario = Scenario(
        database,
        [probe()],
        between(window_start, window_end + timedelta(hours=1)),
        start=window_start - timedelta(minutes=30),
        maintenance=[BERLIN_SUNDAY_0130_FOR_2H],
    )
    await scenario.until(window_end - timedelta(microseconds=1))
    assert await scenario.incidents() == []
    assert sum("held back" in line and "LB swap" in line for line in scenario.lines) == 1
    await scenario.until(window_end + timedelta(minutes=5))
    [incident] = await scenario.incidents()
    # The failures inside the window are forgotten: new runs must show the outage again (a
    # failed run, confirmation runs), which takes less than a minute after the window.
    assert window_end < incident.opened_at < window_end + timedelta(seconds=70)


async def test_failures_that_end_with_the_window_open_nothing_after_it(
    database: Database,
) -> None:
    # The autumn change: 01:30 CEST is 23:30 UTC; two real hours later it is 02:30 CET.
    window_start = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    window_end = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    scenario = Scenario(
        database,
        [probe()],
        between(window_start, window_end),
        start=window_start - timedelta(minutes=30),
        maintenance=[BERLIN_SUNDAY_0130_FOR_2H],
    )
    await scenario.until(window_end + timedelta(minutes=30))
    assert len(scenario.failed_runs()) > 200
    assert await scenario.incidents() == []


async def test_an_incident_open_before_maintenance_keeps_its_course(database: Database) -> None:
    window_start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    scenario = Scenario(
        database,
        [probe()],
        between(window_start - timedelta(minutes=10), window_start + timedelta(minutes=30)),
        start=window_start - timedelta(minutes=20),
        maintenance=[BERLIN_SUNDAY_0130_FOR_2H],
    )
    await scenario.until(window_start + timedelta(minutes=60))
    [incident] = await scenario.incidents()
    assert incident.opened_at < window_start
    assert incident.resolved_at is not None
    assert incident.resolved_at > window_start + timedelta(minutes=30)


async def test_a_silence_holds_back_incidents_until_it_ends(database: Database) -> None:
    scenario = Scenario(
        database,
        [probe(), probe("signup")],
        between(T0 + timedelta(minutes=5), T0 + timedelta(hours=2)),
        tick_every=timedelta(seconds=5),
    )
    silence = await add_silence(
        database,
        probes=["login"],
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        reason="LB swap",
        created_by="alice",
        at=T0,
    )
    await scenario.until(T0 + timedelta(minutes=20))
    assert [incident.probe for incident in await scenario.incidents()] == ["signup"]
    ended_at = T0 + timedelta(minutes=20)
    await end_silence(database, silence_id=silence.id, at=ended_at)
    await scenario.until(T0 + timedelta(minutes=22))
    login = [incident for incident in await scenario.incidents() if incident.probe == "login"]
    assert len(login) == 1
    # Picked up on the next tick (5 s); the next failed run and its confirmation runs open it.
    assert ended_at < login[0].opened_at <= ended_at + timedelta(seconds=75)


async def test_backtest_reproduces_the_incidents_the_live_detector_opened(
    database: Database,
) -> None:
    day = T0.replace(hour=0)
    rng = random.Random(2026)
    outages = [
        (day + timedelta(hours=3), day + timedelta(hours=5), 0.3),  # partial
        (day + timedelta(hours=14), day + timedelta(hours=14, minutes=20), 1.0),  # total
        (day + timedelta(hours=20), day + timedelta(hours=20, minutes=1), 1.0),  # a blip or two
    ]

    def fails(_probe: str, at: datetime, _location: str) -> bool:
        ratio = next((r for start, end, r in outages if start <= at < end), 0.005)
        return rng.random() < ratio

    scenario = Scenario(database, [probe(), probe("signup")], fails, start=day, record=True)
    await scenario.until(day + timedelta(days=1))
    live = await scenario.incidents()
    assert len(live) >= 3
    ids = await ensure_probes(database, ["login", "signup"], now=day)
    for start in range(0, len(scenario.recorded), 2000):
        await insert_results(database, scenario.recorded[start : start + 2000], ids)
    report = await backtest(
        replay_results(database, since=day),
        probes=scenario.probes,
        since=day,
        until=day + timedelta(days=1),
    )
    assert report.runs == len(scenario.recorded)
    replayed = [(i.probe, i.start, i.end, i.severity, i.rule) for i in report.incidents]
    assert replayed == [(i.probe, i.opened_at, i.resolved_at, i.severity, i.rule) for i in live]
    assert report.per_probe == {
        "login": sum(i.probe == "login" for i in live),
        "signup": sum(i.probe == "signup" for i in live),
    }


async def test_two_detectors_never_open_two_incidents_for_one_probe(
    database: Database, database_url: str
) -> None:
    other = Database.connect(database_url)
    try:
        clock = ManualClock(T0)
        detectors = [
            Detector(probes=[probe()], store=DatabaseIncidents(db), clock=clock)
            for db in (database, other)
        ]
        for second in range(0, 120, 10):
            at = T0 + timedelta(seconds=second)
            record = ResultRecord(
                probe="login",
                location="local",
                due_at=at,
                started_at=at,
                duration_ms=40,
                ok=second < 30 or second >= 90,
                status=503,
            )
            await asyncio.gather(*(detector.observe(record) for detector in detectors))
        [incident] = await list_incidents(database)
        assert [d.open_incident_id("login") for d in detectors] == [incident.id, incident.id]
        assert sum(detector.stats.opened for detector in detectors) == 1
    finally:
        await other.dispose()


async def test_an_incident_write_that_fails_is_retried_not_lost(database: Database) -> None:
    scenario = Scenario(
        database,
        [probe()],
        between(T0 + timedelta(minutes=5), T0 + timedelta(hours=1)),
        tick_every=timedelta(seconds=5),
    )
    # The incidents table is away (a real failure of the database, not a mock).
    async with database.session() as session, session.begin():
        await session.execute(text("ALTER TABLE incidents RENAME TO incidents_away"))
    await scenario.until(T0 + timedelta(minutes=10))
    assert scenario.detector.stats.pending_writes == 1
    assert scenario.detector.stats.failed_writes >= 1
    async with database.session() as session, session.begin():
        await session.execute(text("ALTER TABLE incidents_away RENAME TO incidents"))
    await scenario.until(T0 + timedelta(minutes=10, seconds=5))
    [incident] = await scenario.incidents()
    assert scenario.detector.stats.pending_writes == 0
    first_failure = scenario.failed_runs()[0].started_at
    assert incident.opened_at == first_failure + timedelta(seconds=35, milliseconds=50)


async def _probe_id(database: Database) -> int:
    ids = await ensure_probes(database, ["login"], now=T0)
    return ids["login"]


async def test_many_probes_failing_at_once_each_get_their_incident(database: Database) -> None:
    # Runs end together and each hands its result to the detector concurrently, one write
    # failing meanwhile: no change may be written twice or dropped.
    probes = [probe(f"p{index}") for index in range(20)]
    detector = Detector(probes=probes, store=DatabaseIncidents(database), clock=ManualClock(T0))
    await ensure_probes(database, [p.name for p in probes], now=T0)
    for step in range(14):
        at = T0 + timedelta(seconds=5 * step)
        if step == 9:  # the 10th failed run opens the incidents: make the first writes fail
            async with database.session() as session, session.begin():
                await session.execute(text("ALTER TABLE incidents RENAME TO incidents_away"))
        if step == 11:
            async with database.session() as session, session.begin():
                await session.execute(text("ALTER TABLE incidents_away RENAME TO incidents"))
        records = [
            ResultRecord(
                probe=p.name,
                location="local",
                due_at=at,
                started_at=at,
                duration_ms=40,
                ok=False,
                status=503,
            )
            for p in probes
        ]
        await asyncio.gather(*(detector.observe(record) for record in records))
    await detector.flush()
    incidents = await list_incidents(database, limit=100)
    assert sorted(incident.probe for incident in incidents) == sorted(p.name for p in probes)
    assert detector.stats.pending_writes == 0
    assert detector.stats.opened == 20


async def test_a_reopened_incident_takes_the_new_severity(database: Database) -> None:
    outages = [
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=25), 0.4),  # partial
        (T0 + timedelta(minutes=40), T0 + timedelta(minutes=50), 1.0),  # total, soon after
    ]
    rng = random.Random(1)

    def fails(_probe: str, at: datetime, _location: str) -> bool:
        ratio = next((r for start, end, r in outages if start <= at < end), 0.0)
        return rng.random() < ratio

    scenario = Scenario(database, [probe()], fails)
    await scenario.until(T0 + timedelta(minutes=45))
    [incident] = await scenario.incidents()
    assert incident.reopen_count == 1
    assert incident.severity == "major"
    found = await get_incident(database, incident.id)
    assert found is not None
    kinds = [(event.kind, event.detail.split(":")[0]) for event in found[1]]
    assert kinds == [
        ("opened", "partial"),
        ("resolved", "3 runs in a row passed and none failed for 10m"),
        ("reopened", "major"),
    ]


async def test_an_incident_resolved_by_hand_while_failing_reopens_on_the_next_failure(
    database: Database,
) -> None:
    scenario = Scenario(
        database,
        [probe()],
        between(T0 + timedelta(minutes=5), T0 + timedelta(hours=1)),
        tick_every=timedelta(seconds=5),
    )
    await scenario.until(T0 + timedelta(minutes=10))
    [incident] = await scenario.incidents()
    await resolve_incident(
        database, incident_id=incident.id, at=scenario.clock.now(), detail="by hand"
    )
    await scenario.until(T0 + timedelta(minutes=12))
    [incident] = await scenario.incidents()
    # Still failing: the detector saw the resolution and re-opened the same incident.
    assert incident.state == "triggered"
    assert incident.reopen_count == 1
    assert scenario.detector.open_incident_id("login") == incident.id


async def test_a_probe_removed_from_the_config_has_its_incident_resolved(
    database: Database,
) -> None:
    scenario = Scenario(database, [probe(), probe("signup")], between(T0, T0 + timedelta(hours=1)))
    await scenario.until(T0 + timedelta(minutes=5))
    assert len(await scenario.incidents()) == 2
    # Restarted with a config that no longer has `signup`.
    detector = Detector(probes=[probe()], store=DatabaseIncidents(database), clock=scenario.clock)
    await detector.rebuild(replay_results(database, since=T0))
    states = {i.probe: i.state for i in await scenario.incidents()}
    assert states == {"login": "triggered", "signup": "resolved"}
    [signup] = [i for i in await scenario.incidents() if i.probe == "signup"]
    found = await get_incident(database, signup.id)
    assert found is not None
    assert found[1][-1].detail == "the probe is no longer in the config (removed or disabled)"
