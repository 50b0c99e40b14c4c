"""Storage: the schema (SQLAlchemy models, Alembic migrations), the connection, the reads and
writes of probes and results, and the recorder that batches result writes."""

from monitor.storage.database import Database, DatabaseError, display_url
from monitor.storage.migrations import current_revision, upgrade, upgrade_async
from monitor.storage.recorder import Recorder, RecorderStats
from monitor.storage.records import ResultRecord
from monitor.storage.repository import (
    StoredResult,
    count_results,
    ensure_probes,
    insert_results,
    recent_results,
    sync_probes,
)

__all__ = [
    "Database",
    "DatabaseError",
    "Recorder",
    "RecorderStats",
    "ResultRecord",
    "StoredResult",
    "count_results",
    "current_revision",
    "display_url",
    "ensure_probes",
    "insert_results",
    "recent_results",
    "sync_probes",
    "upgrade",
    "upgrade_async",
]
