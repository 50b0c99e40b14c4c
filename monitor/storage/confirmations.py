"""Confirmation runs asked of other instances, through the database.

The leader's detector asks for confirmation runs after a failure (and before resolving), but
the leader runs only the probes of its own location, if any. It writes the request here, and
every instance that runs the probe reads new requests by id and makes the runs from its own
location, so a quorum over several locations is confirmed as fast as a single one. Retention
deletes them after an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select

from monitor.storage.database import Database
from monitor.storage.tables import ConfirmationRequest


@dataclass(frozen=True)
class Asked:
    probe: str
    runs: int
    every: timedelta
    at: datetime


async def ask_for_confirmation(
    db: Database, *, probe: str, runs: int, every: timedelta, at: datetime
) -> None:
    async with db.session() as session, session.begin():
        await session.execute(
            insert(ConfirmationRequest).values(
                probe=probe, runs=runs, every_ms=int(every.total_seconds() * 1000), at=at
            )
        )


async def newest_request_id(db: Database) -> int:
    async with db.session() as session:
        newest = await session.scalar(select(func.max(ConfirmationRequest.id)))
    return int(newest or 0)


async def requests_after(
    db: Database, *, after_id: int, limit: int = 500
) -> list[tuple[int, Asked]]:
    query = (
        select(ConfirmationRequest)
        .where(ConfirmationRequest.id > after_id)
        .order_by(ConfirmationRequest.id)
        .limit(limit)
    )
    async with db.session() as session:
        rows = (await session.scalars(query)).all()
    return [
        (row.id, Asked(row.probe, row.runs, timedelta(milliseconds=row.every_ms), row.at))
        for row in rows
    ]
