"""Incidents and their timelines. Plain async functions over a `Database`; the time of every change
comes in as `at` (the caller's clock), never from the database server (DESIGN.md §6).

Every change of an incident writes its event row in the same transaction: the timeline never
misses a change, nor shows one that was rolled back. Changes are compare-and-swap (an UPDATE whose
WHERE holds the state it expects): "another worker got there first" is an ordinary outcome,
reported as False or `created=False`, not an error. At most one incident per probe is open, and
the database's unique index is what guarantees it, also between two processes.

Each transaction starts with its write where it can: on SQLite a transaction that reads first and
then writes fails at once (SQLITE_BUSY) if another connection wrote in between, where one that
writes first waits its turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Select, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from monitor.storage.database import Database
from monitor.storage.repository import ensure_probes
from monitor.storage.tables import Incident, PageRow, Probe
from monitor.storage.tables import IncidentEvent as EventRow

Severity = Literal["degraded", "partial", "major"]
SEVERITY_ORDER: Final = ("degraded", "partial", "major")
State = Literal["triggered", "acknowledged", "resolved"]

# Another open incident can be resolved between a refused write and the look-up for it; then the
# write is tried again. Twice more is plenty: each retry needs another incident to open and close.
_ATTEMPTS = 3


class UnknownIncident(LookupError):
    """No incident has this id."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"no incident {incident_id}")
        self.incident_id = incident_id


@dataclass(frozen=True, kw_only=True)
class IncidentRow:
    id: int
    probe: str
    group: str
    severity: str
    state: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    rule: str  # as configured: "failure_ratio above 20% over 5m"
    figures: str  # the latest that opened, raised or reopened it: "35% of 20 runs failed in 5m"
    cause: str | None  # the first failing condition
    reopen_count: int
    peak_failure_ratio: float | None

    @property
    def open(self) -> bool:
        return self.state != "resolved"


@dataclass(frozen=True, kw_only=True)
class IncidentEvent:
    at: datetime
    kind: str  # opened | severity | resolved | reopened | acknowledged | note
    detail: str


@dataclass(frozen=True)
class Opened:
    """What an attempt to open (or reopen) an incident found: `created` False when another open
    incident of that probe was there first; `incident` is then that one."""

    incident: IncidentRow
    created: bool


def _is_open() -> ColumnElement[bool]:
    # The unique index's WHERE (tables.INCIDENT_OPEN) with 'resolved' as a literal, not a bound
    # parameter: PostgreSQL uses a partial index only when it can prove the query's condition
    # implies the index's, and a generic plan's parameter proves nothing.
    return Incident.state != literal_column("'resolved'")


# Typed loosely: select() of it is a Select[Any] on SQLAlchemy 2.0 and 2.1 alike.
_INCIDENT_COLUMNS: tuple[Any, ...] = (Incident, Probe.name, Probe.group)


def _select_incidents() -> Select[Any]:
    return select(*_INCIDENT_COLUMNS).join(Probe, Incident.probe_id == Probe.id)


def _incident(row: Sequence[Any]) -> IncidentRow:
    incident, probe, group = row[0], row[1], row[2]
    assert isinstance(incident, Incident)
    return IncidentRow(
        id=incident.id,
        probe=probe,
        group=group,
        severity=incident.severity,
        state=incident.state,
        opened_at=incident.opened_at,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        resolved_at=incident.resolved_at,
        rule=incident.rule,
        figures=incident.figures,
        cause=incident.cause,
        reopen_count=incident.reopen_count,
        peak_failure_ratio=incident.peak_failure_ratio,
    )


async def _fetch(session: AsyncSession, query: Select[Any]) -> list[IncidentRow]:
    # Frozen copies, not the ORM objects: those belong to a session that is about to close.
    return [_incident(row) for row in (await session.execute(query)).all()]


async def _get(session: AsyncSession, incident_id: int) -> IncidentRow | None:
    rows = await _fetch(session, _select_incidents().where(Incident.id == incident_id))
    return rows[0] if rows else None


async def open_incident_of(db: Database, probe: str) -> IncidentRow | None:
    """The probe's open (triggered or acknowledged) incident, if any."""
    return await _open_of_probe(db, probe)


async def _open_of_probe(db: Database, probe: str) -> IncidentRow | None:
    async with db.session() as session:
        rows = await _fetch(session, _select_incidents().where(Probe.name == probe, _is_open()))
    return rows[0] if rows else None


