"""`monitor backtest`: replay stored runs through the rules of a config and list the incidents
that would have opened, so thresholds are tuned against real history before they wake anyone.

The replay is the live detector itself (same trackers, same decisions) writing to memory. Its
limit: confirmation runs are replayed as they were made by the rules that ran live; rules that
would have asked for confirmation at other moments cannot get runs that never happened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import ManualClock
from monitor.config.models import ProbeConfig
from monitor.detection.detector import Detector, Silence
from monitor.detection.maintenance import MaintenanceWindow
from monitor.detection.store import MemoryIncidents
from monitor.storage.records import ResultRecord
from monitor.storage.repository import StoredResult


@dataclass(frozen=True, kw_only=True)
class BacktestIncident:
    probe: str
    start: datetime
    end: datetime | None  # None: still open when the history ends
    severity: str  # the highest reached
    rule: str
    figures: str  # as the rule saw it when the incident opened
    peak_failure_ratio: float
    reopened: int  # times it failed again within the flap window after resolving

    @property
    def duration(self) -> timedelta | None:
        return None if self.end is None else self.end - self.start

    def to_json(self) -> dict[str, Any]:
        duration = self.duration
        return {
            "probe": self.probe,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "duration_seconds": duration.total_seconds() if duration is not None else None,
            "severity": self.severity,
            "rule": self.rule,
            "figures": self.figures,
            "peak_failure_ratio": round(self.peak_failure_ratio, 4),
            "reopened": self.reopened,
        }


@dataclass(frozen=True, kw_only=True)
class BacktestReport:
    since: datetime
    until: datetime
    runs: int
    incidents: list[BacktestIncident]
    per_probe: dict[str, int]  # every probe of the config, with its count (0 included)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "runs": self.runs,
            "incidents": [incident.to_json() for incident in self.incidents],
            "per_probe": self.per_probe,
        }


async def backtest(
    history: AsyncIterable[StoredResult | ResultRecord],
    *,
    probes: Sequence[ProbeConfig],
    maintenance: Sequence[MaintenanceWindow] = (),
    silences: Sequence[Silence] = (),
    since: datetime,
    until: datetime,
) -> BacktestReport:
    """Replay `history` (oldest first) through `probes`' rules."""
    store = MemoryIncidents()

    async def load_silences(_: datetime) -> Sequence[Silence]:
        return silences

    detector = Detector(
        probes=probes,
        store=store,
        clock=ManualClock(since),
        maintenance=maintenance,
        load_silences=load_silences,
    )
    await detector.refresh()
    runs = 0
    async for result in history:
        runs += 1
        await detector.observe(result)
    incidents = [
        BacktestIncident(
            probe=incident.probe,
            start=incident.opened_at,
            end=incident.resolved_at,
            severity=incident.severity,
            rule=incident.rule,
            figures=incident.figures,
            peak_failure_ratio=(
                incident.peak
                if incident.resolved_at is not None
                else max(incident.peak, detector.trackers[incident.probe].peak)
            ),
            reopened=incident.reopened,
        )
        for incident in store.incidents
    ]
    counts = Counter(incident.probe for incident in incidents)
    per_probe = {probe.name: counts.get(probe.name, 0) for probe in probes}
    return BacktestReport(
        since=since, until=until, runs=runs, incidents=incidents, per_probe=per_probe
    )
