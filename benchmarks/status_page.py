"""Status page benchmark: 1,000 probes in 50 groups with 90 days of history, 20 concurrent clients.

The database gets what 90 days of a 30 s interval leave behind: daily rollups for every probe and
day, the raw results of the last 62 minutes (the most that can sit after the rollup mark: an hour
plus the grace), 300 resolved incidents in the last 30 days and 5 open ones. The monitor's web
app then serves it from its own process (uvicorn, as `monitor run` does) and 20 clients on
keep-alive connections fetch `/` and `/status.json` as fast as they are answered. Prints one JSON
line per database and cache setting: requests/s and the response time p50 / p99 / max in ms.

`cache_seconds 5` is the app as shipped (one snapshot serves every request for 5 s, so the
figures include the rebuilds that fall inside the run); `cache_seconds 0` rebuilds the snapshot
on every request, which is what one request costs the server without the cache.

    .venv/bin/python benchmarks/status_page.py --db sqlite
    .venv/bin/python benchmarks/status_page.py --db postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from postgres import POSTGRES_URL, postgres_lock, reset_postgres  # noqa: E402

from monitor.clock import SystemClock  # noqa: E402
from monitor.config.models import MonitorConfig  # noqa: E402
from monitor.storage.database import Database  # noqa: E402
from monitor.storage.incidents import open_incident, resolve_incident  # noqa: E402
from monitor.storage.migrations import upgrade_async  # noqa: E402
from monitor.storage.records import ResultRecord  # noqa: E402
from monitor.storage.repository import insert_results, sync_probes  # noqa: E402
from monitor.storage.rollups import HOURLY, floor_day, floor_hour  # noqa: E402
from monitor.storage.tables import DailyRollup, RollupProgress  # noqa: E402

RUNS_PER_DAY = 2880  # every 30 s


def config(probes: int, groups: int) -> MonitorConfig:
    return MonitorConfig.model_validate(
        {
            "probes": [
                {
                    "name": f"probe-{index:04d}",
                    "group": f"component-{index % groups:02d}",
                    "request": {"url": "http://127.0.0.1:9/"},
                }
                for index in range(probes)
            ]
        }
    )


async def seed(url: str, *, probes: int, groups: int) -> None:
    await upgrade_async(url)
    db = Database.connect(url)
    rng = random.Random(1)
    now = SystemClock().now()
    cfg = config(probes, groups)
    ids = await sync_probes(
        db, [(p.name, p.component, "bench") for p in cfg.probes], now=now - timedelta(days=91)
    )
    mark = floor_hour(now) - timedelta(hours=1) if now.minute < 2 else floor_hour(now)
    today = floor_day(now)
    rows = []
    for probe_id in ids.values():
        for offset in range(90):
            day = today - timedelta(days=offset)
            runs = RUNS_PER_DAY if day < today else int((mark - today).total_seconds() // 30)
            failures = rng.choice([0, 0, 0, 0, 1, 3, 40]) if runs else 0
            rows.append({"probe_id": probe_id, "day": day, "runs": runs, "failures": failures})
    async with db.session() as session, session.begin():
        for start in range(0, len(rows), 10_000):
            await session.execute(insert(DailyRollup), rows[start : start + 10_000])
        await session.execute(insert(RollupProgress).values(name=HOURLY, rolled_until=mark))
    # The raw results after the mark: 62 minutes, the most there can be.
    raw_start = now - timedelta(minutes=62)
    records = []
    for name in ids:
        at = raw_start
        while at < now:
            records.append(
                ResultRecord(
                    probe=name,
                    location="local",
                    due_at=at,
                    started_at=at,
                    duration_ms=rng.randint(20, 400),
                    ok=rng.random() > 0.01,
                    status=200,
                )
            )
            at += timedelta(seconds=30)
    for start in range(0, len(records), 20_000):
        await insert_results(db, records[start : start + 20_000], ids)
    names = list(ids)
    # 300 resolved incidents in the last 30 days, then 5 open ones.
    for index in range(305):
        opened = now - timedelta(days=rng.uniform(0, 30)) if index < 300 else now
        result = await open_incident(
            db,
            probe=names[index % len(names)],
            severity=rng.choice(["degraded", "partial", "major"]),
            rule="failure_ratio above 20% over 5m",
            figures="35% of 20 runs failed in 5m",
            cause=None,
            at=opened,
        )
        if index < 300:
            await resolve_incident(
                db,
                incident_id=result.incident.id,
                at=opened + timedelta(minutes=rng.randint(3, 240)),
                detail="bench",
            )
    await db.dispose()


async def serve(url: str, *, probes: int, groups: int, ttl: float, port_file: Path) -> None:
    """The child: the monitor's web app over the seeded database until stdin closes."""
    from monitor.testing.web import web_context
    from monitor.web import WebServer, create_app

    cfg = config(probes, groups)
    get = lambda: cfg  # noqa: E731
    clock = SystemClock()
    db = Database.connect(url)
    app = create_app(web_context(db, clock=clock, config=get))
    app.state.status_cache.ttl = ttl
    server = WebServer(app, listen="127.0.0.1:0")
    await server.start()
    await asyncio.to_thread(port_file.write_text, server.url)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()
    await db.dispose()


async def load(base: str, *, path: str, clients: int, requests: int) -> dict[str, float]:
    latencies: list[float] = []
    remaining = requests

    async def client() -> None:
        nonlocal remaining
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await http.get(path)
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code

    async with httpx.AsyncClient(base_url=base, timeout=60) as warm:
        await warm.get(path)  # the first snapshot, as after a start
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * q))], 1)

    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1], 1),
    }


def run_server(
    url: str, args: argparse.Namespace, ttl: float, port_file: Path
) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            url,
            "--probes",
            str(args.probes),
            "--groups",
            str(args.groups),
            "--ttl",
            str(ttl),
            "--port-file",
            str(port_file),
        ],
        stdin=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        if child.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the web server did not start")
        time.sleep(0.05)
    return child


def bench(url: str, args: argparse.Namespace, db_name: str, directory: Path) -> None:
    t0 = time.perf_counter()
    asyncio.run(seed(url, probes=args.probes, groups=args.groups))
    seeded = round(time.perf_counter() - t0, 1)
    for ttl, requests in ((5.0, args.requests), (0.0, args.uncached_requests)):
        port_file = directory / f"port-{db_name}-{ttl}"
        child = run_server(url, args, ttl, port_file)
        try:
            for path in ("/", "/status.json"):
                figures = asyncio.run(
                    load(port_file.read_text(), path=path, clients=args.clients, requests=requests)
                )
                line = {
                    "db": db_name,
                    "path": path,
                    "cache_seconds": ttl,
                    "probes": args.probes,
                    "groups": args.groups,
                    "clients": args.clients,
                    "seed_s": seeded,
                    **figures,
                }
                print(json.dumps(line), flush=True)
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--uncached-requests", type=int, default=200)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--ttl", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(
            serve(
                args.serve,
                probes=args.probes,
                groups=args.groups,
                ttl=args.ttl,
                port_file=args.port_file,
            )
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.db in ("sqlite", "both"):
            bench(f"sqlite+aiosqlite:///{directory}/bench.db", args, "sqlite", directory)
        if args.db in ("postgresql", "both"):
            with postgres_lock():
                asyncio.run(reset_postgres(POSTGRES_URL))
                bench(POSTGRES_URL, args, "postgresql", directory)


if __name__ == "__main__":
    main()
