"""The PostgreSQL the benchmarks measure: the test database, reset under the test suite's lock
(the suite resets the same database, so the two must not run at once)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from sqlalchemy import text

from monitor.storage.database import Database

POSTGRES_URL = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def postgres_lock() -> contextlib.AbstractContextManager[object]:
    lock = open(Path(tempfile.gettempdir()) / "monitor-test-postgres.lock", "a")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


async def reset_postgres(url: str) -> None:
    """An empty `public` schema: each run starts from nothing."""
    db = Database.connect(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await db.dispose()
