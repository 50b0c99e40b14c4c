"""Silences: planned quiet times during which incidents of some probes (or all) page no one.
Plain async functions over a `Database`; the time comes in as `at` (the caller's clock).

A silence is active from starts_at up to, not including, the earlier of ends_at and ended_at (set
when someone ends it early). Which probes it covers is decided here, in Python, not in SQL: the
list is JSON, which the two databases query differently, and active silences are few.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update

from monitor.storage.database import Database
from monitor.storage.tables import Silence


@dataclass(frozen=True, kw_only=True)
class SilenceRow:
    id: int
    probes: tuple[str, ...] | None  # None: every probe
    starts_at: datetime
    ends_at: datetime  # as planned
    reason: str
    created_by: str | None
    created_at: datetime
    ended_at: datetime | None  # ended early by hand

    @property
    def effective_end(self) -> datetime:
        """When it stops being active: ends_at, or ended_at if it was ended before that."""
        return self.ends_at if self.ended_at is None else min(self.ends_at, self.ended_at)

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.effective_end

    def covers(self, probe: str, at: datetime) -> bool:
        """Whether incidents of `probe` are silenced at `at`."""
        return self.active(at) and (self.probes is None or probe in self.probes)


def _row(silence: Silence) -> SilenceRow:
    return SilenceRow(
        id=silence.id,
        probes=None if silence.probes is None else tuple(silence.probes),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        reason=silence.reason,
        created_by=silence.created_by,
        created_at=silence.created_at,
        ended_at=silence.ended_at,
    )


def _not_over(at: datetime) -> list[ColumnElement[bool]]:
    return [Silence.ends_at > at, or_(Silence.ended_at.is_(None), Silence.ended_at > at)]


async def _select(db: Database, *conditions: ColumnElement[bool]) -> list[SilenceRow]:
    query = select(Silence).where(*conditions).order_by(Silence.starts_at, Silence.id)
    async with db.session() as session:
        return [_row(silence) for silence in (await session.execute(query)).scalars()]


async def add_silence(
    db: Database,
    *,
    probes: Sequence[str] | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: str | None,
    at: datetime,
) -> SilenceRow:
    """Store a silence of `probes` (None: every probe) from starts_at to ends_at; `at` is when it
    was made. ValueError when it would end before it starts, has no reason, or lists no probe (an
    empty list would silence nothing: None is what silences everything)."""
    if ends_at <= starts_at:
        raise ValueError(
            f"a silence must end after it starts: {ends_at.isoformat()} is not after "
            f"{starts_at.isoformat()}"
        )
    if not reason.strip():
        raise ValueError("a silence needs a reason: whoever gets no page should learn why")
    names: list[str] | None = None
    if probes is not None:
        if isinstance(probes, str):  # a str is a Sequence[str]: "login" would be 5 probes
            raise TypeError("probes must be a sequence of names, not one string")
        names = list(dict.fromkeys(probes))  # duplicates dropped, order kept
        if not names:
            raise ValueError("a silence of no probe silences nothing: give names, or None for all")
    async with db.session() as session, session.begin():
        silence = Silence(
            probes=names,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason.strip(),
            created_by=created_by,
            created_at=at,
            ended_at=None,
        )
        session.add(silence)
        await session.flush()
        # Read back: the row as stored (SQLite keeps milliseconds), as later reads will see it.
        await session.refresh(silence)
        return _row(silence)


async def active_silences(db: Database, *, at: datetime) -> list[SilenceRow]:
    """The silences active at `at` (started, neither expired nor ended), oldest start first."""
    return await _select(db, Silence.starts_at <= at, *_not_over(at))


async def list_silences(
    db: Database, *, at: datetime, include_expired: bool = False
) -> list[SilenceRow]:
    """Silences by start time: those not over at `at` (active and planned ones), or all of them
    with `include_expired` (also those that expired or were ended)."""
    if include_expired:
        return await _select(db)
    return await _select(db, *_not_over(at))


async def end_silence(db: Database, *, silence_id: int, at: datetime) -> SilenceRow | None:
    """End a silence at `at`, before its planned end; one that has not started yet is cancelled
    (it will never be active). A silence already over is returned unchanged; None if there is
    no such silence."""
    async with db.session() as session, session.begin():
        # Compare-and-swap: of two people ending it at once, the first one's time is kept.
        await session.execute(
            update(Silence).where(Silence.id == silence_id, *_not_over(at)).values(ended_at=at)
        )
        silence = await session.get(Silence, silence_id)
        return None if silence is None else _row(silence)
