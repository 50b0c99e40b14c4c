"""The rules that open an incident, as pure functions of a location's recent runs.

Each rule looks at the runs of one location (oldest first) at a moment `now` and returns a
`Finding` when it fires, with figures a half-asleep engineer can read ("35% of 20 runs failed in
5m"), or None.

`failure_ratio` counts from the first failed run inside its window: the successes that came
before the trouble started would otherwise dilute a fresh partial outage for a whole window
(with 10 passing runs in the window, 30% failures need 20 more runs to show as 20%). Counting
from a failure biases the ratio upward on a healthy probe, which `min_samples` pays for: with the
default 10, two failures are never enough (2 of 10 is not above 20%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from monitor.config.durations import format_duration
from monitor.config.models import (
    AlertConfig,
    BurnRate,
    FailureRatio,
    Latency,
    Trigger,
)
from monitor.detection.samples import Sample

Kind = Literal["availability", "latency"]


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # the rule as configured: "failure_ratio above 20% over 5m"
    figures: str  # what it saw: "35% of 20 runs failed in 5m"
    kind: Kind  # a latency finding makes a `degraded` incident, not an outage


class Rule(Protocol):
    @property
    def description(self) -> str: ...

    @property
    def horizon(self) -> timedelta:
        """How far back the rule looks: older runs can be forgotten."""
        ...

    @property
    def min_runs(self) -> int:
        """How many of the newest runs the rule needs, however old they are."""
        ...

    def evaluate(self, runs: Sequence[Sample], now: datetime) -> Finding | None: ...


def percent(ratio: float) -> str:
    """0.35 -> '35%', 0.001 -> '0.1%', 0.0 -> '0%'."""
    value = ratio * 100
    if value == 0 or value >= 10 or value == round(value):
        return f"{value:.0f}%"
    return f"{value:.2g}%"


def _within(runs: Sequence[Sample], window: timedelta, now: datetime) -> Sequence[Sample]:
    """The runs that started in (now - window, now]; `runs` is oldest first."""
    start = now - window
    first = len(runs)
    while first > 0 and runs[first - 1].at > start:
        first -= 1
    end = len(runs)
    while end > first and runs[end - 1].at > now:
        end -= 1
    return runs[first:end]


def failed_count(runs: Sequence[Sample]) -> int:
    return sum(1 for run in runs if not run.ok)


@dataclass(frozen=True)
class ConsecutiveFailures:
    count: int

    @property
    def description(self) -> str:
        return f"consecutive_failures {self.count}"

    @property
    def horizon(self) -> timedelta:
        return timedelta(0)

    @property
    def min_runs(self) -> int:
        # Enough history to find `count` scheduled runs among the confirmation runs between
        # them (at most 20 per episode, plus a recovery burst).
        return self.count * 30

    def evaluate(self, runs: Sequence[Sample], now: datetime) -> Finding | None:
        # Scheduled runs only, as in Gatus ("N checks in a row"): confirmation runs 5 s apart
        # would turn a 10-second hiccup into "3 consecutive failures".
        recent = [run for run in runs if run.at <= now and not run.confirmation][-self.count :]
        if len(recent) < self.count or any(run.ok for run in recent):
            return None
        figures = "the last run failed" if self.count == 1 else f"the last {self.count} runs failed"
        return Finding(self.description, figures, "availability")


@dataclass(frozen=True)
class FailureRatioRule:
    above: float
    window: timedelta
    min_samples: int

    @classmethod
    def of(cls, config: FailureRatio) -> FailureRatioRule:
        return cls(above=config.above, window=config.window, min_samples=config.min_samples)

    @property
    def description(self) -> str:
        return f"failure_ratio above {percent(self.above)} over {format_duration(self.window)}"

    @property
    def horizon(self) -> timedelta:
        return self.window

    @property
    def min_runs(self) -> int:
        return 0

    def evaluate(self, runs: Sequence[Sample], now: datetime) -> Finding | None:
        counted = since_first_failure(_within(runs, self.window, now))
        if len(counted) < self.min_samples:
            return None
        failed = failed_count(counted)
        if failed / len(counted) <= self.above:
            return None
        figures = (
            f"{percent(failed / len(counted))} of {len(counted)} runs failed "
            f"in {format_duration(self.window)}"
        )
        return Finding(self.description, figures, "availability")


def since_first_failure(runs: Sequence[Sample]) -> Sequence[Sample]:
    for index, run in enumerate(runs):
        if not run.ok:
            return runs[index:]
    return runs[:0]


@dataclass(frozen=True)
class LatencyRule:
    percentile: float
    above: timedelta
    window: timedelta
    min_samples: int

    @classmethod
    def of(cls, config: Latency) -> LatencyRule:
        return cls(
            percentile=config.percentile,
            above=config.above,
            window=config.window,
            min_samples=config.min_samples,
        )

    @property
    def description(self) -> str:
        return (
            f"latency p{self.percentile:g} above {format_duration(self.above)} "
            f"over {format_duration(self.window)}"
        )

    @property
    def horizon(self) -> timedelta:
        return self.window

    @property
    def min_runs(self) -> int:
        return 0

    def evaluate(self, runs: Sequence[Sample], now: datetime) -> Finding | None:
        # Every run counts, failed ones too: a run cut at its timeout is the slowest of all.
        counted = _within(runs, self.window, now)
        if len(counted) < self.min_samples:
            return None
        value = nearest_rank([run.duration_ms for run in counted], self.percentile)
        if value <= self.above.total_seconds() * 1000:
            return None
        figures = (
            f"p{self.percentile:g} {format_duration(timedelta(milliseconds=round(value)))} "
            f"over {len(counted)} runs in {format_duration(self.window)}"
        )
        return Finding(self.description, figures, "latency")


def nearest_rank(values: Sequence[float], percentile: float) -> float:
    """The nearest-rank percentile: a value that was really measured, never an interpolation."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class BurnWindowRule:
    long: timedelta
    short: timedelta
    factor: float


