"""A real monitor (the Runtime of `monitor run`) in the test's event loop, on a config written
to a file, stopped however the test ends; and waiting on a condition with a deadline."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from monitor.clock import Clock, SystemClock
from monitor.config import load_config
from monitor.runtime import Runtime, RuntimeOptions


@asynccontextmanager
async def running_monitor(
    config: Path,
    *,
    database_url: str,
    lines: list[str] | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> AsyncIterator[Runtime]:
    """Start a monitor on `config` (summaries off unless asked for); `lines` collects what it
    prints; `clock` (default: the system's) lets a test move time on."""
    runtime = Runtime(
        load_config(config),
        options=RuntimeOptions(database_url=database_url, **{"summary_every": 0, **options}),
        clock=clock or SystemClock(),
        emit=lines.append if lines is not None else lambda line: None,
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def eventually(
    condition: Callable[[], object], *, what: str, seconds: float = 20, every: float = 0.05
) -> None:
    """Until `condition()` (awaited if it returns an awaitable) is true; fails after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(every)
