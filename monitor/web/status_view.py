"""What the public status page shows, assembled from the config, the incidents and the daily
rollups — and nothing else: components are probe groups, incidents get public titles made here,
so no URL, header, body, token, phone number or error text of a probe can reach a customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from monitor.config.models import MonitorConfig
from monitor.storage.database import Database
from monitor.storage.incidents import IncidentRow, list_incidents
from monitor.storage.rollups import Counts, daily_counts_by_group, floor_day

HISTORY_DAYS = 90  # the uptime bar
INCIDENT_DAYS = 30  # the incident history
STATES = ("operational", "degraded", "partial", "major")
COMPONENT_LABEL = {
    "operational": "Operational",
    "degraded": "Degraded performance",
    "partial": "Partial outage",
    "major": "Major outage",
}
BANNER = {
    "operational": "All systems operational",
    "degraded": "Degraded performance",
    "partial": "Partial outage",
    "major": "Major outage",
}
PHASE_TEXT = {
    "investigating": "We are investigating reports of problems with {component}.",
    "identified": "Our engineers are working on it.",
    "resolved": "This incident has been resolved.",
}


def worst(states: list[str]) -> str:
    return max(states, key=STATES.index, default="operational")


def day_level(uptime: float | None) -> str:
    """The colour of a day: no data; >= 99.9% ok; >= 99% degraded; >= 95% partial; else major."""
    if uptime is None:
        return "none"
    if uptime >= 0.999:
        return "operational"
    if uptime >= 0.99:
        return "degraded"
    if uptime >= 0.95:
        return "partial"
    return "major"


def format_uptime(uptime: float | None) -> str:
    if uptime is None:
        return "no data"
    # Floor, not round: 99.996% shown as 100% would hide a failed run.
    shown = int(uptime * 100_000) / 1000
    return f"{shown:.3f}".rstrip("0").rstrip(".") + "%"


def format_duration(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes and not days else []
    return " ".join(parts)


@dataclass(frozen=True, kw_only=True)
class DayCell:
    day: date
    uptime: float | None

    @property
    def level(self) -> str:
        return day_level(self.uptime)

    @property
    def text(self) -> str:
        return f"{self.day.isoformat()}: {format_uptime(self.uptime)}"


@dataclass(frozen=True, kw_only=True)
class Component:
    name: str
    state: str
    uptime: float | None  # over the whole bar
    days: list[DayCell]

    @property
    def label(self) -> str:
        return COMPONENT_LABEL[self.state]

    @property
    def uptime_text(self) -> str:
        return format_uptime(self.uptime)


@dataclass(frozen=True, kw_only=True)
class Update:
    at: datetime
    phase: str  # investigating | identified | resolved
    text: str


@dataclass(frozen=True, kw_only=True)
class PublicIncident:
    id: int
    component: str
    severity: str
    started_at: datetime
    resolved_at: datetime | None
    duration: timedelta
    updates: list[Update]  # newest first

    @property
    def title(self) -> str:
        return f"{COMPONENT_LABEL[self.severity]}: {self.component}"

    @property
    def phase(self) -> str:
        return self.updates[0].phase

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration)


@dataclass(frozen=True, kw_only=True)
class StatusSnapshot:
    generated_at: datetime
    components: list[Component]
    current: list[PublicIncident]
    history: list[PublicIncident]  # resolved in the last INCIDENT_DAYS, newest first

    @property
    def state(self) -> str:
        return worst([component.state for component in self.components])

    @property
    def banner(self) -> str:
        return BANNER[self.state]

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


def public_incident(row: IncidentRow, *, now: datetime) -> PublicIncident:
    updates = [
        Update(
            at=row.opened_at,
            phase="investigating",
            text=PHASE_TEXT["investigating"].format(component=row.group),
        )
    ]
    if row.acknowledged_at is not None:
        updates.append(
            Update(at=row.acknowledged_at, phase="identified", text=PHASE_TEXT["identified"])
        )
    if row.resolved_at is not None:
        updates.append(Update(at=row.resolved_at, phase="resolved", text=PHASE_TEXT["resolved"]))
    end = row.resolved_at or now
    return PublicIncident(
        id=row.id,
        component=row.group,
        severity=row.severity,
        started_at=row.opened_at,
        resolved_at=row.resolved_at,
        duration=end - row.opened_at,
        updates=sorted(updates, key=lambda update: update.at, reverse=True),
    )


def components_of(config: MonitorConfig) -> list[str]:
    """The probe groups of enabled probes, in config order: the page's rows."""
    seen: dict[str, None] = {}
    for probe in config.probes:
        if probe.enabled:
            seen.setdefault(probe.component, None)
    return list(seen)


async def build_snapshot(db: Database, *, config: MonitorConfig, now: datetime) -> StatusSnapshot:
    names = components_of(config)
    shown = set(names)
    first_day = floor_day(now) - timedelta(days=HISTORY_DAYS - 1)
    # By the group stored with each probe (synced from the config at start): a probe disabled
    # since still counts in its component's history, as it should.
    per_day = await daily_counts_by_group(db, since=first_day, now=now)
    recent = await list_incidents(db, since=now - timedelta(days=INCIDENT_DAYS), limit=500)
    incidents = [row for row in recent if row.group in shown]
    open_rows = [row for row in incidents if row.open]
    days = [first_day + timedelta(days=offset) for offset in range(HISTORY_DAYS)]
    components = []
    for name in names:
        counts = [per_day.get((name, day), Counts(0, 0)) for day in days]
        total = sum(counts, Counts(0, 0))
        components.append(
            Component(
                name=name,
                state=worst([row.severity for row in open_rows if row.group == name]),
                uptime=total.uptime,
                days=[
                    DayCell(day=day.date(), uptime=count.uptime)
                    for day, count in zip(days, counts, strict=True)
                ],
            )
        )
    return StatusSnapshot(
        generated_at=now,
        components=components,
        current=[public_incident(row, now=now) for row in open_rows],
        history=[public_incident(row, now=now) for row in incidents if not row.open],
    )
