"""The connection to the database: an async engine, sessions, and errors a user can act on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from monitor.settings import normalize_database_url

# How long an SQLite writer waits for another one (the CLI, a second process) before failing.
SQLITE_BUSY_TIMEOUT_MS = 5_000
# How long a PostgreSQL connection attempt may take before the database counts as unreachable.
CONNECT_TIMEOUT_S = 10


class DatabaseError(Exception):
    """The database cannot be used: unreachable, misconfigured, not initialized. The message
    names the database (password hidden) and says what went wrong."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url  # display form, password hidden


def display_url(url: str | URL) -> str:
    """The URL as it may appear in logs and messages: the password replaced by ***."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except exc.ArgumentError:
        return "<invalid database URL>"
    return parsed.render_as_string(hide_password=True)


def parse_url(url: str) -> URL:
    """The URL with the async driver picked (normalize_database_url); DatabaseError if invalid."""
    try:
        return make_url(normalize_database_url(url))
    except exc.ArgumentError as error:
        raise DatabaseError(
            f"invalid database URL {display_url(url)!s}: expected e.g. "
            "sqlite+aiosqlite:///./monitor.db or postgresql+asyncpg://user@host:5432/db",
            url=display_url(url),
        ) from error


def sqlite_path(url: URL) -> Path | None:
    """The file of an SQLite URL; None for an in-memory database or another backend."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _ensure_sqlite_directory(url: URL) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseError(
            f"cannot create the directory {path.parent} for the SQLite database "
            f"{display_url(url)}: {error.strerror or error}",
            url=display_url(url),
        ) from error


def _set_sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (the CLI, the status page) never block the recorder's writes, nor it them.
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the file; FULL
        # would fsync on every flush.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _json_dumps(value: Any) -> str:
    # default=str: a value json cannot encode (a datetime in step details) is stored as text
    # rather than failing the whole batch on every retry. Compact separators: narrower rows.
    return json.dumps(value, default=str, separators=(",", ":"))


def describe_error(error: BaseException) -> str:
    """One line for a driver error, without SQLAlchemy's multi-line statement dump: the driver's
    own exception class (asyncpg's is the cause of SQLAlchemy's adapted one) and its message."""
    original = getattr(error, "orig", None) or error
    named = original.__cause__ if type(original).__name__ == "Error" else None
    lines = str(original).strip().splitlines()
    kind = type(named or original).__name__
    return f"{kind}: {lines[0]}" if lines else kind


# What `engine.connect()` raises when the database cannot be reached or refuses the login: the
# network (refused, unknown host), a timeout, or the driver (unknown database or role, SQLite file
# that cannot be opened).
CONNECT_ERRORS = (OSError, TimeoutError, exc.DBAPIError)


def unreachable(url: str | URL, error: BaseException) -> DatabaseError:
    """The DatabaseError to raise when `error` happened while connecting to `url`."""
    shown = display_url(url)
    return DatabaseError(f"cannot use the database {shown}: {describe_error(error)}", url=shown)


class Database:
    """An async engine and its session factory. Create with `Database.connect(url)`; nothing
    connects until first use, so call `check()` (or upgrade) to find out early if it cannot."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.session = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, url: str, *, echo: bool = False) -> Database:
        """An engine for `url` (normalized: `sqlite:///` and `postgresql://` get the async
        drivers). For SQLite the file's directory is created. DatabaseError if the URL is
        unusable; nothing connects yet."""
        parsed = parse_url(url)
        backend = parsed.get_backend_name()
        options: dict[str, Any] = {"echo": echo, "json_serializer": _json_dumps}
        if backend == "sqlite":
            _ensure_sqlite_directory(parsed)
        elif backend == "postgresql":
            # A monitor outlives database restarts: test a pooled connection before using it.
            options["pool_pre_ping"] = True
            if parsed.get_driver_name() == "asyncpg":
                options["connect_args"] = {"timeout": CONNECT_TIMEOUT_S}
        try:
            engine = create_async_engine(parsed, **options)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            raise DatabaseError(
                f"cannot use the database {display_url(parsed)}: {error}", url=display_url(parsed)
            ) from error
        if backend == "sqlite":
            event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return cls(engine)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The URL for messages, password hidden."""
        return display_url(self.engine.url)

    async def check(self) -> None:
        """Connect once; raise DatabaseError naming the database if that is not possible."""
        async with self.connection():
            pass

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection (no transaction begun), with connection failures as DatabaseError."""
        try:
            conn = await self.engine.connect()
        except CONNECT_ERRORS as error:
            raise unreachable(self.engine.url, error) from error
        try:
            yield conn
        finally:
            await conn.close()

    async def dispose(self) -> None:
        await self.engine.dispose()
