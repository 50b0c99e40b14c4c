"""Alembic environment: the monitor's models, its async engine, batch mode on SQLite.

Run by `monitor db upgrade` and at `monitor run` start (through monitor.storage.migrations, which
puts the URL in `config.attributes["database_url"]`) and by the `alembic` CLI (URL from
MONITOR_DATABASE_URL, as the monitor itself reads it).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from monitor.settings import Settings, normalize_database_url
from monitor.storage.database import Database
from monitor.storage.tables import Base
from monitor.storage.types import Timestamp

config = context.config
target_metadata = Base.metadata

# Any constant will do; it only has to be the same in every monitor process.
MIGRATION_LOCK_KEY = 0x6D6F6E69746F72  # "monitor"

if config.config_file_name is not None:
    # Keep the application's loggers: the CLI configures logging before running migrations.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("database_url") or Settings().database_url
    return normalize_database_url(str(url))


def render_item(kind: str, obj: object, _autogen_context: AutogenContext) -> str | Literal[False]:
    """How autogenerate writes the monitor's own types into a migration: as the plain types they
    are in the database, so that a migration never changes when monitor.storage.types does."""
    if kind == "type" and isinstance(obj, Timestamp):
        return 'sa.DateTime(timezone=True).with_variant(sa.Integer(), "sqlite")'
    return False


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_on_connection(connection: Connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead (copy and rename).
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # Types are part of the schema: a column changed from INTEGER to TEXT must show as a diff.
        compare_type=True,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two monitors starting at once: one migrates, the other waits here and then finds
            # the database already at head (Alembic reads the version after this point).
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


async def run_migrations_online() -> None:
    # Database.connect: the same engine settings as the monitor (SQLite pragmas, the directory
    # created, connection errors that name the database).
    database = Database.connect(database_url())
    try:
        async with database.connection() as connection:
            await connection.run_sync(run_on_connection)
            await connection.commit()
    finally:
        await database.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
