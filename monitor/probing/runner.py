"""One scheduled run of a probe, bounded by a hard deadline: a hung target fails the run, it
never holds a slot of the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from monitor.clock import Clock
from monitor.config.durations import format_duration
from monitor.config.models import ProbeConfig
from monitor.probing.errors import ErrorKind, ProbeError
from monitor.probing.flow import RunResult, run_probe


async def run_with_deadline(
    probe: ProbeConfig,
    *,
    clock: Clock,
    deadline: timedelta,
    env_values: Mapping[str, str] | None = None,
    location: str = "local",
) -> RunResult:
    started_at = clock.now()
    try:
        async with asyncio.timeout(deadline.total_seconds()):
            return await run_probe(probe, clock=clock, env_values=env_values, location=location)
    except TimeoutError:
        error = ProbeError(
            kind=ErrorKind.DEADLINE,
            message=f"the run did not finish within its deadline of {format_duration(deadline)}",
        )
        return RunResult.failed(
            probe=probe.name,
            location=location,
            started_at=started_at,
            duration_ms=deadline.total_seconds() * 1000,
            error=error,
        )
