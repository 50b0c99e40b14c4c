"""The demo's config: the examples as they are in `examples/`, sped up so the whole story (an
outage, an incident, pages, escalation, an ACK, the recovery) fits in a few minutes.

Nothing in `examples/` is edited: the loaded config is copied with shorter intervals, windows
and escalation timeouts, and every copy goes through the models' validation again.
"""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from monitor.config import LoadedConfig
from monitor.config.models import (
    AlertConfig,
    FailureRatio,
    Latency,
    MaintenanceConfig,
    MonitorConfig,
    ProbeConfig,
    RequestConfig,
    StepConfig,
    Trigger,
)
from monitor.config.oncall import LevelConfig, PolicyConfig

M = TypeVar("M", bound=BaseModel)

# The rules a probe without `trigger:` gets (detection.rules.DEFAULT_RULES), written out so
# their window can be shortened like everybody else's.
DEFAULT_RATIO = 0.2
DEFAULT_CONSECUTIVE = 3


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pace:
    """How fast the demo's story goes."""

    name: str
    interval: timedelta  # every probe's
    outage_after: timedelta  # from the URLs being printed to the injected outage
    window: timedelta  # of the failure_ratio and latency rules
    # As many runs as the window holds at `interval`: scheduled runs alone keep the ratio rule
    # firing through an outage, so a lucky streak of passing runs cannot resolve it early.
    min_samples: int
    confirm_runs: int
    confirm_every: timedelta
    recover_successes: int
    recover_after: timedelta
    escalate_after: timedelta  # every level's
    ack_timeout: timedelta


NORMAL = Pace(
    name="normal",
    interval=timedelta(seconds=5),
    outage_after=timedelta(seconds=60),
    window=timedelta(seconds=30),
    min_samples=6,
    confirm_runs=3,
    confirm_every=timedelta(seconds=2),
    recover_successes=3,
    recover_after=timedelta(seconds=20),
    escalate_after=timedelta(seconds=45),
    ack_timeout=timedelta(minutes=5),
)
FAST = Pace(
    name="fast",
    interval=timedelta(seconds=2),
    outage_after=timedelta(seconds=5),
    window=timedelta(seconds=12),
    min_samples=6,
    confirm_runs=3,
    confirm_every=timedelta(seconds=1),
    recover_successes=2,
    recover_after=timedelta(seconds=6),
    escalate_after=timedelta(seconds=10),
    ack_timeout=timedelta(minutes=2),
)

HOLD_BACK_REASON = "monitor demo: one probe pages, so the story has one incident"


def story_probe(config: MonitorConfig) -> ProbeConfig | None:
    """The probe whose incident tells the story: the first enabled one that pages someone."""
    return next((p for p in config.probes if p.enabled and config.policy_of(p) is not None), None)


def speed_up(loaded: LoadedConfig, pace: Pace, *, pages_for: str | None) -> LoadedConfig:
    """`loaded` at `pace`. With `pages_for`, the other probes still run and are stored but open
    no incident (a maintenance window that is always on): a partial outage of the example API
    fails all three probes, and three incidents paging the same person at once would bury the
    story."""
    config = loaded.config
    maintenance = list(config.maintenance)
    others = [p.name for p in config.probes if pages_for is not None and p.name != pages_for]
    if others:
        maintenance.append(
            MaintenanceConfig(
                probes=others,
                every=["daily"],
                start=time(0, 0),
                # Longer than a day: each day's window overlaps the next, so it never ends.
                duration=timedelta(days=2),
                timezone="UTC",
                reason=HOLD_BACK_REASON,
            )
        )
    faster = _replace(
        config,
        defaults=_replace(
            config.defaults,
            interval=pace.interval,
            timeout=min(config.defaults.timeout, pace.interval),
        ),
        probes=[_probe(probe, pace) for probe in config.probes],
        policies=[_policy(policy, pace) for policy in config.policies],
        maintenance=maintenance,
    )
    return dataclasses.replace(loaded, config=faster)


def _replace(model: M, **changes: Any) -> M:
    """A validated copy with `changes` (model_copy would skip validation and carry cached
    properties computed from the old values)."""
    return type(model).model_validate({**dict(model), **changes})


def _probe(probe: ProbeConfig, pace: Pace) -> ProbeConfig:
    # A run must end before the next is due: timeouts shrink with the interval.
    return _replace(
        probe,
        interval=pace.interval,
        timeout=min(probe.timeout, pace.interval),
        steps=[_step(step, pace.interval) for step in probe.steps],
        request=_request(probe.request, pace.interval) if probe.request is not None else None,
        alert=_alert(probe.alert, pace),
    )


def _step(step: StepConfig, limit: timedelta) -> StepConfig:
    return _replace(step, request=_request(step.request, limit))


def _request(request: RequestConfig, limit: timedelta) -> RequestConfig:
    if request.timeout is None or request.timeout <= limit:
        return request
    return _replace(request, timeout=limit)


def _alert(alert: AlertConfig, pace: Pace) -> AlertConfig:
    triggers = alert.trigger or [
        Trigger(failure_ratio=FailureRatio(above=DEFAULT_RATIO)),
        Trigger(consecutive_failures=DEFAULT_CONSECUTIVE),
    ]
    return _replace(
        alert,
        trigger=[_trigger(trigger, pace) for trigger in triggers],
        confirm=_replace(alert.confirm, runs=pace.confirm_runs, every=pace.confirm_every),
        recover=_replace(
            alert.recover,
            consecutive_successes=pace.recover_successes,
            min_duration=pace.recover_after,
        ),
        # Failing again this soon re-opens the incident; after the demo heals the API nothing
        # fails, so the window only has to be as short as the rest.
        flap_window=pace.window,
    )


def _trigger(trigger: Trigger, pace: Pace) -> Trigger:
    if trigger.failure_ratio is not None:
        ratio: FailureRatio = _replace(
            trigger.failure_ratio, window=pace.window, min_samples=pace.min_samples
        )
        return _replace(trigger, failure_ratio=ratio)
    if trigger.latency is not None:
        latency: Latency = _replace(
            trigger.latency, window=pace.window, min_samples=pace.min_samples
        )
        return _replace(trigger, latency=latency)
    return trigger  # consecutive failures count runs, not time; burn rates keep their SLO windows


def _policy(policy: PolicyConfig, pace: Pace) -> PolicyConfig:
    levels: list[LevelConfig] = [
        _replace(level, escalate_after=pace.escalate_after) for level in policy.levels
    ]
    return _replace(
        policy,
        levels=levels,
        # The model reads `forever` as None but refuses None itself.
        repeat="forever" if policy.repeat is None else policy.repeat,
        ack_timeout=None if policy.ack_timeout is None else pace.ack_timeout,
    )
