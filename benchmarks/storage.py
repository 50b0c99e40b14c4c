"""Storage benchmark: database bytes per probe-year at a 30 s interval under the default retention.

One probe in steady state holds `retention.raw` (14 days) of raw results, one row per run, and
hourly and daily rollups for as long as `retention.rollups` (400 days) keeps them. The database
gets exactly that for N probes from one location: the raw results through `insert_results`, in
time order as the recorder writes them (seeded: about 99% passing runs without text, 1% failing,
made by `ResultRecord.from_run` from a run of one to three steps, so the error message and the
step details are what the probe code writes), and the rollup rows inserted directly, hour by
hour, with plausible figures (rolling a year of raw results up would take far longer and give
the same rows). It is measured twice: at one year (14 days raw + 365 days of rollups) and at the
full rollup retention (400 days), when the database stops growing.

Prints one JSON line per database and horizon: MB (10^6 bytes) per probe for the probe's tables
with their indexes (results, rollups_hourly, rollups_daily, probes), per table and per table or
index, bytes per row, and the ratio to the target. SQLite is measured after VACUUM
(page_count * page_size, per object from `dbstat`) and also as written; PostgreSQL after
VACUUM (ANALYZE) with pg_total_relation_size (heap, TOAST, free space and visibility maps,
indexes). The rest of the schema (empty tables, the catalog) is a fixed cost, not per probe, and
is left out of the per-probe figures.

    .venv/bin/python benchmarks/storage.py --db sqlite
    .venv/bin/python benchmarks/storage.py --db postgresql
    .venv/bin/python benchmarks/storage.py --probes 5   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from postgres import POSTGRES_URL, postgres_lock, reset_postgres  # noqa: E402

from monitor.config.models import RetentionConfig  # noqa: E402
from monitor.probing.conditions import ConditionResult  # noqa: E402
from monitor.probing.errors import ErrorKind, ProbeError  # noqa: E402
from monitor.probing.flow import RunResult, StepResult  # noqa: E402
from monitor.probing.http import Timings  # noqa: E402
from monitor.storage.database import Database  # noqa: E402
from monitor.storage.migrations import upgrade_async  # noqa: E402
from monitor.storage.records import ResultRecord  # noqa: E402
from monitor.storage.repository import ensure_probes, insert_results  # noqa: E402
from monitor.storage.rollups import HOURLY  # noqa: E402
from monitor.storage.tables import DailyRollup, HourlyRollup, RollupProgress  # noqa: E402

TABLES = ("results", "rollups_hourly", "rollups_daily", "probes")
TARGET_MB = {"sqlite": 5.0, "postgresql": 8.0}
MB = 1_000_000
LOCATION = "local"  # a probe's default (and only) location
# A fixed instant: the same seed gives the same bytes on every run and every day.
NOW = datetime(2026, 12, 1, tzinfo=UTC)
BATCH = 20_000  # records per insert_results call, about what the recorder writes at peak

# The ways a failing check fails: (error kind, or None for a failed condition; status; message
# or the condition's resolved values). The message carries the host, as the probe's real ones do.
FAILURES: tuple[tuple[ErrorKind | None, int | None, str], ...] = (
    (ErrorKind.READ_TIMEOUT, None, "no response from {host}:443 within 10s (read timeout)"),
    (ErrorKind.CONNECT_REFUSED, None, "connection refused by {host}:443"),
    (None, 503, "503 == 200"),
    (None, 200, '"DOWN" == "UP"'),
)
STEPS = ("home", "login", "api")
CONDITIONS = ("[STATUS] == 200", '[BODY].status == "UP"')


def poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means of failures per hour.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def duration(rng: random.Random) -> int:
    return max(5, round(rng.lognormvariate(math.log(120), 0.4)))


def step_result(
    rng: random.Random, name: str, failure: tuple[ErrorKind | None, int | None, str] | None
) -> StepResult:
    kind, status, failed_check = failure or (None, 200, "")
    conditions: tuple[ConditionResult, ...] = ()
    if kind is None:  # a response came: its conditions were checked
        status_ok = status == 200
        body_ok = status_ok and not failed_check
        conditions = (
            ConditionResult(condition=CONDITIONS[0], ok=status_ok, resolved=f"{status} == 200"),
            ConditionResult(
                condition=CONDITIONS[1],
                ok=body_ok,
                resolved=failed_check if status_ok and failed_check else '"UP" == "UP"',
            ),
        )
    return StepResult(
        name=name,
        ok=failure is None,
        status=status,
        duration_ms=duration(rng) + rng.random(),
        timings=Timings(
            total_ms=150.0, connect_ms=12.3, tls_ms=25.1, ttfb_ms=None if kind else 80.2
        ),
        ip="203.0.113.17",
        certificate_not_after=NOW + timedelta(days=90),
        conditions=conditions,
        error=ProbeError(kind, failed_check) if kind is not None else None,
    )


def failed_record(
    rng: random.Random, name: str, names: tuple[str, ...], due: datetime, started: datetime
) -> ResultRecord:
    """A failed run as the recorder stores it: ResultRecord.from_run of a real RunResult, so
    the error message and the step details are the JSON the probe code writes."""
    kind, status, what = rng.choice(FAILURES)
    failure = (kind, status, what.format(host=f"{name}.example.com"))
    at = rng.randrange(len(names))
    steps = [step_result(rng, step, None) for step in names[:at]]
    steps.append(step_result(rng, names[at], failure))
    steps += [
        StepResult(name=step, ok=False, skipped=True, skip_reason="an earlier step failed")
        for step in names[at + 1 :]
    ]
    run = RunResult(
        probe=name,
        location=LOCATION,
        started_at=started,
        duration_ms=sum(step.duration_ms or 0 for step in steps),
        steps=tuple(steps),
    )
    return ResultRecord.from_run(run, due_at=due)


def raw_records(
    rng: random.Random, names: list[str], *, days: int, interval: int, failure_rate: float
) -> Iterator[ResultRecord]:
    """Every probe's runs over the last `days`, tick by tick across probes, as the scheduler
    runs them: the order decides how full the index pages end up."""
    due = NOW - timedelta(days=days)
    step = timedelta(seconds=interval)
    # One, two or three steps: the short form's single request up to a small user journey.
    steps = {name: STEPS[: 1 + index % len(STEPS)] for index, name in enumerate(names)}
    while due < NOW:
        for name in names:
            started = due + timedelta(milliseconds=rng.randint(0, 40))
            if rng.random() < failure_rate:
                yield failed_record(rng, name, steps[name], due, started)
            else:
                yield ResultRecord(
                    probe=name,
                    location=LOCATION,
                    due_at=due,
                    started_at=started,
                    duration_ms=duration(rng),
                    ok=True,
                    status=200,
                )
        due += step


def hourly_rows(
    rng: random.Random, ids: list[int], *, days: int, interval: int, failure_rate: float
) -> Iterator[dict[str, Any]]:
    runs = 3600 // interval
    hour = NOW - timedelta(days=days)
    while hour < NOW:
        for probe_id in ids:
            durations = sorted(duration(rng) for _ in range(8))
            yield {
                "probe_id": probe_id,
                "location": LOCATION,
                "hour": hour,
                "runs": runs,
                "failures": poisson(rng, runs * failure_rate),
                "duration_sum_ms": sum(durations) * runs // len(durations),
                "duration_p50_ms": durations[4],
                "duration_p95_ms": durations[7],
                "duration_max_ms": durations[7] + rng.randint(0, 2000),
            }
        hour += timedelta(hours=1)


def daily_rows(
    rng: random.Random, ids: list[int], *, days: int, interval: int, failure_rate: float
) -> Iterator[dict[str, Any]]:
    runs = 86_400 // interval
    for offset in range(days, 0, -1):
        day = NOW - timedelta(days=offset)
        for probe_id in ids:
            mean = runs * failure_rate
            failures = max(0, round(rng.gauss(mean, math.sqrt(mean))))
            yield {"probe_id": probe_id, "day": day, "runs": runs, "failures": failures}


def chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def seed(url: str, args: argparse.Namespace, *, rollup_days: int, raw_days: int) -> None:
    await upgrade_async(url)
    db = Database.connect(url)
    try:
        rng = random.Random(args.seed)
        names = [f"probe-{index:04d}" for index in range(args.probes)]
        ids = await ensure_probes(db, names, now=NOW - timedelta(days=rollup_days))
        figures = {"interval": args.interval, "failure_rate": args.failure_rate}
        for batch in chunks(raw_records(rng, names, days=raw_days, **figures), BATCH):
            await insert_results(db, batch, ids)
        probe_ids = [ids[name] for name in names]
        for table, rows in (
            (HourlyRollup, hourly_rows(rng, probe_ids, days=rollup_days, **figures)),
            (DailyRollup, daily_rows(rng, probe_ids, days=rollup_days, **figures)),
        ):
            for batch in chunks(rows, 10_000):
                async with db.session() as session, session.begin():
                    await session.execute(insert(table), batch)
        async with db.session() as session, session.begin():
            await session.execute(insert(RollupProgress).values(name=HOURLY, rolled_until=NOW))
    finally:
        await db.dispose()


def sqlite_objects(conn: sqlite3.Connection) -> dict[str, tuple[str, int]]:
    """name -> (table it belongs to, bytes) for the probe's tables and their indexes."""
    owners = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema").fetchall())
    sizes = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    return {name: (owners[name], int(size)) for name, size in sizes if owners.get(name) in TABLES}


