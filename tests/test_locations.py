"""Locations in one running monitor: the leader reads results tagged by other instances, and the
confirmation runs the leader's detector asks for are made from every location the probe lists:
by the leader for its own, by the other instances when asked through the database, and never
from a location the probe does not list (such a run would count as a location it lacks)."""

from __future__ import annotations

from pathlib import Path

from pytest_httpserver import HTTPServer

from monitor.clock import SystemClock
from monitor.storage.database import Database
from monitor.storage.recorder import Recorder
from monitor.storage.records import ResultRecord
from monitor.storage.repository import StoredResult, ensure_probes, recent_results
from monitor.testing.runtime import eventually, running_monitor


def failed_in_eu(probe: str) -> ResultRecord:
    now = SystemClock().now()
    return ResultRecord(
        probe=probe,
        location="eu",
        due_at=now,
        started_at=now,
        duration_ms=40,
        ok=False,
        status=503,
        error_kind="condition",
        error_message="[STATUS] == 200 failed: 503",
    )


async def confirmations(db: Database, probe: str, location: str) -> list[StoredResult]:
    return [
        result
        for result in await recent_results(db, probe=probe, limit=1000)
        if result.confirmation and result.location == location
    ]


async def test_confirmation_runs_are_made_where_the_probe_runs_and_asked_of_other_locations(
    database_url: str, tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/").respond_with_data("down", status=503)
    config = tmp_path / "config.yaml"
    alert = "{trigger: [{consecutive_failures: 3}], confirm: {runs: 2, every: 100ms}}"
    url = httpserver.url_for("/")
    config.write_text(
        "probes:\n"
        f"  - {{name: login, interval: 1h, locations: [local, eu], request: {{url: '{url}'}},\n"
        f"     alert: {alert}}}\n"
        f"  - {{name: shares, interval: 1h, locations: [eu], request: {{url: '{url}'}},\n"
        f"     alert: {alert}}}\n"
    )
    async with (
        running_monitor(config, database_url=database_url) as leader,
        running_monitor(config, database_url=database_url, role="probe", location="eu"),
    ):
        assert leader.database is not None
        db = leader.database
        await eventually(lambda: leader.leading, what="the first monitor to lead")
        # What the eu instance's scheduled runs would write (their interval is an hour).
        eu = Recorder(
            db,
            clock=SystemClock(),
            flush_interval=0.05,
            probe_ids=await ensure_probes(db, ["login", "shares"], now=SystemClock().now()),
        )
        await eu.start()
        try:
            eu.record(failed_in_eu("login"))
            eu.record(failed_in_eu("shares"))

            async def confirmed(probe: str, location: str) -> bool:
                return len(await confirmations(db, probe, location)) >= 2

            # Each failure asked for 2 confirmation runs: the leader makes login's itself, and
            # the eu instance, asked through the database, makes both probes'.
            await eventually(lambda: confirmed("login", "local"), what="login's here")
            await eventually(lambda: confirmed("login", "eu"), what="login's from eu")
            await eventually(lambda: confirmed("shares", "eu"), what="shares' from eu")
            # shares lists only eu: nothing is run for it from the leader's location.
            assert await confirmations(db, "shares", "local") == []
        finally:
            await eu.stop()
