"""The recorder: takes results from probe tasks at once and writes them in batches.

Probe tasks must never wait for the database nor fail because of it, so `record()` only appends
to a buffer. A background task writes the buffer every `flush_interval` seconds, or as soon as
`batch_size` results wait, one transaction per batch. When the database refuses a batch, the
batch stays in the buffer and is retried with exponential backoff; only when the buffer would
exceed `max_buffer` are the oldest results dropped (and counted), so memory stays bounded during
a long outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from monitor.clock import Clock
from monitor.storage.database import Database, describe_error
from monitor.storage.records import ResultRecord
from monitor.storage.repository import ensure_probes, insert_results
from monitor.storage.rollups import floor_hour, hour_is_over

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0


WRITE_TIMEOUT = 15.0  # seconds for one batch; a healthy database takes milliseconds


@dataclass(frozen=True, kw_only=True)
class RecorderStats:
    taken: int  # record() calls accepted
    stored: int  # committed to the database
    pending: int  # taken, neither stored nor dropped yet
    failed_flushes: int  # batches the database refused (each retried)
    dropped: int  # oldest results discarded because the buffer was full
    rejected: int  # records refused at record() (naive timestamps): they could never be written
    failing_since: datetime | None = None  # the first failed write since the last good one


class Recorder:
    """Buffers ResultRecords and writes them in batches. `start()`, `record()` many times,
    `stop()`. `record()` must be called from the event loop's thread."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        flush_interval: float = 1.0,
        batch_size: int = 500,
        max_buffer: int = 100_000,
        probe_ids: dict[str, int] | None = None,
    ) -> None:
        if flush_interval <= 0 or batch_size < 1 or max_buffer < batch_size:
            raise ValueError("need flush_interval > 0 and 1 <= batch_size <= max_buffer")
        self._db = db
        # The clock gives timestamps only. Waiting uses asyncio directly: ManualClock.sleep
        # returns at once (it moves fake time), which would turn the flush loop into a busy loop.
        self._clock = clock
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._max_buffer = max_buffer
        self._probe_ids: dict[str, int] = dict(probe_ids or {})
        self._buffer: deque[ResultRecord] = deque()
        self._in_flight = 0  # records of the batch being written (out of the buffer meanwhile)
        self._wake = asyncio.Event()  # a full batch waits, or stop() was called
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._taken = self._stored = self._failed_flushes = self._dropped = self._rejected = 0
        self._dropping = False  # inside a run of drops (warn once per run, not per result)
        self._failing_since: datetime | None = None
        self._late_hours: set[datetime] = set()  # hours over when results of theirs were written

    @property
    def stats(self) -> RecorderStats:
        return RecorderStats(
            taken=self._taken,
            stored=self._stored,
            pending=len(self._buffer) + self._in_flight,
            failed_flushes=self._failed_flushes,
            dropped=self._dropped,
            rejected=self._rejected,
            failing_since=self._failing_since,
        )

    def take_late_hours(self) -> set[datetime]:
        """The hours that results were written for after the hour was over (held through a
        database outage, say): their rollups may miss them and must be rolled again."""
        hours, self._late_hours = self._late_hours, set()
        return hours

    def give_back_late_hours(self, hours: set[datetime]) -> None:
        self._late_hours |= hours

    def record(self, result: ResultRecord) -> None:
        """Take a result for writing. Never blocks, never raises."""
        try:
            self._take(result)
        except Exception:  # a bug here must not kill the probe task that called us
            log.exception("recorder could not take the result of %r", result.probe)

    def _take(self, result: ResultRecord) -> None:
        if result.due_at.tzinfo is None or result.started_at.tzinfo is None:
            # Refused now: in a batch it would make the database refuse the whole batch forever.
            self._rejected += 1
            log.error("result of %r has a naive timestamp; not recorded", result.probe)
            return
        self._taken += 1
        self._buffer.append(result)
        self._trim()
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    def _trim(self) -> None:
        # batch_size <= max_buffer, so the excess always fits in the buffer (never the batch in
        # flight, which cannot be taken back mid-write).
        excess = min(len(self._buffer) + self._in_flight - self._max_buffer, len(self._buffer))
        if excess <= 0:
            self._dropping = False
            return
        for _ in range(excess):
            self._buffer.popleft()
        self._dropped += excess
        if not self._dropping:
            self._dropping = True
            log.warning(
                "recorder buffer full (%d results; the database is not keeping up or refuses "
                "writes): dropping the oldest results (%d so far)",
                self._max_buffer,
                self._dropped,
            )

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("recorder already started")
        self._task = asyncio.create_task(self._run(), name="recorder")

    # A timeout parameter rather than asyncio.timeout() around the call: on timeout the recorder
    # still has to cancel its task and report what it could not write.
    async def stop(self, timeout: float = 10.0) -> RecorderStats:  # noqa: ASYNC109
        """Write every result taken so far, then stop; give up after `timeout` seconds and log
        how many results were not written (they stay in `stats.pending`)."""
        self._stop.set()
        self._wake.set()
        if self._task is None:  # never started: still write what was taken
            self._task = asyncio.create_task(self._run(), name="recorder")
        if not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        stats = self.stats
        if stats.pending:
            log.error(
                "recorder stopped with %d results not written to %s", stats.pending, self._db.url
            )
        return stats

    async def _run(self) -> None:
        backoff = 0.0
        while not (self._stop.is_set() and not self._buffer):
            if backoff:
                await self._pause(backoff)
            elif not self._stop.is_set() and len(self._buffer) < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            if await self._drain():
                backoff = 0.0
            elif self._stop.is_set():
                # Stopping: the caller's timeout is short, retry at the first step until it ends.
                backoff = BACKOFF_FIRST
            else:
                backoff = min(BACKOFF_MAX, max(BACKOFF_FIRST, backoff * 2))

    async def _pause(self, seconds: float) -> None:
        """The backoff after a failed write. Results arriving meanwhile do not cut it short (the
        database needs the rest); stop() does, so that a stop never waits out a long backoff."""
        if self._stop.is_set():
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _drain(self) -> bool:
        """Write batches until the buffer is empty; False at the first batch that failed."""
        while self._buffer:
            if not await self._flush_one():
                return False
        return True

    async def _flush_one(self) -> bool:
        """Write the oldest batch; True when written, False when it was put back for a retry."""
        batch = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
        self._in_flight = len(batch)
        written = False
        try:
            missing = {r.probe for r in batch} - self._probe_ids.keys()
            if missing:
                self._probe_ids.update(
                    await ensure_probes(self._db, missing, now=self._clock.now())
                )
            # A stalled connection must count as a failed write (and be retried), not hold the
            # recorder forever while results pile up unseen.
            async with asyncio.timeout(WRITE_TIMEOUT):
                await insert_results(self._db, batch, self._probe_ids)
            written = True
            self._failing_since = None
        except Exception as error:  # whatever the cause: keep the batch, retry later
            self._failed_flushes += 1
            if self._failing_since is None:
                self._failing_since = self._clock.now()
            log.warning(
                "writing %d results to %s failed (%s); keeping them and retrying",
                len(batch),
                self._db.url,
                describe_error(error),
                # A database refusing is expected now and then; anything else is a bug to see.
                exc_info=not isinstance(error, SQLAlchemyError | OSError | TimeoutError),
            )
        finally:
            self._in_flight = 0
            if written:
                self._stored += len(batch)
                now = self._clock.now()
                self._late_hours.update(
                    floor_hour(r.started_at) for r in batch if hour_is_over(r.started_at, now=now)
                )
            else:  # failed or cancelled: back to the front, oldest first, for the next try
                self._buffer.extendleft(reversed(batch))
                self._trim()
        return written
