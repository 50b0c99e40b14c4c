"""Which instance detects and escalates: the one holding a PostgreSQL advisory lock.

The lock lives as long as the session that took it, so it is taken on a connection of its
own, held open, and asked `SELECT 1` every check: when the leader dies (kill -9, a lost
network), PostgreSQL ends its session and frees the lock, and the next instance that tries
takes it. Followers try every `RETRY_SECONDS`, so a takeover comes within a few seconds.

SQLite has no such lock and is one process's database: the instance always leads.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.storage.database import Database

log = logging.getLogger(__name__)

# The same in every instance, and not alembic/env.py's migration key (0x6D6F6E69746F72,
# "monitor"): a leader holding that one would keep every other instance from starting.
LOCK_KEY = 0x6D6F6E69746F72_01  # "monitor", then 01: the leader
CHECK_TIMEOUT_SECONDS = 3.0
# Dead peer found in about 25 s (10 idle + 3 probes 5 s apart), unacknowledged data in 20 s.
KEEPALIVES = (
    ("tcp_keepalives_idle", 10),
    ("tcp_keepalives_interval", 5),
    ("tcp_keepalives_count", 3),
    ("tcp_user_timeout", 20000),
)


class LeaderLock:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: AsyncConnection | None = None
        self._sqlite_held = False

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True when this instance holds it now."""
        if self._db.dialect != "postgresql":
            self._sqlite_held = True
            return True
        if self._connection is not None:
            return await self.still_held()
        connection = await self._db.engine.connect()
        try:
            # A leader whose host vanishes (a crash, a cut cable) sends no FIN: without
            # keepalives PostgreSQL would keep its session, and the lock, for about two hours.
            for setting, value in KEEPALIVES:
                await connection.execute(text(f"SET {setting} = {value}"))
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
            )
            # Autocommit-like: the lock is the session's, the implicit transaction is not needed.
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def still_held(self) -> bool:
        """The lock's session still answers (the lock is ours as long as it does)."""
        if self._db.dialect != "postgresql":
            return self._sqlite_held
        connection = self._connection
        if connection is None:
            return False
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await connection.execute(text("SELECT 1"))
                await connection.commit()
        except Exception as error:
            log.error("leader lock: its database session is gone (%s)", type(error).__name__)
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self._db.dialect != "postgresql":
            self._sqlite_held = False
            return
        connection = self._connection
        if connection is None:
            return
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                await connection.commit()
        except Exception:
            log.warning("leader lock: could not release it; closing its session frees it")
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:
                # A dead connection may not close cleanly; invalidate so the pool drops it.
                await connection.invalidate()
