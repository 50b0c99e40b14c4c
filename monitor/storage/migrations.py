"""Schema migrations (Alembic), run from code: `monitor db upgrade` and `monitor run` at start.

The migration scripts live in the repository's top-level `alembic/` directory (with `alembic.ini`
for developers); no ini file is needed here.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, exc
from sqlalchemy.engine import Connection

from monitor.settings import normalize_database_url
from monitor.storage.database import Database, DatabaseError, describe_error, display_url
from monitor.storage.tables import Base

# Alembic keeps the running migration's context in a module-level proxy: two upgrades at once in
# one process (threads) would trample each other's. Processes are serialized by the database.
_alembic_lock = threading.Lock()


def script_location() -> Path:
    """The migrations: `alembic/` beside the package in a checkout or editable install, or the
    copy a wheel carries inside the package (`monitor/_alembic`, see pyproject.toml)."""
    package = Path(__file__).resolve().parents[1]
    candidates = (package.parent / "alembic", package / "_alembic")
    for location in candidates:
        if (location / "env.py").is_file():
            return location
    raise FileNotFoundError(
        f"the database migrations are not at {candidates[0]} nor {candidates[1]}: "
        "reinstall the monitor (pip install -e . from a checkout)"
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    # In attributes, not the "sqlalchemy.url" option: configparser would read a % in a
    # password as interpolation.
    config.attributes["database_url"] = normalize_database_url(url)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations found"
    return head


def upgrade(url: str) -> None:
    """Bring the database at `url` to the latest schema; a no-op when it is there already.

    Synchronous, and must not be called from a running event loop (env.py runs its own):
    async code calls `upgrade_async`.
    """
    config = alembic_config(url)
    try:
        with _alembic_lock:
            command.upgrade(config, "head")
    except exc.DBAPIError as error:
        shown = display_url(normalize_database_url(url))
        raise DatabaseError(
            f"upgrading the database {shown} failed: {describe_error(error)}", url=shown
        ) from error
    except CommandError as error:  # e.g. a revision unknown here: a newer monitor migrated it
        shown = display_url(normalize_database_url(url))
        raise DatabaseError(f"upgrading the database {shown} failed: {error}", url=shown) from error


async def upgrade_async(url: str) -> None:
    """`upgrade` in a worker thread, so that env.py's event loop is not nested in the caller's."""
    await asyncio.to_thread(upgrade, url)


def _revision_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def revision_of(db: Database) -> str | None:
    """The schema revision of an open database; None when it has never been upgraded."""
    async with db.connection() as connection:
        return await connection.run_sync(_revision_on)


async def current_revision_async(url: str) -> str | None:
    """The schema revision of the database at `url`; None when it has never been upgraded."""
    database = Database.connect(url)
    try:
        return await revision_of(database)
    finally:
        await database.dispose()


def _differences_on(connection: Connection, metadata: MetaData) -> list[Any]:
    # The options alembic/env.py gives autogenerate, so this sees what autogenerate would write.
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "render_as_batch": connection.dialect.name == "sqlite"},
    )
    return list(compare_metadata(context, metadata))


async def schema_differences(db: Database, metadata: MetaData | None = None) -> list[Any]:
    """What autogenerate would change to make the database match the models (`metadata`,
    default: the monitor's); empty when they agree."""
    target = Base.metadata if metadata is None else metadata
    async with db.connection() as connection:
        return await connection.run_sync(_differences_on, target)


def current_revision(url: str) -> str | None:
    """`current_revision_async` for synchronous callers (not from a running event loop)."""
    return asyncio.run(current_revision_async(url))
