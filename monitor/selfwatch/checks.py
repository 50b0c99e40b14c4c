"""What counts as the monitor being broken: each check reads live counters and says what is
wrong in words an engineer woken at 3 a.m. can act on, or nothing.

Checks are plain functions of the counters, the thresholds and `now`, so a test drives them
with an injected clock instead of waiting for a real outage to last a minute.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, NamedTuple

from monitor.config.models import SelfConfig
from monitor.escalation.engine import EngineStats
from monitor.probing.scheduler import SchedulerStats
from monitor.selfwatch.arrivals import Silence
from monitor.storage.recorder import RecorderStats

TroubleKind = Literal["database", "provider", "lateness", "engine", "scheduler", "disk", "silence"]
# The parts whose health the heartbeat vouches for: probes run, results are stored, pages go.
VITAL: frozenset[TroubleKind] = frozenset({"database", "engine", "scheduler"})
# p99 of a handful of runs says little; below this many samples lateness is not judged.
MIN_LATENESS_SAMPLES = 20
MB = 1024 * 1024


@dataclass(frozen=True)
class Trouble:
    kind: TroubleKind
    summary: str  # short: it goes into an SMS


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


DiskUsageReader = Callable[[Path], DiskUsage]


def _read_disk_usage(path: Path) -> DiskUsage:
    usage = shutil.disk_usage(path)
    return DiskUsage(usage.total, usage.used, usage.free)


@dataclass(frozen=True, kw_only=True)
class Vitals:
    """What the checks read, from whichever parts this instance runs (None: not here)."""

    now: datetime
    recorder: RecorderStats | None = None
    scheduler: SchedulerStats | None = None
    scheduler_running: bool | None = None
    engine: EngineStats | None = None
    engine_started_at: datetime | None = None
    silences: list[Silence] | None = None  # only the leader, which reads every result, knows


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def database_trouble(vitals: Vitals, config: SelfConfig) -> Trouble | None:
    stats = vitals.recorder
    if stats is None or stats.failing_since is None:
        return None
    failing = vitals.now - stats.failing_since
    if failing < config.database_failing_for:
        return None
    dropped = f", {stats.dropped} DROPPED" if stats.dropped else ""
    return Trouble(
        "database",
        f"database refuses writes for {_span(failing)}: {stats.pending} results held{dropped}",
    )


def provider_troubles(vitals: Vitals, config: SelfConfig) -> list[Trouble]:
    stats = vitals.engine
    if stats is None:
        return []
    return [
        Trouble(
            "provider",
            f"{channel} failing: {count} sends in a row"
            + (f" ({stats.last_failure[channel][:60]})" if channel in stats.last_failure else ""),
        )
        for channel, count in sorted(stats.failing_in_a_row.items())
        if count >= config.provider_failures
    ]


def lateness_trouble(vitals: Vitals, config: SelfConfig) -> Trouble | None:
    stats = vitals.scheduler
    if stats is None or len(stats.lateness_ms) < MIN_LATENESS_SAMPLES:
        return None
    p99_ms = stats.lateness_ms.p99()
    limit_ms = config.max_lateness.total_seconds() * 1000
    if p99_ms <= limit_ms:
        return None
    return Trouble(
        "lateness", f"probes run late: p99 {p99_ms / 1000:.1f}s (limit {limit_ms / 1000:g}s)"
    )


def engine_trouble(vitals: Vitals, config: SelfConfig) -> Trouble | None:
    if vitals.engine is None or vitals.engine_started_at is None:
        return None
    # A tick from an earlier term as leader says nothing about this one.
    ticked = vitals.engine.last_tick
    last = max(ticked, vitals.engine_started_at) if ticked else vitals.engine_started_at
    stalled = vitals.now - last
    if stalled < config.engine_stalled_for:
        return None
    return Trouble("engine", f"escalation engine stalled: no tick for {_span(stalled)}")


def silence_troubles(vitals: Vitals) -> list[Trouble]:
    troubles = []
    for silence in vitals.silences or []:
        names = ", ".join(silence.probes[:3])
        more = f" +{len(silence.probes) - 3} more" if len(silence.probes) > 3 else ""
        troubles.append(
            Trouble(
                "silence",
                f"no results from {silence.location} for {_span(silence.quiet_for)}: {names}{more}",
            )
        )
    return troubles


def scheduler_trouble(vitals: Vitals) -> Trouble | None:
    if vitals.scheduler_running is False:
        return Trouble("scheduler", "probe scheduler stopped: no probe runs")
    return None


def disk_trouble(
    path: Path | None, config: SelfConfig, *, read: DiskUsageReader = _read_disk_usage
) -> Trouble | None:
    if path is None:
        return None
    try:
        usage = read(path)
    except OSError as error:
        return Trouble("disk", f"cannot read free space of {path}: {error.strerror or error}")
    if usage.free >= config.min_free_disk_mb * MB:
        return None
    return Trouble(
        "disk",
        f"disk almost full: {usage.free // MB} MB free at {path} (limit {config.min_free_disk_mb} MB)",
    )


def all_troubles(
    vitals: Vitals,
    config: SelfConfig,
    *,
    disk_path: Path | None,
    read_disk: DiskUsageReader = _read_disk_usage,
) -> list[Trouble]:
    found = [
        database_trouble(vitals, config),
        *provider_troubles(vitals, config),
        lateness_trouble(vitals, config),
        engine_trouble(vitals, config),
        scheduler_trouble(vitals),
        *silence_troubles(vitals),
        disk_trouble(disk_path, config, read=read_disk),
    ]
    return [trouble for trouble in found if trouble is not None]
