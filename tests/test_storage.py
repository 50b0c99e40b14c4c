"""Storage and recorder, on SQLite and on PostgreSQL (the `database` fixture runs each test on
both). The database refuses writes for real (a trigger, a constraint), never through a mock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError

from monitor.clock import ManualClock
from monitor.storage import (
    Database,
    DatabaseError,
    Recorder,
    ResultRecord,
    count_results,
    insert_results,
    recent_results,
    sync_probes,
)
from monitor.storage.queries import query_recent
from monitor.storage.tables import Probe
from monitor.storage.types import Timestamp

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_record(
    probe: str = "login", *, at: datetime = T0, ok: bool = True, **fields: Any
) -> ResultRecord:
    failed: dict[str, Any] = {}
    if not ok:
        failed = {
            "error_kind": "condition",
            "error_message": "sign in: [STATUS] (503) == 200",
            "failed_step": "sign in",
            "details": [{"name": "sign in", "ok": False, "failed": ["[STATUS] (503) == 200"]}],
        }
    values: dict[str, Any] = {
        "probe": probe,
        "location": "local",
        "due_at": at - timedelta(milliseconds=40),
        "started_at": at,
        "duration_ms": 123.4,
        "ok": ok,
        "status": 200 if ok else 503,
        **failed,
        **fields,
    }
    return ResultRecord(**values)


async def eventually(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait until `condition()` holds; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


async def stored_count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM results"))).scalar_one())


async def reject_result_writes(db: Database) -> None:
    """From now on the database itself refuses every INSERT into results."""
    if db.dialect == "postgresql":
        # NOT VALID: checks new rows only, so it works on a table that already has rows.
        statement = "ALTER TABLE results ADD CONSTRAINT test_reject CHECK (false) NOT VALID"
    else:
        statement = (
            "CREATE TRIGGER test_reject BEFORE INSERT ON results "
            "BEGIN SELECT RAISE(ABORT, 'writes rejected by the test'); END"
        )
    async with db.engine.begin() as conn:
        await conn.execute(text(statement))


async def accept_result_writes(db: Database) -> None:
    if db.dialect == "postgresql":
        statement = "ALTER TABLE results DROP CONSTRAINT test_reject"
    else:
        statement = "DROP TRIGGER test_reject"
    async with db.engine.begin() as conn:
        await conn.execute(text(statement))


def watch_result_inserts(db: Database) -> tuple[list[int], list[int]]:
    """(rows per INSERT INTO results statement, commits) as the engine executes them."""
    inserts: list[int] = []
    commits: list[int] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def on_execute(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, executemany: bool
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO RESULTS"):
            inserts.append(len(parameters) if executemany else 1)

    @event.listens_for(db.engine.sync_engine, "commit")
    def on_commit(_conn: Any) -> None:
        commits.append(1)

    return inserts, commits


# --- timestamps ---------------------------------------------------------------------------------


async def test_timestamps_round_trip_timezone_aware(database: Database) -> None:
    berlin_summer = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 29, 3, 30, 15, 250_000, tzinfo=berlin_summer)
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=local)
    await insert_results(database, [make_record(at=local)], ids)

    [row] = await recent_results(database)
    assert row.started_at == local  # the same instant...
    assert row.started_at.tzinfo is UTC  # ...read back in UTC
    assert row.due_at == local - timedelta(milliseconds=40)
    async with database.session() as session:
        probe = (await session.execute(select(Probe))).scalar_one()
    assert probe.first_seen == local and probe.first_seen.tzinfo is UTC


async def test_timestamp_storage_form(database: Database) -> None:
    precise = datetime(2026, 1, 5, 9, 0, 0, 123_456, tzinfo=UTC)
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=precise)
    await insert_results(database, [make_record(at=precise)], ids)
    [row] = await recent_results(database)
    async with database.engine.connect() as conn:
        if database.dialect == "sqlite":
            # Epoch milliseconds in an INTEGER: compact; the sub-millisecond part is floored.
            stored = (
                await conn.execute(text("SELECT typeof(started_at), started_at FROM results"))
            ).one()
            assert tuple(stored) == ("integer", 1_767_603_600_123)
            assert row.started_at == precise.replace(microsecond=123_000)
        else:
            kind = await conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'results' AND column_name = 'started_at'"
                )
            )
            assert kind.scalar_one() == "timestamp with time zone"
            assert row.started_at == precise


async def test_naive_datetimes_are_refused(database: Database) -> None:
    naive = datetime(2026, 1, 5, 9, 0)
    with pytest.raises(ValueError, match="naive datetime"):
        Timestamp().process_bind_param(naive, database.engine.dialect)
    with pytest.raises(StatementError) as raised:
        await sync_probes(database, [("login", "accounts", "h1")], now=naive)
    assert isinstance(raised.value.orig, ValueError)
    assert await sync_probes(database, [("login", "accounts", "h1")], now=T0) == {"login": 1}


def test_timestamp_dialect_forms() -> None:
    # The same Python value, bound for each database (no connection needed).
    moment = datetime(1970, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC)
    assert Timestamp().process_bind_param(moment, sqlite.dialect()) == 1500
    assert Timestamp().process_result_value(1500, sqlite.dialect()) == moment
    assert Timestamp().process_bind_param(moment, postgresql.dialect()) == moment


# --- probes -------------------------------------------------------------------------------------


async def test_sync_probes_inserts_then_updates(database: Database) -> None:
    t1 = T0 + timedelta(hours=1)
    first = await sync_probes(
        database, [("login", "accounts", "h1"), ("signup", "accounts", "h2")], now=T0
    )
    assert set(first) == {"login", "signup"}

    second = await sync_probes(
        database, [("login", "auth", "h1b"), ("sharing", "files", "h3")], now=t1
    )
    assert second["login"] == first["login"]  # same row, not a new one
    assert set(second) == {"login", "sharing"}  # only what was asked for

    async with database.session() as session:
        rows = {p.name: p for p in (await session.execute(select(Probe))).scalars()}
    assert set(rows) == {"login", "signup", "sharing"}
    login = rows["login"]
    assert (login.group, login.config_hash, login.first_seen, login.last_seen) == (
        "auth",
        "h1b",
        T0,
        t1,
    )
    assert rows["signup"].last_seen == T0  # not in the second config: untouched
    assert rows["sharing"].first_seen == t1


async def test_sync_probes_from_two_processes_at_once(
    database: Database, database_url: str
) -> None:
    # Two engines = two connections, as two monitor processes would have.
    other = Database.connect(database_url)
    definitions = [(f"probe-{i:03}", "group", f"hash-{i}") for i in range(200)]
    try:
        one, two = await asyncio.gather(
            sync_probes(database, definitions, now=T0),
            sync_probes(other, list(reversed(definitions)), now=T0),
        )
    finally:
        await other.dispose()
    assert one == two
    assert len(set(one.values())) == 200


async def test_sync_probes_of_nothing_and_of_duplicates(database: Database) -> None:
    assert await sync_probes(database, [], now=T0) == {}
    # The same name twice (two config files): one row, the last definition wins.
    ids = await sync_probes(database, [("login", "a", "h1"), ("login", "b", "h2")], now=T0)
    assert list(ids) == ["login"]
    async with database.session() as session:
        probe = (await session.execute(select(Probe))).scalar_one()
    assert (probe.group, probe.config_hash) == ("b", "h2")


# --- results ------------------------------------------------------------------------------------


async def test_recent_results_filters_and_order(database: Database) -> None:
    ids = await sync_probes(
        database, [("login", "accounts", "h1"), ("signup", "accounts", "h2")], now=T0
    )
    records = [
        make_record(
            "login" if i % 2 == 0 else "signup", at=T0 + timedelta(minutes=i), ok=i % 3 != 0
        )
        for i in range(10)
    ]
    # Inserted oldest last: the order must come from started_at, not from insertion.
    await insert_results(database, list(reversed(records)), ids)

    def minutes(rows: list[Any]) -> list[int]:
        return [int((r.started_at - T0).total_seconds() // 60) for r in rows]

    assert minutes(await recent_results(database)) == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert minutes(await recent_results(database, probe="login")) == [8, 6, 4, 2, 0]
    assert minutes(await recent_results(database, since=T0 + timedelta(minutes=7))) == [9, 8, 7]
    assert minutes(await recent_results(database, failed_only=True)) == [9, 6, 3, 0]
    assert minutes(await recent_results(database, limit=3)) == [9, 8, 7]
    assert minutes(
        await recent_results(
            database, probe="login", failed_only=True, since=T0 + timedelta(minutes=1)
        )
    ) == [6]
    assert await recent_results(database, probe="nobody") == []

    assert await count_results(database) == 10
    assert await count_results(database, probe="signup", failed_only=True) == 2
    assert await count_results(database, since=T0 + timedelta(minutes=5)) == 5

    newest_failure, *_ = await recent_results(database, failed_only=True)
    assert newest_failure.probe == "signup"
    assert newest_failure.status == 503
    assert newest_failure.error_message == "sign in: [STATUS] (503) == 200"
    assert newest_failure.failed_step == "sign in"
    assert newest_failure.details == [
        {"name": "sign in", "ok": False, "failed": ["[STATUS] (503) == 200"]}
    ]
    _, passed = await recent_results(database, limit=2)  # minute 8, a success
    assert (passed.ok, passed.details, passed.error_kind, passed.error_message) == (
        True,
        None,
        None,
        None,
    )
    assert passed.duration_ms == 123  # integer milliseconds


async def test_text_the_database_could_not_store_is_replaced(database: Database) -> None:
    # PostgreSQL text cannot hold NUL; a response body may contain one. Refusing the row would
    # hold up its whole batch forever.
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    record = make_record(
        ok=False, error_message="body: a\x00b", details=[{"body": "a\x00b", "at": T0}]
    )
    await insert_results(database, [record], ids)
    [row] = await recent_results(database)
    assert row.error_message == "body: a\ufffdb"
    assert row.details == [{"body": "a\x00b", "at": str(T0)}]


# --- recorder -----------------------------------------------------------------------------------


async def test_recorder_writes_one_insert_per_batch(database: Database) -> None:
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    inserts, commits = watch_result_inserts(database)
    recorder = Recorder(
        database, clock=ManualClock(T0), flush_interval=3600, batch_size=100, probe_ids=ids
    )
    await recorder.start()
    for i in range(250):
        recorder.record(make_record(at=T0 + timedelta(seconds=i)))
    # Full batches go at once, without waiting for the (hour-long) interval; the rest of the
    # buffer goes with them.
    await eventually(lambda: recorder.stats.stored == 250, "the batches written")
    stats = await recorder.stop()

    assert (stats.stored, stats.pending, stats.taken) == (250, 0, 250)
    assert inserts == [100, 100, 50]  # one executemany per batch, not one INSERT per row
    assert len(commits) == 3  # one transaction per batch
    assert await stored_count(database) == 250


async def test_recorder_flushes_on_the_interval(database: Database) -> None:
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    recorder = Recorder(
        database, clock=ManualClock(T0), flush_interval=0.05, batch_size=500, probe_ids=ids
    )
    await recorder.start()
    try:
        for i in range(3):
            recorder.record(make_record(at=T0 + timedelta(seconds=i)))
        await eventually(lambda: recorder.stats.stored == 3, "a partial batch written")
    finally:
        await recorder.stop()
    assert await stored_count(database) == 3


async def test_failed_flush_is_retried_and_nothing_is_lost(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    await reject_result_writes(database)
    recorder = Recorder(
        database, clock=ManualClock(T0), flush_interval=0.05, batch_size=10, probe_ids=ids
    )
    await recorder.start()
    try:
        for i in range(25):
            recorder.record(make_record(at=T0 + timedelta(seconds=i)))
        await eventually(lambda: recorder.stats.failed_flushes >= 1, "a refused flush")
        assert recorder.stats.stored == 0
        assert recorder.stats.pending == 25  # kept, not dropped
        assert await stored_count(database) == 0

        await accept_result_writes(database)
        await eventually(lambda: recorder.stats.stored == 25, "the retry to write everything")
    finally:
        stats = await recorder.stop()
    assert (stats.pending, stats.dropped) == (0, 0)
    assert await stored_count(database) == 25
    started = sorted(r.started_at for r in await recent_results(database))
    assert started == [T0 + timedelta(seconds=i) for i in range(25)]  # each exactly once
    assert "failed" in caplog.text and "retrying" in caplog.text


async def test_stop_writes_everything_taken(database: Database) -> None:
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    recorder = Recorder(
        database, clock=ManualClock(T0), flush_interval=3600, batch_size=1000, probe_ids=ids
    )
    await recorder.start()
    for i in range(123):
        recorder.record(make_record(at=T0 + timedelta(seconds=i)))
    assert recorder.stats.stored == 0  # nothing due yet: neither a full batch nor the interval
    stats = await recorder.stop(timeout=10)
    assert (stats.taken, stats.stored, stats.pending) == (123, 123, 0)
    assert await stored_count(database) == 123


async def test_stop_reports_what_it_could_not_write(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    await reject_result_writes(database)
    recorder = Recorder(database, clock=ManualClock(T0), probe_ids=ids)
    await recorder.start()
    for i in range(5):
        recorder.record(make_record(at=T0 + timedelta(seconds=i)))
    started = time.monotonic()
    stats = await recorder.stop(timeout=1.0)
    assert time.monotonic() - started < 5  # gave up at its timeout
    assert (stats.stored, stats.pending) == (0, 5)
    assert stats.failed_flushes >= 1
    assert "5 results not written" in caplog.text


async def test_full_buffer_drops_the_oldest(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    recorder = Recorder(database, clock=ManualClock(T0), batch_size=5, max_buffer=10, probe_ids=ids)
    with caplog.at_level(logging.WARNING, logger="monitor.storage.recorder"):
        for i in range(15):  # not started: nothing is written meanwhile
            recorder.record(make_record(at=T0 + timedelta(seconds=i)))
    assert (recorder.stats.taken, recorder.stats.pending, recorder.stats.dropped) == (15, 10, 5)
    assert caplog.text.count("dropping the oldest") == 1  # one warning per run of drops

    stats = await recorder.stop()
    assert (stats.stored, stats.dropped, stats.pending) == (10, 5, 0)
    started = sorted(r.started_at for r in await recent_results(database))
    assert started == [T0 + timedelta(seconds=i) for i in range(5, 15)]  # the newest ten


async def test_results_of_unknown_probes_get_a_probe_row(database: Database) -> None:
    recorder = Recorder(database, clock=ManualClock(T0 + timedelta(days=1)))
    await recorder.start()
    recorder.record(make_record("adhoc"))
    stats = await recorder.stop()
    assert stats.stored == 1
    [row] = await recent_results(database, probe="adhoc")
    assert row.probe == "adhoc"
    async with database.session() as session:
        probe = (await session.execute(select(Probe))).scalar_one()
    assert (probe.name, probe.group, probe.config_hash) == ("adhoc", "adhoc", None)
    assert probe.first_seen == T0 + timedelta(days=1)


async def test_record_never_raises_and_refuses_naive_times(database: Database) -> None:
    recorder = Recorder(database, clock=ManualClock(T0))
    recorder.record(make_record(at=datetime(2026, 1, 5, 9, 0)))  # naive: would poison a batch
    recorder.record(make_record())
    assert (recorder.stats.taken, recorder.stats.rejected) == (1, 1)
    assert (await recorder.stop()).stored == 1


# --- connecting ---------------------------------------------------------------------------------


async def test_sqlite_settings_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "monitor.db"
    db = Database.connect(f"sqlite:///{path}")  # the URL people paste: the async driver is picked
    try:
        async with db.engine.connect() as conn:
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await db.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }
    assert path.exists()
    assert db.dialect == "sqlite"


def test_sqlite_directory_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DatabaseError, match="cannot create the directory"):
        Database.connect(f"sqlite+aiosqlite:///{blocker / 'monitor.db'}")


async def test_unreachable_database_is_named_without_password() -> None:
    db = Database.connect("postgresql+asyncpg://monitor:s3cret@127.0.0.1:1/monitor")
    try:
        with pytest.raises(DatabaseError) as raised:
            await db.check()
    finally:
        await db.dispose()
    message = str(raised.value)
    assert "postgresql+asyncpg://monitor:***@127.0.0.1:1/monitor" in message
    assert "s3cret" not in message


def test_invalid_url_is_a_database_error() -> None:
    with pytest.raises(DatabaseError, match="invalid database URL"):
        Database.connect("not a url")


async def test_query_recent_needs_an_existing_database(tmp_path: Path) -> None:
    missing = tmp_path / "monitor.db"
    with pytest.raises(DatabaseError, match="no database at"):
        await query_recent(f"sqlite:///{missing}")
    assert not missing.exists()  # looking did not create it

    empty = Database.connect(f"sqlite:///{missing}")
    async with empty.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
    await empty.dispose()
    with pytest.raises(DatabaseError, match="monitor db upgrade"):
        await query_recent(f"sqlite:///{missing}")


async def test_query_recent_reads_an_upgraded_database(
    database: Database, database_url: str
) -> None:
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    await insert_results(
        database, [make_record(at=T0), make_record(at=T0 + timedelta(seconds=1), ok=False)], ids
    )
    rows = await query_recent(database_url, failed_only=True)
    assert [(r.probe, r.ok) for r in rows] == [("login", False)]
