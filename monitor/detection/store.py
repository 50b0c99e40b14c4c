"""Where the detector's incidents go: the database when the monitor runs, memory for a backtest
or a benchmark (the same detector, nothing written)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from monitor.storage import incidents as db_incidents
from monitor.storage.database import Database


@dataclass(frozen=True)
class KnownIncident:
    id: int
    probe: str
    severity: str
    opened_at: datetime
    resolved_at: datetime | None


class IncidentStore(Protocol):
    async def open_incident(
        self,
        *,
        probe: str,
        severity: str,
        rule: str,
        figures: str,
        cause: str | None,
        at: datetime,
        peak: float,
    ) -> tuple[int, bool]:
        """(id, created); created is False when an open incident for the probe already existed
        (another detector got there first) and its id is returned instead."""
        ...

    async def reopen_incident(
        self, *, incident_id: int, at: datetime, figures: str, severity: str, rule: str
    ) -> tuple[int, bool]: ...

    async def raise_severity(
        self, *, incident_id: int, severity: str, at: datetime, figures: str
    ) -> None: ...

    async def resolve_incident(
        self, *, incident_id: int, at: datetime, detail: str, peak: float
    ) -> None: ...

    async def open_incidents(self) -> Sequence[KnownIncident]: ...

    async def latest_incidents(self) -> Sequence[KnownIncident]:
        """The newest incident of each probe that has one (for the flap window after a restart)."""
        ...


class DatabaseIncidents:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def open_incident(
        self,
        *,
        probe: str,
        severity: str,
        rule: str,
        figures: str,
        cause: str | None,
        at: datetime,
        peak: float,
    ) -> tuple[int, bool]:
        opened = await db_incidents.open_incident(
            self.database,
            probe=probe,
            severity=severity,  # type: ignore[arg-type]
            rule=rule,
            figures=figures,
            cause=cause,
            at=at,
            peak_failure_ratio=peak,
        )
        return opened.incident.id, opened.created

    async def reopen_incident(
        self, *, incident_id: int, at: datetime, figures: str, severity: str, rule: str
    ) -> tuple[int, bool]:
        opened = await db_incidents.reopen_incident(
            self.database,
            incident_id=incident_id,
            at=at,
            figures=figures,
            severity=severity,  # type: ignore[arg-type]
            rule=rule,
        )
        return opened.incident.id, opened.created

    async def raise_severity(
        self, *, incident_id: int, severity: str, at: datetime, figures: str
    ) -> None:
        await db_incidents.raise_severity(
            self.database,
            incident_id=incident_id,
            severity=severity,  # type: ignore[arg-type]
            at=at,
            figures=figures,
        )

    async def resolve_incident(
        self, *, incident_id: int, at: datetime, detail: str, peak: float
    ) -> None:
        await db_incidents.update_peak(
            self.database, incident_id=incident_id, peak_failure_ratio=peak
        )
        await db_incidents.resolve_incident(
            self.database, incident_id=incident_id, at=at, detail=detail
        )

    async def open_incidents(self) -> Sequence[KnownIncident]:
        return [_known(row) for row in await db_incidents.open_incidents(self.database)]

    async def latest_incidents(self) -> Sequence[KnownIncident]:
        rows = await db_incidents.latest_incidents(self.database)
        return [_known(row) for row in rows]


def _known(row: db_incidents.IncidentRow) -> KnownIncident:
    return KnownIncident(
        id=row.id,
        probe=row.probe,
        severity=row.severity,
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
    )


@dataclass
class MemoryIncident:
    id: int
    probe: str
    severity: str
    rule: str
    figures: str
    cause: str | None
    opened_at: datetime
    resolved_at: datetime | None = None
    peak: float = 0.0
    reopened: int = 0
    severities: list[tuple[datetime, str]] = field(default_factory=list)


class MemoryIncidents:
    """Incidents kept in a list: what a backtest prints and a benchmark counts."""

    def __init__(self) -> None:
        self.incidents: list[MemoryIncident] = []

    def _get(self, incident_id: int) -> MemoryIncident:
        return self.incidents[incident_id - 1]

    async def open_incident(
        self,
        *,
        probe: str,
        severity: str,
        rule: str,
        figures: str,
        cause: str | None,
        at: datetime,
        peak: float,
    ) -> tuple[int, bool]:
        for incident in self.incidents:
            if incident.probe == probe and incident.resolved_at is None:
                return incident.id, False
        incident = MemoryIncident(
            id=len(self.incidents) + 1,
            probe=probe,
            severity=severity,
            rule=rule,
            figures=figures,
            cause=cause,
            opened_at=at,
            peak=peak,
            severities=[(at, severity)],
        )
        self.incidents.append(incident)
        return incident.id, True

    async def reopen_incident(
        self, *, incident_id: int, at: datetime, figures: str, severity: str, rule: str
    ) -> tuple[int, bool]:
        incident = self._get(incident_id)
        if incident.resolved_at is None:
            return incident.id, False
        incident.resolved_at = None
        incident.reopened += 1
        incident.severity = severity
        incident.rule = rule
        incident.severities.append((at, severity))
        return incident.id, True

    async def raise_severity(
        self, *, incident_id: int, severity: str, at: datetime, figures: str
    ) -> None:
        incident = self._get(incident_id)
        incident.severity = severity
        incident.severities.append((at, severity))

    async def resolve_incident(
        self, *, incident_id: int, at: datetime, detail: str, peak: float
    ) -> None:
        incident = self._get(incident_id)
        incident.resolved_at = at
        incident.peak = max(incident.peak, peak)

    async def open_incidents(self) -> Sequence[KnownIncident]:
        return [_memory_known(i) for i in self.incidents if i.resolved_at is None]

    async def latest_incidents(self) -> Sequence[KnownIncident]:
        latest: dict[str, MemoryIncident] = {}
        for incident in self.incidents:
            latest[incident.probe] = incident
        return [_memory_known(i) for i in latest.values()]


def _memory_known(incident: MemoryIncident) -> KnownIncident:
    return KnownIncident(
        id=incident.id,
        probe=incident.probe,
        severity=incident.severity,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
    )


__all__ = [
    "DatabaseIncidents",
    "IncidentStore",
    "KnownIncident",
    "MemoryIncident",
    "MemoryIncidents",
]
