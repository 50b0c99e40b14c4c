"""The `monitor-self` incident: opened when a check finds the monitor broken, resolved once
every check has passed for a while, paged by the engine through `self.policy` like any other.

When the database itself is what is broken, the incident cannot be written and the engine (which
pages from the database) cannot page for it: the emergency pager texts the self policy's first
level directly instead, and tells the same people when it works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from monitor.clock import Clock
from monitor.config.models import SELF_PROBE, MonitorConfig
from monitor.selfwatch.checks import (
    VITAL,
    DiskUsageReader,
    Trouble,
    Vitals,
    _read_disk_usage,
    all_troubles,
)
from monitor.selfwatch.emergency import Emergency, EmergencyPager
from monitor.storage.database import Database
from monitor.storage.incidents import (
    add_note,
    latest_incident,
    open_incident,
    open_incident_of,
    record_past_incident,
    resolve_incident,
)

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 10.0
# Every check passing this long resolves the incident: one good pass after a flapping
# database is not yet "fixed".
RECOVER_AFTER = timedelta(seconds=30)
RULE = "the monitor watching itself"
RECORD_ATTEMPTS = 3  # checks that try to write down an emergency before the all-clear goes


class SelfWatch:
    def __init__(
        self,
        db: Database,
        *,
        config: Callable[[], MonitorConfig],
        clock: Clock,
        vitals: Callable[[], Vitals],
        disk_path: Path | None,
        emergency: EmergencyPager | None = None,
        wake: Callable[[], None] = lambda: None,
        instance: str = "this instance",
        read_disk: DiskUsageReader = _read_disk_usage,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._vitals = vitals
        self._disk_path = disk_path
        self._emergency = emergency
        self._wake = wake
        self._read_disk = read_disk
        # Whose incident it is: with several instances, each resolves only its own trouble
        # (a healthy instance must not close the incident of one whose disk is full).
        self.rule = f"{RULE} ({instance})"
        self._foreign_kinds: frozenset[str] = frozenset()
        self.troubles: list[Trouble] = []
        self.incident_id: int | None = None
        self._kinds: frozenset[str] = frozenset()
        self._clean_since: datetime | None = None
        self.checked_at: datetime | None = None
        self._checking = asyncio.Lock()

    def vital_troubles(self) -> list[Trouble]:
        """What the heartbeat must not vouch for: probes not running, results not stored, the
        engine not paging."""
        return [trouble for trouble in self.troubles if trouble.kind in VITAL]

    async def start(self) -> None:
        """Take over the monitor-self incident an earlier run of this instance left open, so
        that it is resolved when all is well, not left open for ever (another instance's stays
        theirs to resolve)."""
        try:
            open_one = await open_incident_of(self._db, SELF_PROBE)
        except Exception:
            log.warning("monitor-self: could not read the open self incident", exc_info=True)
            return
        if open_one is not None and open_one.rule == self.rule:
            self.incident_id = open_one.id

    async def run(self, *, stop: asyncio.Event, every: float = CHECK_EVERY_SECONDS) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception:
                log.exception("monitor-self: a check pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def check(self) -> list[Trouble]:
        """One pass: run the checks, then open, note or resolve the incident. One pass at a
        time: two at once could both open, record or all-clear."""
        async with self._checking:
            return await self._check()

    async def _check(self) -> list[Trouble]:
        now = self._clock.now()
        troubles = all_troubles(
            self._vitals(),
            self._config().watch_self,
            disk_path=self._disk_path,
            read_disk=self._read_disk,
        )
        self.troubles, self.checked_at = troubles, now
        if troubles:
            self._clean_since = None
            await self._trouble(troubles, now)
        else:
            await self._clean(now)
        return troubles

    async def _trouble(self, troubles: list[Trouble], now: datetime) -> None:
        figures = "; ".join(trouble.summary for trouble in troubles)
        kinds = frozenset(trouble.kind for trouble in troubles)
        if self.incident_id is None:
            try:
                opened = await open_incident(
                    self._db,
                    probe=SELF_PROBE,
                    severity="major",
                    rule=self.rule,
                    figures=figures,
                    cause=None,
                    at=now,
                )
            except Exception as error:
                log.error("monitor-self: %s; the incident cannot be stored (%s)", figures, error)
                if self._emergency is not None:
                    await self._emergency.page(figures, now=now)
                return
            if not opened.created:
                await self._note_on_theirs(opened.incident.id, figures, kinds, now)
                return
            self.incident_id, self._kinds = opened.incident.id, kinds
            log.error("monitor-self: MON-%d opened: %s", opened.incident.id, figures)
            self._wake()
            return
        if "database" in kinds and self._emergency is not None and not await self._writable():
            # The incident is open but the engine, which pages from the database, cannot.
            await self._emergency.page(figures, now=now)
        if kinds != self._kinds:
            # The same incident, a different trouble: said in its timeline, not as a new page.
            try:
                await add_note(
                    self._db, incident_id=self.incident_id, at=now, detail=f"now: {figures}"
                )
            except Exception:
                log.warning("monitor-self: could not note %r", figures, exc_info=True)
                return
            self._kinds = kinds
            log.error("monitor-self: MON-%d now: %s", self.incident_id, figures)

    async def _note_on_theirs(
        self, incident_id: int, figures: str, kinds: frozenset[str], now: datetime
    ) -> None:
        """Another instance's monitor-self incident is open: add this one's trouble to its
        timeline (once per change) rather than a second incident."""
        if kinds == self._foreign_kinds:
            return
        try:
            await add_note(
                self._db, incident_id=incident_id, at=now, detail=f"{self.rule}: {figures}"
            )
        except Exception:
            log.warning("monitor-self: could not note %r", figures, exc_info=True)
            return
        self._foreign_kinds = kinds
        log.error("monitor-self: MON-%d (another instance's) noted: %s", incident_id, figures)

    async def _record(self, emergency: Emergency, now: datetime) -> str | None:
        """The database is back: write down what was sent without it, on the monitor-self
        incident open since before it went (this instance's or another's: one story, not one
        per instance), else as an incident of its own, resolved already. Each note is taken off
        the list once written, so a retry after a failure writes none twice."""
        try:
            open_one = await open_incident_of(self._db, SELF_PROBE)
            if open_one is not None:
                prefix = "" if open_one.id == self.incident_id else f"{self.rule}: "
                while emergency.notes:
                    at, detail = emergency.notes[0]
                    await add_note(self._db, incident_id=open_one.id, at=at, detail=prefix + detail)
                    emergency.notes.pop(0)
                return f"MON-{open_one.id}"
            recorded = await record_past_incident(
                self._db,
                probe=SELF_PROBE,
                severity="major",
                rule=self.rule,
                figures=emergency.figures,
                opened_at=emergency.since,
                resolved_at=now,
                notes=emergency.notes,
                resolution="the database works again",
            )
        except Exception:
            log.warning("monitor-self: could not record the emergency pages", exc_info=True)
            return None
        log.warning("monitor-self: MON-%d records the time without the database", recorded)
        return f"MON-{recorded}"

    async def _writable(self) -> bool:
        try:
            await latest_incident(self._db, probe=SELF_PROBE)
        except Exception:
            return False
        return True

    async def _clean(self, now: datetime) -> None:
        self._foreign_kinds = frozenset()
        emergency = self._emergency.emergency if self._emergency is not None else None
        if self._emergency is not None and emergency is not None:
            recorded = await self._record(emergency, now)
            emergency.record_attempts += 1
            # Not written: most likely the database is not quite back. The all-clear waits for
            # the record (a "works again" while it is still down would be false), but not for
            # ever: after a few checks it goes out without one.
            if recorded is None and emergency.record_attempts < RECORD_ATTEMPTS:
                return
            await self._emergency.all_clear(now=now, incident=recorded)
        if self.incident_id is None:
            return
        if self._clean_since is None:
            self._clean_since = now
        if now - self._clean_since < RECOVER_AFTER:
            return
        try:
            await resolve_incident(
                self._db,
                incident_id=self.incident_id,
                at=now,
                detail=f"every self check passed for {int(RECOVER_AFTER.total_seconds())}s",
            )
        except Exception:
            log.warning("monitor-self: could not resolve MON-%d", self.incident_id, exc_info=True)
            return
        log.info("monitor-self: MON-%d resolved", self.incident_id)
        self.incident_id, self._kinds, self._clean_since = None, frozenset(), None
        self._wake()
