"""One-shot operations for the command line: each opens the database, does one thing, closes it,
and turns database trouble into a DatabaseError whose message names the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exc

from monitor.storage.database import (
    Database,
    DatabaseError,
    describe_error,
    display_url,
    parse_url,
    sqlite_path,
)
from monitor.storage.migrations import current_revision, head_revision, revision_of, upgrade
from monitor.storage.repository import StoredResult, recent_results


def upgrade_to_head(url: str) -> str:
    """`monitor db upgrade`: migrate to the latest schema and return its revision."""
    upgrade(url)
    return current_revision(url) or head_revision()


async def query_recent(
    url: str,
    *,
    probe: str | None = None,
    since: datetime | None = None,
    failed_only: bool = False,
    limit: int = 100,
) -> list[StoredResult]:
    """`monitor results`: recent results, newest first. A database the monitor never wrote to
    is an error (a typo in the URL should not look like "no results")."""
    parsed = parse_url(url)
    shown = display_url(parsed)
    path = sqlite_path(parsed)
    if path is not None and not path.exists():
        # Checked before connecting: opening would create an empty file.
        raise DatabaseError(
            f"no database at {path}: `monitor run` creates it (or `monitor db upgrade`)",
            url=shown,
        )
    db = Database.connect(url)
    try:
        if await revision_of(db) is None:
            raise DatabaseError(
                f"the database {shown} has no monitor tables yet: run `monitor db upgrade` "
                "(or `monitor run`) first",
                url=shown,
            )
        return await recent_results(
            db, probe=probe, since=since, failed_only=failed_only, limit=limit
        )
    except exc.DBAPIError as error:
        raise DatabaseError(
            f"reading results from {shown} failed: {describe_error(error)}", url=shown
        ) from error
    finally:
        await db.dispose()
