"""Reads and writes of probes and results. Plain async functions over a `Database`; time always
comes in as a parameter (the caller's clock), never from the database server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, insert, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite

from monitor.storage.database import Database
from monitor.storage.records import ResultRecord
from monitor.storage.tables import Base, Probe, Result

# The Table (typed as such) for Core inserts.
RESULTS = Base.metadata.tables["results"]

# (name, group, config_hash) of a probe as the config defines it.
ProbeDefinition = tuple[str, str, str | None]


@dataclass(frozen=True, kw_only=True)
class StoredResult:
    """One result as read back from the database, newest first in lists."""

    probe: str
    location: str
    due_at: datetime
    started_at: datetime
    duration_ms: int
    ok: bool
    status: int | None
    error_kind: str | None
    error_message: str | None
    failed_step: str | None
    details: list[dict[str, Any]] | None
    confirmation: bool  # a run made to confirm a failure, not a scheduled one


def _insert_probes(dialect: str) -> postgresql.Insert | sqlite.Insert:
    # Both dialects have INSERT ... ON CONFLICT with the same API; it makes concurrent syncs from
    # two processes safe without a read-then-write race.
    if dialect == "postgresql":
        return postgresql.insert(Probe)
    if dialect == "sqlite":
        return sqlite.insert(Probe)
    raise NotImplementedError(f"probes upsert on {dialect}")


async def _probe_ids(db: Database, names: Iterable[str]) -> dict[str, int]:
    wanted = set(names)
    async with db.session() as session:
        # All probes: the table holds one row per configured probe, fewer rows than a long
        # IN (...) list would have parameters.
        rows = (await session.execute(select(Probe.name, Probe.id))).all()
    return {name: probe_id for name, probe_id in rows if name in wanted}


async def sync_probes(
    db: Database, probes: Sequence[ProbeDefinition], *, now: datetime
) -> dict[str, int]:
    """Insert probes not seen before, update the group, config hash and last_seen of the others,
    and return name -> id for all of them."""
    if not probes:
        return {}
    # One row per name (PostgreSQL refuses an upsert that touches a row twice), the last
    # definition winning; sorted, so that two processes upserting the same rows lock them in the
    # same order (no deadlock).
    latest = {name: (group, config_hash) for name, group, config_hash in probes}
    rows = [
        {
            "name": name,
            "group": group,
            "config_hash": config_hash,
            "first_seen": now,
            "last_seen": now,
        }
        for name, (group, config_hash) in sorted(latest.items())
    ]
    statement = _insert_probes(db.dialect)
    statement = statement.on_conflict_do_update(
        index_elements=[Probe.name],
        set_={
            "group": statement.excluded["group"],
            "config_hash": statement.excluded["config_hash"],
            "last_seen": statement.excluded["last_seen"],
        },
    )
    async with db.session() as session, session.begin():
        await session.execute(statement, rows)
    return await _probe_ids(db, latest)


async def ensure_probes(db: Database, names: Iterable[str], *, now: datetime) -> dict[str, int]:
    """Ids for probe names, creating rows for names never synced (group = name, no config hash)
    and leaving existing rows as they are. For results of probes the config does not list."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = [
        {"name": name, "group": name, "config_hash": None, "first_seen": now, "last_seen": now}
        for name in wanted
    ]
    statement = _insert_probes(db.dialect).on_conflict_do_nothing(index_elements=[Probe.name])
    async with db.session() as session, session.begin():
        await session.execute(statement, rows)
    return await _probe_ids(db, wanted)


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL (a response body may): the row, and with it the whole
    # batch, would be refused on every retry. U+FFFD shows where it was.
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


def _row(record: ResultRecord, probe_id: int) -> dict[str, Any]:
    return {
        "probe_id": probe_id,
        "location": _text(record.location),
        "due_at": record.due_at,
        "started_at": record.started_at,
        "duration_ms": round(record.duration_ms),
        "ok": record.ok,
        "status": record.status,
        "error_kind": _text(record.error_kind),
        "error_message": _text(record.error_message),
        "failed_step": _text(record.failed_step),
        "details": record.details,
        "confirmation": record.confirmation,
    }


async def insert_results(
    db: Database, records: Sequence[ResultRecord], probe_ids: Mapping[str, int]
) -> None:
    """Write `records` in one transaction with one executemany INSERT: all or none.

    Every record's probe must be in `probe_ids` (KeyError otherwise, before anything is written).
    """
    if not records:
        return
    rows = [_row(record, probe_ids[record.probe]) for record in records]
    async with db.session() as session, session.begin():
        # Core insert of the table, not the ORM entity: no identity map, no per-row objects.
        await session.execute(insert(RESULTS), rows)


