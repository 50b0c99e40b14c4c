"""Paging benchmark: N open incidents escalating at the same moment, on a real database.

Every incident has paging started (its policy snapshotted, level 1 paged) and its next level due
at the same instant T. The real engine (system clock, 1 s ticks, woken by nothing) then has to
escalate them all and hand every page to a channel that does nothing but note the time. Prints
one JSON line: pages dispatched per second, and the delay from T (each incident's
next_action_at) to the channel call, p50 / p99 / max.

    .venv/bin/python benchmarks/paging.py --incidents 1000 --db postgresql
    .venv/bin/python benchmarks/paging.py --incidents 1000 --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from postgres import POSTGRES_URL, postgres_lock, reset_postgres  # noqa: E402

from monitor.channels.base import Page  # noqa: E402
from monitor.clock import SystemClock  # noqa: E402
from monitor.config.models import MonitorConfig  # noqa: E402
from monitor.escalation.engine import Engine  # noqa: E402
from monitor.oncall import on_call  # noqa: E402
from monitor.storage.database import Database  # noqa: E402
from monitor.storage.incidents import open_incident  # noqa: E402
from monitor.storage.migrations import upgrade_async  # noqa: E402
from monitor.storage.tables import Incident  # noqa: E402

CONFIG = {
    "people": [{"id": "alice", "name": "Alice", "phone": "+4915110000001"}],
    "policies": [
        {
            "name": "bench",
            "levels": [
                {"notify": [{"person": "alice", "via": ["sms"]}], "escalate_after": "1h"},
                {"notify": [{"person": "alice", "via": ["voice"]}], "escalate_after": "1h"},
            ],
        }
    ],
    "defaults": {"policy": "bench"},
}


class NoOpChannel:
    def __init__(self, name: str, calls: list[tuple[int, datetime]], done: asyncio.Event) -> None:
        self.name = name
        self.calls = calls
        self.done = done
        self.expected = 0

    async def send(self, page: Page) -> str | None:
        self.calls.append((page.incident_id, SystemClock().now()))
        if len(self.calls) >= self.expected:
            self.done.set()
        return None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def bench(url: str, incidents: int) -> dict[str, object]:
    await upgrade_async(url)
    db = Database.connect(url)
    config = MonitorConfig.model_validate(CONFIG)
    clock = SystemClock()
    calls: list[tuple[int, datetime]] = []
    done = asyncio.Event()
    channels = {
        name: NoOpChannel(name, calls, done) for name in ("sms", "voice", "webhook", "console")
    }
    for channel in channels.values():
        channel.expected = incidents
    engine = Engine(db, config=lambda: config, channels=channels, clock=clock, on_call=on_call)
    # Open every incident and let the engine page level 1 (not measured).
    ids = []
    for index in range(incidents):
        opened = await open_incident(
            db,
            probe=f"probe-{index:05d}",
            severity="major",
            rule="consecutive_failures 3",
            figures="the last 3 runs failed",
            cause=None,
            at=clock.now(),
        )
        ids.append(opened.incident.id)
    while len(calls) < incidents:
        await engine.tick()
    calls.clear()
    done.clear()
    # Level 2 of all of them falls due at the same instant, a moment from now.
    due = clock.now() + timedelta(seconds=2)
    async with db.session() as session, session.begin():
        await session.execute(update(Incident).values(next_action_at=due))
    stop = asyncio.Event()
    runner = asyncio.create_task(engine.run(stop=stop))
    await asyncio.wait_for(done.wait(), timeout=120)
    stop.set()
    await runner
    await db.dispose()
    delays = [(at - due).total_seconds() for _, at in calls]
    first = min(at for _, at in calls)
    last = max(at for _, at in calls)
    spread = max((last - first).total_seconds(), 1e-6)
    return {
        "incidents": incidents,
        "pages": len(calls),
        "pages_per_second": round(len(calls) / spread, 1),
        "delay_p50_ms": round(percentile(delays, 50) * 1000, 1),
        "delay_p99_ms": round(percentile(delays, 99) * 1000, 1),
        "delay_max_ms": round(max(delays) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        if args.db == "sqlite":
            result = asyncio.run(bench(f"sqlite+aiosqlite:///{directory}/bench.db", args.incidents))
        else:
            with postgres_lock():
                asyncio.run(reset_postgres(POSTGRES_URL))
                result = asyncio.run(bench(POSTGRES_URL, args.incidents))
                asyncio.run(reset_postgres(POSTGRES_URL))
    print(json.dumps({"db": args.db, **result}))


if __name__ == "__main__":
    main()
