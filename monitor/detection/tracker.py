"""One probe's state machine: `up -> failing -> up`, from its runs, with no I/O.

`ProbeTracker.observe(run)` returns what should happen (open, raise severity, resolve, run
confirmation runs) and the detector carries it out. Time is the runs' own start times, so the same
runs replayed (a restart, a backtest) give the same decisions.

- Opening: at least `quorum` locations have a rule firing, outside maintenance and silences.
  A failed run while the probe is up asks for confirmation runs; every further failure asks again,
  so a partial outage is sampled every few seconds until it is recognised, and a lone blip is
  followed by passing runs that show it was one.
- Opening needs the trouble to be current: an availability rule counts for a location only while
  one of its last 5 runs failed. Runs made during maintenance or a silence are forgotten when it
  ends.
- Severity: `major` when every reporting location is in a streak of failed runs (10 runs, or 3
  spanning 5 minutes), `partial` otherwise, `degraded` when only a latency rule fires. It only
  rises during an incident.
- Recovery (hysteresis): a location is clear when its last `consecutive_successes` runs passed,
  its last failure is at least `min_duration` old and no rule fires there; when fewer than
  `quorum` locations are not clear, confirmation runs are asked for and the incident resolves
  after `confirm.runs` more runs if it still looks recovered.
- Flapping: failing again within `flap_window` of a resolution re-opens that incident.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.config.durations import format_duration
from monitor.config.models import AlertConfig
from monitor.detection.rules import (
    Finding,
    Rule,
    failed_count,
    first_finding,
    rules_of,
)
from monitor.detection.samples import Sample

Severity = Literal["degraded", "partial", "major"]
SEVERITY_ORDER: tuple[Severity, ...] = ("degraded", "partial", "major")
# The recent past that decides severity and the peak failure ratio shown with an incident.
SEVERITY_WINDOW = timedelta(minutes=5)
MAJOR_MIN_RUNS = 3
MAJOR_STREAK_RUNS = 10
# An availability rule opens an incident only while one of the location's last runs failed.
CURRENT_RUNS = 5
# Confirmation runs per trouble, in bursts of `confirm.runs`: enough to tell a partial outage
# from a blip, bounded for a failure that stays below every threshold.
MAX_BURSTS = 4


def severity_rank(severity: str) -> int:
    order: tuple[str, ...] = SEVERITY_ORDER
    return order.index(severity)


@dataclass(frozen=True)
class DetectionPolicy:
    rules: tuple[Rule, ...]
    quorum: int = 1
    recover_successes: int = 3
    recover_after: timedelta = timedelta(minutes=10)
    confirm_runs: int = 5
    confirm_every: timedelta = timedelta(seconds=5)
    flap_window: timedelta = timedelta(minutes=10)

    @classmethod
    def of(cls, alert: AlertConfig) -> DetectionPolicy:
        return cls(
            rules=rules_of(alert),
            quorum=alert.quorum,
            recover_successes=alert.recover.consecutive_successes,
            recover_after=alert.recover.min_duration,
            confirm_runs=alert.confirm.runs,
            confirm_every=alert.confirm.every,
            flap_window=alert.flap_window,
        )

    @property
    def horizon(self) -> timedelta:
        """How much history the rules need (a restart replays this much)."""
        return max([SEVERITY_WINDOW, *(rule.horizon for rule in self.rules)])

    @property
    def min_runs(self) -> int:
        return max([self.recover_successes, *(rule.min_runs for rule in self.rules)])


@dataclass(frozen=True)
class Open:
    at: datetime
    severity: Severity
    finding: Finding
    cause: str | None  # why the first failed run of this outage failed
    peak: float  # failure ratio over the last 5 minutes
    reopen: bool  # within the flap window of the last resolution: re-open that incident


@dataclass(frozen=True)
class RaiseSeverity:
    at: datetime
    severity: Severity
    figures: str


@dataclass(frozen=True)
class Resolve:
    at: datetime
    detail: str
    peak: float  # the highest failure ratio seen while the incident was open


@dataclass(frozen=True)
class Confirm:
    runs: int
    every: timedelta


@dataclass(frozen=True)
class Suppressed:
    """A rule fired but maintenance or a silence held the incident back."""

    at: datetime
    finding: Finding
    reason: str


Decision = Open | RaiseSeverity | Resolve | Confirm | Suppressed
Status = Literal["up", "failing"]


class ProbeTracker:
    def __init__(self, probe: str, policy: DetectionPolicy) -> None:
        self.probe = probe
        self.policy = policy
        self.status: Status = "up"
        self.severity: Severity | None = None
        self.finding: Finding | None = None
        self.opened_at: datetime | None = None
        self.resolved_at: datetime | None = None  # the last resolution, for the flap window
        self.peak = 0.0
        self.cause: str | None = None
        self._runs: dict[str, deque[Sample]] = {}
        self._last_failure: dict[str, datetime] = {}
        self._first_failure: Sample | None = None  # of the current trouble, for `cause`
        self._confirmation_runs = 0  # seen since the current trouble began
        self._last_confirmation: datetime | None = None
        self._suppressed_until: datetime | None = None  # the last run made while suppressed
        self._recovery_from: datetime | None = None  # when the probe first looked recovered
        self._held = False  # a Suppressed was reported and the rule still fires
        self._now: datetime | None = None
        self._ignore_until: datetime | None = None  # runs up to here came before a resolution

    @property
    def now(self) -> datetime | None:
        """The start of the newest run seen."""
        return self._now

    def adopt(self, *, severity: Severity, opened_at: datetime) -> None:
        """Continue an incident found open in the database (a restart during an outage)."""
        self.status = "failing"
        self.severity = severity
        self.opened_at = opened_at

    def resolved_elsewhere(self, at: datetime) -> None:
        """Its incident was resolved outside this tracker (a person, another instance): only
        runs started after `at` count from here. Runs from before reach the detector late (the
        leader reads what every instance's recorder wrote) and must not re-open it at once."""
        if self.status == "failing":
            self.status = "up"
            self.resolved_at = at
            self.severity = None
            self.finding = None
            self.opened_at = None
            self.peak = 0.0
            self._forget_until(at)
            self._ignore_until = at

    def note_resolved(self, at: datetime) -> None:
        self.resolved_at = at if self.resolved_at is None else max(self.resolved_at, at)

    def observe(self, run: Sample, *, suppressed: str | None = None) -> list[Decision]:
        if self._ignore_until is not None:
            if run.at <= self._ignore_until:
                return []
            self._ignore_until = None
        if self.status == "up":
            if suppressed is not None:
                self._suppressed_until = run.at
            elif self._suppressed_until is not None:
                self._forget_until(self._suppressed_until)
        self._add(run)
        now = self._now
        assert now is not None
        findings = self._findings(now)
        if self.status == "up":
            return self._while_up(run, now, findings, suppressed)
        return self._while_failing(run, now, findings)

    def _forget_until(self, moment: datetime) -> None:
        """Forget the runs made during maintenance or a silence once it is over: failures
        there opened nothing then and must not open an incident the moment it ends when the
        probe is healthy again. A probe still failing gets its incident from new runs."""
        for location, runs in self._runs.items():
            kept = deque(run for run in runs if run.at > moment)
            self._runs[location] = kept
            failures = [run.at for run in kept if not run.ok]
            if failures:
                self._last_failure[location] = failures[-1]
            else:
                self._last_failure.pop(location, None)
        self._new_trouble()
        self._suppressed_until = None

    def open_now(self) -> Open | None:
        """The Open this state calls for when no incident is open for it (a rebuilt state that
        is failing, with the incident lost or never written)."""
        if self.status != "failing" or self.finding is None or self._now is None:
            return None
        return Open(
            at=self._now,
            severity=self.severity or "partial",
            finding=self.finding,
            cause=self.cause,
            peak=self.peak,
            reopen=self._within_flap_window(self._now),
        )

    def _add(self, run: Sample) -> None:
        runs = self._runs.setdefault(run.location, deque())
        if runs and run.at < runs[-1].at:
            # A run that started earlier but ended later (confirmation runs overlap scheduled
            # ones): keep the history in start order.
            position = bisect.bisect_right([r.at for r in runs], run.at)
            runs.insert(position, run)
        else:
            runs.append(run)
        self._now = run.at if self._now is None else max(self._now, run.at)
        if run.confirmation and run.at != self._last_confirmation:
            # One run of a probe with several locations gives one sample per location.
            self._confirmation_runs += 1
            self._last_confirmation = run.at
        if not run.ok:
            last = self._last_failure.get(run.location)
            self._last_failure[run.location] = run.at if last is None else max(last, run.at)
            if self._first_failure is None:
                self._first_failure = run
        cutoff = self._now - self.policy.horizon
        keep = self.policy.min_runs
        while len(runs) > keep and runs[0].at <= cutoff:
            runs.popleft()

    def _findings(self, now: datetime) -> dict[str, Finding]:
        found: dict[str, Finding] = {}
        for location, runs in self._runs.items():
            finding = first_finding(self.policy.rules, list(runs), now)
            if finding is not None:
                found[location] = finding
        return found

    def _while_up(
        self, run: Sample, now: datetime, findings: dict[str, Finding], suppressed: str | None
    ) -> list[Decision]:
        # An outage opens while it is happening: a ratio still above its threshold a minute
        # after a 10-second hiccup (3 failed runs among 10 dense confirmation runs) is history.
        findings = {
            location: finding
            for location, finding in findings.items()
            if finding.kind == "latency" or self._failing_now(location)
        }
        if len(findings) >= self.policy.quorum:
            finding = _strongest(findings.values())
            if suppressed is not None:
                if self._held:
                    return []
                self._held = True
                return [Suppressed(at=now, finding=finding, reason=suppressed)]
            self._held = False
            self.status = "failing"
            self.finding = finding
            self.opened_at = now
            self.severity = self._severity(findings, now)
            self.peak = self._failure_ratio(now)
            self.cause = self._first_failure.failure if self._first_failure else None
            return [
                Open(
                    at=now,
                    severity=self.severity,
                    finding=finding,
                    cause=self.cause,
                    peak=self.peak,
                    reopen=self._within_flap_window(now),
                )
            ]
        self._held = False
        if not findings and self._all_clear(now):
            self._new_trouble()
        decisions: list[Decision] = []
        if (
            not run.ok
            and suppressed is None
            and self.policy.confirm_runs > 0
            # A location that keeps failing below the quorum (or a ratio that stays under the
            # threshold) would otherwise be probed every few seconds for as long as it lasts.
            and self._confirmation_runs < self.policy.confirm_runs * MAX_BURSTS
        ):
            decisions.append(Confirm(self.policy.confirm_runs, self.policy.confirm_every))
        return decisions

    def _while_failing(
        self, run: Sample, now: datetime, findings: dict[str, Finding]
    ) -> list[Decision]:
        decisions: list[Decision] = []
        self.peak = max(self.peak, self._failure_ratio(now))
        if findings:
            severity = self._severity(findings, now)
            if self.severity is None or severity_rank(severity) > severity_rank(self.severity):
                self.severity = severity
                self.finding = _strongest(findings.values())
                decisions.append(
                    RaiseSeverity(at=now, severity=severity, figures=self.finding.figures)
                )
        not_clear = sum(1 for location in self._runs if not self._clear(location, now, findings))
        if not_clear >= self.policy.quorum:
            self._recovery_from = None
            return decisions
        if self._recovery_from is None and self.policy.confirm_runs > 0:
            # Looks recovered: confirm it as a failure is confirmed. At 30% failures, 10 quiet
            # minutes at 30 s happen by chance about once in 1,000 runs; 5 more passing runs
            # make it about 6 times rarer, for 25 s more before "resolved".
            self._recovery_from = now
            decisions.append(Confirm(self.policy.confirm_runs, self.policy.confirm_every))
            return decisions
        if self._recovery_from is not None and self._runs_since(self._recovery_from) < (
            self.policy.confirm_runs
        ):
            return decisions
        self.status = "up"
        self.resolved_at = now
        self._new_trouble()
        detail = (
            f"{self.policy.recover_successes} runs in a row passed and none failed for "
            f"{format_duration(self.policy.recover_after)}"
        )
        decisions.append(Resolve(at=now, detail=detail, peak=self.peak))
        self.severity = None
        self.finding = None
        self.opened_at = None
        self.peak = 0.0
        return decisions

    def _runs_since(self, moment: datetime) -> int:
        """Runs (not samples: a run of several locations counts once) after `moment`."""
        return len({run.at for runs in self._runs.values() for run in runs if run.at > moment})

    def _failing_now(self, location: str) -> bool:
        """One of the location's last 5 runs failed: a 10-second hiccup (3 failed runs, then
        passing ones) is over by the time a ratio could count it."""
        runs = self._runs[location]
        return any(not runs[-index].ok for index in range(1, min(CURRENT_RUNS, len(runs)) + 1))

    def _new_trouble(self) -> None:
        """The probe is clear: the next failure starts new trouble."""
        self._first_failure = None
        self._confirmation_runs = 0
        self._recovery_from = None

    def _clear(self, location: str, now: datetime, findings: dict[str, Finding]) -> bool:
        if location in findings:
            return False
        runs = self._runs[location]
        wanted = self.policy.recover_successes
        if len(runs) < wanted or not all(run.ok for run in list(runs)[-wanted:]):
            return False
        last_failure = self._last_failure.get(location)
        return last_failure is None or now - last_failure >= self.policy.recover_after

    def _all_clear(self, now: datetime) -> bool:
        return all(self._clear(location, now, {}) for location in self._runs)

    def _within_flap_window(self, now: datetime) -> bool:
        return self.resolved_at is not None and now - self.resolved_at < self.policy.flap_window

    def _recent(self, location: str, now: datetime) -> Sequence[Sample]:
        start = now - SEVERITY_WINDOW
        return [run for run in self._runs[location] if start < run.at <= now]

    def _severity(self, findings: dict[str, Finding], now: datetime) -> Severity:
        if all(finding.kind == "latency" for finding in findings.values()):
            return "degraded"
        reporting = [location for location in self._runs if self._recent(location, now)]
        if reporting and all(self._all_failing(location, now) for location in reporting):
            return "major"
        return "partial"

    def _all_failing(self, location: str, now: datetime) -> bool:
        """The location's runs fail without exception: its newest failure streak holds at
        least 10 runs, or at least 3 spanning 5 minutes. A partial outage's runs pass now and
        then: at 30% failures a streak of 10 comes about once in 170,000 runs."""
        streak: list[Sample] = []
        for run in reversed(self._runs[location]):
            if run.ok:
                break
            streak.append(run)
        if len(streak) >= MAJOR_STREAK_RUNS:
            return True
        return len(streak) >= MAJOR_MIN_RUNS and streak[0].at - streak[-1].at >= SEVERITY_WINDOW

    def _failure_ratio(self, now: datetime) -> float:
        recent = [run for location in self._runs for run in self._recent(location, now)]
        return failed_count(recent) / len(recent) if recent else 0.0


def _strongest(findings: Iterable[Finding]) -> Finding:
    ordered = list(findings)
    return next((f for f in ordered if f.kind == "availability"), ordered[0])
