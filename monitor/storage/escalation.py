"""The escalation engine's tables: each incident's position, and the pages outbox.

Claims are compare-and-swap writes that come first in their transaction (DESIGN.md §6): on
PostgreSQL a second engine either skips a row another holds (SKIP LOCKED) or finds, once the
first committed, that the row is no longer due; on SQLite a transaction that writes first waits
its turn instead of failing. "Another engine got there first" is an ordinary outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from monitor.storage.database import Database
from monitor.storage.tables import Base, Incident, PageRow, Probe
from monitor.storage.tables import IncidentEvent as EventRow
from monitor.storage.types import Timestamp

# The Tables (typed as such) for executemany updates.
INCIDENTS = Base.metadata.tables["incidents"]
PAGES = Base.metadata.tables["pages"]


@dataclass(frozen=True, kw_only=True)
class EscalationRow:
    """An incident as the engine sees it."""

    id: int
    probe: str
    group: str
    state: str
    severity: str
    rule: str
    figures: str
    cause: str | None
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    policy: dict[str, Any] | None
    esc_cycle: int
    esc_level: int | None
    esc_round_start: int | None
    next_action_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class PageKey:
    cycle: int
    level: int
    person: str
    channel: str


@dataclass(frozen=True, kw_only=True)
class Change:
    """What the engine writes for one due incident, in one transaction."""

    esc_cycle: int
    esc_level: int | None
    esc_round_start: int | None
    next_action_at: datetime | None
    policy: dict[str, Any] | None = None  # set: store this snapshot
    retrigger: bool = False  # acknowledged -> triggered
    pages: Sequence[PageKey] = ()
    page_kind: str = "page"
    events: Sequence[tuple[str, str]] = ()


def _incident_columns() -> tuple[Any, ...]:
    return (Incident, Probe.name, Probe.group)


def _row(incident: Incident, probe: str, group: str) -> EscalationRow:
    return EscalationRow(
        id=incident.id,
        probe=probe,
        group=group,
        state=incident.state,
        severity=incident.severity,
        rule=incident.rule,
        figures=incident.figures,
        cause=incident.cause,
        opened_at=incident.opened_at,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        resolved_at=incident.resolved_at,
        policy=incident.policy,
        esc_cycle=incident.esc_cycle,
        esc_level=incident.esc_level,
        esc_round_start=incident.esc_round_start,
        next_action_at=incident.next_action_at,
    )


Decide = Callable[[EscalationRow, list[tuple[str, str]]], Change | None]

# Incidents (and pages) taken per transaction: enough that 1,000 incidents escalating at once
# take a handful of transactions, few enough that one transaction stays short.
BATCH = 200


async def process_due(db: Database, *, now: datetime, decide: Decide, limit: int = BATCH) -> int:
    """Claim up to `limit` due incidents, ask `decide` what to do with each (given the row and
    the (person, channel) of its pages sent so far, in order), and write every change with its
    pages and events, in one transaction. Returns how many were claimed: fewer than `limit`
    means nothing else is due (or another engine holds the rest)."""
    async with db.session() as session, session.begin():
        ids = await _claim_due(session, db.dialect, now, limit)
        if not ids:
            return 0
        rows = await _rows(session, ids)
        sent = await _sent_pages(session, ids)
        updates: list[dict[str, Any]] = []
        pages: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for row in rows:
            change = decide(row, sent.get(row.id, []))
            if change is None:
                continue
            retrigger = change.retrigger
            updates.append(
                {
                    "b_id": row.id,
                    "esc_cycle": change.esc_cycle,
                    "esc_level": change.esc_level,
                    "esc_round_start": change.esc_round_start,
                    "next_action_at": change.next_action_at,
                    "policy": change.policy if change.policy is not None else row.policy,
                    "state": "triggered" if retrigger else row.state,
                    "acknowledged_at": None if retrigger else row.acknowledged_at,
                    "acknowledged_by": None if retrigger else row.acknowledged_by,
                }
            )
            pages.extend(_page_values(row.id, change.page_kind, key, now) for key in change.pages)
            events.extend(
                {"incident_id": row.id, "at": now, "kind": kind, "detail": detail}
                for kind, detail in change.events
            )
        connection = await session.connection()
        if updates:
            table = INCIDENTS
            await connection.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({name: bindparam(name) for name in updates[0] if name != "b_id"}),
                updates,
            )
        if pages:
            # The key is unique: a page another engine wrote already stays as it is.
            await session.execute(_insert(db.dialect).values(pages).on_conflict_do_nothing())
        if events:
            await session.execute(insert(EventRow), events)
        return len(ids)


async def _claim_due(session: AsyncSession, dialect: str, now: datetime, limit: int) -> list[int]:
    due = (
        select(Incident.id)
        .where(Incident.next_action_at <= now)
        .order_by(Incident.next_action_at, Incident.id)
        .limit(limit)
    )
    if dialect == "postgresql":
        # Rows another engine is working on are skipped, not waited for.
        return list((await session.execute(due.with_for_update(skip_locked=True))).scalars())
    # SQLite: one statement that writes first, so the transaction holds the write lock (waiting
    # for it) before it reads anything; a read first would fail at once with SQLITE_BUSY if
    # another connection wrote in between.
    touched = await session.execute(
        update(Incident)
        .where(Incident.id.in_(due.scalar_subquery()))
        .values(next_action_at=Incident.next_action_at)
        .returning(Incident.id)
    )
    return sorted(touched.scalars())


async def _rows(session: AsyncSession, ids: Sequence[int]) -> list[EscalationRow]:
    found = await session.execute(
        select(*_incident_columns())
        .join(Probe, Incident.probe_id == Probe.id)
        .where(Incident.id.in_(ids))
        .order_by(Incident.next_action_at, Incident.id)
    )
    return [_row(incident, probe, group) for incident, probe, group in found.all()]


async def _sent_pages(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    rows = await session.execute(
        select(PageRow.incident_id, PageRow.person, PageRow.channel)
        .where(
            PageRow.incident_id.in_(ids),
            PageRow.kind == "page",
            PageRow.status.in_(("sent", "delivered")),
        )
        .order_by(PageRow.sent_at, PageRow.id)
    )
    sent: dict[int, list[tuple[str, str]]] = {}
    for incident_id, person, channel in rows.all():
        sent.setdefault(incident_id, []).append((person, channel))
    return sent


def _page_values(incident_id: int, kind: str, key: PageKey, now: datetime) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "kind": kind,
        "cycle": key.cycle,
        "level": key.level,
        "person": key.person,
        "channel": key.channel,
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "updated_at": now,
    }


def _insert(dialect: str) -> postgresql.Insert | sqlite.Insert:
    if dialect == "postgresql":
        return postgresql.insert(PageRow)
    return sqlite.insert(PageRow)


async def add_page(
    db: Database,
    *,
    incident_id: int,
    kind: str,
    key: PageKey,
    now: datetime,
    event: tuple[str, str] | None = None,
) -> bool:
    """One more page (the next channel of a person whose page failed). False when that page
    exists already."""
    async with db.session() as session, session.begin():
        inserted = await session.execute(
            _insert(db.dialect)
            .values(_page_values(incident_id, kind, key, now))
            .on_conflict_do_nothing()
        )
        created = bool(getattr(inserted, "rowcount", 0))
        if event is not None:
            await session.execute(
                insert(EventRow).values(
                    incident_id=incident_id, at=now, kind=event[0], detail=event[1]
                )
            )
    return created


@dataclass(frozen=True, kw_only=True)
class ClaimedPage:
    id: int
    incident: EscalationRow
    kind: str
    cycle: int
    level: int
    person: str
    channel: str
    attempts: int  # including this one


async def claim_pages(
    db: Database, *, now: datetime, lease_until: datetime, limit: int = BATCH
) -> list[ClaimedPage]:
    """Take up to `limit` pages that are waiting (or whose sender's lease ran out), most overdue
    first, for sending until `lease_until` (attempts + 1 each), in one statement: another
    sender skips them (PostgreSQL) or finds them taken (SQLite's single writer)."""
    waiting = (
        select(PageRow.id)
        .where(
            or_(PageRow.status == "pending", PageRow.status == "sending"),
            PageRow.next_attempt_at <= now,
        )
        .order_by(PageRow.next_attempt_at, PageRow.id)
        .limit(limit)
    )
    if db.dialect == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True)
    async with db.session() as session, session.begin():
        claimed = (
            await session.execute(
                update(PageRow)
                .where(PageRow.id.in_(waiting.scalar_subquery()))
                .values(
                    status="sending",
                    attempts=PageRow.attempts + 1,
                    next_attempt_at=lease_until,
                    updated_at=now,
                )
                .returning(
                    PageRow.id,
                    PageRow.incident_id,
                    PageRow.kind,
                    PageRow.cycle,
                    PageRow.level,
                    PageRow.person,
                    PageRow.channel,
                    PageRow.attempts,
                )
            )
        ).all()
        if not claimed:
            return []
        incidents = {row.id: row for row in await _rows(session, sorted({c[1] for c in claimed}))}
    return sorted(
        (
            ClaimedPage(
                id=page_id,
                incident=incidents[incident_id],
                kind=kind,
                cycle=cycle,
                level=level,
                person=person,
                channel=channel,
                attempts=attempts,
            )
            for page_id, incident_id, kind, cycle, level, person, channel, attempts in claimed
        ),
        key=lambda page: page.id,
    )


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What happened to a claimed page: `sent`, `failed`, `cancelled`, or `pending` again at
    `retry_at`."""

    page: ClaimedPage
    status: str
    provider_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    event: tuple[str, str] | None = None


async def finish_pages(db: Database, outcomes: Sequence[Outcome], *, now: datetime) -> set[int]:
    """Record the outcomes, in one transaction; each only while its sender still holds the page
    (same attempt, still sending). Returns the ids recorded: a page missing there had its lease
    run out and another sender took it."""
    recorded: set[int] = set()
    by_status: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_status.setdefault(outcome.status, []).append(outcome)
    async with db.session() as session, session.begin():
        for status, group in by_status.items():
            # Compare-and-swap for the whole group: (id, attempts) of this sender's claims.
            values: dict[str, Any] = {"status": status, "updated_at": now}
            if status == "sent":
                values["sent_at"] = now
            held = await session.execute(
                update(PageRow)
                .where(
                    tuple_(PageRow.id, PageRow.attempts).in_(
                        [(o.page.id, o.page.attempts) for o in group]
                    ),
                    PageRow.status == "sending",
                )
                .values(values)
                .returning(PageRow.id)
            )
            recorded.update(held.scalars())
        details = [
            {
                "b_id": o.page.id,
                "provider_id": o.provider_id,
                "error": o.error,
                "retry_at": o.retry_at,
            }
            for o in outcomes
            if o.page.id in recorded and (o.provider_id or o.error or o.retry_at)
        ]
        if details:
            table = PAGES
            # The last error stays with a page sent after a retry: "sent, 3 tries, busy".
            connection = await session.connection()
            await connection.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    provider_id=func.coalesce(bindparam("provider_id"), table.c.provider_id),
                    error=func.coalesce(bindparam("error"), table.c.error),
                    next_attempt_at=func.coalesce(
                        bindparam("retry_at", type_=Timestamp()), table.c.next_attempt_at
                    ),
                ),
                details,
            )
        events = [
            {"incident_id": o.page.incident.id, "at": now, "kind": o.event[0], "detail": o.event[1]}
            for o in outcomes
            if o.page.id in recorded and o.event is not None
        ]
        if events:
            await session.execute(insert(EventRow), events)
    return recorded


async def add_event(
    db: Database, *, incident_id: int, at: datetime, kind: str, detail: str
) -> None:
    async with db.session() as session, session.begin():
        await session.execute(
            insert(EventRow).values(incident_id=incident_id, at=at, kind=kind, detail=detail)
        )


async def channels_tried(
    db: Database, *, incident_id: int, cycle: int, level: int, person: str
) -> list[str]:
    async with db.session() as session:
        rows = await session.execute(
            select(PageRow.channel).where(
                PageRow.incident_id == incident_id,
                PageRow.kind == "page",
                PageRow.cycle == cycle,
                PageRow.level == level,
                PageRow.person == person,
            )
        )
        return list(rows.scalars())


@dataclass(frozen=True, kw_only=True)
class PageView:
    id: int
    kind: str
    cycle: int
    level: int
    person: str
    channel: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    provider_id: str | None
    error: str | None
    delivery: str | None = None  # the provider's last word: delivered, no-answer ...


async def pages_of(db: Database, incident_id: int) -> list[PageView]:
    """Every page of an incident, in the order they were written."""
    async with db.session() as session:
        rows = await session.execute(
            select(PageRow).where(PageRow.incident_id == incident_id).order_by(PageRow.id)
        )
        return [
            PageView(
                id=row.id,
                kind=row.kind,
                cycle=row.cycle,
                level=row.level,
                person=row.person,
                channel=row.channel,
                status=row.status,
                attempts=row.attempts,
                created_at=row.created_at,
                sent_at=row.sent_at,
                provider_id=row.provider_id,
                error=row.error,
                delivery=row.delivery,
            )
            for row in rows.scalars()
        ]


async def next_deadline(db: Database) -> datetime | None:
    """The earliest next_action_at or page due time: how long the engine may sleep."""
    async with db.session() as session:
        incident = (await session.execute(select(func.min(Incident.next_action_at)))).scalar()
        page = (
            await session.execute(
                select(func.min(PageRow.next_attempt_at)).where(
                    or_(PageRow.status == "pending", PageRow.status == "sending")
                )
            )
        ).scalar()
    times = [t for t in (incident, page) if t is not None]
    return min(times) if times else None


async def incident_policy(db: Database, incident_id: int) -> dict[str, Any] | None:
    """The policy snapshot an incident pages by (None before paging started)."""
    async with db.session() as session:
        policy = await session.scalar(select(Incident.policy).where(Incident.id == incident_id))
        return dict(policy) if policy is not None else None


async def incident_state(db: Database, incident_id: int) -> str | None:
    async with db.session() as session:
        state = await session.scalar(select(Incident.state).where(Incident.id == incident_id))
        return str(state) if state is not None else None
