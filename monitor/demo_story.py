"""The demo's plot: let the example API run healthy for a while, break it, repair it once
someone acknowledges, and say when the story is over.

What the monitor does in between (the incident, the pages, the escalation, the resolution) is
not scripted: the narrator tells it from the incident timelines in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from monitor.clock import Clock
from monitor.config.durations import format_duration
from monitor.demo import DemoError, fault_commands, set_faults
from monitor.demo_narrator import Narrator, clock_time, label
from monitor.probing.flow import RunResult
from monitor.storage.incidents import IncidentRow

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the timelines are read: the narration lags at most this much
OUTAGE_ERROR_RATIO = 0.3  # the partial outage of the README: a balancer lost part of its capacity
# The narration's lines start with a time; hints and follow-ups are indented under it.
INDENT = " " * 10


class Phase(StrEnum):
    CALM = "calm"  # the API is healthy; the outage is still to come
    OUTAGE = "outage"  # the API fails requests; waiting for someone to acknowledge
    HEALING = "healing"  # repaired; waiting for the incident to resolve and everyone to be told
    DONE = "done"


@dataclass(frozen=True, kw_only=True)
class Plot:
    api_base: str
    outage_after: timedelta | None  # None: the API started broken, there is nothing to inject
    disk_full: bool  # as the API started: the injected outage keeps it
    recover_after: timedelta  # how long the probes must pass before the incident resolves
    database_url: str  # as shown to the user (no password)
    exit_when_done: bool


class Story:
    def __init__(
        self,
        plot: Plot,
        *,
        narrator: Narrator,
        clock: Clock,
        say: Callable[[str], None],
        stop: asyncio.Event,
        paging_probes: Sequence[str],
    ) -> None:
        self.plot = plot
        self.narrator = narrator
        self.clock = clock
        self._say = say
        self.stop = stop
        self.paging_probes = frozenset(paging_probes)
        self.phase = Phase.CALM if plot.outage_after is not None else Phase.OUTAGE
        self._noticed: set[str] = set()  # probes whose first failed run was told
        self._trouble: str | None = None  # the last error told, so a retry does not repeat it
        self._settled = False  # the last poll found everything resolved and told

    def say(self, text: str, *, at: datetime | None = None) -> None:
        self._say(f"{clock_time(at or self.clock.now())}  {text}")

    def on_result(self, result: RunResult) -> None:
        """Every probe run: the first failure of a paging probe in the outage is worth a line
        (the monitor's own line per failed run would drown the story at this pace)."""
        if self.phase is not Phase.OUTAGE or result.ok or result.probe not in self.paging_probes:
            return
        if result.probe in self._noticed:
            return
        self._noticed.add(result.probe)
        self.say(
            f"{result.probe} fails: {result.summary()} (extra runs now confirm it)",
            at=result.started_at,
        )

    async def run(self) -> None:
        """Until `stop` is set; with `exit_when_done`, sets it once the story is over."""
        loop = asyncio.get_running_loop()
        outage_at = loop.time()
        if self.plot.outage_after is not None:
            outage_at += self.plot.outage_after.total_seconds()
        while not self.stop.is_set():
            try:
                await self._tell()
                await self._advance(outage_due=loop.time() >= outage_at)
            except DemoError as error:
                self._trouble_once(str(error))
            except Exception as error:  # a locked database, a hiccup: the demo goes on
                log.warning("the demo's narration failed, retrying: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), POLL_SECONDS)

    async def _tell(self) -> None:
        for said in await self.narrator.poll():
            first, *hints = said.lines
            self.say(first, at=said.at)
            for hint in hints:
                self._say(INDENT + hint)

    async def _advance(self, *, outage_due: bool) -> None:
        if self.phase is Phase.CALM and outage_due:
            await set_faults(
                self.plot.api_base, error_ratio=OUTAGE_ERROR_RATIO, disk_full=self.plot.disk_full
            )
            self.phase = Phase.OUTAGE
            self.say(
                f"OUTAGE: the example API now fails {OUTAGE_ERROR_RATIO:.0%} of its requests "
                "with 503 (a load balancer lost part of its capacity)"
            )
        elif self.phase is Phase.OUTAGE:
            answered = next((i for i in self.narrator.incidents if _answered(i.state)), None)
            if answered is None:
                return
            await set_faults(self.plot.api_base, error_ratio=0.0, disk_full=False)
            self.phase = Phase.HEALING
            self._trouble = None
            self.say(
                f"{label(answered.id)} is {answered.state}: the engineer fixes the example API "
                "(no more errors)"
            )
            self._say(
                f"{INDENT}the incident resolves when the probes have passed for "
                f"{format_duration(self.plot.recover_after)} and a few more runs agree"
            )
        elif self.phase is Phase.HEALING:
            told = await self.narrator.all_told(self.clock.now())
            # Over when it still is one poll later: a page's status and its event are separate
            # writes, and the last delivery report deserves its line before "complete".
            if told and self._settled:
                self.phase = Phase.DONE
                self._finish()
            self._settled = told

    def _finish(self) -> None:
        self.say("The story is complete.")
        for incident in self.narrator.incidents:
            self._say(f"{INDENT}{summary(incident)}")
        first = min((i.id for i in self.narrator.incidents), default=1)
        self._say(
            f"{INDENT}Its timeline as stored: monitor incident show {first} "
            f"--database-url {self.plot.database_url}"
        )
        if self.plot.exit_when_done:
            self.stop.set()
            return
        self._say(
            f"{INDENT}The monitor keeps running: explore the phone pages, or break the API "
            "again and watch (Ctrl-C stops everything):"
        )
        for command in fault_commands(self.plot.api_base):
            self._say(f"{INDENT}  {command}")

    def _trouble_once(self, text: str) -> None:
        if text != self._trouble:
            self._trouble = text
            self.say(f"{text} (retrying)")


def summary(incident: IncidentRow) -> str:
    """`MON-1 (login): acknowledged 1m5s after it opened (by Alice Meyer by SMS), resolved
    1m40s after it opened.`"""
    parts = []
    if incident.acknowledged_at is not None:
        by = f" (by {incident.acknowledged_by})" if incident.acknowledged_by else ""
        parts.append(f"acknowledged {_after(incident.opened_at, incident.acknowledged_at)}{by}")
    if incident.resolved_at is not None:
        parts.append(f"resolved {_after(incident.opened_at, incident.resolved_at)}")
    return f"{label(incident.id)} ({incident.probe}): {', '.join(parts) or incident.state}."


def _after(start: datetime, end: datetime) -> str:
    seconds = max(0, round((end - start).total_seconds()))
    return f"{format_duration(timedelta(seconds=seconds))} after it opened"


def _answered(state: str) -> bool:
    # Acknowledged, or resolved by hand (`RESOLVE` or `monitor resolve`) before any ack.
    return state in ("acknowledged", "resolved")
