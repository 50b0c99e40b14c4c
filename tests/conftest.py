"""Fixtures shared by the whole test suite. Keep each one small and documented."""

import asyncio
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from demo_api import DemoSettings, create_app
from sqlalchemy import make_url, text

from monitor.storage.database import Database, DatabaseError
from monitor.storage.migrations import upgrade_async
from monitor.testing import serve_asgi
from monitor.testing.tcp_relay import TcpRelay

DemoApiFactory = Callable[[DemoSettings], str]


@pytest.fixture
def demo_api_factory() -> Iterator[DemoApiFactory]:
    """Start demo APIs with given settings on real servers: `url = demo_api_factory(settings)`.

    Each call serves a new, independent app; all are stopped when the test ends. Settings are
    explicit (never read from DEMO_* env vars) so a developer's shell cannot change a test.
    """
    with ExitStack() as servers:

        def start(settings: DemoSettings) -> str:
            return servers.enter_context(serve_asgi(create_app(settings)))

        yield start


@pytest.fixture
def demo_api_url(demo_api_factory: DemoApiFactory) -> str:
    """Base URL of a fresh, healthy demo API (no faults, the default probe account)."""
    return demo_api_factory(DemoSettings())


# --- Databases: storage tests run on SQLite and on PostgreSQL (DESIGN.md §7) ---------------------

DEFAULT_TEST_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# url -> why it failed: a dead server costs one connect timeout, not one per test.
_postgres_unreachable: dict[str, str] = {}


async def _reset_postgres_schema(url: str) -> None:
    database = Database.connect(url)
    try:
        async with database.connection() as connection:
            # A test that left a connection holding locks must fail this fixture, not hang it.
            await connection.execute(text("SET lock_timeout = '10s'"))
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
            await connection.commit()
    finally:
        await database.dispose()


def _reset_postgres(url: str) -> None:
    """Empty the test database (drop and recreate `public`), or skip/fail when PostgreSQL is not
    there. In a worker thread: asyncio.run here would replace pytest-asyncio's event loop."""
    if url in _postgres_unreachable:
        _unavailable(_postgres_unreachable[url])
    with ThreadPoolExecutor(max_workers=1) as worker:
        try:
            worker.submit(asyncio.run, _reset_postgres_schema(url)).result()
        except DatabaseError as error:
            _postgres_unreachable[url] = str(error)
            _unavailable(str(error))


def _unavailable(why: str) -> NoReturn:
    message = f"PostgreSQL is not available ({why}); set MONITOR_TEST_POSTGRES_URL"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}. Under CI=true the PostgreSQL tests must run.", pytrace=False)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: an SQLite file in tmp_path, or the PostgreSQL test database
    (MONITOR_TEST_POSTGRES_URL, default postgres@127.0.0.1:5432/test) whose `public` schema is
    dropped and recreated before and after the test, so use a database kept for tests only.
    PostgreSQL unreachable: skipped, except under CI=true where it fails."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"
        return
    yield from _locked_postgres()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The PostgreSQL test database alone, emptied as for `database_url`: for what only
    PostgreSQL has (advisory locks, several processes on one database)."""
    yield from _locked_postgres()


def _locked_postgres() -> Iterator[str]:
    url = os.environ.get("MONITOR_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    # Several pytest runs on one machine (developers, agents, an editor's test runner) share the
    # test database: without this lock one run's reset drops the tables under another's test.
    with open(Path(tempfile.gettempdir()) / "monitor-test-postgres.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        _reset_postgres(url)
        yield url
        _reset_postgres(url)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A `Database` for `database_url`, upgraded to the latest schema; disposed after the test."""
    await upgrade_async(database_url)
    db = Database.connect(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def unreachable_url(database_url: str, tmp_path: Path) -> str:
    """The same kind of database as the test's, but gone: for SQLite a path that is a
    directory (sqlite cannot open it), for PostgreSQL a port where no server listens."""
    if database_url.startswith("sqlite"):
        directory = tmp_path / "gone.db"
        directory.mkdir()
        return f"sqlite+aiosqlite:///{directory}"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/test"


@dataclass
class ReturningDatabase:
    """A database that cannot be reached at first, at `url`, until `come_back()`."""

    url: str
    come_back: Callable[[], Awaitable[None]]


@pytest.fixture
async def returning_database(database_url: str, tmp_path: Path) -> AsyncIterator[ReturningDatabase]:
    """The test's kind of database, gone, then back: for SQLite a path that is a directory
    until it becomes an upgraded database file, for PostgreSQL the test database behind a
    relay that refuses connections until it opens."""
    if database_url.startswith("sqlite"):
        directory = tmp_path / "returning.db"
        directory.mkdir()
        url = f"sqlite+aiosqlite:///{directory}"

        async def sqlite_back() -> None:
            directory.rmdir()
            await upgrade_async(url)

        yield ReturningDatabase(url, sqlite_back)
        return
    real = make_url(database_url)
    relay = TcpRelay(target=(real.host or "127.0.0.1", real.port or 5432))

    async def postgres_back() -> None:
        await upgrade_async(database_url)
        await relay.open()

    try:
        yield ReturningDatabase(real.set(port=relay.port).render_as_string(False), postgres_back)
    finally:
        await relay.close()
