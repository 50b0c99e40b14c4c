"""How many probes one monitor process keeps on schedule, and what it costs.

Starts a minimal HTTP target in its own process on 127.0.0.1, measures what a plain httpx loop
achieves against it (the ceiling of the client library with the probes' connection settings:
a fresh connection per request), then runs a real monitor (scheduler, probe runs, recorder,
database) with N one-step probes at interval I for D seconds and prints one JSON line:

  {"probes", "interval_s", "duration_s", "db", "due", "completed", "stored", "lost",
   "lateness_p50_ms", "lateness_p99_ms", "lateness_max_ms", "cpu_percent", "rss_mb",
   "raw_httpx_rps"}

`due` counts the runs the schedule wanted inside the window (computed from each probe's
stagger offset), `completed` the runs that finished, `stored` the rows in the database for the
window, `lost = due - stored`. Lateness (start - due) comes from the stored rows. `cpu_percent`
is this process's CPU time over wall time (100 = one core); `rss_mb` its peak resident memory.

  python benchmarks/probe_throughput.py --probes 1000 --interval 60 --duration 120 --db sqlite
  python benchmarks/probe_throughput.py --probes 10000 --interval 60 --duration 180 --db postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import resource
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from postgres import POSTGRES_URL, postgres_lock, reset_postgres

from monitor.clock import SystemClock
from monitor.config.loader import LoadedConfig
from monitor.config.models import MonitorConfig
from monitor.probing.http import shared_ssl_context
from monitor.probing.scheduler import next_due
from monitor.runtime import Runtime, RuntimeOptions
from monitor.storage.database import Database

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def _serve_target(port: int, ready: multiprocessing.synchronize.Event) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                if not request:
                    break
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def start_target() -> tuple[str, multiprocessing.Process]:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=_serve_target, args=(port, ready), daemon=True)
    process.start()
    if not ready.wait(10):
        raise RuntimeError("the benchmark target did not start")
    return f"http://127.0.0.1:{port}/", process


async def raw_httpx_rps(url: str, *, seconds: float = 5.0, concurrency: int = 100) -> float:
    """Requests per second of a bare httpx loop with a fresh connection per request."""
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with httpx.AsyncClient(
                verify=shared_ssl_context(),
                limits=httpx.Limits(max_keepalive_connections=0),
                timeout=5,
            ) as client:
                response = await client.get(url)
                response.raise_for_status()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


def build_config(url: str, *, probes: int, interval: float) -> LoadedConfig:
    timeout = min(5.0, interval)
    document = {
        "probes": [
            {
                "name": f"p{index:05d}",
                "interval": f"{interval}s",
                "timeout": f"{timeout}s",
                "request": {"url": url},
                "conditions": ["[STATUS] == 200"],
            }
            for index in range(probes)
        ]
    }
    return LoadedConfig(config=MonitorConfig.model_validate(document), files=(), env_values={})


def count_due(loaded: LoadedConfig, start: datetime, end: datetime) -> int:
    due = 0
    for probe in loaded.probes:
        moment = next_due(
            name=probe.name, interval=probe.interval, after=start - timedelta(microseconds=1)
        )
        while moment < end:
            due += 1
            moment += probe.interval
    return due


async def stored_lateness(url: str, start: datetime, end: datetime) -> list[float]:
    database = Database.connect(url)
    try:
        async with database.engine.connect() as connection:
            rows = await connection.execute(
                sa.text("SELECT due_at, started_at FROM results"),
            )
            samples = []
            for due_at, started_at in rows:
                due = _as_datetime(due_at)
                if start <= due < end:
                    samples.append((_as_datetime(started_at) - due).total_seconds() * 1000)
            return samples
    finally:
        await database.dispose()


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    assert isinstance(value, int)  # SQLite stores epoch milliseconds
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def benchmark(args: argparse.Namespace) -> dict[str, object]:
    url, target = start_target()
    try:
        ceiling = await raw_httpx_rps(url)
        with tempfile.TemporaryDirectory() as scratch:
            if args.db == "sqlite":
                database_url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
            else:
                database_url = POSTGRES_URL
                await reset_postgres(database_url)
            loaded = build_config(url, probes=args.probes, interval=args.interval)
            completed = 0

            def count(_: object) -> None:
                nonlocal completed
                completed += 1

            clock = SystemClock()
            runtime = Runtime(
                loaded,
                options=RuntimeOptions(
                    database_url=database_url,
                    max_concurrency=args.max_concurrency,
                    summary_every=0,
                ),
                clock=clock,
                emit=lambda line: None,
                on_result=count,
            )
            await runtime.start(schedule=False)
            usage_before = resource.getrusage(resource.RUSAGE_SELF)
            wall_before = time.monotonic()
            await runtime.begin_schedule()
            # Counted from when every job exists: adding 10,000 jobs takes about a second.
            window_start = clock.now()
            await asyncio.sleep(args.duration)
            window_end = clock.now()
            # Runs due just before the end may still be starting (that is lateness, not loss):
            # give them a moment before stopping. Runs due after the end are not counted.
            await asyncio.sleep(2)
            await runtime.stop()
            wall = time.monotonic() - wall_before
            usage_after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (usage_after.ru_utime - usage_before.ru_utime) + (
                usage_after.ru_stime - usage_before.ru_stime
            )
            lateness = await stored_lateness(database_url, window_start, window_end)
            due = count_due(loaded, window_start, window_end)
    finally:
        target.terminate()
    return {
        "probes": args.probes,
        "interval_s": args.interval,
        "duration_s": args.duration,
        "db": args.db,
        "due": due,
        "completed": completed,
        "stored": len(lateness),
        "lost": max(0, due - len(lateness)),
        "lateness_p50_ms": round(percentile(lateness, 0.50), 1),
        "lateness_p99_ms": round(percentile(lateness, 0.99), 1),
        "lateness_max_ms": round(max(lateness, default=float("nan")), 1),
        "cpu_percent": round(100 * cpu / wall, 1),
        "rss_mb": round(usage_after.ru_maxrss / 1024, 1),
        "raw_httpx_rps": round(ceiling, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--max-concurrency", type=int, default=100)
    args = parser.parse_args()
    with postgres_lock() if args.db == "postgresql" else contextlib.nullcontext():
        result = asyncio.run(benchmark(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
