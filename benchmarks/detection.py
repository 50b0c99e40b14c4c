"""Detection benchmark: how fast a partial outage opens an incident, how many incidents it opens,
and how many false incidents a healthy week opens — the default rules next to the Gatus default
(3 consecutive failures to open, 2 successes to close).

The real detector (trackers, decisions, an in-memory incident store) is driven in simulated time
(a manual clock) by seeded random failures: scheduled runs every 30 s on the scheduler's grid,
confirmation runs whenever the detector asks for them. Prints one JSON line per (rules, case) and
a summary table.

    .venv/bin/python benchmarks/detection.py            # 200 outages per ratio, 20 healthy weeks
    .venv/bin/python benchmarks/detection.py --quick    # 40 outages, 4 weeks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.clock import ManualClock
from monitor.config.models import ProbeConfig
from monitor.detection import Detector, MemoryIncidents
from monitor.testing.detection import SimulatedRuns

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WARMUP = timedelta(minutes=30)
OUTAGE = timedelta(hours=4)
AFTER = timedelta(minutes=30)  # time for the incident to resolve once the fault is gone
WEEK = timedelta(days=7)

RULES: dict[str, dict[str, Any]] = {
    "default": {},
    "gatus": {
        "trigger": [{"consecutive_failures": 3}],
        "recover": {"consecutive_successes": 2, "min_duration": "0s"},
        "confirm": {"runs": 0},
        "flap_window": "0s",
    },
}


def probe_for(rules: str) -> ProbeConfig:
    return ProbeConfig.model_validate(
        {
            "name": "login",
            "interval": "30s",
            "request": {"url": "http://127.0.0.1/"},
            "alert": RULES[rules],
        }
    )


@dataclass(frozen=True)
class Outcome:
    detection_s: float | None  # fault start -> first incident opened
    incidents: int  # incidents opened from fault start to the end (re-opens not counted)
    reopens: int  # resolved then re-opened within the flap window
    resolutions: int  # times an incident resolved while the fault was still on
    resolve_after_s: float | None  # fault end -> the last incident resolved
    runs: int
    confirmation_runs: int


HICCUP = timedelta(seconds=10)


async def simulate(
    rules: str,
    ratio: float,
    seed: int,
    *,
    fault: timedelta,
    healthy: bool = False,
    hiccups: bool = False,
) -> Outcome:
    clock = ManualClock(START)
    probe = probe_for(rules)
    rng = random.Random(seed)
    # The fault starts at a random moment of the interval, not in step with the schedule.
    fault_start = START + WARMUP + timedelta(seconds=rng.uniform(0, 30))
    fault_end = fault_start + fault

    def in_hiccup(at: datetime) -> bool:
        # Once an hour, at a random moment of that hour, everything fails for 10 s (a deploy, a
        # failover): a third of them hit a scheduled run.
        hour, into_hour = divmod(at - fault_start, timedelta(hours=1))
        start = random.Random(seed * 100_003 + hour).uniform(0, 3600 - HICCUP.total_seconds())
        return timedelta(seconds=start) <= into_hour < timedelta(seconds=start) + HICCUP

    def fails(_probe: str, at: datetime, _location: str) -> bool:
        # A healthy week is a "fault" of `healthy` failures; an outage starts from a clean probe.
        if hiccups and fault_start <= at < fault_end and in_hiccup(at):
            return True
        p = ratio if fault_start <= at < fault_end else 0.0
        return rng.random() < p

    runs = SimulatedRuns([probe], clock=clock, fails=fails)
    store = MemoryIncidents()
    detector = Detector(probes=[probe], store=store, clock=clock, confirm=runs.confirm)
    await runs.run_until(detector, fault_end + (timedelta(0) if healthy else AFTER))
    incidents = [i for i in store.incidents if i.opened_at >= fault_start]
    detection = (incidents[0].opened_at - fault_start).total_seconds() if incidents else None
    last = store.incidents[-1] if store.incidents else None
    resolve_after = (
        (last.resolved_at - fault_end).total_seconds()
        if last is not None and last.resolved_at is not None and last.resolved_at >= fault_end
        else None
    )
    return Outcome(
        detection_s=detection,
        incidents=len(incidents),
        reopens=sum(i.reopened for i in incidents),
        resolutions=sum(
            1 for i in incidents if i.resolved_at is not None and i.resolved_at < fault_end
        )
        + sum(i.reopened for i in incidents),
        resolve_after_s=resolve_after,
        runs=len(runs.runs),
        confirmation_runs=runs.confirmation_runs,
    )


def run_case(args: tuple[str, float, int, float, bool, bool]) -> Outcome:
    rules, ratio, seed, fault_s, healthy, hiccups = args
    return asyncio.run(
        simulate(
            rules, ratio, seed, fault=timedelta(seconds=fault_s), healthy=healthy, hiccups=hiccups
        )
    )


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=int, default=200, help="seeded outages per ratio")
    parser.add_argument("--weeks", type=int, default=20, help="seeded healthy weeks")
    parser.add_argument("--quick", action="store_true", help="40 outages, 4 weeks")
    args = parser.parse_args()
    outages, weeks = (40, 4) if args.quick else (args.outages, args.weeks)
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor() as pool:
        for rules in RULES:
            for ratio in (0.1, 0.3, 0.5):
                cases = [
                    (rules, ratio, seed, OUTAGE.total_seconds(), False, False)
                    for seed in range(outages)
                ]
                results = list(pool.map(run_case, cases))
                detected = [r.detection_s for r in results if r.detection_s is not None]
                rows.append(
                    {
                        "rules": rules,
                        "case": f"outage r={ratio}",
                        "outages": outages,
                        "detected": len(detected),
                        "detect_p50_s": percentile(detected, 50),
                        "detect_p95_s": percentile(detected, 95),
                        "incidents_per_outage_mean": statistics.mean(r.incidents for r in results),
                        "incidents_per_outage_max": max(r.incidents for r in results),
                        "resolved_during_fault_mean": statistics.mean(
                            r.resolutions for r in results
                        ),
                        "resolve_after_fault_p50_s": percentile(
                            [r.resolve_after_s for r in results if r.resolve_after_s is not None],
                            50,
                        ),
                        "confirmation_runs_mean": statistics.mean(
                            r.confirmation_runs for r in results
                        ),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
            for hiccups in (False, True):
                cases = [
                    (rules, 0.005, 10_000 + seed, WEEK.total_seconds(), True, hiccups)
                    for seed in range(weeks)
                ]
                results = list(pool.map(run_case, cases))
                case = "healthy week, 0.5% failures"
                rows.append(
                    {
                        "rules": rules,
                        "case": case + (", a 10 s hiccup every hour" if hiccups else ""),
                        "weeks": weeks,
                        "false_incidents_per_week_mean": statistics.mean(
                            r.incidents for r in results
                        ),
                        "false_incidents_per_week_max": max(r.incidents for r in results),
                        "runs_per_week_mean": statistics.mean(r.runs for r in results),
                        "confirmation_runs_per_week_mean": statistics.mean(
                            r.confirmation_runs for r in results
                        ),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    print(file=sys.stderr)
    print(
        "| rules | case | detect p50 / p95 | incidents per outage (mean, max) "
        "| resolved during fault (mean) | false per week (mean, max) |",
        file=sys.stderr,
    )
    print("|---|---|---|---|---|---|", file=sys.stderr)
    for row in rows:
        if "detect_p50_s" in row:
            p50, p95 = row["detect_p50_s"], row["detect_p95_s"]
            timing = f"{p50 / 60:.1f} / {p95 / 60:.1f} min" if p50 is not None else "never"
            print(
                f"| {row['rules']} | {row['case']} | {timing} "
                f"({row['detected']}/{row['outages']} detected) | "
                f"{row['incidents_per_outage_mean']:.2f}, {row['incidents_per_outage_max']} | "
                f"{row['resolved_during_fault_mean']:.2f} | |",
                file=sys.stderr,
            )
        else:
            print(
                f"| {row['rules']} | {row['case']} | | | | "
                f"{row['false_incidents_per_week_mean']:.2f} (max {row['false_incidents_per_week_max']}) |",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