async def _add_event(
    session: AsyncSession, *, incident_id: int, at: datetime, kind: str, detail: str
) -> None:
    await session.execute(
        insert(EventRow).values(incident_id=incident_id, at=at, kind=kind, detail=detail)
    )


async def _insert_incident(session: AsyncSession, **values: Any) -> int:
    incident_id = (
        await session.execute(
            insert(Incident).values(reopen_count=0, **values).returning(Incident.id)
        )
    ).scalar_one()
    return int(incident_id)


def _check_severity(severity: str) -> None:
    # The CHECK constraint would refuse it too, but as an IntegrityError that open_incident
    # takes for "another incident is open".
    if severity not in SEVERITY_ORDER:
        raise ValueError(f"unknown severity {severity!r}: one of {', '.join(SEVERITY_ORDER)}")


async def open_incident(
    db: Database,
    *,
    probe: str,
    severity: Severity,
    rule: str,
    figures: str,
    cause: str | None,
    at: datetime,
    peak_failure_ratio: float | None = None,
) -> Opened:
    """Open a triggered incident for `probe` (its probes row created if the name is unknown),
    with an 'opened' event. When the probe already has an open incident nothing is written and
    that one is returned with `created=False`: the unique index decides, so of two detectors
    racing each other exactly one creates it."""
    _check_severity(severity)
    probe_id = (await ensure_probes(db, [probe], now=at))[probe]
    detail = f"{severity}: {figures}" + (f"; cause: {cause}" if cause else "")
    for attempt in range(_ATTEMPTS):
        try:
            async with db.session() as session, session.begin():
                incident_id = await _insert_incident(
                    session,
                    probe_id=probe_id,
                    severity=severity,
                    state="triggered",
                    opened_at=at,
                    rule=rule,
                    figures=figures,
                    cause=cause,
                    peak_failure_ratio=peak_failure_ratio,
                    next_action_at=at,  # the engine starts paging
                )
                await _add_event(
                    session, incident_id=incident_id, at=at, kind="opened", detail=detail
                )
                created = await _get(session, incident_id)
            assert created is not None
            return Opened(created, created=True)
        except IntegrityError:
            # Normally the unique index: another incident is open. If none is found it was
            # resolved in between (try again), or the refusal was something else (the probe
            # deleted meanwhile), which the last attempt raises.
            existing = await _open_of_probe(db, probe)
            if existing is not None:
                return Opened(existing, created=False)
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def record_past_incident(
    db: Database,
    *,
    probe: str,
    severity: Severity,
    rule: str,
    figures: str,
    opened_at: datetime,
    resolved_at: datetime,
    notes: Sequence[tuple[datetime, str]],
    resolution: str,
) -> int:
    """Store an incident that happened while it could not be written (the database was gone):
    resolved already, with its timeline, and nothing left for the engine to page or tell."""
    _check_severity(severity)
    probe_id = (await ensure_probes(db, [probe], now=resolved_at))[probe]
    async with db.session() as session, session.begin():
        incident_id = await _insert_incident(
            session,
            probe_id=probe_id,
            severity=severity,
            state="resolved",
            opened_at=opened_at,
            resolved_at=resolved_at,
            rule=rule,
            figures=figures,
            cause=None,
            next_action_at=None,  # nothing to page or tell
        )
        events = [(opened_at, "opened", f"{severity}: {figures}")]
        events += [(at, "note", detail) for at, detail in notes]
        events.append((resolved_at, "resolved", resolution))
        for at, kind, detail in events:
            await _add_event(session, incident_id=incident_id, at=at, kind=kind, detail=detail)
    return incident_id


