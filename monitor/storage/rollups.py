"""Hourly and daily rollups of results: what history is read from.

The status page shows 90 days of 1,000 probes; scanning the raw results for that on every load
(the page everyone reloads during an outage) would not do. Once an hour is over (plus a grace
for results still on their way from the recorder), its scheduled runs are summed per probe and
location into `rollups_hourly`, and that probe's day in `rollups_daily` is summed again from its
hours. `rollup_progress` says how far that goes; anything later is read raw, which is at most
an hour and a bit of results. Retention (which deletes raw results) may only delete what is
rolled up.

Rolling an hour is one transaction that ends with a compare-and-swap on the progress row, so two
instances rolling at once write each hour once: the loser rolls back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import case, delete, false, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from monitor.percentiles import nearest_rank
from monitor.storage.database import Database
from monitor.storage.tables import DailyRollup, HourlyRollup, Probe, Result, RollupProgress
from monitor.storage.types import Timestamp

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOURLY = "hourly"
# Results reach the database up to a few seconds after they started (the recorder batches, a
# run lasts up to its timeout): an hour is rolled up only this long after it ended.
GRACE = timedelta(minutes=2)
# One pass rolls at most this many hours (a monitor started on a database with weeks of raw
# results catches up over several passes instead of holding one long transaction).
MAX_HOURS_PER_PASS = 48


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, kw_only=True)
class HourFigures:
    runs: int
    failures: int
    duration_sum_ms: int
    duration_p50_ms: int
    duration_p95_ms: int
    duration_max_ms: int


def summarize(runs: Iterable[tuple[bool, int]]) -> HourFigures:
    """(ok, duration_ms) of one probe's runs from one location -> their rollup figures."""
    oks: list[bool] = []
    durations: list[int] = []
    for ok, duration in runs:
        oks.append(ok)
        durations.append(duration)
    durations.sort()
    return HourFigures(
        runs=len(oks),
        failures=oks.count(False),
        duration_sum_ms=sum(durations),
        duration_p50_ms=nearest_rank(durations, 50),
        duration_p95_ms=nearest_rank(durations, 95),
        duration_max_ms=durations[-1],
    )


async def rolled_until(db: Database) -> datetime | None:
    """Every hour before this is rolled up; None: nothing is yet."""
    async with db.session() as session:
        return await _progress(session)


async def _progress(session: AsyncSession) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(RollupProgress.rolled_until).where(RollupProgress.name == HOURLY)
    )
    return found


async def roll_up(db: Database, *, now: datetime, max_hours: int = MAX_HOURS_PER_PASS) -> int:
    """Roll up the hours that are over and not rolled yet; the number of hours rolled."""
    until = floor_hour(now - GRACE)
    rolled = 0
    while rolled < max_hours:
        hour = await _next_hour(db, until=until)
        if hour is None:
            break
        if not await _roll_hour(db, hour):
            log.info("rollups: another instance rolled %s first", hour.isoformat())
            break
        rolled += 1
    return rolled


async def _next_hour(db: Database, *, until: datetime) -> datetime | None:
    """The first hour to roll: the one after the progress mark, skipping hours without any
    result (a monitor that was off for a week rolls no 168 empty hours)."""
    async with db.session() as session:
        progress = await _progress(session)
        query = select(func.min(Result.started_at))
        if progress is not None:
            query = query.where(Result.started_at >= progress)
        first: datetime | None = await session.scalar(query)
    if first is None:
        # Nothing raw after the mark: the hours up to `until` are empty; only the mark moves.
        if progress is not None and progress < until:
            await _advance(db, old=progress, new=until)
        return None
    hour = floor_hour(first)
    if hour >= until:
        if progress is not None and progress < hour:
            await _advance(db, old=progress, new=hour)
        return None
    return hour


async def _advance(db: Database, *, old: datetime, new: datetime) -> None:
    async with db.session() as session, session.begin():
        await _swap_progress(session, old=old, new=new)


async def _swap_progress(session: AsyncSession, *, old: datetime | None, new: datetime) -> bool:
    if old is None:
        try:
            async with session.begin_nested():
                await session.execute(insert(RollupProgress).values(name=HOURLY, rolled_until=new))
        except IntegrityError:
            return False
        return True
    done = await session.execute(
        update(RollupProgress)
        .where(RollupProgress.name == HOURLY, RollupProgress.rolled_until == old)
        .values(rolled_until=new)
    )
    return bool(getattr(done, "rowcount", 0))


