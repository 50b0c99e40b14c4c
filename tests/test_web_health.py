"""/healthz and /readyz over real HTTP: ready while the database answers, the scheduler runs and
the engine ticks; 503 with the reason when the database is gone or the engine stalls; people who
replied STOP are warnings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from monitor.clock import ManualClock
from monitor.config.models import MonitorConfig
from monitor.escalation.engine import EngineStats
from monitor.probing.scheduler import SchedulerStats
from monitor.storage.database import Database, sqlite_path
from monitor.storage.inbound import set_opted_out
from monitor.storage.recorder import RecorderStats
from monitor.testing.web import web_context
from monitor.web import WebContext, WebServer, create_app

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
CONFIG = MonitorConfig.model_validate(
    yaml.safe_load(
        """
        people:
          - {id: alice, name: Alice, phone: "+4915110000001"}
          - {id: bob, name: Bob, phone: "+4915110000002"}
        probes:
          - {name: login, request: {url: "http://127.0.0.1:9/"}}
        """
    )
)


@dataclass
class FakeMonitor:
    """The MonitorState a Runtime offers, with its answers set by the test."""

    running: bool = True
    last_tick: datetime | None = NOW
    refused: list[str] = field(default_factory=list)
    troubles: list[str] = field(default_factory=list)

    def scheduler_running(self) -> bool:
        return self.running

    def scheduler_stats(self) -> SchedulerStats | None:
        return None

    def recorder_stats(self) -> RecorderStats | None:
        return None

    def engine_stats(self) -> EngineStats | None:
        return EngineStats(last_tick=self.last_tick)

    def runs_probes(self) -> bool:
        return True

    def leads(self) -> bool:
        return True

    def config_problems(self) -> list[str]:
        return self.refused

    def self_troubles(self) -> list[str]:
        return self.troubles


def context(db: Database, clock: ManualClock, state: FakeMonitor | None) -> WebContext:
    return web_context(db, clock=clock, config=lambda: CONFIG, state=state)


@dataclass
class App:
    client: httpx.AsyncClient
    clock: ManualClock
    monitor: FakeMonitor
    db: Database


@pytest.fixture
async def app(database: Database) -> AsyncIterator[App]:
    clock, monitor = ManualClock(NOW), FakeMonitor()
    server = WebServer(create_app(context(database, clock, monitor)), listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield App(client, clock, monitor, database)
    finally:
        await server.stop()


async def test_healthz_answers_while_the_process_is_up(app: App) -> None:
    response = await app.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_database_scheduler_and_engine_are_fine(app: App) -> None:
    app.clock.advance(timedelta(seconds=9))

    response = await app.client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "scheduler": "ok", "engine": "ok"},
        "problems": [],
        "warnings": [],
        "config_errors": [],
    }


async def test_a_refused_reload_and_self_trouble_are_warnings_not_failures(app: App) -> None:
    app.monitor.refused = ["monitor.yaml:3:5: probes[0].interval: invalid duration 'soon'"]
    app.monitor.troubles = ["probes run late: p99 41.0s (limit 30s)"]

    response = await app.client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["config_errors"] == app.monitor.refused
    assert body["warnings"] == [
        "config reload refused (1 errors): the previous config runs",
        "monitor-self: probes run late: p99 41.0s (limit 30s)",
    ]


async def test_a_stalled_engine_makes_it_not_ready(app: App) -> None:
    app.clock.advance(timedelta(seconds=42))

    response = await app.client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["engine"] == (
        "escalation engine stalled: last tick 42 s ago (more than 10 s): nobody would be paged"
    )
    assert body["checks"]["database"] == "ok"


async def test_an_engine_that_never_ticked_and_a_stopped_scheduler(app: App) -> None:
    app.monitor.last_tick = None
    app.monitor.running = False

    body = (await app.client.get("/readyz")).json()

    assert body["problems"] == [
        "scheduler not running: no probe runs",
        "escalation engine has not ticked yet: nobody would be paged",
    ]


async def test_a_person_who_replied_stop_is_a_warning_not_a_failure(app: App) -> None:
    await set_opted_out(app.db, phone="+4915110000002", at=NOW - timedelta(days=1), opted_out=True)

    response = await app.client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "Bob (bob, +*********0002) replied STOP on 2026-12-06T03:00:00Z: "
        "unreachable by SMS until they reply START"
    ]
    assert "+4915110000002" not in response.text


async def test_an_unreachable_database_makes_it_not_ready(unreachable_url: str) -> None:
    db = Database.connect(unreachable_url)
    clock = ManualClock(NOW)
    server = WebServer(create_app(context(db, clock, FakeMonitor())), listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            response = await client.get("/readyz")
            health = await client.get("/healthz")
    finally:
        await server.stop()
        await db.dispose()

    assert response.status_code == 503
    body = response.json()
    expected = (
        "database unreachable: OperationalError: unable to open database file"
        if unreachable_url.startswith("sqlite")
        else "database unreachable: ConnectionRefusedError: [Errno 111] Connect call failed"
    )
    assert body["checks"]["database"].startswith(expected)
    assert body["problems"] == [body["checks"]["database"]]
    assert body["checks"]["engine"] == "ok"
    assert "cannot use the database" not in response.text  # the driver's words, not the URL
    assert health.status_code == 200  # the process is up; it is not ready


async def test_without_a_running_monitor_only_the_database_is_checked(database: Database) -> None:
    server = WebServer(create_app(context(database, ManualClock(NOW), None)), listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            response = await client.get("/readyz")
    finally:
        await server.stop()

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


@asynccontextmanager
async def served(db: Database, state: FakeMonitor | None) -> AsyncIterator[httpx.AsyncClient]:
    server = WebServer(create_app(context(db, ManualClock(NOW), state)), listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        await server.stop()


class TcpProxy:
    """A real TCP hop between the monitor and PostgreSQL. Closing it is the database going
    away under a running monitor (server stopped, network cut): its pooled connections die and
    new ones are refused, without stopping the server other tests use."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0  # 0 until opened: then the same port across close() and open()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)