def sqlite_file_objects(conn: sqlite3.Connection) -> dict[str, tuple[str, int]]:
    # Without dbstat (an SQLite built without it) only the whole file can be told.
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return {"(whole file)": ("results", int(pages) * int(page_size))}


def measure_sqlite(path: Path) -> tuple[dict[str, tuple[str, int]], dict[str, Any]]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # The WAL holds the last commits: fold it into the file before counting its pages.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            conn.execute("SELECT 1 FROM dbstat LIMIT 1")
            measure = sqlite_objects
        except sqlite3.OperationalError:
            measure = sqlite_file_objects
        written = measure(conn)
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        vacuumed = measure(conn)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    extra = {
        "as_written_bytes": sum(size for _, size in written.values()),
        "file_bytes": int(pages) * int(page_size),
    }
    return vacuumed, extra


async def measure_postgres(url: str) -> tuple[dict[str, tuple[str, int]], dict[str, Any]]:
    db = Database.connect(url)
    try:
        # VACUUM cannot run in a transaction. It is what autovacuum would have done by now, and
        # it creates the free space and visibility maps a live table has.
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in TABLES:
                await auto.execute(text(f"VACUUM (ANALYZE) {table}"))
        objects: dict[str, tuple[str, int]] = {}
        async with db.engine.connect() as conn:
            for table in TABLES:
                # pg_table_size: the heap with its TOAST table and the free space and
                # visibility maps; the indexes separately (all forks: a BRIN index has a free
                # space map), so their sum is the total size.
                heap = await conn.scalar(text(f"SELECT pg_table_size('{table}')"))
                objects[table] = (table, int(heap))
                indexes = await conn.execute(
                    text(
                        "SELECT indexrelid::regclass::text, pg_total_relation_size(indexrelid) "
                        f"FROM pg_index WHERE indrelid = '{table}'::regclass"
                    )
                )
                for name, size in indexes:
                    objects[name] = (table, int(size))
                total = await conn.scalar(text(f"SELECT pg_total_relation_size('{table}')"))
                counted = sum(size for owner, size in objects.values() if owner == table)
                assert counted == total, (table, counted, total)
            database = await conn.scalar(text("SELECT pg_database_size(current_database())"))
    finally:
        await db.dispose()
    return objects, {"database_bytes": int(database)}


