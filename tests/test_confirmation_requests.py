"""The confirmation requests the leader writes for the other instances, on SQLite and
PostgreSQL: read in id order after a cursor, deleted by retention after an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from monitor.storage.confirmations import (
    Asked,
    ask_for_confirmation,
    newest_request_id,
    requests_after,
)
from monitor.storage.database import Database
from monitor.storage.retention import REQUESTS_KEEP as KEEP
from monitor.storage.retention import apply_retention
from monitor.storage.tables import ConfirmationRequest
from monitor.storage.tail import request_tail

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


async def test_requests_are_read_after_a_cursor_and_deleted_after_an_hour(
    database: Database,
) -> None:
    assert await newest_request_id(database) == 0
    every = timedelta(milliseconds=1500)
    await ask_for_confirmation(database, probe="login", runs=5, every=every, at=T0)
    cursor = await newest_request_id(database)
    await ask_for_confirmation(database, probe="shares", runs=3, every=every, at=T0 + KEEP)

    [(newest, asked)] = await requests_after(database, after_id=cursor)
    assert asked == Asked("shares", 3, every, T0 + KEEP)
    assert [a.probe for _, a in await requests_after(database, after_id=0)] == ["login", "shares"]

    async def retain(now: datetime) -> int:
        kept = timedelta(days=400)  # results and rollups are not what this is about
        return (await apply_retention(database, now=now, raw=kept, rollups=kept)).requests

    assert await retain(T0 + KEEP) == 0  # exactly an hour: kept
    assert await retain(T0 + KEEP + timedelta(seconds=1)) == 1
    assert [a.probe for _, a in await requests_after(database, after_id=0)] == ["shares"]
    assert await newest_request_id(database) == newest


async def test_a_request_committed_after_a_higher_id_is_still_followed(
    database: Database,
) -> None:
    tail = request_tail(database, after_id=0)
    row = {"runs": 2, "every_ms": 100, "at": T0}
    # Two asks written at once (two probes failing together) commit out of id order.
    async with database.session() as session, session.begin():
        await session.execute(insert(ConfirmationRequest), [{**row, "id": 2, "probe": "shares"}])
    first = await tail.new_rows()
    async with database.session() as session, session.begin():
        await session.execute(insert(ConfirmationRequest), [{**row, "id": 1, "probe": "login"}])
    second = await tail.new_rows()

    assert [a.probe for a in first] == ["shares"] and [a.probe for a in second] == ["login"]
    assert await tail.new_rows() == []
