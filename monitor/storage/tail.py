"""Following the results table: the detector of the instance that leads sees every result,
whichever instance (and location) ran the probe.

Ids are handed out when an insert begins and become visible when it commits, so on PostgreSQL
two recorders committing out of order can show id 101 before id 100. Reading `id > newest seen`
would skip 100 for ever. The tail therefore re-reads a settle window (ids first seen within the
last `SETTLE` seconds) and remembers which of those it has handed out already.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from monitor.storage.database import Database
from monitor.storage.repository import StoredResult, results_after

SETTLE_SECONDS = 30.0
BATCH = 5000


class ResultTail:
    def __init__(
        self,
        db: Database,
        *,
        after_id: int,
        monotonic: Callable[[], float] = time.monotonic,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self._db = db
        self._floor = after_id  # every id at or below is handed out (or will never appear)
        self._seen: set[int] = set()  # handed-out ids above the floor
        self._reads: deque[tuple[float, int]] = deque()  # (when, newest id read then)
        self._monotonic = monotonic
        self._settle = settle

    async def new_results(self) -> list[StoredResult]:
        """The results not handed out yet, in id order."""
        fresh: list[StoredResult] = []
        while True:
            limit = BATCH + len(self._seen)
            rows = await results_after(self._db, after_id=self._floor, limit=limit)
            for row_id, result in rows:
                if row_id not in self._seen:
                    self._seen.add(row_id)
                    fresh.append(result)
            if len(rows) < limit:
                break
            # A long backlog (a recorder writing what it held through an outage): move on past
            # this page, all of it handed out now, rather than re-reading a growing window.
            self._advance_floor(rows[-1][0])
        now = self._monotonic()
        if rows:
            self._reads.append((now, rows[-1][0]))
        while self._reads and now - self._reads[0][0] >= self._settle:
            _, newest = self._reads.popleft()
            self._advance_floor(newest)
        return fresh

    def _advance_floor(self, to: int) -> None:
        if to <= self._floor:
            return
        self._floor = to
        self._seen = {row_id for row_id in self._seen if row_id > to}