async def reopen_incident(
    db: Database,
    *,
    incident_id: int,
    at: datetime,
    figures: str,
    severity: Severity | None = None,
    rule: str | None = None,
) -> Opened:
    """Reopen a resolved incident: triggered again, no longer acknowledged, reopen_count + 1,
    the new figures (and severity and rule when given: this failure may be worse or of
    another kind than the last), a 'reopened' event. Nothing changes (`created=False`) when it is open
    already (returned as it is) or when its probe has another open incident meanwhile (that one
    is returned; this one stays resolved). UnknownIncident if there is no such incident."""
    for attempt in range(_ATTEMPTS):
        try:
            async with db.session() as session, session.begin():
                reopened = (
                    await session.execute(
                        update(Incident)
                        .where(Incident.id == incident_id, Incident.state == "resolved")
                        .values(
                            state="triggered",
                            resolved_at=None,
                            acknowledged_at=None,
                            acknowledged_by=None,
                            reopen_count=Incident.reopen_count + 1,
                            figures=figures,
                            # A new round of pages from level 1, with the same policy.
                            esc_level=None,
                            next_action_at=at,
                            **({"severity": severity} if severity is not None else {}),
                            **({"rule": rule} if rule is not None else {}),
                        )
                        .returning(Incident.id)
                    )
                ).scalar_one_or_none()
                if reopened is not None:
                    detail = f"{severity}: {figures}" if severity is not None else figures
                    await _add_event(
                        session, incident_id=incident_id, at=at, kind="reopened", detail=detail
                    )
                current = await _get(session, incident_id)
            if current is None:
                raise UnknownIncident(incident_id)
            return Opened(current, created=reopened is not None)
        except IntegrityError:
            # The unique index: its probe has another open incident.
            async with db.session() as session:
                this = await _get(session, incident_id)
            if this is None:  # its probe was deleted in between, and the incident with it
                raise UnknownIncident(incident_id) from None
            other = await _open_of_probe(db, this.probe)
            if other is not None:
                return Opened(other, created=False)
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def raise_severity(
    db: Database, *, incident_id: int, severity: Severity, at: datetime, figures: str
) -> bool:
    """Raise an open incident's severity to `severity` (and its figures to the ones that
    justify it), with a 'severity' event "partial -> major: <figures>". False, and nothing
    written, when the incident is resolved (or unknown) or already at or above `severity`:
    severity only goes up while an incident is open."""
    _check_severity(severity)
    below = SEVERITY_ORDER[: SEVERITY_ORDER.index(severity)]
    # Each lost compare-and-swap means the severity went up or the incident closed, so the
    # loop ends within as many rounds as there are severities.
    for _ in SEVERITY_ORDER:
        async with db.session() as session:
            current = (
                await session.execute(
                    select(Incident.severity).where(Incident.id == incident_id, _is_open())
                )
            ).scalar_one_or_none()
        if current not in below:
            return False
        async with db.session() as session, session.begin():
            changed = (
                await session.execute(
                    update(Incident)
                    .where(Incident.id == incident_id, Incident.severity == current, _is_open())
                    .values(severity=severity, figures=figures)
                    .returning(Incident.id)
                )
            ).scalar_one_or_none()
            if changed is not None:
                await _add_event(
                    session,
                    incident_id=incident_id,
                    at=at,
                    kind="severity",
                    detail=f"{current} -> {severity}: {figures}",
                )
                return True
    return False


async def update_peak(db: Database, *, incident_id: int, peak_failure_ratio: float) -> None:
    """Record a failure ratio as the incident's peak if it is higher than the stored one. Not an
    event: the peak is a figure for the report, not a change of the incident."""
    async with db.session() as session, session.begin():
        await session.execute(
            update(Incident)
            .where(
                Incident.id == incident_id,
                (Incident.peak_failure_ratio.is_(None))
                | (Incident.peak_failure_ratio < peak_failure_ratio),
            )
            .values(peak_failure_ratio=peak_failure_ratio)
        )


async def resolve_incident(db: Database, *, incident_id: int, at: datetime, detail: str) -> bool:
    """Resolve an open incident, with a 'resolved' event. False, and nothing written, when it was
    resolved already (by someone else first) or does not exist."""
    async with db.session() as session, session.begin():
        resolved = (
            await session.execute(
                update(Incident)
                .where(Incident.id == incident_id, _is_open())
                # The engine sends the "resolved" messages.
                .values(state="resolved", resolved_at=at, next_action_at=at)
                .returning(Incident.id)
            )
        ).scalar_one_or_none()
        if resolved is None:
            return False
        await cancel_pending_pages(session, incident_id=incident_id, at=at)
        await _add_event(session, incident_id=incident_id, at=at, kind="resolved", detail=detail)
    return True


async def acknowledge_incident(db: Database, *, incident_id: int, at: datetime, by: str) -> bool:
    """Acknowledge a triggered incident, with an 'acknowledged' event "by <by>". False, and
    nothing written, when it is not triggered (acknowledged already, resolved, unknown)."""
    async with db.session() as session, session.begin():
        acknowledged = (
            await session.execute(
                update(Incident)
                .where(Incident.id == incident_id, Incident.state == "triggered")
                # The engine sets the ack timeout from the incident's policy.
                .values(
                    state="acknowledged", acknowledged_at=at, acknowledged_by=by, next_action_at=at
                )
                .returning(Incident.id)
            )
        ).scalar_one_or_none()
        if acknowledged is None:
            return False
        await cancel_pending_pages(session, incident_id=incident_id, at=at)
        await _add_event(
            session, incident_id=incident_id, at=at, kind="acknowledged", detail=f"by {by}"
        )
    return True