def _filters(
    *, probe: str | None, since: datetime | None, failed_only: bool
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if probe is not None:
        conditions.append(Probe.name == probe)
    if since is not None:
        conditions.append(Result.started_at >= since)
    if failed_only:
        conditions.append(Result.ok.is_(False))
    return conditions


# The columns of a StoredResult in its field order, then Result.id (replay_results pages on it;
# StoredResult does not carry it).
_RESULT_COLUMNS: tuple[Any, ...] = (
    Probe.name,
    Result.location,
    Result.due_at,
    Result.started_at,
    Result.duration_ms,
    Result.ok,
    Result.status,
    Result.error_kind,
    Result.error_message,
    Result.failed_step,
    Result.details,
    Result.confirmation,
    Result.id,
)
_STARTED_AT, _ID = 3, 12


def _select_results() -> Select[Any]:
    return select(*_RESULT_COLUMNS).join(Probe, Result.probe_id == Probe.id)


def _stored(row: Sequence[Any]) -> StoredResult:
    return StoredResult(
        probe=row[0],
        location=row[1],
        due_at=row[2],
        started_at=row[3],
        duration_ms=row[4],
        ok=row[5],
        status=row[6],
        error_kind=row[7],
        error_message=row[8],
        failed_step=row[9],
        details=row[10],
        confirmation=row[11],
    )


async def recent_results(
    db: Database,
    *,
    probe: str | None = None,
    since: datetime | None = None,
    failed_only: bool = False,
    limit: int = 100,
) -> list[StoredResult]:
    """Results newest first (by start time), optionally of one probe, since a time, failed only."""
    query = (
        _select_results()
        .where(*_filters(probe=probe, since=since, failed_only=failed_only))
        # id breaks ties between runs that started in the same millisecond: later insert first.
        .order_by(Result.started_at.desc(), Result.id.desc())
        .limit(limit)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [_stored(row) for row in rows]


async def replay_results(
    db: Database,
    *,
    since: datetime,
    until: datetime | None = None,
    probes: Collection[str] | None = None,
    chunk: int = 5000,
    max_id: int | None = None,
) -> AsyncIterator[StoredResult]:
    """Results that started in [since, until) (until None: up to the newest), of the named
    probes (None: all), oldest first (by start time, then insertion).

    Read `chunk` rows at a time, each chunk in its own short read: weeks of results never sit
    in memory, and no transaction stays open while the caller works through a chunk. Pages are
    found by the last (started_at, id) seen, not by OFFSET, which would rescan every row before
    the page; rows inserted meanwhile at or after that point are yielded too."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    if isinstance(probes, str):  # a str is a Collection[str]: "login" would be 5 probes
        raise TypeError("probes must be a collection of names, not one string")
    if probes is not None and not probes:
        return
    conditions: list[ColumnElement[bool]] = [Result.started_at >= since]
    if max_id is not None:  # a leader replays up to here and follows the table from there
        conditions.append(Result.id <= max_id)
    if until is not None:
        conditions.append(Result.started_at < until)
    if probes is not None:
        conditions.append(Probe.name.in_(sorted(set(probes))))
    after: tuple[datetime, int] | None = None
    while True:
        query = _select_results().where(*conditions)
        if after is not None:
            started_at, row_id = after
            # Spelled out rather than a row-value comparison: the leading `>=` is what lets the
            # started_at indexes bound the scan on both databases.
            query = query.where(
                Result.started_at >= started_at,
                or_(
                    Result.started_at > started_at,
                    and_(Result.started_at == started_at, Result.id > row_id),
                ),
            )
        query = query.order_by(Result.started_at, Result.id).limit(chunk)
        async with db.session() as session:
            rows = (await session.execute(query)).all()
        for row in rows:
            yield _stored(row)
        if len(rows) < chunk:
            return
        after = (rows[-1][_STARTED_AT], rows[-1][_ID])


async def count_results(
    db: Database,
    *,
    probe: str | None = None,
    since: datetime | None = None,
    failed_only: bool = False,
) -> int:
    """How many results match (the same filters as `recent_results`, no limit)."""
    query = (
        select(func.count())
        .select_from(Result)
        .join(Probe, Result.probe_id == Probe.id)
        .where(*_filters(probe=probe, since=since, failed_only=failed_only))
    )
    async with db.session() as session:
        return int((await session.execute(query)).scalar_one())


# Probes per UNION ALL query: SQLite allows at most 500 terms in one compound SELECT.
_PROBES_PER_QUERY = 100


def _latest_of(name: str, limit: int) -> Select[Any]:
    # Each part walks the (probe_id, started_at) index backwards and stops after `limit` rows;
    # wrapped as a subquery because SQLite allows no LIMIT on a bare member of a UNION.
    part = (
        _select_results()
        .where(Probe.name == name)
        .order_by(Result.started_at.desc(), Result.id.desc())
        .limit(limit)
        .subquery()
    )
    return select(*part.c)


async def recent_results_per_probe(
    db: Database, names: Iterable[str], *, limit: int
) -> dict[str, list[StoredResult]]:
    """The last `limit` results of each named probe, newest first: one UNION ALL query per 100
    probes, each part bounded by the index, instead of a query per probe. (A window function
    would number every stored result of the probes first.)"""
    wanted = sorted(set(names))
    found: dict[str, list[tuple[int, StoredResult]]] = {name: [] for name in wanted}
    for start in range(0, len(wanted), _PROBES_PER_QUERY):
        chunk = wanted[start : start + _PROBES_PER_QUERY]
        query = union_all(*(_latest_of(name, limit) for name in chunk))
        async with db.session() as session:
            rows = (await session.execute(query)).all()
        for row in rows:
            result = _stored(row)
            found[result.probe].append((row[_ID], result))
    # The union's order is the database's; newest first again, later insert first on a tie.
    return {
        name: [
            result
            for _, result in sorted(rows, key=lambda r: (r[1].started_at, r[0]), reverse=True)
        ]
        for name, rows in found.items()
    }


async def newest_result_id(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.max(Result.id))) or 0)


async def results_after(
    db: Database, *, after_id: int, limit: int = 5000
) -> list[tuple[int, StoredResult]]:
    """(id, result) of the results with an id above `after_id`, in id order: the tail that the
    detector follows when results come from other processes too."""
    query = _select_results().where(Result.id > after_id).order_by(Result.id).limit(limit)
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [(int(row[_ID]), _stored(row)) for row in rows]
