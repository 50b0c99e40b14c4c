"""Retention: the monitor must never fill its own disk.

Raw results older than `retention.raw` are deleted, but only those already rolled up (before
the rollup mark), so no figure is lost: history beyond the raw horizon reads the rollups.
Deletion goes in small batches, each its own short transaction, so the recorder's inserts and
the engine never wait behind one huge DELETE, and a PostgreSQL standby never replays one.
Rollups older than `retention.rollups` go the same way, and confirmation requests after an hour
(they matter for seconds; the hour is for whoever looks into an incident).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from monitor.storage.database import Database
from monitor.storage.rollups import floor_day, rolled_until
from monitor.storage.tables import ConfirmationRequest, DailyRollup, HourlyRollup, Result

BATCH = 5_000
REQUESTS_KEEP = timedelta(hours=1)


@dataclass(frozen=True)
class Deleted:
    results: int
    result_batches: int
    hourly: int
    daily: int
    requests: int = 0


async def _delete_batch(db: Database, statement: Any) -> int:
    async with db.session() as session, session.begin():
        done = await session.execute(statement)
    return int(getattr(done, "rowcount", 0) or 0)


async def delete_old_results(
    db: Database, *, now: datetime, keep: timedelta, batch: int = BATCH
) -> tuple[int, int]:
    """Delete raw results started before `now - keep` and before the rollup mark; (rows,
    batches)."""
    mark = await rolled_until(db)
    if mark is None:
        return 0, 0  # nothing is rolled up yet: every raw result is still the only copy
    cutoff = min(now - keep, mark)
    total = batches = 0
    while True:
        oldest = (
            select(Result.id)
            .where(Result.started_at < cutoff)
            .order_by(Result.started_at)
            .limit(batch)
            .scalar_subquery()
        )
        deleted = await _delete_batch(db, delete(Result).where(Result.id.in_(oldest)))
        if deleted == 0:
            break
        total += deleted
        batches += 1
        if deleted < batch:
            break
        await asyncio.sleep(0)  # let the recorder and the engine in between batches
    return total, batches


async def delete_old_rollups(db: Database, *, now: datetime, keep: timedelta) -> tuple[int, int]:
    """Delete hourly and daily rollups older than `now - keep`; (hourly rows, daily rows). They
    are few (one row per probe-hour), so one statement each is small."""
    cutoff = now - keep
    hourly = await _delete_batch(db, delete(HourlyRollup).where(HourlyRollup.hour < cutoff))
    # A day goes only when all of it is past the cutoff: its sum would outlive some of its hours
    # otherwise, and the oldest bar of the status page would show a part of a day as a whole.
    daily = await _delete_batch(db, delete(DailyRollup).where(DailyRollup.day < floor_day(cutoff)))
    return hourly, daily


async def apply_retention(
    db: Database, *, now: datetime, raw: timedelta, rollups: timedelta, batch: int = BATCH
) -> Deleted:
    results, batches = await delete_old_results(db, now=now, keep=raw, batch=batch)
    hourly, daily = await delete_old_rollups(db, now=now, keep=rollups)
    requests = await _delete_batch(
        db, delete(ConfirmationRequest).where(ConfirmationRequest.at < now - REQUESTS_KEEP)
    )
    return Deleted(
        results=results, result_batches=batches, hourly=hourly, daily=daily, requests=requests
    )
