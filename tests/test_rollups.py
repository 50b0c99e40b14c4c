"""Rollups equal the raw figures they sum, hour by hour and day by day, on SQLite and PostgreSQL;
history reads the same before and after the hours are rolled up."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from monitor.clock import SystemClock
from monitor.storage.database import Database
from monitor.storage.records import ResultRecord
from monitor.storage.repository import ensure_probes, insert_results, sync_probes
from monitor.storage.rollups import (
    GRACE,
    Counts,
    _roll_hour,
    daily_counts,
    daily_counts_by_group,
    floor_hour,
    roll_up,
    rolled_until,
)
from monitor.storage.tables import DailyRollup, HourlyRollup
from monitor.testing.runtime import eventually, running_monitor

START = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)  # two hours before midnight


def record(
    probe: str,
    at: datetime,
    *,
    ok: bool,
    duration: int,
    location: str = "local",
    confirmation: bool = False,
) -> ResultRecord:
    return ResultRecord(
        probe=probe,
        location=location,
        due_at=at,
        started_at=at,
        duration_ms=duration,
        ok=ok,
        status=200 if ok else 503,
        confirmation=confirmation,
    )


async def seed(db: Database, records: list[ResultRecord]) -> dict[str, int]:
    ids = await ensure_probes(db, sorted({r.probe for r in records}), now=START)
    await insert_results(db, records, ids)
    return ids


def three_hours_of_runs(seed_value: int = 7) -> list[ResultRecord]:
    """login and signup every 30 s for three hours across midnight, from two locations, about
    20% failing; a few confirmation runs that rollups must leave out."""
    rng = random.Random(seed_value)
    records = []
    for step in range(3 * 120):
        at = START + timedelta(seconds=30 * step)
        for probe in ("login", "signup"):
            for location in ("eu", "us"):
                records.append(
                    record(
                        probe,
                        at,
                        ok=rng.random() > 0.2,
                        duration=rng.randint(20, 900),
                        location=location,
                    )
                )
        if step % 40 == 0:
            records.append(record("login", at, ok=False, duration=5, confirmation=True))
    return records


async def test_hourly_rollups_equal_the_raw_runs(database: Database) -> None:
    records = three_hours_of_runs()
    ids = await seed(database, records)

    rolled = await roll_up(database, now=START + timedelta(hours=3) + GRACE)

    assert rolled == 3
    assert await rolled_until(database) == START + timedelta(hours=3)
    async with database.session() as session:
        rows = (await session.execute(select(HourlyRollup))).scalars().all()
    assert len(rows) == 3 * 2 * 2  # hours x probes x locations
    for row in rows:
        raw = [
            r
            for r in records
            if ids[r.probe] == row.probe_id
            and r.location == row.location
            and row.hour <= r.started_at < row.hour + timedelta(hours=1)
            and not r.confirmation
        ]
        durations = sorted(int(r.duration_ms) for r in raw)
        assert row.runs == len(raw) == 120
        assert row.failures == sum(not r.ok for r in raw)
        assert row.duration_sum_ms == sum(durations)
        # Nearest rank of 120 runs: the 60th and the 114th fastest.
        assert row.duration_p50_ms == durations[59]
        assert row.duration_p95_ms == durations[113]
        assert row.duration_max_ms == max(durations)


async def test_daily_rollups_sum_the_hours_of_each_utc_day(database: Database) -> None:
    records = three_hours_of_runs()
    ids = await seed(database, records)
    await roll_up(database, now=START + timedelta(hours=3) + GRACE)

    async with database.session() as session:
        days = {
            (row.probe_id, row.day): (row.runs, row.failures)
            for row in (await session.execute(select(DailyRollup))).scalars()
        }
    for probe, probe_id in ids.items():
        for day in (datetime(2026, 12, 6, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)):
            raw = [
                r
                for r in records
                if r.probe == probe
                and day <= r.started_at < day + timedelta(days=1)
                and not r.confirmation
            ]
            assert days[(probe_id, day)] == (len(raw), sum(not r.ok for r in raw))


async def test_history_reads_the_same_before_and_after_rolling_up(database: Database) -> None:
    records = three_hours_of_runs()
    await seed(database, records)
    now = START + timedelta(hours=3, minutes=10)
    since = START - timedelta(days=89)

    before = await daily_counts(database, since=since, now=now)  # all raw
    await roll_up(database, now=START + timedelta(hours=1, minutes=30))  # 22:00 rolled only
    partly = await daily_counts(database, since=since, now=now)
    await roll_up(database, now=now)  # everything before 01:00
    after = await daily_counts(database, since=since, now=now)

    assert before == partly == after
    assert len(after) == 4  # two probes, two days
    assert sum(c.runs for c in after.values()) == 3 * 120 * 2 * 2


async def test_results_arriving_after_the_mark_are_read_raw(database: Database) -> None:
    records = three_hours_of_runs()
    ids = await seed(database, records)
    now = START + timedelta(hours=3) + GRACE
    await roll_up(database, now=now)
    later = now + timedelta(minutes=1)
    await insert_results(
        database,
        [record("login", START + timedelta(hours=3, seconds=5), ok=False, duration=10)],
        ids,
    )

    counts = await daily_counts(database, since=START, now=later)

    today = datetime(2026, 12, 7, tzinfo=UTC)
    raw_today = [
        r for r in records if r.probe == "login" and r.started_at >= today and not r.confirmation
    ]
    assert counts[(ids["login"], today)] == Counts(
        len(raw_today) + 1, sum(not r.ok for r in raw_today) + 1
    )


async def test_an_hour_still_in_its_grace_is_not_rolled(database: Database) -> None:
    await seed(database, three_hours_of_runs())

    assert await roll_up(database, now=START + timedelta(hours=1) + GRACE / 2) == 0
    assert await rolled_until(database) is None
    assert await roll_up(database, now=START + timedelta(hours=1) + GRACE) == 1


async def test_empty_hours_are_skipped_and_a_pass_is_bounded(database: Database) -> None:
    ids = await seed(database, [record("login", START, ok=True, duration=10)])
    week_later = START + timedelta(days=7)
    await insert_results(database, [record("login", week_later, ok=False, duration=10)], ids)

    assert await roll_up(database, now=week_later + timedelta(hours=2)) == 2
    assert await rolled_until(database) == week_later + timedelta(hours=1)
    assert await roll_up(database, now=week_later + timedelta(hours=5)) == 0
    assert await rolled_until(database) == week_later + timedelta(hours=4, minutes=0)


async def test_a_second_roller_writes_nothing_twice(database: Database) -> None:
    records = three_hours_of_runs()
    await seed(database, records)
    now = START + timedelta(hours=3) + GRACE

    first = await roll_up(database, now=now)
    second = await roll_up(database, now=now)

    assert (first, second) == (3, 0)
    async with database.session() as session:
        hourly = (await session.execute(select(HourlyRollup))).scalars().all()
    assert sum(row.runs for row in hourly) == sum(not r.confirmation for r in records)


async def test_daily_counts_by_group_sum_the_probes_of_a_group(database: Database) -> None:
    records = three_hours_of_runs()
    ids = await sync_probes(
        database, [("login", "accounts", "h"), ("signup", "accounts", "h")], now=START
    )
    await insert_results(database, records, ids)
    now = START + timedelta(hours=3, minutes=10)
    await roll_up(database, now=START + timedelta(hours=1, minutes=30))

    groups = await daily_counts_by_group(database, since=START, now=now)
    probes = await daily_counts(database, since=START, now=now)

    for day in (datetime(2026, 12, 6, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)):
        assert (
            groups[("accounts", day)] == probes[(ids["login"], day)] + probes[(ids["signup"], day)]
        )
    assert set(groups) == {("accounts", d) for _, d in probes}
    assert Counts(150, 10).uptime == 1 - 10 / 150
    assert Counts(0, 0).uptime is None


async def test_a_running_monitor_rolls_up_the_hours_that_are_over(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    now = SystemClock().now()
    three_hours_ago = now - timedelta(hours=3)
    ids = await seed(database, [record("login", three_hours_ago, ok=False, duration=10)])
    await insert_results(database, [record("login", now, ok=True, duration=10)], ids)
    config = tmp_path / "config.yaml"
    config.write_text(
        'probes: [{name: login, interval: 1h, request: {url: "http://127.0.0.1:9/"}}]'
    )
    async with running_monitor(config, database_url=database_url):

        async def rolled() -> bool:
            mark = await rolled_until(database)
            return mark is not None and mark >= floor_hour(now - GRACE)

        await eventually(rolled, what="the hours that are over to be rolled up")

    # The mark may stand at the hour of the newest run (the hours between held none) when the
    # test runs in the first minutes of an hour.
    assert await rolled_until(database) in (floor_hour(now - GRACE), floor_hour(now))
    counts = await daily_counts(database, since=three_hours_ago, now=now)
    assert sum(c.failures for c in counts.values()) == 1


async def test_two_rollers_at_once_write_every_hour_once(
    database: Database, database_url: str
) -> None:
    records = three_hours_of_runs()
    await seed(database, records)
    other = Database.connect(database_url)
    now = START + timedelta(hours=3) + GRACE
    try:
        rolled = await asyncio.gather(roll_up(database, now=now), roll_up(other, now=now))
    finally:
        await other.dispose()

    assert await rolled_until(database) == START + timedelta(hours=3)
    assert sum(rolled) >= 3 and max(rolled) <= 3
    async with database.session() as session:
        hourly = (await session.execute(select(HourlyRollup))).scalars().all()
    assert len(hourly) == 12
    assert sum(row.runs for row in hourly) == sum(not r.confirmation for r in records)


async def test_an_hour_already_rolled_by_another_never_moves_the_mark_back(
    database: Database,
) -> None:
    await seed(database, three_hours_of_runs())
    await roll_up(database, now=START + timedelta(hours=3) + GRACE)

    assert await _roll_hour(database, START) is False
    assert await rolled_until(database) == START + timedelta(hours=3)
