"""Leading: one instance at a time detects and escalates, whichever holds the leader lock.

Every `--role all` or `--role engine` instance runs this loop. It tries the lock; the winner
calls `lead()` (build the detector from the stored history, follow the results table, run the
engine), checks every `CHECK_SECONDS` that the lock is still its own, and calls `step_down()`
when it is not. The others try again every `RETRY_SECONDS`: when the leader dies, PostgreSQL
frees its lock and one of them leads within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from monitor.storage.leader import LeaderLock

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
RETRY_SECONDS = 2.0


class Leadership:
    def __init__(
        self,
        lock: LeaderLock,
        *,
        lead: Callable[[], Awaitable[None]],
        step_down: Callable[[], Awaitable[None]],
        check_every: float = CHECK_SECONDS,
        retry_every: float = RETRY_SECONDS,
    ) -> None:
        self._lock = lock
        self._lead = lead
        self._step_down = step_down
        self._check_every = check_every
        self._retry_every = retry_every
        self.leading = False

    async def run(self, *, stop: asyncio.Event) -> None:
        failures = 0
        try:
            while not stop.is_set():
                try:
                    await self._turn()
                    if failures:
                        log.warning("leader election works again after %d failures", failures)
                    failures = 0
                except Exception as error:  # the database away: try again, never give up
                    if not failures:  # every second while it lasts: the first one in full
                        log.exception("leader election failed; trying again")
                    else:
                        log.debug("leader election failed again: %r", error)
                    failures += 1
                    await self._quit()
                    # Another instance may lead where this one failed to.
                    with contextlib.suppress(Exception):
                        await self._lock.release()
                await _wait(stop, self._check_every if self.leading else self._retry_every)
        finally:
            await self._quit()
            await self._lock.release()

    async def _turn(self) -> None:
        if self.leading:
            if not await self._lock.still_held():
                log.error("leader lock lost: stepping down")
                await self._quit()
            return
        if await self._lock.try_acquire():
            self.leading = True
            await self._lead()

    async def _quit(self) -> None:
        if self.leading:
            self.leading = False
            await self._step_down()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