@dataclass(frozen=True)
class BurnRateRule:
    """Multiwindow, multi-burn-rate alerting (Google SRE workbook, ch. 5): page when the error
    rate spends the error budget `factor` times too fast over both a long window (it is real)
    and a short one (it is still happening)."""

    slo: float  # percent, e.g. 99.9
    windows: tuple[BurnWindowRule, ...]
    min_samples: int

    @classmethod
    def of(cls, config: BurnRate) -> BurnRateRule:
        return cls(
            slo=config.slo,
            windows=tuple(
                BurnWindowRule(long=w.long, short=w.short, factor=w.factor) for w in config.windows
            ),
            min_samples=config.min_samples,
        )

    @property
    def budget(self) -> float:
        return 1 - self.slo / 100

    @property
    def description(self) -> str:
        return f"burn_rate slo {self.slo:g}%"

    @property
    def horizon(self) -> timedelta:
        return max(max(w.long, w.short) for w in self.windows)

    @property
    def min_runs(self) -> int:
        return 0

    def evaluate(self, runs: Sequence[Sample], now: datetime) -> Finding | None:
        for window in self.windows:
            long_runs = _within(runs, window.long, now)
            # A long window holding a handful of runs (just started, or a gap) is not evidence:
            # one failure among three runs is not a 33% error rate worth a page.
            if len(long_runs) < self.min_samples:
                continue
            short_runs = _within(runs, window.short, now)
            if not short_runs:
                continue
            threshold = window.factor * self.budget
            long_rate = failed_count(long_runs) / len(long_runs)
            short_rate = failed_count(short_runs) / len(short_runs)
            if long_rate > threshold and short_rate > threshold:
                figures = (
                    f"error rate {percent(long_rate)} over {format_duration(window.long)} and "
                    f"{percent(short_rate)} over {format_duration(window.short)}, "
                    f"{window.factor:g}x the {percent(self.budget)} budget"
                )
                return Finding(self.description, figures, "availability")
        return None


def rule_of(trigger: Trigger) -> Rule:
    if trigger.consecutive_failures is not None:
        return ConsecutiveFailures(trigger.consecutive_failures)
    if trigger.failure_ratio is not None:
        return FailureRatioRule.of(trigger.failure_ratio)
    if trigger.latency is not None:
        return LatencyRule.of(trigger.latency)
    if trigger.burn_rate is not None:
        return BurnRateRule.of(trigger.burn_rate)
    raise AssertionError(f"a trigger with no rule: {trigger!r}")  # the model forbids it


DEFAULT_RULES: tuple[Rule, ...] = (
    FailureRatioRule(above=0.2, window=timedelta(minutes=5), min_samples=10),
    ConsecutiveFailures(3),
)


def rules_of(alert: AlertConfig) -> tuple[Rule, ...]:
    """The probe's triggers, or the defaults (20% failures over 5m, or 3 consecutive failures)."""
    if alert.trigger is None:
        return DEFAULT_RULES
    return tuple(rule_of(trigger) for trigger in alert.trigger)


def first_finding(rules: Sequence[Rule], runs: Sequence[Sample], now: datetime) -> Finding | None:
    """The first rule (in config order) that fires, availability before latency: an outage that
    is also slow is an outage."""
    latency: Finding | None = None
    for rule in rules:
        finding = rule.evaluate(runs, now)
        if finding is None:
            continue
        if finding.kind == "availability":
            return finding
        latency = latency or finding
    return latency
