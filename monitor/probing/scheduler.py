"""When probes run: each probe on a fixed grid of due times, never overlapping itself, all of them
through one global concurrency cap, each run under a hard deadline.

The grid is pure arithmetic (`stagger_offset`, `due_at`, `next_due`): a probe's phase comes from a
stable hash of its name, so 1,000 probes with the same interval spread over it instead of firing
in the same second, and a restart keeps every probe's phase (the detector sees evenly spaced
results across restarts). APScheduler 3 (`AsyncIOScheduler`, in-memory job store rebuilt from the
config at every start: the config is the source of truth) only fires the jobs at those times;
`ProbeScheduler` turns each fire into a run: due time from the injected clock, a slot, the
deadline, bookkeeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_SHUTDOWN,
)
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import Clock
from monitor.config.models import ProbeConfig
from monitor.percentiles import nearest_rank

log = logging.getLogger(__name__)

__all__ = [
    "EPOCH",
    "LatenessSamples",
    "ProbeScheduler",
    "SchedulerStats",
    "due_at",
    "next_due",
    "run_deadline",
    "stagger_offset",
]

# The origin of every probe's grid. Fixed, so due times do not depend on when the monitor started.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

# The scheduler's own margin over a run's deadline: the caller's `execute` enforces the exact
# deadline and records a failed result; this only stops a broken `execute` from holding a slot.
DEADLINE_MARGIN_SECONDS = 1.0
# Repeated warnings of one kind (overlaps, misses, errors): one line per probe and at most
# LOG_BURST lines in all per window.
LOG_EVERY_SECONDS = 60.0
LOG_BURST = 5

# Dedicated logger names (under `apscheduler`, so configuring that logger still governs them) that
# only this module uses: their filter can drop APScheduler's per-job chatter without touching
# anybody else's `apscheduler.*` logging.
_EXECUTOR_ALIAS = "probes"
_APS_SCHEDULER_LOGGER = "apscheduler.scheduler.probes"
_APS_EXECUTOR_LOGGER = f"apscheduler.executors.{_EXECUTOR_ALIAS}"

_US_PER_SECOND = 1_000_000


def _microseconds(delta: timedelta) -> int:
    # Exact integer arithmetic: float seconds would drift off the grid after enough intervals.
    return (delta.days * 86_400 + delta.seconds) * _US_PER_SECOND + delta.microseconds


def _check_interval(interval: timedelta) -> int:
    interval_us = _microseconds(interval)
    if interval_us <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    return interval_us


def _check_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")


def _offset_us(name: str, interval_us: int) -> int:
    # blake2b, not hash(): Python salts str hashes per process, which would move every probe's
    # phase at each restart. 64 bits make the modulo bias negligible for any real interval.
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % interval_us


def _grid_floor(offset_us: int, interval_us: int, now: datetime) -> datetime:
    since_epoch = _microseconds(now - EPOCH) - offset_us
    return EPOCH + timedelta(microseconds=offset_us + (since_epoch // interval_us) * interval_us)


def stagger_offset(name: str, interval: timedelta) -> timedelta:
    """Where in each interval the probe `name` runs: in [0, interval), to the microsecond."""
    return timedelta(microseconds=_offset_us(name, _check_interval(interval)))


def due_at(*, name: str, interval: timedelta, now: datetime) -> datetime:
    """The latest due time of the probe at or before `now` (UTC)."""
    _check_aware(now, "now")
    interval_us = _check_interval(interval)
    return _grid_floor(_offset_us(name, interval_us), interval_us, now)


def next_due(*, name: str, interval: timedelta, after: datetime) -> datetime:
    """The first due time of the probe strictly after `after` (UTC)."""
    return due_at(name=name, interval=interval, now=after) + interval


def run_deadline(probe: ProbeConfig) -> timedelta:
    """How long one run of `probe` may take: every step's timeout (its own or the probe's), added
    up, but never past the interval, since the next run is due then."""
    # The requests of `probe.effective_steps()`, without building its step models (about 70 us
    # a probe, half a second at start with 10,000 probes).
    requests = [probe.request] if probe.request is not None else [s.request for s in probe.steps]
    total = sum((request.timeout or probe.timeout for request in requests), timedelta(0))
    # A margin past the steps' own timeouts lets a hung step fail as `read_timeout` (more telling
    # than `deadline`); the cap below the interval lets the run end before the next one is due,
    # or that next run would be skipped and a hung target recorded half as often as it fails.
    margin = min(timedelta(milliseconds=500), probe.interval / 20)
    return min(total + margin, probe.interval - margin)


class LatenessSamples:
    """The most recent lateness samples in milliseconds (bounded, so memory stays flat)."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._samples: deque[float] = deque(maxlen=maxlen)

    def add(self, value_ms: float) -> None:
        self._samples.append(value_ms)

    def __len__(self) -> int:
        return len(self._samples)

    def values(self) -> list[float]:
        return list(self._samples)

    def percentile(self, q: float) -> float:
        """The `q`-th percentile (0..100, nearest rank) of the samples; 0.0 without samples."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile must be within 0..100, got {q}")
        if not self._samples:
            return 0.0
        return nearest_rank(sorted(self._samples), q)

    def p50(self) -> float:
        return self.percentile(50)

    def p99(self) -> float:
        return self.percentile(99)

    def max(self) -> float:
        return max(self._samples, default=0.0)


@dataclass(kw_only=True)
class SchedulerStats:
    """Live counters of a `ProbeScheduler` (the same object keeps updating)."""

    fired: int = 0  # APScheduler fired a probe's job
    started: int = 0  # a run got its slot and called `execute` (scheduled or `run_once`)
    finished: int = 0  # a run's `execute` returned, raised or was cut
    skipped_overlap: int = 0  # a fire refused: the previous run of that probe still runs
    missed: int = 0  # a fire dropped by APScheduler: later than its misfire grace time
    deadline_exceeded: int = 0  # `execute` outlived the run deadline (+ margin) and was cut
    errors: int = 0  # `execute` raised
    cancelled: int = 0  # runs cut by `stop()` after its timeout
    running: int = 0  # runs inside `execute` now
    waiting_for_slot: int = 0  # runs waiting for the concurrency cap now
    max_running: int = 0  # the most runs ever inside `execute` at once
    lateness_ms: LatenessSamples = field(default_factory=LatenessSamples)


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a fire needs, computed once at start so that a fire does no hashing or lookups."""

    probe: ProbeConfig
    offset_us: int
    interval_us: int
    hard_deadline_s: float


