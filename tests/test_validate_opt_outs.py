"""`monitor validate` tells who replied STOP: the provider will not text them, so an SMS page to
them fails over to their next channel."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from monitor.storage.database import Database
from monitor.storage.inbound import set_opted_out
from monitor.storage.migrations import upgrade_async

ROOT = Path(__file__).resolve().parents[1]


def validate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("monitor")
    return subprocess.run(
        [str(script), "validate", "examples/oncall.yaml"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


async def test_validate_lists_people_who_replied_stop(database_url: str) -> None:
    await upgrade_async(database_url)
    db = Database.connect(database_url)
    try:
        at = datetime(2026, 11, 27, 23, 11, tzinfo=UTC)
        await set_opted_out(db, phone="+4915110000002", at=at, opted_out=True)
        await set_opted_out(db, phone="+4915199999999", at=at, opted_out=True)  # not on roster
    finally:
        await db.dispose()
    env = {**os.environ, "MONITOR_DATABASE_URL": database_url, "COLUMNS": "200"}
    result = validate(env)
    assert result.returncode == 0, result.stderr
    stop_lines = [line for line in result.stderr.splitlines() if "replied STOP" in line]
    assert stop_lines == [
        "warning: Bob Jones (bob, +*********0002) replied STOP on 2026-11-27T23:11:00Z: "
        "unreachable by SMS until they reply START"
    ]


def test_validate_without_a_database_says_nothing_of_it(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/none.db",
        "COLUMNS": "200",
    }
    result = validate(env)
    assert result.returncode == 0, result.stderr
    assert "STOP" not in result.stderr
    assert not (tmp_path / "none.db").exists()  # validate never creates a database
