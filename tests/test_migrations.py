"""Alembic migrations, on SQLite and on PostgreSQL: up from empty, idempotent, and in agreement
with the models (what autogenerate would write is nothing)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command as alembic_command
from sqlalchemy import BigInteger, Column, Integer, MetaData, Text, inspect, text
from sqlalchemy.engine import Connection

from monitor.storage import Database, DatabaseError, sync_probes
from monitor.storage.migrations import (
    alembic_config,
    current_revision,
    head_revision,
    schema_differences,
    upgrade,
    upgrade_async,
)
from monitor.storage.tables import Base

REPO = Path(__file__).resolve().parents[1]


def _schema(connection: Connection) -> dict[str, object]:
    inspector = inspect(connection)
    return {
        "tables": sorted(inspector.get_table_names()),
        "indexes": sorted(
            (index["name"], tuple(index["column_names"]))
            for index in inspector.get_indexes("results")
        ),
        "incident_indexes": sorted(
            (index["name"], tuple(index["column_names"]), bool(index["unique"]))
            for index in inspector.get_indexes("incidents")
        ),
        "probe_columns": [column["name"] for column in inspector.get_columns("probes")],
    }


async def _read_schema(url: str) -> dict[str, object]:
    db = Database.connect(url)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(_schema)
    finally:
        await db.dispose()


def test_upgrade_from_empty(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision() == "0007"


async def test_upgrade_creates_the_schema(database_url: str) -> None:
    await upgrade_async(database_url)
    schema = await _read_schema(database_url)
    assert schema == {
        "tables": [
            "alembic_version",
            "confirmation_requests",
            "inbound_sms",
            "incident_events",
            "incidents",
            "pages",
            "probes",
            "results",
            "rollup_progress",
            "rollups_daily",
            "rollups_hourly",
            "silences",
            "sms_opt_outs",
        ],
        "indexes": [
            ("ix_results_probe_id_started_at", ("probe_id", "started_at")),
            ("ix_results_started_at", ("started_at",)),
        ],
        "incident_indexes": [
            ("ix_incidents_next_action_at", ("next_action_at",), False),
            ("ix_incidents_one_open_per_probe", ("probe_id",), True),
            ("ix_incidents_opened_at", ("opened_at",), False),
            ("ix_incidents_probe_id_opened_at", ("probe_id", "opened_at"), False),
        ],
        "probe_columns": ["id", "name", "group", "config_hash", "first_seen", "last_seen"],
    }


def test_upgrading_twice_is_a_no_op(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="alembic.runtime.migration"):
        upgrade(database_url)
        assert "Running upgrade  -> 0001" in caplog.text
        caplog.clear()
        upgrade(database_url)
    assert "Running upgrade" not in caplog.text
    assert current_revision(database_url) == head_revision()


async def test_upgrade_keeps_data(database: Database, database_url: str) -> None:
    await sync_probes(database, [("login", "accounts", "h")], now=datetime(2026, 1, 5, tzinfo=UTC))
    await upgrade_async(database_url)  # already at head
    async with database.engine.connect() as conn:
        names = (await conn.execute(text("SELECT name FROM probes"))).scalars().all()
    assert names == ["login"]


async def test_models_and_migrations_agree(database: Database) -> None:
    assert await schema_differences(database) == []


async def test_the_comparison_sees_differences(database: Database) -> None:
    # The check above must be able to fail: a changed type, a new column, a missing index.
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    results = changed.tables["results"]
    results.c.duration_ms.type = Text()
    results.append_column(Column("retries", Integer, nullable=True))
    results.indexes.discard(next(i for i in results.indexes if i.name == "ix_results_started_at"))
    changed.tables["probes"].c.id.type = BigInteger()

    kinds = sorted(
        (diff[0][0] if isinstance(diff, list) else diff[0])
        for diff in await schema_differences(database, changed)
    )
    assert kinds == ["add_column", "modify_type", "modify_type", "remove_index"]


def test_unreachable_database_on_upgrade() -> None:
    with pytest.raises(DatabaseError) as raised:
        upgrade("postgresql://monitor:s3cret@127.0.0.1:1/monitor")
    assert "postgresql+asyncpg://monitor:***@127.0.0.1:1/monitor" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_upgrade_makes_the_sqlite_directory(tmp_path: Path) -> None:
    path = tmp_path / "data" / "monitor.db"
    upgrade(f"sqlite:///{path}")
    assert path.is_file()
    assert current_revision(f"sqlite:///{path}") == head_revision()


def test_alembic_cli_uses_the_monitor_database_url(tmp_path: Path) -> None:
    # Developers run `alembic` from the checkout; the URL comes from MONITOR_DATABASE_URL.
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "MONITOR_DATABASE_URL": url}
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini")]
    for command in (["upgrade", "head"], ["check"]):
        done = subprocess.run(
            [*alembic, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    assert current_revision(url) == head_revision()


def test_incidents_open_at_the_0003_upgrade_start_paging(database_url: str) -> None:
    alembic_command.upgrade(alembic_config(database_url), "0002")
    opened = "2026-01-05 09:00:00+00" if "postgresql" in database_url else "1767603600000"
    statements = [
        'INSERT INTO probes (id, name, "group", first_seen, last_seen) '
        f"VALUES (1, 'login', 'login', {_literal(opened)}, {_literal(opened)})",
        *(
            "INSERT INTO incidents (id, probe_id, severity, state, opened_at, rule, figures) "
            f"VALUES ({i}, 1, 'major', '{state}', {_literal(opened)}, 'r', 'f')"
            for i, state in ((1, "resolved"), (2, "acknowledged"))
        ),
    ]
    _execute(database_url, statements)
    upgrade(database_url)
    rows = _execute(database_url, ["SELECT id, next_action_at FROM incidents ORDER BY id"])
    assert [row[0] for row in rows] == [1, 2]
    assert rows[0][1] is None  # resolved: nothing to do
    assert rows[1][1] is not None  # open: the engine looks at it at once


def _literal(value: str) -> str:
    return value if value.isdigit() else f"'{value}'"


def _execute(url: str, statements: list[str]) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        db = Database.connect(url)
        try:
            async with db.engine.begin() as conn:
                rows: list[tuple[object, ...]] = []
                for statement in statements:
                    result = await conn.execute(text(statement))
                    if result.returns_rows:
                        rows = [tuple(row) for row in result.all()]
                return rows
        finally:
            await db.dispose()

    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(asyncio.run, run()).result()