@dataclass
class Outage:
    """A database the monitor uses, and a real way to take it away and bring it back."""

    db: Database
    begin: Callable[[], Awaitable[None]]
    end: Callable[[], Awaitable[None]]


async def _sqlite_outage(db: Database, database_url: str) -> Outage:
    path = sqlite_path(make_url(database_url))
    assert path is not None
    away = path.with_name("moved-away.db")

    async def begin() -> None:
        # Connections closed, the file moved away and a directory where it was: what SQLite
        # meets when the volume holding the database is unmounted or replaced.
        await db.dispose()
        path.rename(away)
        path.mkdir()

    async def end() -> None:
        path.rmdir()
        away.rename(path)

    return Outage(db, begin, end)


@pytest.fixture
async def outage(database: Database, database_url: str) -> AsyncIterator[Outage]:
    if database_url.startswith("sqlite"):
        yield await _sqlite_outage(database, database_url)
        return
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.open()
    db = Database.connect(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    try:
        yield Outage(db, proxy.close, proxy.open)
    finally:
        await db.dispose()
        await proxy.close()


async def test_the_database_going_away_and_coming_back(outage: Outage) -> None:
    async with served(outage.db, FakeMonitor()) as client:
        before = await client.get("/readyz")
        await outage.begin()
        during = await client.get("/readyz")
        await outage.end()
        after = await client.get("/readyz")

    assert before.status_code == 200
    assert during.status_code == 503
    assert during.json()["checks"]["database"].startswith("database unreachable: ")
    assert during.json()["checks"]["engine"] == "ok"
    assert during.json()["warnings"] == []  # nothing read from a database that is not there
    assert after.status_code == 200  # a monitor outlives a database restart


async def test_a_database_that_does_not_answer_is_not_ready_after_2_s() -> None:
    # A server that accepts the connection and never says a word: a database hung on a lock,
    # a firewall dropping packets. /readyz must answer in bounded time, not hang with it.
    silent: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)

    listener = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    db = Database.connect(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
    loop = asyncio.get_running_loop()
    try:
        async with served(db, FakeMonitor()) as client:
            started = loop.time()
            response = await client.get("/readyz")
            elapsed = loop.time() - started
    finally:
        await db.dispose()
        for writer in silent:
            writer.close()
        listener.close()
        await listener.wait_closed()

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "database unreachable: no answer in 2 s"
    assert 2 <= elapsed < 5
