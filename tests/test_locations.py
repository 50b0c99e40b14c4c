"""Locations in one running monitor: the leader reads results tagged by other instances, and the
confirmation runs it makes itself stay within the locations a probe lists (a run made here for a
probe of other locations would count as a location the probe does not have)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pytest_httpserver import HTTPServer

from monitor.clock import SystemClock
from monitor.storage.database import Database
from monitor.storage.recorder import Recorder
from monitor.storage.records import ResultRecord
from monitor.storage.repository import StoredResult, ensure_probes, recent_results
from monitor.testing.runtime import eventually, running_monitor


def failed_in_eu(probe: str) -> ResultRecord:
    now = datetime.now(UTC)
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


async def confirmations_here(db: Database, probe: str) -> list[StoredResult]:
    return [
        result
        for result in await recent_results(db, probe=probe, limit=1000)
        if result.confirmation and result.location == "local"
    ]


async def test_confirmation_runs_are_made_only_for_probes_listing_this_location(
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
    async with running_monitor(config, database_url=database_url) as runtime:
        assert runtime.database is not None
        db = runtime.database
        await eventually(lambda: runtime.leading, what="the monitor to lead")
        eu = Recorder(
            db,
            clock=SystemClock(),
            flush_interval=0.05,
            probe_ids=await ensure_probes(db, ["login", "shares"], now=datetime.now(UTC)),
        )
        await eu.start()
        try:
            eu.record(failed_in_eu("login"))
            eu.record(failed_in_eu("shares"))
            await eventually(
                lambda: (
                    runtime.arrivals is not None
                    and runtime.arrivals.last_heard("shares", "eu") is not None
                    and runtime.arrivals.last_heard("login", "eu") is not None
                ),
                what="the leader to read both failures",
            )

            # Both failures asked for confirmation runs at once: login's are made here...
            async def two_made_here() -> bool:
                return len(await confirmations_here(db, "login")) >= 2

            await eventually(two_made_here, what="login's confirmation runs")
            # ...and shares, which lists only eu, got none from this instance.
            assert await confirmations_here(db, "shares") == []
        finally:
            await eu.stop()