async def row_counts(url: str) -> dict[str, int]:
    db = Database.connect(url)
    try:
        async with db.engine.connect() as conn:
            return {
                table: int(await conn.scalar(text(f"SELECT count(*) FROM {table}")))
                for table in TABLES
            }
    finally:
        await db.dispose()


def report(
    db_name: str,
    args: argparse.Namespace,
    *,
    rollup_days: int,
    raw_days: int,
    objects: dict[str, tuple[str, int]],
    rows: dict[str, int],
    extra: dict[str, Any],
    seed_s: float,
) -> dict[str, Any]:
    probes: int = args.probes

    def mb(size: float) -> float:
        return round(size / probes / MB, 3)

    tables = {table: sum(s for owner, s in objects.values() if owner == table) for table in TABLES}
    total = sum(tables.values())
    target = TARGET_MB[db_name]
    line: dict[str, Any] = {
        "db": db_name,
        "probes": probes,
        "interval_s": args.interval,
        "raw_days": raw_days,
        "rollup_days": rollup_days,
        "mb_per_probe_year": mb(total),
        "target_mb": target,
        "ratio_to_target": round(total / probes / MB / target, 3),
        "tables_mb": {table: mb(size) for table, size in tables.items()},
        # Per object (table or index): where the bytes of a table go.
        "objects_mb": {name: mb(size) for name, (_, size) in sorted(objects.items())},
        "bytes_per_row": {
            table: round(tables[table] / rows[table], 1) for table in TABLES if rows[table]
        },
        "rows_per_probe": {table: round(rows[table] / probes) for table in TABLES},
    }
    if "as_written_bytes" in extra:
        line["as_written_mb_per_probe"] = mb(extra["as_written_bytes"])
        line["file_mb"] = round(extra["file_bytes"] / MB, 2)
    if "database_bytes" in extra:
        line["database_mb"] = round(extra["database_bytes"] / MB, 2)
    line["seed_s"] = seed_s
    return line


def bench(url: str, args: argparse.Namespace, db_name: str, *, rollup_days: int) -> None:
    retention = RetentionConfig()
    raw_days = retention.raw.days
    t0 = time.perf_counter()
    asyncio.run(seed(url, args, rollup_days=rollup_days, raw_days=raw_days))
    seeded = round(time.perf_counter() - t0, 1)
    rows = asyncio.run(row_counts(url))
    if db_name == "sqlite":
        path = Path(url.removeprefix("sqlite+aiosqlite:///"))
        objects, extra = measure_sqlite(path)
    else:
        objects, extra = asyncio.run(measure_postgres(url))
    line = report(
        db_name,
        args,
        rollup_days=rollup_days,
        raw_days=raw_days,
        objects=objects,
        rows=rows,
        extra=extra,
        seed_s=seeded,
    )
    print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--interval", type=int, default=30, help="seconds between runs")
    parser.add_argument("--failure-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    # One year, then the full rollup retention: the most one probe ever holds.
    horizons = sorted({365, RetentionConfig().rollups.days})
    with tempfile.TemporaryDirectory() as tmp:
        if args.db in ("sqlite", "both"):
            for days in horizons:
                url = f"sqlite+aiosqlite:///{tmp}/storage-{days}.db"
                bench(url, args, "sqlite", rollup_days=days)
        if args.db in ("postgresql", "both"):
            with postgres_lock():
                for days in horizons:
                    asyncio.run(reset_postgres(POSTGRES_URL))
                    bench(POSTGRES_URL, args, "postgresql", rollup_days=days)


if __name__ == "__main__":
    main()