async def cancel_pending_pages(session: AsyncSession, *, incident_id: int, at: datetime) -> int:
    """Cancel the incident's pages not yet handed to a channel (in the caller's transaction):
    an acknowledgement or a resolution stops them. A page being sent right now goes out."""
    cancelled = await session.execute(
        update(PageRow)
        .where(
            PageRow.incident_id == incident_id,
            PageRow.kind == "page",
            PageRow.status == "pending",
        )
        .values(status="cancelled", updated_at=at)
    )
    return int(getattr(cancelled, "rowcount", 0) or 0)


async def escalate_incident(db: Database, *, incident_id: int, at: datetime, by: str) -> bool:
    """`monitor escalate`: page the next level now. An acknowledged incident is triggered again
    (whoever asks to escalate wants more people, not fewer). False when resolved or unknown."""
    async with db.session() as session, session.begin():
        escalated = (
            await session.execute(
                update(Incident)
                .where(Incident.id == incident_id, _is_open())
                .values(
                    state="triggered",
                    acknowledged_at=None,
                    acknowledged_by=None,
                    next_action_at=at,
                )
                .returning(Incident.id)
            )
        ).scalar_one_or_none()
        if escalated is None:
            return False
        await _add_event(
            session, incident_id=incident_id, at=at, kind="escalated", detail=f"by {by}: now"
        )
    return True


async def add_note(db: Database, *, incident_id: int, at: datetime, detail: str) -> None:
    """Add a 'note' event to an incident's timeline. UnknownIncident if there is no such
    incident (the foreign key refuses the row)."""
    try:
        async with db.session() as session, session.begin():
            await _add_event(session, incident_id=incident_id, at=at, kind="note", detail=detail)
    except IntegrityError as error:
        raise UnknownIncident(incident_id) from error


async def open_incidents(db: Database) -> list[IncidentRow]:
    """The open (triggered or acknowledged) incidents, oldest first."""
    async with db.session() as session:
        return await _fetch(
            session,
            _select_incidents().where(_is_open()).order_by(Incident.opened_at, Incident.id),
        )


async def latest_incident(db: Database, *, probe: str) -> IncidentRow | None:
    """The probe's most recently opened incident, open or resolved; None if it never had one."""
    async with db.session() as session:
        rows = await _fetch(
            session,
            _select_incidents()
            .where(Probe.name == probe)
            .order_by(Incident.opened_at.desc(), Incident.id.desc())
            .limit(1),
        )
    return rows[0] if rows else None


async def latest_incidents(db: Database) -> list[IncidentRow]:
    """The most recently opened incident of every probe that has had one, open or resolved,
    oldest first: what a detector starting up needs to know, one row per probe."""
    newer = aliased(Incident)
    latest_of_probe = (
        select(newer.id)
        .where(newer.probe_id == Incident.probe_id)
        .order_by(newer.opened_at.desc(), newer.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    async with db.session() as session:
        return await _fetch(
            session,
            _select_incidents()
            .where(Incident.id == latest_of_probe)
            .order_by(Incident.opened_at, Incident.id),
        )


async def list_incidents(
    db: Database,
    *,
    open_only: bool = False,
    probe: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[IncidentRow]:
    """Incidents newest first (by opening time): only open ones, of one probe, or those open at
    some moment since `since` (still open, or resolved at or after it)."""
    query = _select_incidents()
    if open_only:
        query = query.where(_is_open())
    if probe is not None:
        query = query.where(Probe.name == probe)
    if since is not None:
        query = query.where(Incident.resolved_at.is_(None) | (Incident.resolved_at >= since))
    query = query.order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
    async with db.session() as session:
        return await _fetch(session, query)


async def get_incident(
    db: Database, incident_id: int
) -> tuple[IncidentRow, list[IncidentEvent]] | None:
    """An incident and its timeline, oldest event first; None if there is no such incident."""
    async with db.session() as session:
        incident = await _get(session, incident_id)
        if incident is None:
            return None
        rows = (
            await session.execute(
                select(EventRow.at, EventRow.kind, EventRow.detail)
                .where(EventRow.incident_id == incident_id)
                # id: events of one transaction share their time; they happened in insert order.
                .order_by(EventRow.at, EventRow.id)
            )
        ).all()
    return incident, [IncidentEvent(at=at, kind=kind, detail=detail) for at, kind, detail in rows]
