"""Runs of probes in simulated time, fed to a real `Detector`: the scenario tests, the detection
benchmark and the backtest test use it instead of sleeping through hours of probing.

Scheduled runs follow the scheduler's own grid (`next_due`), confirmation runs follow the
detector's requests, and whether each run fails is up to a function of (probe, time, location),
typically seeded random numbers.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.clock import ManualClock
from monitor.config.models import ProbeConfig
from monitor.detection.detector import Detector
from monitor.detection.tracker import Confirm
from monitor.probing.scheduler import next_due
from monitor.storage.records import ResultRecord

# (probe, started_at, location) -> True when the run fails
FailureModel = Callable[[str, datetime, str], bool]
# (probe, started_at, location) -> how long the run took, in milliseconds
LatencyModel = Callable[[str, datetime, str], float]

RUN_MS = 50.0
FAILURE_MESSAGE = "sign in: [STATUS] (503) == 200"


@dataclass(order=True)
class _Due:
    at: datetime
    order: int
    probe: str
    confirmation: bool


class SimulatedRuns:
    """Drives `detector` through simulated time; pass `confirm` as the detector's `confirm=`."""

    def __init__(
        self,
        probes: Sequence[ProbeConfig],
        *,
        clock: ManualClock,
        fails: FailureModel,
        latency: LatencyModel | None = None,
        record: Callable[[ResultRecord], Awaitable[None]] | None = None,
        tick_every: timedelta | None = None,
    ) -> None:
        self.probes = {probe.name: probe for probe in probes}
        self.clock = clock
        self.fails = fails
        self.latency = latency or (lambda probe, at, location: RUN_MS)
        self._record = record
        self.tick_every = tick_every
        self._queue: list[_Due] = []
        self._order = itertools.count()
        self._remaining: dict[str, int] = {}  # confirmation runs still to make, per probe
        self._every: dict[str, timedelta] = {}
        self.runs: list[ResultRecord] = []
        self.confirmation_runs = 0
        start = clock.now()
        for probe in probes:
            due = next_due(name=probe.name, interval=probe.interval, after=start)
            self._push(due, probe.name, confirmation=False)
        self._next_tick = start + tick_every if tick_every else None

    def confirm(self, probe: str, request: Confirm) -> None:
        """The detector asks for confirmation runs: the first right after the failed run, then
        `every` apart; a request during a burst extends it to `runs` more, at the same pace."""
        bursting = self._remaining.get(probe, 0) > 0
        self._remaining[probe] = request.runs
        self._every[probe] = request.every
        if not bursting and request.runs > 0:
            self._push(self.clock.now() + timedelta(milliseconds=RUN_MS), probe, confirmation=True)

    def _push(self, at: datetime, probe: str, *, confirmation: bool) -> None:
        entry = _Due(at, next(self._order), probe, confirmation)
        heapq.heappush(self._queue, entry)

    async def run_until(self, detector: Detector, until: datetime) -> None:
        while self._queue and self._queue[0].at <= until:
            due = heapq.heappop(self._queue)
            await self._tick_up_to(detector, due.at)
            if due.at > self.clock.now():
                self.clock.advance(due.at - self.clock.now())
            probe = self.probes[due.probe]
            if due.confirmation:
                self.confirmation_runs += 1
                self._remaining[probe.name] -= 1
            else:
                self._push(due.at + probe.interval, probe.name, confirmation=False)
            for location in probe.locations:
                await self._run(detector, probe, due, location)
            if due.confirmation and self._remaining[probe.name] > 0:
                self._push(due.at + self._every[probe.name], probe.name, confirmation=True)
        await self._tick_up_to(detector, until)
        if until > self.clock.now():
            self.clock.advance(until - self.clock.now())

    async def run_for(self, detector: Detector, duration: timedelta) -> None:
        await self.run_until(detector, self.clock.now() + duration)

    async def _tick_up_to(self, detector: Detector, moment: datetime) -> None:
        if self._next_tick is None or self.tick_every is None:
            return
        while self._next_tick <= moment:
            if self._next_tick > self.clock.now():
                self.clock.advance(self._next_tick - self.clock.now())
            await detector.tick()
            self._next_tick += self.tick_every

    async def _run(self, detector: Detector, probe: ProbeConfig, due: _Due, location: str) -> None:
        # Whole milliseconds, as SQLite stores them: a replay from the database sees the same
        # times the live detector saw.
        at = due.at.replace(microsecond=due.at.microsecond // 1000 * 1000)
        failed = self.fails(probe.name, at, location)
        record = ResultRecord(
            probe=probe.name,
            location=location,
            due_at=at,
            started_at=at,
            duration_ms=self.latency(probe.name, at, location),
            ok=not failed,
            status=503 if failed else 200,
            error_kind="condition" if failed else None,
            error_message=FAILURE_MESSAGE if failed else None,
            failed_step="sign in" if failed else None,
            confirmation=due.confirmation,
        )
        self.runs.append(record)
        if self._record is not None:
            await self._record(record)
        await detector.observe(record)
