"""Checks across the on-call config: every name a schedule, policy or probe uses must exist.

A typo here is an error, not a warning: a policy that names a schedule nobody defined would open
incidents that page no one, which is the failure this product exists to prevent.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from monitor.config.errors import ConfigProblem
from monitor.config.models import SELF_PROBE, MonitorConfig
from monitor.config.yaml_source import Location, PathKey, SourceMap
from monitor.escalation.messages import template_problems

Display = typing.Callable[[PathKey], str]


class _Problems:
    def __init__(self, source_map: SourceMap, display: Display) -> None:
        self.source_map = source_map
        self.display = display
        self.found: list[ConfigProblem] = []

    def add(self, path: PathKey, message: str) -> None:
        location = self.source_map.value_at(path) or self.source_map.best_at(path)
        self.found.append(
            ConfigProblem(location or Location("<config>", 1, 1), self.display(path), message)
        )

    def unknown(self, path: PathKey, what: str, name: str, known: Sequence[str]) -> None:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        listed = f"; defined: {', '.join(known)}" if known and not close else ""
        self.add(path, f"no {what} `{name}`{hint}{listed}")


def _duplicates(
    problems: _Problems, section: str, key: str, names: Iterable[str], what: str
) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            problems.add((section, index, key), f"{what} `{name}` is defined twice")
        seen.add(name)


def check_oncall(
    config: MonitorConfig, source_map: SourceMap, display: Display
) -> list[ConfigProblem]:
    problems = _Problems(source_map, display)
    people = [person.id for person in config.people]
    schedules = [schedule.name for schedule in config.schedules]
    policies = [policy.name for policy in config.policies]
    _duplicates(problems, "people", "id", people, "person")
    _duplicates(problems, "schedules", "name", schedules, "schedule")
    _duplicates(problems, "policies", "name", policies, "policy")

    for s_index, schedule in enumerate(config.schedules):
        for l_index, layer in enumerate(schedule.layers):
            for m_index, member in enumerate(layer.rotation.members):
                if member not in people:
                    path: PathKey = (
                        "schedules", s_index, "layers", l_index, "rotation", "members", m_index,
                    )  # fmt: skip
                    problems.unknown(path, "person", member, people)
        for o_index, override in enumerate(schedule.overrides):
            if override.person not in people:
                path = ("schedules", s_index, "overrides", o_index, "person")
                problems.unknown(path, "person", override.person, people)

    for p_index, policy in enumerate(config.policies):
        for v_index, level in enumerate(policy.levels):
            for t_index, target in enumerate(level.notify):
                base: PathKey = ("policies", p_index, "levels", v_index, "notify", t_index)
                if target.schedule is not None and target.schedule not in schedules:
                    problems.unknown((*base, "schedule"), "schedule", target.schedule, schedules)
                if target.person is not None and target.person not in people:
                    problems.unknown((*base, "person"), "person", target.person, people)
                for c_index, channel in enumerate(target.via or ()):
                    if channel == "webhook" and config.channels.webhook is None:
                        problems.add(
                            (*base, "via", c_index),
                            "the webhook channel has no URL: add `channels: {webhook: {url: ...}}`",
                        )

    # The templates are checked by rendering them the way the engine will: a broken override
    # would otherwise only show at 3 am, as the built-in text and a warning in the log.
    for field, message in template_problems(config.messages):
        problems.add(("messages", field), message)
    webhook = config.channels.webhook
    if webhook is not None and urlsplit(webhook.url).scheme not in ("http", "https"):
        problems.add(("channels", "webhook", "url"), "must be an http:// or https:// URL")

    if config.defaults.policy is not None and config.defaults.policy not in policies:
        problems.unknown(("defaults", "policy"), "policy", config.defaults.policy, policies)
    for index, probe in enumerate(config.probes):
        if probe.alert.policy is not None and probe.alert.policy not in policies:
            problems.unknown(
                ("probes", index, "alert", "policy"), "policy", probe.alert.policy, policies
            )
    self_policy = config.watch_self.policy
    if self_policy is not None and self_policy not in policies:
        problems.unknown(("self", "policy"), "policy", self_policy, policies)
    if any(probe.name == SELF_PROBE for probe in config.probes):
        index = next(i for i, probe in enumerate(config.probes) if probe.name == SELF_PROBE)
        problems.add(
            ("probes", index, "name"),
            f"`{SELF_PROBE}` is the monitor's own incident name; choose another probe name",
        )
    return problems.found
