"""The scheduler: the due-time grid as pure functions, then the real thing on short real intervals
(APScheduler fires on real time, so these use `SystemClock` and waits bounded by deadlines)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.clock import SystemClock
from monitor.config.models import ProbeConfig
from monitor.probing.scheduler import (
    DEADLINE_MARGIN_SECONDS,
    EPOCH,
    LatenessSamples,
    ProbeScheduler,
    due_at,
    next_due,
    run_deadline,
    stagger_offset,
)

# --- the grid -------------------------------------------------------------------------------


def probe(
    name: str = "p1", interval: str = "1s", timeout: str = "100ms", **extra: Any
) -> ProbeConfig:
    data: dict[str, Any] = {"name": name, "interval": interval, "timeout": timeout}
    if "steps" not in extra:
        data["request"] = {"url": "http://127.0.0.1:9/"}
    return ProbeConfig.model_validate({**data, **extra})


@pytest.mark.parametrize(
    "interval",
    [
        timedelta(microseconds=1),
        timedelta(milliseconds=200),
        timedelta(seconds=1),
        timedelta(seconds=60),
        timedelta(hours=1),
        timedelta(days=1),
    ],
)
def test_offsets_are_within_the_interval_and_deterministic(interval: timedelta) -> None:
    for index in range(200):
        name = f"probe-{index}"
        offset = stagger_offset(name, interval)
        assert timedelta(0) <= offset < interval
        assert stagger_offset(name, interval) == offset


def test_offsets_do_not_change_between_releases() -> None:
    # Pinned: a different value moves every probe's phase at upgrade (results stop being evenly
    # spaced across the restart), so changing the hash must be a deliberate decision.
    assert stagger_offset("login", timedelta(seconds=60)) == timedelta(
        seconds=57, microseconds=661966
    )


def test_thousand_probes_spread_over_the_interval() -> None:
    interval = timedelta(seconds=60)
    offsets = [stagger_offset(f"probe-{index}", interval) for index in range(1000)]
    per_second = Counter(int(offset.total_seconds()) for offset in offsets)
    mean = 1000 / 60
    assert len(per_second) == 60, "every second of the interval gets some probes"
    assert max(per_second.values()) <= 3 * mean
    # Sub-second resolution: probes in the same second do not start in the same millisecond.
    per_millisecond = Counter(offset // timedelta(milliseconds=1) for offset in offsets)
    assert max(per_millisecond.values()) <= 2


def test_short_interval_offsets_have_sub_second_resolution() -> None:
    interval = timedelta(seconds=1)
    offsets = {stagger_offset(f"probe-{index}", interval) for index in range(1000)}
    per_tenth = Counter(offset // timedelta(milliseconds=100) for offset in offsets)
    assert len(per_tenth) == 10
    assert max(per_tenth.values()) <= 3 * 100


def test_due_at_on_and_between_grid_points() -> None:
    interval = timedelta(seconds=30)
    origin = EPOCH + stagger_offset("login", interval)
    grid_point = origin + 1_000_000 * interval  # some time in 2028
    assert due_at(name="login", interval=interval, now=grid_point) == grid_point
    assert due_at(name="login", interval=interval, now=grid_point + interval / 2) == grid_point
    just_before = grid_point - timedelta(microseconds=1)
    assert due_at(name="login", interval=interval, now=just_before) == grid_point - interval
    assert due_at(name="login", interval=interval, now=origin) == origin
    # Before the epoch too (floor division, not truncation).
    assert due_at(name="login", interval=interval, now=origin - timedelta(microseconds=1)) == (
        origin - interval
    )


def test_next_due_is_strictly_after() -> None:
    interval = timedelta(seconds=30)
    grid_point = EPOCH + stagger_offset("login", interval) + 123_456 * interval
    assert next_due(name="login", interval=interval, after=grid_point) == grid_point + interval
    assert next_due(
        name="login", interval=interval, after=grid_point - timedelta(microseconds=1)
    ) == (grid_point)
    assert next_due(name="login", interval=interval, after=grid_point + interval / 3) == (
        grid_point + interval
    )


def test_due_and_next_due_agree_everywhere() -> None:
    interval = timedelta(milliseconds=1500)
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for step in range(0, 10_000, 7):
        now = start + timedelta(milliseconds=step * 1.3)
        due = due_at(name="signup", interval=interval, now=now)
        following = next_due(name="signup", interval=interval, after=now)
        assert due <= now < due + interval
        assert following == due + interval
        assert (due - EPOCH - stagger_offset("signup", interval)) % interval == timedelta(0)
        assert due.tzinfo == UTC


def test_due_at_takes_any_time_zone_and_refuses_naive_times() -> None:
    interval = timedelta(minutes=1)
    berlin = datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # DST day
    assert due_at(name="x", interval=interval, now=berlin) == due_at(
        name="x", interval=interval, now=berlin.astimezone(UTC)
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(name="x", interval=interval, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="positive"):
        stagger_offset("x", timedelta(0))


def test_run_deadline_adds_step_timeouts_capped_below_the_interval() -> None:
    # Half a second past the steps' timeouts (so a hung step fails as read_timeout), and never
    # past the interval less that margin (so the next run is not skipped).
    assert run_deadline(probe(interval="30s", timeout="10s")) == timedelta(seconds=10.5)
    assert run_deadline(probe(interval="2s", timeout="2s")) == timedelta(seconds=1.9)
    short_form = probe(
        interval="30s", timeout="10s", request={"url": "http://127.0.0.1:9/", "timeout": "2s"}
    )
    assert run_deadline(short_form) == timedelta(seconds=2.5)
    steps = [
        {"name": "a", "request": {"url": "http://127.0.0.1:9/a", "timeout": "2s"}},
        {"name": "b", "request": {"url": "http://127.0.0.1:9/b"}},  # the probe's 5s
        {"name": "c", "request": {"url": "http://127.0.0.1:9/c", "timeout": "1s"}},
    ]
    assert run_deadline(probe(interval="30s", timeout="5s", steps=steps)) == timedelta(seconds=8.5)
    assert run_deadline(probe(interval="6s", timeout="5s", steps=steps)) == timedelta(seconds=5.7)


def test_lateness_samples_percentiles_and_bound() -> None:
    samples = LatenessSamples(maxlen=100)
    assert (samples.p50(), samples.p99(), samples.max()) == (0.0, 0.0, 0.0)
    for value in range(1, 201):
        samples.add(float(value))
    assert len(samples) == 100  # only the most recent
    assert samples.p50() == 150.0
    assert samples.p99() == 199.0
    assert samples.max() == 200.0


# --- the running scheduler ------------------------------------------------------------------


async def wait_for(condition: Callable[[], bool], *, within: float = 3.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within}s: {what or condition}")
        await asyncio.sleep(0.01)


class Target:
    """Stands in for the probe runner: records every call and how many overlap."""

    def __init__(self, hold: Callable[[ProbeConfig, int], Awaitable[None]] | None = None) -> None:
        self.calls: list[tuple[str, datetime, datetime]] = []  # (probe, due, started)
        self.finished: list[str] = []
        self.running: Counter[str] = Counter()
        self.max_per_probe: Counter[str] = Counter()
        self.concurrent = 0
        self.max_concurrent = 0
        self._hold = hold
        self._clock = SystemClock()

    async def __call__(self, probe: ProbeConfig, due: datetime) -> None:
        self.calls.append((probe.name, due, self._clock.now()))
        number = sum(1 for name, _, _ in self.calls if name == probe.name)
        self.running[probe.name] += 1
        self.max_per_probe[probe.name] = max(
            self.max_per_probe[probe.name], self.running[probe.name]
        )
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self._hold is not None:
                await self._hold(probe, number)
        finally:
            self.running[probe.name] -= 1
            self.concurrent -= 1
            self.finished.append(probe.name)

    def count(self, name: str) -> int:
        return sum(1 for called, _, _ in self.calls if called == name)


async def started(scheduler: ProbeScheduler) -> ProbeScheduler:
    await scheduler.start()
    return scheduler


async def test_runs_come_at_the_interval_on_the_grid() -> None:
    target = Target()
    p = probe("tick", interval="200ms", timeout="100ms")
    scheduler = await started(ProbeScheduler([p], execute=target, clock=SystemClock()))
    try:
        await wait_for(lambda: target.count("tick") >= 5, what="5 runs")
    finally:
        await scheduler.stop(timeout=1)
    dues = [due for _, due, _ in target.calls]
    assert all(later - earlier == p.interval for earlier, later in itertools.pairwise(dues))
    assert all(due == due_at(name="tick", interval=p.interval, now=due) for due in dues)
    assert all(
        timedelta(0) <= start - due < timedelta(milliseconds=100) for _, due, start in target.calls
    )
    stats = scheduler.stats
    assert stats.fired == stats.started == stats.finished == len(target.calls)
    # Lateness is recorded for every run, and small when the monitor is idle.
    assert len(stats.lateness_ms) == len(target.calls)
    assert 0 <= stats.lateness_ms.p50() < 50
    assert stats.lateness_ms.max() < 100


async def test_a_slow_probe_never_overlaps_itself(caplog: pytest.LogCaptureFixture) -> None:
    async def slow(_: ProbeConfig, __: int) -> None:
        await asyncio.sleep(0.5)  # 2.5 intervals, within the hard deadline (0.2 s + margin)

    target = Target(slow)
    p = probe("slow", interval="200ms", timeout="200ms")
    caplog.set_level(logging.INFO)
    scheduler = await started(ProbeScheduler([p], execute=target, clock=SystemClock()))
    try:
        await wait_for(
            lambda: len(target.finished) >= 2 and scheduler.stats.skipped_overlap >= 3,
            what="two runs with skipped fires between them",
        )
    finally:
        await scheduler.stop(timeout=1)
    assert target.max_per_probe["slow"] == 1
    assert scheduler.stats.deadline_exceeded == 0
    # One warning names the probe, one summary at stop counts the rest; APScheduler's own
    # line per skipped fire is gone.
    messages = [record.getMessage() for record in caplog.records]
    skipped = [message for message in messages if "previous run is still going" in message]
    assert len(skipped) == 2
    assert skipped[0].startswith("probe slow: run skipped")
    assert f"{scheduler.stats.skipped_overlap - 1} more not logged: slow" in skipped[1]
    assert not [
        r for r in caplog.records if "maximum number of running instances" in r.getMessage()
    ]
    assert not [r for r in caplog.records if "Running job" in r.getMessage()]


async def test_the_concurrency_cap_holds() -> None:
    release = asyncio.Event()

    async def held(_: ProbeConfig, __: int) -> None:
        await release.wait()

    target = Target(held)
    probes = [probe(f"p{index}", interval="500ms", timeout="500ms") for index in range(10)]
    scheduler = await started(
        ProbeScheduler(probes, execute=target, clock=SystemClock(), max_concurrency=3)
    )
    try:
        # Within one interval all ten fire: three run, the others wait for a slot.
        await wait_for(
            lambda: scheduler.stats.running == 3 and scheduler.stats.waiting_for_slot >= 4,
            what="three running and more waiting",
        )
        assert target.concurrent == 3
        release.set()
        await wait_for(lambda: len(target.finished) >= 10, what="every probe ran")
    finally:
        release.set()
        await scheduler.stop(timeout=1)
    assert target.max_concurrent == 3
    assert scheduler.stats.max_running == 3
    # Waiting for a slot counts as lateness: the runs that waited show it.
    assert scheduler.stats.lateness_ms.max() > 50


async def test_a_hung_execute_is_cut_at_its_deadline_and_frees_the_slot() -> None:
    cut_after: list[float] = []
    cut_at: list[datetime] = []

    async def hang_first_time(probe_config: ProbeConfig, number: int) -> None:
        if probe_config.name == "hung" and number == 1:
            began = time.monotonic()
            try:
                await asyncio.Event().wait()  # a target that never answers
            except asyncio.CancelledError:
                cut_after.append(time.monotonic() - began)
                cut_at.append(SystemClock().now())
                raise

    target = Target(hang_first_time)
    hung = probe("hung", interval="500ms", timeout="100ms")
    other = probe("other", interval="500ms", timeout="100ms")
    scheduler = await started(
        ProbeScheduler([hung, other], execute=target, clock=SystemClock(), max_concurrency=1)
    )
    try:
        # One slot: while the hung run holds it, the other probe waits for it.
        await wait_for(lambda: target.count("hung") == 1, what="the hung run starts")
        await wait_for(lambda: scheduler.stats.waiting_for_slot == 1, what="the other waits")
        await wait_for(lambda: bool(cut_at), within=2, what="the hung run is cut")
        await wait_for(
            lambda: any(n == "other" and start > cut_at[0] for n, _, start in target.calls),
            what="the other probe gets the slot",
        )
    finally:
        await scheduler.stop(timeout=1)
    expected = run_deadline(hung).total_seconds() + DEADLINE_MARGIN_SECONDS
    assert expected - 0.05 <= cut_after[0] < expected + 0.3
    assert scheduler.stats.deadline_exceeded == 1
    assert scheduler.stats.skipped_overlap >= 1  # the hung probe's own fires meanwhile
    assert scheduler.stats.running == 0


async def test_stop_returns_within_its_timeout_with_a_hung_run_in_flight() -> None:
    async def hang(_: ProbeConfig, __: int) -> None:
        await asyncio.Event().wait()

    target = Target(hang)
    p = probe("hung", interval="300ms", timeout="300ms")  # cut only after 1.3 s
    scheduler = await started(ProbeScheduler([p], execute=target, clock=SystemClock()))
    await wait_for(lambda: scheduler.stats.running == 1, what="the run hangs")
    began = time.monotonic()
    await scheduler.stop(timeout=0.5)
    assert time.monotonic() - began < 0.6
    assert scheduler.stats.running == 0
    assert scheduler.stats.cancelled == 1
    assert scheduler.stats.deadline_exceeded == 0
    calls = len(target.calls)
    # Nothing to wait for here: this checks that nothing happens for a few intervals.
    await asyncio.sleep(0.7)
    assert len(target.calls) == calls
    began = time.monotonic()
    await scheduler.stop(timeout=0.5)  # idempotent
    assert time.monotonic() - began < 0.1


async def test_stop_lets_runs_in_flight_finish() -> None:
    async def short(_: ProbeConfig, __: int) -> None:
        await asyncio.sleep(0.2)

    target = Target(short)
    p = probe("short", interval="300ms", timeout="300ms")
    scheduler = await started(ProbeScheduler([p], execute=target, clock=SystemClock()))
    await wait_for(lambda: scheduler.stats.running == 1, what="a run in flight")
    await scheduler.stop(timeout=2)
    assert target.finished == ["short"] * len(target.calls)
    assert scheduler.stats.cancelled == 0
    with pytest.raises(RuntimeError, match="stopped"):
        await scheduler.start()


async def test_run_once_runs_each_probe_exactly_once() -> None:
    async def brief(_: ProbeConfig, __: int) -> None:
        await asyncio.sleep(0.02)

    target = Target(brief)
    probes = [probe(f"p{index}", interval="1h", timeout="1s") for index in range(7)]
    disabled = probe("off", interval="1h", timeout="1s", enabled=False)
    scheduler = ProbeScheduler(
        [*probes, disabled], execute=target, clock=SystemClock(), max_concurrency=2
    )
    await scheduler.run_once()
    assert Counter(name for name, _, _ in target.calls) == {p.name: 1 for p in probes}
    assert target.max_concurrent == 2
    await scheduler.run_once([probes[0], disabled])  # exactly the given ones
    assert target.count("p0") == 2 and target.count("off") == 1
    stats = scheduler.stats
    assert (stats.fired, stats.started, stats.finished) == (0, 9, 9)
    assert len(stats.lateness_ms) == 0  # nothing was scheduled, so nothing was late
    await scheduler.stop(timeout=1)


async def test_an_error_in_execute_is_logged_counted_and_harmless(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(probe_config: ProbeConfig, _: int) -> None:
        if probe_config.name == "broken":
            raise ValueError("database is locked")

    target = Target(broken)
    probes = [probe("broken", interval="200ms"), probe("fine", interval="200ms")]
    scheduler = await started(ProbeScheduler(probes, execute=target, clock=SystemClock()))
    try:
        await wait_for(
            lambda: target.count("broken") >= 3 and target.count("fine") >= 3,
            what="both probes keep running",
        )
    finally:
        await scheduler.stop(timeout=1)
    assert scheduler.stats.errors == target.count("broken")
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("broken" in m and "ValueError: database is locked" in m for m in messages)


async def test_disabled_probes_are_not_scheduled() -> None:
    target = Target()
    probes = [probe("on", interval="200ms"), probe("off", interval="200ms", enabled=False)]
    scheduler = await started(ProbeScheduler(probes, execute=target, clock=SystemClock()))
    try:
        await wait_for(lambda: target.count("on") >= 3, what="the enabled probe runs")
    finally:
        await scheduler.stop(timeout=1)
    assert target.count("off") == 0


def test_duplicate_names_and_a_zero_cap_are_refused() -> None:
    target = Target()
    with pytest.raises(ValueError, match="unique; repeated: a"):
        ProbeScheduler([probe("a"), probe("a")], execute=target, clock=SystemClock())
    with pytest.raises(ValueError, match="at least 1"):
        ProbeScheduler([probe("a")], execute=target, clock=SystemClock(), max_concurrency=0)


async def test_thousands_of_probes_start_and_stop_quickly() -> None:
    template = probe("probe", interval="60s", timeout="10s")
    probes = [template.model_copy(update={"name": f"probe-{index}"}) for index in range(5000)]
    scheduler = ProbeScheduler(probes, execute=Target(), clock=SystemClock())
    began = time.monotonic()
    await scheduler.start()
    started_in = time.monotonic() - began
    began = time.monotonic()
    await scheduler.stop(timeout=1)
    assert started_in < 2.0
    assert time.monotonic() - began < 0.5
