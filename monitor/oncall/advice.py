"""Warnings `monitor validate` prints about a valid config that would still let an incident page
nobody: a schedule with nobody on call, a probe without an escalation policy, a person nothing
pages. They never make a config invalid (a schedule that starts next month is a plan, not an
error), so they are text, not ConfigProblems."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from monitor.config.durations import format_duration
from monitor.config.models import MonitorConfig
from monitor.masking import mask_phone
from monitor.oncall.localtime import require_aware
from monitor.oncall.schedule import gaps

GAP_HORIZON = timedelta(weeks=4)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(delta: timedelta) -> str:
    # `now` has seconds and microseconds; a total of "2d3h27m" is what a person wants to read.
    rounded = timedelta(minutes=max(1, round(delta / timedelta(minutes=1))))
    return format_duration(rounded)


def _schedule_gaps(config: MonitorConfig, now: datetime) -> list[str]:
    found: list[str] = []
    for schedule in config.schedules:
        empty = gaps(schedule, start=now, end=now + GAP_HORIZON)
        if not empty:
            continue
        start, end = empty[0]
        total = sum((finish - begin for begin, finish in empty), timedelta(0))
        until = _stamp(end) + (" and beyond" if end == now + GAP_HORIZON else "")
        which = f" (the first of {len(empty)} gaps)" if len(empty) > 1 else ""
        found.append(
            f"schedule {schedule.name}: nobody on call from {_stamp(start)} to {until}{which}, "
            f"{_minutes(total)} of the next 4 weeks: a layer covers only from its rotation's "
            "`start`; pages to this schedule reach nobody then"
        )
    return found


def _unpaged_probes(config: MonitorConfig) -> list[str]:
    # The loader refuses a policy name that does not exist, so None means none was named.
    names = [p.name for p in config.probes if p.enabled and config.policy_of(p) is None]
    if not names:
        return []
    which = "probe " if len(names) == 1 else "probes "
    return [
        f"no escalation policy for {which}{', '.join(names)}: "
        f"{'its' if len(names) == 1 else 'their'} incidents page nobody "
        "(set `alert.policy` on the probe, or `defaults.policy`)"
    ]


def _idle_people(config: MonitorConfig) -> list[str]:
    named: set[str] = set()
    for schedule in config.schedules:
        for layer in schedule.layers:
            named.update(layer.rotation.members)
        named.update(override.person for override in schedule.overrides)
    for policy in config.policies:
        for level in policy.levels:
            named.update(t.person for t in level.notify if t.person is not None)
    return [
        f"person {person.id} is in no schedule and no policy: nothing pages them"
        for person in config.people
        if person.id not in named
    ]


def config_warnings(config: MonitorConfig, *, now: datetime) -> list[str]:
    """What `monitor validate` warns about, worst first, each one line without `warning: `."""
    moment = require_aware(now, "now")
    return [*_schedule_gaps(config, moment), *_unpaged_probes(config), *_idle_people(config)]


def sms_opt_out_warnings(config: MonitorConfig, opted_out: Mapping[str, datetime]) -> list[str]:
    """People whose number replied STOP (`opted_out`: phone -> when): the provider refuses to
    text them, so their SMS pages fail over to their next channel. For `monitor validate` and
    the readiness check; numbers masked to their last 4 digits."""
    return [
        f"{person.name} ({person.id}, {mask_phone(person.phone)}) replied STOP on "
        f"{_stamp(opted_out[person.phone])}: unreachable by SMS until they reply START"
        for person in config.people
        if person.phone is not None and person.phone in opted_out
    ]
