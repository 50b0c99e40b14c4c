"""Following the results table: the detector of the instance that leads sees every result,
whichever instance (and location) ran the probe.

Ids are handed out when an insert begins and become visible when it commits, so on PostgreSQL
two recorders committing out of order can show id 101 before id 100. Reading `id > newest seen`
would skip 100 for ever. The tail therefore re-reads a settle window (ids first seen within the
last `SETTLE` seconds) and remembers which of those it has handed out already. The window is
re-read every `RESCAN` seconds; the polls between read only ids above the highest seen, so a
late commit arrives within `RESCAN` and a busy table is not read 30 s deep four times a second.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from monitor.storage.database import Database
from monitor.storage.repository import StoredResult, results_after

SETTLE_SECONDS = 30.0
RESCAN_SECONDS = 2.0
BATCH = 5000


class ResultTail:
    def __init__(
        self,
        db: Database,
        *,
        after_id: int,
        monotonic: Callable[[], float] = time.monotonic,
        settle: float = SETTLE_SECONDS,
        rescan: float = RESCAN_SECONDS,
    ) -> None:
        self._db = db
        self._floor = after_id  # every id at or below is handed out (or will never appear)
        self._seen: set[int] = set()  # handed-out ids above the floor
        self._reads: deque[tuple[float, int]] = deque()  # (when, newest id read then)
        self._monotonic = monotonic
        self._settle = settle
        self._rescan = rescan
        self._high = after_id  # the highest id read
        self._rescanned: float | None = None  # when the settle window was last read

    async def new_results(self) -> list[StoredResult]:
        """The results not handed out yet, in id order."""
        fresh: list[StoredResult] = []
        handed: set[int] = set()
        started = self._monotonic()
        rescan = self._rescanned is None or started - self._rescanned >= self._rescan
        cursor = self._floor if rescan else self._high
        newest: int | None = None
        # Pages by a cursor of its own: the floor moves only once ids have settled, and nothing
        # counts as handed out until the whole pass has read (a failed page loses nothing).
        while True:
            rows = await results_after(self._db, after_id=cursor, limit=BATCH)
            for row_id, result in rows:
                if row_id not in self._seen and row_id not in handed:
                    handed.add(row_id)
                    fresh.append(result)
            if rows:
                cursor = newest = rows[-1][0]
            if len(rows) < BATCH:
                break
        self._seen |= handed
        if rescan:
            self._rescanned = started
        now = self._monotonic()
        if newest is not None:
            self._high = max(self._high, newest)
            self._reads.append((now, self._high))
        while self._reads and now - self._reads[0][0] >= self._settle:
            _, newest = self._reads.popleft()
            self._advance_floor(newest)
        return fresh

    def _advance_floor(self, to: int) -> None:
        if to <= self._floor:
            return
        self._floor = to
        self._seen = {row_id for row_id in self._seen if row_id > to}
