"""The results tail the leader's detector follows, on SQLite and PostgreSQL: every result once,
in id order, a backlog larger than a batch included, and ids that commit out of order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from monitor.storage import tail as tail_module
from monitor.storage.database import Database
from monitor.storage.records import ResultRecord
from monitor.storage.repository import RESULTS, ensure_probes, insert_results, newest_result_id
from monitor.storage.tail import result_tail

START = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def runs(count: int, *, offset: int = 0) -> list[ResultRecord]:
    return [
        ResultRecord(
            probe="login",
            location="local",
            due_at=START + timedelta(seconds=offset + i),
            started_at=START + timedelta(seconds=offset + i),
            duration_ms=10,
            ok=True,
            status=200,
        )
        for i in range(count)
    ]


async def test_every_result_comes_once_in_order_a_long_backlog_included(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await ensure_probes(database, ["login"], now=START)
    await insert_results(database, runs(3), ids)
    clock = [0.0]
    tail = result_tail(
        database, after_id=await newest_result_id(database), monotonic=lambda: clock[0]
    )
    assert await tail.new_rows() == []

    monkeypatch.setattr(tail_module, "BATCH", 50)  # a backlog of 4 batches and a bit
    await insert_results(database, runs(230, offset=10), ids)
    got = await tail.new_rows()

    assert [r.started_at for r in got] == [r.started_at for r in runs(230, offset=10)]
    assert await tail.new_rows() == []
    clock[0] += 60  # past the settle window: nothing is handed out twice
    await insert_results(database, runs(2, offset=500), ids)
    assert len(await tail.new_rows()) == 2
    assert await tail.new_rows() == []


async def test_an_id_that_appears_after_a_higher_one_is_not_skipped(database: Database) -> None:
    ids = await ensure_probes(database, ["login"], now=START)
    clock = [0.0]
    tail = result_tail(database, after_id=0, monotonic=lambda: clock[0])
    row = {
        "probe_id": ids["login"],
        "location": "local",
        "duration_ms": 10,
        "ok": True,
        "status": 200,
        "confirmation": False,
    }
    # Id 2 commits first, id 1 a moment later, as two recorders' transactions may.
    async with database.session() as session, session.begin():
        await session.execute(
            insert(RESULTS), [{**row, "id": 2, "due_at": START, "started_at": START}]
        )
    first = await tail.new_rows()
    async with database.session() as session, session.begin():
        await session.execute(
            insert(RESULTS), [{**row, "id": 1, "due_at": START, "started_at": START}]
        )
    between = await tail.new_rows()  # polls between rescans read above the highest id
    clock[0] += tail_module.RESCAN_SECONDS
    second = await tail.new_rows()

    assert len(first) == 1 and between == [] and len(second) == 1
    assert await tail.new_rows() == []
    clock[0] += tail_module.RESCAN_SECONDS
    assert await tail.new_rows() == []  # the rescan hands nothing out twice