async def _roll_hour(db: Database, hour: datetime) -> bool:
    """Write `hour`'s rollups and move the mark past it, in one transaction; False when another
    instance moved the mark first (nothing is written then)."""
    async with db.session() as session, session.begin():
        progress = await _progress(session)
        if progress is not None and progress > hour:
            return False  # rolled by another instance since this one looked
        # The mark moves first: the UPDATE takes the progress row's lock, so a second instance
        # rolling the same hour waits here, finds the mark moved, and writes nothing.
        if not await _swap_progress(session, old=progress, new=hour + HOUR):
            await session.rollback()
            return False
        await _write_hour(session, hour)
    return True


async def _write_hour(session: AsyncSession, hour: datetime) -> None:
    """(Re)write `hour`'s rollup rows from its raw results, and its day's sums from its hours."""
    raw = await session.execute(
        select(Result.probe_id, Result.location, Result.ok, Result.duration_ms).where(
            Result.started_at >= hour,
            Result.started_at < hour + HOUR,
            Result.confirmation.is_(False),
        )
    )
    runs: dict[tuple[int, str], list[tuple[bool, int]]] = defaultdict(list)
    for probe_id, location, ok, duration in raw:
        runs[(probe_id, location)].append((bool(ok), int(duration)))
    # Rows of an earlier write of this hour (a re-roll, a mark moved back by hand) are replaced.
    await session.execute(delete(HourlyRollup).where(HourlyRollup.hour == hour))
    if runs:
        await session.execute(
            insert(HourlyRollup),
            [
                {
                    "probe_id": probe_id,
                    "location": location,
                    "hour": hour,
                    **vars(summarize(values)),
                }
                for (probe_id, location), values in runs.items()
            ],
        )
    await _sum_day(session, floor_day(hour))


def hour_is_over(started_at: datetime, *, now: datetime) -> bool:
    """A result of an hour that is over may reach the database after that hour was rolled up
    (the recorder held it through a database outage): such hours must be rolled again."""
    return floor_hour(started_at) + HOUR <= now


async def reroll_hours(db: Database, hours: Iterable[datetime], *, raw_since: datetime) -> int:
    """Roll again the given hours that are already rolled up (results arrived late); hours
    past the mark are left to the next `roll_up`. Hours before `raw_since` (where retention may
    have deleted raw results) are left alone: rolled again from what is left, they would lose
    figures. The number of hours rolled again."""
    done = 0
    for hour in sorted({floor_hour(hour) for hour in hours}):
        if hour < raw_since:
            log.warning("results of %s arrived after retention's horizon", hour.isoformat())
            continue
        for attempt in range(3):
            try:
                async with db.session() as session, session.begin():
                    mark = await _progress(session)
                    if mark is None or hour >= mark:
                        break
                    await _write_hour(session, hour)
                done += 1
                break
            except IntegrityError:
                # Another instance re-rolled the same hour at the same moment; try once more.
                if attempt == 2:
                    raise
    return done


async def _sum_day(session: AsyncSession, day: datetime) -> None:
    await session.execute(delete(DailyRollup).where(DailyRollup.day == day))
    await session.execute(
        insert(DailyRollup).from_select(
            ["probe_id", "day", "runs", "failures"],
            select(
                HourlyRollup.probe_id,
                literal(day, Timestamp),
                func.sum(HourlyRollup.runs),
                func.sum(HourlyRollup.failures),
            )
            .where(HourlyRollup.hour >= day, HourlyRollup.hour < day + DAY)
            .group_by(HourlyRollup.probe_id),
        )
    )


@dataclass(frozen=True)
class Counts:
    runs: int
    failures: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.runs + other.runs, self.failures + other.failures)

    @property
    def uptime(self) -> float | None:
        """The share of runs that passed; None without runs (no data is not 100%)."""
        return None if self.runs == 0 else 1 - self.failures / self.runs


Key = TypeVar("Key", int, str)


async def daily_counts(
    db: Database, *, since: datetime, now: datetime
) -> dict[tuple[int, datetime], Counts]:
    """(probe id, UTC day) -> scheduled runs and failures, for the days from `since`'s day to
    `now`'s: the rolled-up days plus the raw results after the mark, today included."""
    return await _daily(db, since=since, now=now, key=DailyRollup.probe_id, raw_key=Result.probe_id)