class _Throttled:
    """One kind of repeated warning (overlaps, misses, errors). With 10,000 probes against a
    dead database or a hung target, one line per run would bury everything else: a probe gets
    one line per window, and a window at most `LOG_BURST` lines in all. What is held back is
    counted, and the count (with the probes most concerned) goes out with the next line or at
    `flush()`."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._held: Counter[str] = Counter()
        self._last_by_probe: dict[str, float] = {}
        self._window_start = -LOG_EVERY_SECONDS
        self._logged = 0

    def note(self, name: str, detail: str = "", *, exc_info: BaseException | None = None) -> None:
        now = time.monotonic()
        if now - self._window_start >= LOG_EVERY_SECONDS:
            self._window_start, self._logged = now, 0
        last = self._last_by_probe.get(name)
        if self._logged >= LOG_BURST or (last is not None and now - last < LOG_EVERY_SECONDS):
            self._held[name] += 1
            return
        self._logged += 1
        self._last_by_probe[name] = now
        line = f"probe {name}: {self._what}{f' ({detail})' if detail else ''}"
        log.warning(line + self._take_held(), exc_info=exc_info)

    def flush(self) -> None:
        if self._held:
            log.warning(f"{self._what}{self._take_held()}")

    def _take_held(self) -> str:
        if not self._held:
            return ""
        held, self._held = self._held, Counter()
        top = ", ".join(f"{probe} {count}" for probe, count in held.most_common(5))
        more = len(held) - 5
        return (
            f"; {held.total()} more not logged: {top}"
            f"{f' and {more} other probes' if more > 0 else ''}"
        )


class _QuietApscheduler(logging.Filter):
    """Drops APScheduler's per-job lines: with 10,000 probes "Added job", "Running job" and
    "executed successfully" are thousands of lines a minute, and the overlap/misfire warnings
    come once per fire. `ProbeScheduler` counts those in its stats and logs a summary instead.
    With the `apscheduler` logger at DEBUG, everything passes."""

    _PER_JOB_WARNINGS = ("Execution of job", "Run time of job")

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return True
        if record.levelno <= logging.INFO:
            return not str(record.msg).startswith(
                ("Added job", "Adding job", "Running job", "Job ", "Removed job")
            )
        if record.levelno == logging.WARNING:
            return not str(record.msg).startswith(self._PER_JOB_WARNINGS)
        return True


_QUIET = _QuietApscheduler()


def _quiet_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
    return logger


Execute = Callable[[ProbeConfig, datetime], Awaitable[None]]


class ProbeScheduler:
    """Runs every enabled probe on its grid through `execute(probe, due_at)`.

    `execute` is expected to enforce `run_deadline(probe)` itself and record the result; the
    scheduler adds a safety net (that deadline + `DEADLINE_MARGIN_SECONDS`), logs and counts
    whatever `execute` raises, and never lets one probe stop the others.
    """

    def __init__(
        self,
        probes: Sequence[ProbeConfig],
        *,
        execute: Execute,
        clock: Clock,
        max_concurrency: int = 100,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        names = Counter(probe.name for probe in probes)
        duplicates = sorted(name for name, count in names.items() if count > 1)
        if duplicates:
            raise ValueError(f"probe names must be unique; repeated: {', '.join(duplicates)}")
        self._probes = list(probes)
        self._execute = execute
        self._clock = clock
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self._stats = SchedulerStats()
        self._entries = {probe.name: _entry(probe) for probe in self._probes}
        self._scheduler: Any = None  # AsyncIOScheduler once started (APScheduler is untyped)
        self._shut_down: asyncio.Event | None = None
        self._waiting: set[asyncio.Task[Any]] = set()
        self._running: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._overlaps = _Throttled("run skipped, the previous run is still going")
        self._misses = _Throttled("run dropped, it fired later than its misfire grace time")
        self._deadlines = _Throttled("execute outlived the run deadline and was cut")
        self._errors = _Throttled("run failed with an error in the monitor")

    @property
    def stats(self) -> SchedulerStats:
        return self._stats

    @property
    def firing(self) -> bool:
        """Started, not stopping, and APScheduler's loop is alive: runs are being fired."""
        return self._scheduler is not None and not self._stopping and bool(self._scheduler.running)

    async def start(self) -> None:
        """Schedule one interval job per enabled probe, first run at its next due time."""
        if self._stopping:
            raise RuntimeError("this scheduler was stopped; build a new one")
        if self._scheduler is not None:
            raise RuntimeError("the scheduler is already started")
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            logger=_quiet_logger(_APS_SCHEDULER_LOGGER),
            jobstores={"default": MemoryJobStore()},
            executors={_EXECUTOR_ALIAS: AsyncIOExecutor()},
        )
        _quiet_logger(_APS_EXECUTOR_LOGGER)
        self._shut_down = asyncio.Event()
        scheduler.add_listener(
            self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_SCHEDULER_SHUTDOWN
        )
        now = self._clock.now()
        enabled = [self._entries[probe.name] for probe in self._probes if probe.enabled]
        for entry in enabled:
            self._add_job(scheduler, entry, now)
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "scheduler started: %d probes, at most %d runs at once",
            len(enabled),
            self.max_concurrency,
        )

    def _add_job(self, scheduler: Any, entry: _Entry, now: datetime) -> None:
        probe = entry.probe
        first = _grid_floor(entry.offset_us, entry.interval_us, now) + probe.interval
        scheduler.add_job(
            self._fire,
            trigger=IntervalTrigger(
                seconds=probe.interval.total_seconds(), start_date=first, timezone=UTC
            ),
            args=(entry,),
            id=probe.name,
            name=probe.name,
            executor=_EXECUTOR_ALIAS,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=_misfire_grace(probe.interval),
        )

    def apply(self, probes: Sequence[ProbeConfig]) -> tuple[list[str], list[str], list[str]]:
        """A reloaded config: schedule the new probes, unschedule the removed (or disabled)
        ones and reschedule the changed ones; unchanged probes keep their jobs and their grid.
        Runs in flight finish with the definition they started with. (added, removed, changed)."""
        names = Counter(probe.name for probe in probes)
        duplicates = sorted(name for name, count in names.items() if count > 1)
        if duplicates:
            raise ValueError(f"probe names must be unique; repeated: {', '.join(duplicates)}")
        old = {probe.name: probe for probe in self._probes if probe.enabled}
        new = {probe.name: probe for probe in probes if probe.enabled}
        added = sorted(new.keys() - old.keys())
        removed = sorted(old.keys() - new.keys())
        changed = sorted(name for name in new.keys() & old.keys() if new[name] != old[name])
        self._probes = list(probes)
        self._entries = {probe.name: _entry(probe) for probe in self._probes}
        if self._scheduler is not None and not self._stopping:
            now = self._clock.now()
            for name in removed + changed:
                self._scheduler.remove_job(name)
            for name in added + changed:
                self._add_job(self._scheduler, self._entries[name], now)
        return added, removed, changed

    # A budget for the whole stop, not one awaited call: asyncio.timeout() cannot express it.
    async def stop(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Fire no new runs, let the runs in flight finish within `timeout` seconds, cancel the
        rest. Returns within `timeout` (a run that ignores cancellation is left behind and
        logged). Calling it again waits for the first call."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(timeout, 0.0)
        if self._stopping:
            if self._stopped is not None:
                await _wait_event(self._stopped, end - loop.time())
            return
        self._stopping = True
        self._stopped = asyncio.Event()
        try:
            scheduler = self._scheduler
            if scheduler is not None and scheduler.running:
                # Synchronous, unlike shutdown(): nothing fires from here on. The shutdown waits
                # until the runs are over, because APScheduler's shutdown cancels them at once.
                scheduler.pause()
            # Runs still waiting for a slot have not started anything: end them now.
            for task in list(self._waiting):
                task.cancel()
            # Keep part of the budget for the cancelled runs to unwind.
            cancel_budget = min(1.0, timeout * 0.2)
            in_flight = self._waiting | self._running
            if in_flight:
                await asyncio.wait(in_flight, timeout=max(0.0, end - cancel_budget - loop.time()))
            left = {task for task in self._waiting | self._running if not task.done()}
            if left:
                log.warning("stopping: cancelling %d runs still in flight", len(left))
                for task in left:
                    task.cancel()
                await asyncio.wait(left, timeout=max(0.0, end - loop.time()))
                stuck = [task for task in left if not task.done()]
                if stuck:
                    log.error("stopping: %d runs ignored cancellation; leaving them", len(stuck))
            if scheduler is not None and scheduler.running:
                scheduler.shutdown(wait=False)  # takes effect on the next loop iteration
                assert self._shut_down is not None
                await _wait_event(self._shut_down, max(0.05, end - loop.time()))
        finally:
            for throttled in (self._overlaps, self._misses, self._deadlines, self._errors):
                throttled.flush()
            self._stopped.set()

    async def run_once(self, probes: Sequence[ProbeConfig] | None = None) -> None:
        """Run every enabled probe (or exactly the given ones) once now, through the same
        concurrency cap, and return when all have finished."""
        if self._stopping:
            raise RuntimeError("this scheduler was stopped")
        entries = (
            [self._entries[p.name] for p in self._probes if p.enabled]
            if probes is None
            else [_entry(probe) for probe in probes]
        )
        now = self._clock.now()
        # `due` is when it was asked for: nothing was scheduled, so no lateness is recorded.
        await asyncio.gather(*(self._run(entry, now, scheduled=False) for entry in entries))

    async def run_now(self, probe: ProbeConfig, *, execute: Execute | None = None) -> None:
        """One unscheduled run of `probe` through the same concurrency cap and deadline safety
        net (confirmation runs); `execute` replaces the scheduler's own for this run."""
        if self._stopping:
            return
        await self._run(_entry(probe), self._clock.now(), scheduled=False, execute=execute)

    async def _fire(self, entry: _Entry) -> None:
        # APScheduler calls this on every fire, ~167 times a second with 10,000 probes at 60 s:
        # keep it O(1), no hashing, no lookups over all probes.
        self._stats.fired += 1
        if self._stopping:
            return
        due = _grid_floor(entry.offset_us, entry.interval_us, self._clock.now())
        await self._run(entry, due, scheduled=True)

    async def _run(
        self, entry: _Entry, due: datetime, *, scheduled: bool, execute: Execute | None = None
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        stats = self._stats
        probe = entry.probe
        try:
            self._waiting.add(task)
            stats.waiting_for_slot += 1
            try:
                await self._slots.acquire()
            finally:
                stats.waiting_for_slot -= 1
                self._waiting.discard(task)
            try:
                if self._stopping:
                    return
                if scheduled:
                    stats.lateness_ms.add(_microseconds(self._clock.now() - due) / 1000)
                self._running.add(task)
                stats.started += 1
                stats.running += 1
                stats.max_running = max(stats.max_running, stats.running)
                try:
                    await self._execute_with_deadline(entry, due, execute or self._execute)
                finally:
                    stats.running -= 1
                    stats.finished += 1
                    self._running.discard(task)
            finally:
                self._slots.release()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # `stop()` cancelled this run: an expected end, not an error of the job (APScheduler
            # would log it with a traceback).
            task.uncancel()
            stats.cancelled += 1
            log.info("probe %s: run cancelled by stop", probe.name)

    async def _execute_with_deadline(self, entry: _Entry, due: datetime, execute: Execute) -> None:
        probe = entry.probe
        try:
            async with asyncio.timeout(entry.hard_deadline_s) as deadline:
                await execute(probe, due)
        except TimeoutError:
            if not deadline.expired():
                # `execute` raised a TimeoutError of its own: an error like any other.
                self._stats.errors += 1
                self._errors.note(probe.name, "TimeoutError")
                return
            self._stats.deadline_exceeded += 1
            self._deadlines.note(probe.name, f"after {entry.hard_deadline_s:g}s")
        except Exception as error:  # one probe's failure must not stop the others
            self._stats.errors += 1
            self._errors.note(probe.name, f"{type(error).__name__}: {error}", exc_info=error)

    def _on_event(self, event: Any) -> None:
        # APScheduler calls this synchronously from its loop callback; keep it cheap.
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self._stats.skipped_overlap += 1
            self._overlaps.note(event.job_id)
        elif event.code == EVENT_JOB_MISSED:
            self._stats.missed += 1
            self._misses.note(event.job_id)
        elif event.code == EVENT_SCHEDULER_SHUTDOWN and self._shut_down is not None:
            self._shut_down.set()


def _entry(probe: ProbeConfig) -> _Entry:
    interval_us = _check_interval(probe.interval)
    return _Entry(
        probe=probe,
        offset_us=_offset_us(probe.name, interval_us),
        interval_us=interval_us,
        hard_deadline_s=run_deadline(probe).total_seconds() + DEADLINE_MARGIN_SECONDS,
    )


def _misfire_grace(interval: timedelta) -> int:
    # A late run is still worth running until the next one is due (a monitor that skips runs
    # under load goes blind exactly when it matters); APScheduler wants whole seconds >= 1.
    return max(1, int(interval.total_seconds()))


async def _wait_event(event: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()
    except TimeoutError:
        pass
