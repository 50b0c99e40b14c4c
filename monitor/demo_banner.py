"""What `monitor demo` says once everything runs: the addresses of the monitor, the sandbox's
phones and the example API, who is on call, and how the story will go."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from monitor.clock import SystemClock
from monitor.config.durations import format_duration
from monitor.config.models import MonitorConfig
from monitor.demo_config import Pace
from monitor.demo_story import INDENT
from monitor.oncall import on_call


def phone_page(sandbox_url: str, phone: str) -> str:
    """A sandbox phone's page (`+` in the path encoded)."""
    return f"{sandbox_url}/phone/{quote(phone, safe='')}"


def banner(
    config: MonitorConfig,
    *,
    api_base: str,
    sandbox_url: str,
    monitor_url: str,
    admin_token: str,
    paging: list[str],
    pace: Pace,
    started_broken: bool,
    disk_full: bool,
) -> list[str]:
    """Where everything is, who is on call, how the policy escalates, what happens next."""
    now = SystemClock().now()
    roles: dict[str, list[str]] = {}
    for schedule in config.schedules:
        on_duty = on_call(schedule, now)
        if on_duty is not None:
            roles.setdefault(on_duty, []).append(schedule.name)
    people = [p for p in config.people if p.phone]
    width = max((len(p.name) for p in people), default=0)
    lines = [
        "",
        f"The monitor:     {monitor_url} (Twilio's webhooks: {monitor_url}/twilio/...)",
        f"The status page: {monitor_url}/ (what customers see)",
        f"The admin pages: {monitor_url}/admin (token: {admin_token})",
        f"The phones:      {sandbox_url}/ (the Twilio sandbox: every SMS and call lands here)",
    ]
    for person in people:
        role = f"on call: {', '.join(roles[person.id])}" if person.id in roles else ""
        page = phone_page(sandbox_url, person.phone or "")
        lines.append(f"  {person.name:<{width}}  {page:<48} {role}".rstrip())
    lines.append(f"The example API: {api_base}")
    lines += _policy_lines(config, paging)
    others = [p.name for p in config.probes if p.name not in paging]
    if others:
        lines.append(
            f"Only {', '.join(paging)} pages: {' and '.join(others)} run too and are stored, "
            "but open no incident in the demo (one outage, one incident, one story)."
        )
    if started_broken:
        lines.append(
            "The example API started broken (--error-ratio): every probe pages, as it would "
            "in production."
        )
    else:
        if disk_full:
            lines.append(
                "The example API's disk is full from the start (--disk-full): its writes fail; "
                "the outage comes on top."
            )
        lines.append(
            f"In {format_duration(pace.outage_after)} the demo breaks the example API. Open the "
            "phones page now: when the SMS arrives, reply ACK there (or press 1 on the call)."
        )
    lines.append(
        "Once someone acknowledges, the demo fixes the API and the monitor resolves the "
        "incident. Ctrl-C stops. Times are UTC."
    )
    lines.append("")
    return lines


def _policy_lines(config: MonitorConfig, paging: list[str]) -> list[str]:
    probe = next((p for p in config.probes if p.name in paging), None)
    policy = config.policy_of(probe) if probe is not None else None
    if policy is None:
        return []
    lines = [f"Escalation policy {policy.name}, sped up:"]
    waited = timedelta(0)
    for number, level in enumerate(policy.levels, start=1):
        targets = ", ".join(
            f"{t.schedule or t.person} by {' and '.join(t.via or ['their first channel'])}"
            for t in level.notify
        )
        when = "at once" if number == 1 else f"after {format_duration(waited)}"
        lines.append(f"{INDENT}level {number} ({when}): {targets}")
        waited += level.escalate_after
    repeat = "forever" if policy.repeat is None else f"{policy.repeat} more times"
    lines.append(f"{INDENT}then again from level 1 ({repeat}) until someone acknowledges")
    return lines