async def daily_counts_by_group(
    db: Database, *, since: datetime, now: datetime
) -> dict[tuple[str, datetime], Counts]:
    """As daily_counts, summed per probe group (status-page component) by the database: 50
    groups x 90 days is 4,500 rows to read, where 1,000 probes would be 90,000."""
    return await _daily(db, since=since, now=now, key=Probe.group, raw_key=Probe.group)


async def _daily(
    db: Database,
    *,
    since: datetime,
    now: datetime,
    key: InstrumentedAttribute[Key],
    raw_key: InstrumentedAttribute[Key],
) -> dict[tuple[Key, datetime], Counts]:
    first_day = floor_day(since)
    by_group = key is Probe.group
    async with db.session() as session:
        mark = await _progress(session)
        counts: dict[tuple[Key, datetime], Counts] = {}
        if mark is not None:
            rolled = select(
                key, DailyRollup.day, func.sum(DailyRollup.runs), func.sum(DailyRollup.failures)
            ).where(DailyRollup.day >= first_day)
            if by_group:
                rolled = rolled.join(Probe, Probe.id == DailyRollup.probe_id)
            rolled = rolled.group_by(key, DailyRollup.day)
            for name, day, runs, failures in await session.execute(rolled):
                counts[(name, day)] = Counts(int(runs), int(failures))
        raw_since = max(mark, first_day) if mark is not None else first_day
        await _add_raw(session, counts, key=raw_key, since=raw_since, now=now)
    return counts


async def _add_raw(
    session: AsyncSession,
    counts: dict[tuple[Key, datetime], Counts],
    *,
    key: InstrumentedAttribute[Key],
    since: datetime,
    now: datetime,
) -> None:
    """Add the raw results from `since` on, per key and day. Normally they are the last hour
    or so, within today; the CASE splits the rare stretch that crosses midnight (or, before the
    first rollup, a longer one) into days without dialect-specific date functions."""
    days = _days_between(since, now)
    day_of = case(
        *((Result.started_at >= day, index) for index, day in reversed(list(enumerate(days)))),
        else_=-1,
    )
    # A subquery names the day once: PostgreSQL would not see the CASE in the SELECT (its
    # parameters numbered apart) as the one in the GROUP BY.
    raw = select(key.label("key"), day_of.label("day_index"), Result.ok).where(
        Result.started_at >= since, Result.confirmation == false()
    )
    if key is Probe.group:
        raw = raw.join(Probe, Probe.id == Result.probe_id)
    rows = raw.subquery()
    failed = func.sum(case((rows.c.ok.is_(False), 1), else_=0))
    query = select(rows.c.key, rows.c.day_index, func.count(), failed).group_by(
        rows.c.key, rows.c.day_index
    )
    for name, index, runs, failures in await session.execute(query):
        if index < 0:
            continue
        slot = (name, days[index])
        counts[slot] = counts.get(slot, Counts(0, 0)) + Counts(int(runs), int(failures or 0))


def _days_between(since: datetime, now: datetime) -> list[datetime]:
    day, last = floor_day(since), floor_day(now)
    days = []
    while day <= last:
        days.append(day)
        day += DAY
    return days


@dataclass(frozen=True)
class RolledOnly:
    """A stretch of history whose raw runs retention deleted: only the hourly rollups remain."""

    since: datetime
    until: datetime  # the first raw run kept (or the end of the window)
    counts: Counts


async def rolled_only(
    db: Database, *, since: datetime, until: datetime, probes: Iterable[str]
) -> RolledOnly | None:
    """The start of [since, until) that only rollups cover (a backtest replays raw runs: it
    says what it could not replay, and the uptime there); None when raw runs start at once."""
    names = sorted(set(probes))
    async with db.session() as session:
        first_raw: datetime | None = await session.scalar(
            select(func.min(Result.started_at))
            .join(Probe, Probe.id == Result.probe_id)
            .where(Result.started_at >= since, Result.started_at < until, Probe.name.in_(names))
        )
        end = until if first_raw is None else floor_hour(first_raw)
        if end <= since:
            return None
        runs, failures = (
            await session.execute(
                select(func.sum(HourlyRollup.runs), func.sum(HourlyRollup.failures))
                .join(Probe, Probe.id == HourlyRollup.probe_id)
                .where(HourlyRollup.hour >= floor_hour(since), HourlyRollup.hour < end)
                .where(Probe.name.in_(names))
            )
        ).one()
    if not runs:
        return None
    return RolledOnly(since=since, until=end, counts=Counts(int(runs), int(failures or 0)))
