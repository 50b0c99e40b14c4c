"""Retention on SQLite and PostgreSQL: raw results past `retention.raw` are deleted in small
batches and only once rolled up; the rollups they leave behind equal the figures they replace;
late results are rolled in; old rollups go after `retention.rollups`."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.clock import ManualClock, SystemClock
from monitor.config import LoadedConfig, load_config
from monitor.config.errors import ConfigError
from monitor.storage.database import Database
from monitor.storage.recorder import Recorder
from monitor.storage.records import ResultRecord
from monitor.storage.repository import ensure_probes, insert_results
from monitor.storage.retention import apply_retention, delete_old_results
from monitor.storage.rollups import (
    GRACE,
    daily_counts,
    floor_hour,
    reroll_hours,
    roll_up,
    rolled_until,
)
from monitor.storage.tables import DailyRollup, HourlyRollup, Result
from monitor.testing.runtime import eventually, running_monitor

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def result(probe: str, at: datetime, *, ok: bool, duration: int = 100) -> ResultRecord:
    return ResultRecord(
        probe=probe,
        location="local",
        due_at=at,
        started_at=at,
        duration_ms=duration,
        ok=ok,
        status=200 if ok else 503,
    )


def every(step: timedelta, *, days: int, probes: tuple[str, ...]) -> list[ResultRecord]:
    """Runs of each probe every `step` for `days` days up to NOW; one run in 7 fails."""
    records = []
    at = NOW - timedelta(days=days)
    index = 0
    while at < NOW:
        for probe in probes:
            records.append(result(probe, at, ok=index % 7 != 0, duration=50 + index % 300))
            index += 1
        at += step
    return records


async def seed(db: Database, records: list[ResultRecord]) -> dict[str, int]:
    ids = await ensure_probes(db, sorted({r.probe for r in records}), now=NOW - timedelta(days=400))
    for start in range(0, len(records), 5_000):
        await insert_results(db, records[start : start + 5_000], ids)
    return ids


async def roll_everything(db: Database, now: datetime = NOW) -> None:
    while await roll_up(db, now=now + GRACE):
        pass


async def count_results(db: Database, *, before: datetime | None = None) -> int:
    query = select(func.count()).select_from(Result)
    if before is not None:
        query = query.where(Result.started_at < before)
    async with db.session() as session:
        return int(await session.scalar(query) or 0)


async def hourly_rows(db: Database) -> list[tuple[int, str, datetime, int, int, int, int, int]]:
    async with db.session() as session:
        rows = await session.execute(
            select(
                HourlyRollup.probe_id,
                HourlyRollup.location,
                HourlyRollup.hour,
                HourlyRollup.runs,
                HourlyRollup.failures,
                HourlyRollup.duration_sum_ms,
                HourlyRollup.duration_p95_ms,
                HourlyRollup.duration_max_ms,
            ).order_by(HourlyRollup.probe_id, HourlyRollup.hour)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_old_results_are_deleted_in_batches_once_rolled_up(database: Database) -> None:
    records = every(timedelta(minutes=10), days=20, probes=("login", "signup"))
    await seed(database, records)
    await roll_everything(database)
    cutoff = NOW - timedelta(days=14)
    old = await count_results(database, before=cutoff)
    assert old == 2 * 6 * 24 * 6  # 6 days x 144 runs a day x 2 probes

    deleted, batches = await delete_old_results(
        database, now=NOW, keep=timedelta(days=14), batch=250
    )

    assert deleted == old
    assert batches == math.ceil(old / 250)
    assert await count_results(database, before=cutoff) == 0
    assert await count_results(database) == len(records) - old  # the last 14 days are all kept


async def test_results_not_rolled_up_yet_are_never_deleted(database: Database) -> None:
    records = every(timedelta(minutes=30), days=20, probes=("login",))
    await seed(database, records)

    nothing, _ = await delete_old_results(database, now=NOW, keep=timedelta(days=14))
    assert nothing == 0  # no rollup at all: the raw rows are the only copy

    # Roll up only the first three days: retention may delete those, not the week after.
    first = NOW - timedelta(days=20)
    await roll_everything(database, now=first + timedelta(days=3))
    mark = await rolled_until(database)
    assert mark == first + timedelta(days=3)

    deleted, _ = await delete_old_results(database, now=NOW, keep=timedelta(days=14))

    assert deleted == 3 * 48
    assert await count_results(database, before=mark) == 0
    assert await count_results(database, before=NOW - timedelta(days=14)) == 3 * 48


async def test_the_rollups_left_equal_the_raw_figures_they_replace(database: Database) -> None:
    records = every(timedelta(minutes=5), days=16, probes=("login", "signup"))
    ids = await seed(database, records)
    await roll_everything(database)
    hours_before = await hourly_rows(database)
    days_before = await daily_counts(database, since=NOW - timedelta(days=16), now=NOW)

    deleted = await apply_retention(
        database, now=NOW, raw=timedelta(days=14), rollups=timedelta(days=400)
    )

    assert deleted.results == 2 * 2 * 24 * 12
    assert await hourly_rows(database) == hours_before
    days_after = await daily_counts(database, since=NOW - timedelta(days=16), now=NOW)
    assert days_after == days_before
    # ...and those are the raw figures: the oldest day, now gone from the raw table.
    first_day = (NOW - timedelta(days=16)).replace(hour=0)
    raw = [
        r
        for r in records
        if r.probe == "login" and first_day <= r.started_at < first_day + timedelta(days=1)
    ]
    counts = days_after[(ids["login"], first_day)]
    assert (counts.runs, counts.failures) == (len(raw), sum(not r.ok for r in raw))


async def test_rollups_older_than_their_retention_are_deleted(database: Database) -> None:
    records = every(timedelta(hours=6), days=120, probes=("login",))
    await seed(database, records)
    await roll_everything(database)

    deleted = await apply_retention(
        database, now=NOW, raw=timedelta(days=14), rollups=timedelta(days=90)
    )

    assert deleted.hourly == 30 * 4
    assert deleted.daily == 30
    async with database.session() as session:
        oldest_hour = await session.scalar(select(func.min(HourlyRollup.hour)))
        oldest_day = await session.scalar(select(func.min(DailyRollup.day)))
    assert oldest_hour >= NOW - timedelta(days=90)
    assert oldest_day == (NOW - timedelta(days=90)).replace(hour=0)  # the first whole day kept


async def test_results_written_after_their_hour_was_rolled_are_rolled_in(
    database: Database,
) -> None:
    hour = floor_hour(NOW - timedelta(hours=3))
    on_time = [result("login", hour + timedelta(minutes=m), ok=True) for m in range(0, 30)]
    ids = await seed(database, on_time)
    await roll_everything(database)
    assert await rolled_until(database) == NOW

    # The other half of the hour was held by the recorder through a database outage.
    clock = ManualClock(NOW)
    recorder = Recorder(database, clock=clock, probe_ids=ids, flush_interval=0.05)
    await recorder.start()
    for minute in range(30, 60):
        recorder.record(result("login", hour + timedelta(minutes=minute), ok=minute % 2 == 0))
    await recorder.stop()
    late = recorder.take_late_hours()
    assert late == {hour}

    assert await reroll_hours(database, late, raw_since=NOW - timedelta(days=14)) == 1

    async with database.session() as session:
        row = await session.scalar(select(HourlyRollup).where(HourlyRollup.hour == hour))
    assert row is not None and (row.runs, row.failures) == (60, 15)
    day = await daily_counts(database, since=hour, now=NOW)
    assert day[(ids["login"], hour.replace(hour=0))].runs == 60


async def test_late_results_past_the_raw_horizon_do_not_wipe_their_rollup(
    database: Database,
) -> None:
    hour = floor_hour(NOW - timedelta(days=20))
    ids = await seed(
        database, [result("login", hour + timedelta(minutes=m), ok=True) for m in range(60)]
    )
    await roll_everything(database)
    await apply_retention(database, now=NOW, raw=timedelta(days=14), rollups=timedelta(days=400))
    await insert_results(database, [result("login", hour + timedelta(seconds=5), ok=False)], ids)

    assert await reroll_hours(database, {hour}, raw_since=NOW - timedelta(days=14)) == 0

    async with database.session() as session:
        row = await session.scalar(select(HourlyRollup).where(HourlyRollup.hour == hour))
    assert row is not None and row.runs == 60


def test_retention_is_configurable_and_checked(tmp_path: Path) -> None:
    def load(text: str) -> LoadedConfig:
        path = tmp_path / "monitor.yaml"
        path.write_text(text)
        return load_config(path)

    loaded = load("retention: {raw: 7d, rollups: 730d}\n")
    assert loaded.config.retention.raw == timedelta(days=7)
    assert loaded.config.retention.rollups == timedelta(days=730)
    assert load("probes: []\n").config.retention.raw == timedelta(days=14)

    with pytest.raises(ConfigError) as error:
        load("probes: []\nretention:\n  raw: 30d\n  rollups: 20d\n")
    assert "monitor.yaml:2" in str(error.value) and "retention" in str(error.value)
    with pytest.raises(ConfigError) as unknown:
        load("retention: {raw: 14d, keep: 3d}\n")
    assert "keep" in str(unknown.value)


async def test_a_running_monitor_applies_its_configured_retention(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    now = SystemClock().now()
    old = [result("login", now - timedelta(days=3, minutes=m), ok=m % 5 != 0) for m in range(90)]
    ids = await seed(database, old)
    await insert_results(database, [result("login", now - timedelta(hours=1), ok=True)], ids)
    config = tmp_path / "config.yaml"
    config.write_text(
        "retention: {raw: 2d}\n"
        'probes: [{name: login, enabled: false, request: {url: "http://127.0.0.1:9/"}}]\n'
    )
    async with running_monitor(config, database_url=database_url):

        async def old_ones_gone() -> bool:
            return await count_results(database, before=now - timedelta(days=2)) == 0

        await eventually(old_ones_gone, what="retention to delete the old results", seconds=30)

    assert await count_results(database, before=now - timedelta(hours=2)) == 0
    assert await count_results(database) == 1  # the recent run is kept
    counts = await daily_counts(database, since=now - timedelta(days=4), now=now)
    assert sum(c.runs for c in counts.values()) == 91
    assert sum(c.failures for c in counts.values()) == 18  # the deleted runs live in rollups
