"""Following a table by id: the leader's detector sees every result, whichever instance (and
location) ran the probe; probe instances see every confirmation request the leader writes.

Ids are handed out when an insert begins and become visible when it commits, so on PostgreSQL
two writers committing out of order can show id 101 before id 100. Reading `id > newest seen`
would skip 100 for ever. A tail therefore re-reads a settle window (ids first seen within the
last `settle` seconds) and remembers which of those it has handed out already. The window is
re-read every `rescan` seconds; the polls between read only ids above the highest seen, so a
late commit arrives within `rescan` and a busy table is not read 30 s deep four times a second.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from monitor.storage.confirmations import Asked, requests_after
from monitor.storage.database import Database
from monitor.storage.repository import StoredResult, results_after

SETTLE_SECONDS = 30.0
RESCAN_SECONDS = 2.0
BATCH = 5000

Row = TypeVar("Row")
# (after_id, limit) -> (id, row) in id order
Fetch = Callable[[int, int], Awaitable[list[tuple[int, Row]]]]


class IdTail(Generic[Row]):
    def __init__(
        self,
        fetch: Fetch[Row],
        *,
        after_id: int,
        monotonic: Callable[[], float] = time.monotonic,
        settle: float = SETTLE_SECONDS,
        rescan: float = RESCAN_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._floor = after_id  # every id at or below is handed out (or will never appear)
        self._seen: set[int] = set()  # handed-out ids above the floor
        self._reads: deque[tuple[float, int]] = deque()  # (when, newest id read then)
        self._monotonic = monotonic
        self._settle = settle
        self._rescan = rescan
        self._high = after_id  # the highest id read
        self._rescanned: float | None = None  # when the settle window was last read

    async def new_rows(self) -> list[Row]:
        """The rows not handed out yet, in id order."""
        fresh: list[Row] = []
        handed: set[int] = set()
        started = self._monotonic()
        rescan = self._rescanned is None or started - self._rescanned >= self._rescan
        cursor = self._floor if rescan else self._high
        newest: int | None = None
        # Pages by a cursor of its own: the floor moves only once ids have settled, and nothing
        # counts as handed out until the whole pass has read (a failed page loses nothing).
        while True:
            rows = await self._fetch(cursor, BATCH)
            for row_id, row in rows:
                if row_id not in self._seen and row_id not in handed:
                    handed.add(row_id)
                    fresh.append(row)
            if rows:
                cursor = newest = rows[-1][0]
            if len(rows) < BATCH:
                break
        self._seen |= handed
        now = self._monotonic()
        if newest is not None:
            self._high = max(self._high, newest)
            self._reads.append((now, self._high))
        if rescan:
            self._rescanned = started
            # Only after a pass that read the whole window: the floor never passes an id that
            # a rescan has not had its full `settle` seconds to find.
            while self._reads and started - self._reads[0][0] >= self._settle:
                _, settled = self._reads.popleft()
                self._advance_floor(settled)
        return fresh

    def _advance_floor(self, to: int) -> None:
        if to <= self._floor:
            return
        self._floor = to
        self._seen = {row_id for row_id in self._seen if row_id > to}


def result_tail(
    db: Database, *, after_id: int, monotonic: Callable[[], float] = time.monotonic
) -> IdTail[StoredResult]:
    async def fetch(after: int, limit: int) -> list[tuple[int, StoredResult]]:
        return await results_after(db, after_id=after, limit=limit)

    return IdTail(fetch, after_id=after_id, monotonic=monotonic)


def request_tail(db: Database, *, after_id: int) -> IdTail[Asked]:
    """Confirmation requests matter for seconds and are few: the window is read every poll."""

    async def fetch(after: int, limit: int) -> list[tuple[int, Asked]]:
        return await requests_after(db, after_id=after, limit=limit)

    return IdTail(fetch, after_id=after_id, settle=10.0, rescan=0.0)
