"""The detector: feeds each probe's runs to its tracker and carries out the decisions.

Incident changes are written in the order they were decided; a write that fails (the database
is away) stays queued and is retried on the next run or tick, so an incident is late rather than
lost. Confirmation runs are asked for at once, they need no database.

At start the state is rebuilt from the stored runs of the last hours (`rebuild`): an incident
open in the database continues, a probe whose runs say it is failing while no incident is open
gets one, and the database's one-open-incident-per-probe index keeps a second detector (another
instance, a restart racing the old process) from opening a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from monitor.clock import Clock
from monitor.config.models import SELF_PROBE, ProbeConfig
from monitor.detection.maintenance import MaintenanceWindow, in_maintenance
from monitor.detection.samples import Sample
from monitor.detection.store import IncidentStore
from monitor.detection.tracker import (
    Confirm,
    Decision,
    DetectionPolicy,
    Open,
    ProbeTracker,
    RaiseSeverity,
    Resolve,
    Severity,
    Suppressed,
)
from monitor.storage.records import ResultRecord
from monitor.storage.repository import StoredResult

log = logging.getLogger(__name__)

# One incident write may take this long before it counts as failed and is retried later: a
# stalled database must not hold the probe run that happened to decide it.
WRITE_TIMEOUT_SECONDS = 10.0


class Silence(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def reason(self) -> str: ...

    def covers(self, probe: str, at: datetime) -> bool: ...


# Loads the silences that end after the given moment (active ones and those still to come).
SilenceLoader = Callable[[datetime], Awaitable[Sequence[Silence]]]
ConfirmRequest = Callable[[str, Confirm], None]


@dataclass(frozen=True)
class DetectorStats:
    opened: int
    resolved: int
    pending_writes: int
    failed_writes: int


class Detector:
    def __init__(
        self,
        *,
        probes: Sequence[ProbeConfig],
        store: IncidentStore,
        clock: Clock,
        maintenance: Sequence[MaintenanceWindow] = (),
        load_silences: SilenceLoader | None = None,
        confirm: ConfirmRequest | None = None,
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.maintenance = tuple(maintenance)
        self._load_silences = load_silences
        self._confirm = confirm
        self._emit = emit or (lambda line: None)
        self.trackers = {
            probe.name: ProbeTracker(probe.name, DetectionPolicy.of(probe.alert))
            for probe in probes
        }
        self._silences: Sequence[Silence] = ()
        self._pending: list[tuple[str, Open | RaiseSeverity | Resolve]] = []
        self._flushing = False
        self._open: dict[str, int] = {}  # probe -> id of its open incident
        self._resolved: dict[str, int] = {}  # probe -> id of its last resolved incident
        self._opened = 0
        self._resolved_count = 0
        self._failed_writes = 0

    @property
    def stats(self) -> DetectorStats:
        return DetectorStats(
            opened=self._opened,
            resolved=self._resolved_count,
            pending_writes=len(self._pending),
            failed_writes=self._failed_writes,
        )

    @property
    def horizon(self) -> timedelta:
        """How far back `rebuild` needs stored runs."""
        policies = [tracker.policy for tracker in self.trackers.values()]
        return max(
            [timedelta(minutes=5)]
            + [max(p.horizon, p.recover_after, p.flap_window) for p in policies]
        )

    def horizons(self) -> dict[timedelta, list[str]]:
        """Probe names by how far back their rebuild needs stored runs."""
        grouped: dict[timedelta, list[str]] = {}
        for name, tracker in self.trackers.items():
            policy = tracker.policy
            horizon = max(policy.horizon, policy.recover_after, policy.flap_window)
            grouped.setdefault(horizon, []).append(name)
        return grouped

    def apply(self, probes: Sequence[ProbeConfig]) -> None:
        """A reloaded config: a probe whose detection settings are unchanged keeps its tracker
        (its recent runs, its open incident); a new or re-tuned one starts afresh, carrying its
        open incident over; a removed one is dropped (its incident resolved at the next
        rebuild, or by a person)."""
        trackers: dict[str, ProbeTracker] = {}
        for probe in probes:
            policy = DetectionPolicy.of(probe.alert)
            old = self.trackers.get(probe.name)
            if old is not None and old.policy == policy:
                trackers[probe.name] = old
                continue
            tracker = ProbeTracker(probe.name, policy)
            if old is not None:
                if old.status == "failing" and old.severity is not None and old.opened_at:
                    tracker.adopt(severity=old.severity, opened_at=old.opened_at)
                if old.resolved_at is not None:
                    tracker.note_resolved(old.resolved_at)
            trackers[probe.name] = tracker
        self.trackers = trackers

    def open_incident_id(self, probe: str) -> int | None:
        return self._open.get(probe)

    async def rebuild(self, history: AsyncIterable[StoredResult | ResultRecord]) -> None:
        """Replay stored runs (oldest first) without acting on them, then take over the
        incidents the database has open and open those the runs call for."""
        now = self.clock.now()
        await self._refresh_silences(now - self.horizon)
        for latest in await self.store.latest_incidents():
            tracker = self.trackers.get(latest.probe)
            if tracker is not None and latest.resolved_at is not None:
                tracker.note_resolved(latest.resolved_at)
                self._resolved[latest.probe] = latest.id
        async for result in history:
            tracker = self.trackers.get(result.probe)
            if tracker is not None:
                sample = Sample.of(result)
                tracker.observe(sample, suppressed=self._suppression(result.probe, sample.at))
        open_now = {known.probe: known for known in await self.store.open_incidents()}
        for orphan in open_now.values():
            # monitor-self is the self checks' own incident, never a probe's: theirs to resolve.
            if orphan.probe not in self.trackers and orphan.probe != SELF_PROBE:
                # Removed from the config or disabled: nothing will ever resolve it, and the
                # status page would show the outage forever.
                await self.store.resolve_incident(
                    incident_id=orphan.id,
                    at=now,
                    detail="the probe is no longer in the config (removed or disabled)",
                    peak=0.0,
                )
        for name, tracker in self.trackers.items():
            known = open_now.get(name)
            if known is not None:
                tracker.adopt(severity=_severity(known.severity), opened_at=known.opened_at)
                self._open[name] = known.id
                continue
            decision = tracker.open_now()
            if decision is None:
                continue
            if self._suppression(name, now) is not None:
                tracker.status = "up"  # held back: it opens when the suppression ends
                continue
            self._pending.append((name, decision))
        await self.refresh()
        await self.flush()

    async def observe(self, result: StoredResult | ResultRecord) -> None:
        tracker = self.trackers.get(result.probe)
        if tracker is None:
            return  # a probe no longer in the config
        sample = Sample.of(result)
        decisions = tracker.observe(sample, suppressed=self._suppression(result.probe, sample.at))
        self._act(result.probe, decisions)
        await self.flush()

    async def tick(self) -> None:
        """The time-driven part: pick up silences added or ended elsewhere (the CLI) and
        incidents resolved elsewhere, retry writes that failed."""
        await self.refresh()
        await self.flush()
        try:
            await self._pick_up_resolutions()
        except Exception:
            log.warning("could not read open incidents", exc_info=True)

    async def _pick_up_resolutions(self) -> None:
        """An incident this detector holds open but the database says is resolved (by a
        person, or by another instance): the probe is up again here too, so that a failure
        from now on is a new incident (or re-opens that one within the flap window)."""
        if not self._open or self._pending:
            return  # with writes queued, the database is behind this detector, not ahead
        still_open = {known.id for known in await self.store.open_incidents()}
        now = self.clock.now()
        for probe, incident_id in list(self._open.items()):
            if incident_id not in still_open:
                del self._open[probe]
                self._resolved[probe] = incident_id
                self.trackers[probe].resolved_elsewhere(now)

    async def refresh(self) -> None:
        try:
            await self._refresh_silences(self.clock.now())
        except Exception:
            log.warning("could not load silences; keeping the ones loaded before", exc_info=True)

    async def _refresh_silences(self, since: datetime) -> None:
        if self._load_silences is not None:
            self._silences = await self._load_silences(since)

    def _suppression(self, probe: str, at: datetime) -> str | None:
        window = in_maintenance(self.maintenance, probe, at)
        if window is not None:
            _, end = window.occurrence_at(at) or (at, at)
            what = f"maintenance until {end:%Y-%m-%d %H:%M} UTC"
            return f"{what}: {window.reason}" if window.reason else what
        for silence in self._silences:
            if silence.covers(probe, at):
                return f"silence #{silence.id}: {silence.reason}"
        return None

    def _act(self, probe: str, decisions: list[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, Confirm):
                if self._confirm is not None:
                    self._confirm(probe, decision)
            elif isinstance(decision, Suppressed):
                self._emit(
                    f"{_stamp(decision.at)} held back (no incident) {probe}: "
                    f"{decision.finding.figures} - {decision.reason}"
                )
            else:
                self._pending.append((probe, decision))

    async def flush(self) -> None:
        """Write the queued incident changes, in order for each probe. Many runs end at once
        and each calls this: one of them writes, the others return and leave their changes to
        it. A probe whose write fails keeps its changes queued (in order) for the next flush;
        other probes' changes still go through."""
        if self._flushing:
            return
        self._flushing = True
        try:
            blocked: set[str] = set()
            index = 0
            while index < len(self._pending):
                probe, decision = self._pending[index]
                if probe in blocked:
                    index += 1
                    continue
                try:
                    await asyncio.wait_for(self._apply(probe, decision), WRITE_TIMEOUT_SECONDS)
                except Exception:
                    blocked.add(probe)
                    self._failed_writes += 1
                    log.warning(
                        "could not write the incident change for %s (%s); retrying later",
                        probe,
                        type(decision).__name__,
                        exc_info=True,
                    )
                    index += 1
                    continue
                # Changes queued meanwhile went to the end: the one written is still at `index`.
                del self._pending[index]
        finally:
            self._flushing = False

    async def _apply(self, probe: str, decision: Open | RaiseSeverity | Resolve) -> None:
        if isinstance(decision, Open):
            await self._apply_open(probe, decision)
        elif isinstance(decision, RaiseSeverity):
            incident_id = self._open.get(probe)
            if incident_id is not None:
                await self.store.raise_severity(
                    incident_id=incident_id,
                    severity=decision.severity,
                    at=decision.at,
                    figures=decision.figures,
                )
                self._emit(
                    f"{_stamp(decision.at)} incident #{incident_id} {probe} now "
                    f"{decision.severity.upper()}: {decision.figures}"
                )
        else:
            incident_id = self._open.get(probe)
            if incident_id is not None:
                await self.store.resolve_incident(
                    incident_id=incident_id,
                    at=decision.at,
                    detail=decision.detail,
                    peak=decision.peak,
                )
                del self._open[probe]
                self._resolved[probe] = incident_id
                self._resolved_count += 1
                self._emit(f"{_stamp(decision.at)} RESOLVED incident #{incident_id} {probe}")

    async def _apply_open(self, probe: str, decision: Open) -> None:
        previous = self._resolved.get(probe)
        if decision.reopen and previous is not None:
            incident_id, changed = await self.store.reopen_incident(
                incident_id=previous,
                at=decision.at,
                figures=decision.finding.figures,
                severity=decision.severity,
                rule=decision.finding.rule,
            )
            verb = "REOPENED" if changed else "continues"
        else:
            incident_id, changed = await self.store.open_incident(
                probe=probe,
                severity=decision.severity,
                rule=decision.finding.rule,
                figures=decision.finding.figures,
                cause=decision.cause,
                at=decision.at,
                peak=decision.peak,
            )
            verb = "OPENED" if changed else "already open:"
        self._open[probe] = incident_id
        if changed:
            self._opened += 1
        cause = f" - {decision.cause}" if decision.cause else ""
        self._emit(
            f"{_stamp(decision.at)} {verb} incident #{incident_id} {probe} "
            f"{decision.severity.upper()}: {decision.finding.figures}{cause}"
        )


def _severity(value: str) -> Severity:
    if value in ("degraded", "partial", "major"):
        return value  # type: ignore[return-value]
    return "partial"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
