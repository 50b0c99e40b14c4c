"""The demo's narration: each incident's timeline, read from the database as it grows, told one
short line per event ("MON-1  SMS to Alice Meyer (primary, +*********0001)").

The timeline is the source because it is what the monitor really did: every page, delivery
report and acknowledgement is an event row written by the part of the monitor that acted. The
narrator only reads, with its own connection, so it can never change what it tells.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.config.durations import format_duration
from monitor.escalation.policy import PolicySnapshot, Target
from monitor.masking import mask_phone, mask_phones
from monitor.storage.database import Database
from monitor.storage.escalation import PageView, incident_policy, pages_of
from monitor.storage.incidents import IncidentEvent, IncidentRow, get_incident, list_incidents

# A "resolved" message reported `sent` but not yet delivered: waited for this long before the
# story counts it as told (a provider that never reports must not hold the demo forever).
DELIVERY_REPORT_WAIT = timedelta(seconds=10)

_PAGING = re.compile(r"^level (?P<level>\d+) \(cycle (?P<cycle>\d+)\)")
_SENT = re.compile(r"^(?P<what>page|resolved message) sent to (?P<name>.+) by (?P<channel>\w+)")
_PAGE_NUMBER = re.compile(r" \(#\d+\)$")

# A phone number -> the URL of its sandbox phone page, or None.
PhonePage = Callable[[str], str | None]


def clock_time(moment: datetime) -> str:
    """The narration's times: UTC, like every time the monitor prints."""
    return moment.astimezone(UTC).strftime("%H:%M:%S")


def label(incident_id: int) -> str:
    """What the SMS calls the incident (`[MON-1] PARTIAL login ...`)."""
    return f"MON-{incident_id}"


@dataclass(frozen=True, kw_only=True)
class Said:
    """One narrated event: its time and what is said about it (a line, maybe hints after it)."""

    at: datetime
    lines: tuple[str, ...]


@dataclass(kw_only=True)
class _Known:
    row: IncidentRow
    seen: Counter[tuple[datetime, str, str]] = field(default_factory=Counter)
    policy: PolicySnapshot | None = None
    last_kind: str | None = None


class Narrator:
    """Tells the timelines of the incidents open at some moment since `since`."""

    def __init__(self, db: Database, *, since: datetime, phone_page: PhonePage) -> None:
        self.db = db
        self.since = since
        self.phone_page = phone_page
        self._known: dict[int, _Known] = {}
        self._hinted: set[tuple[str, str]] = set()  # (phone, channel) a hint was given for

    @property
    def incidents(self) -> list[IncidentRow]:
        return [known.row for known in self._known.values()]

    async def poll(self) -> list[Said]:
        """What happened since the last poll, oldest first."""
        said: list[Said] = []
        for row in sorted(await list_incidents(self.db, since=self.since), key=lambda r: r.id):
            found = await get_incident(self.db, row.id)
            if found is None:
                continue
            row, events = found
            known = self._known.setdefault(row.id, _Known(row=row))
            known.row = row
            if known.policy is None:
                snapshot = await incident_policy(self.db, row.id)
                known.policy = PolicySnapshot.from_json(snapshot) if snapshot else None
            said.extend(self._new(known, events))
        said.sort(key=lambda s: s.at)
        return said

    def _new(self, known: _Known, events: Sequence[IncidentEvent]) -> list[Said]:
        # Events are compared as a multiset, not by position: writers with slightly different
        # clocks may put a new event before one already told.
        count: Counter[tuple[datetime, str, str]] = Counter()
        said: list[Said] = []
        for event in events:
            key = (event.at, event.kind, event.detail)
            count[key] += 1
            if count[key] <= known.seen[key] or event.at < self.since:
                continue
            known.seen[key] += 1
            lines = describe(event, incident=known.row, policy=known.policy, after=known.last_kind)
            known.last_kind = event.kind
            if lines:
                lines += self._hints(event, known.policy)
                said.append(Said(at=event.at, lines=tuple(lines)))
        return said

    def _hints(self, event: IncidentEvent, policy: PolicySnapshot | None) -> list[str]:
        """Where to answer, the first time a person gets an SMS page or a call."""
        found = _answerable(event)
        if found is None:
            return []
        name, channel, how = found
        target = _target(policy, name)
        if target is None or target.phone is None or (target.phone, channel) in self._hinted:
            return []
        url = self.phone_page(target.phone)
        if url is None:
            return []
        self._hinted.add((target.phone, channel))
        return [f"  {how} on {target.name}'s phone: {url}"]

    async def all_told(self, now: datetime) -> bool:
        """Every incident resolved and its "resolved" messages out (delivered, failed, or sent
        a while ago)."""
        if not self._known:
            return False
        for known in self._known.values():
            if known.row.state != "resolved":
                return False
            if not _resolved_messages_out(known, await pages_of(self.db, known.row.id), now):
                return False
        return True


def _resolved_messages_out(known: _Known, pages: Sequence[PageView], now: datetime) -> bool:
    reached = any(p.kind == "page" and p.status in ("sent", "delivered") for p in pages)
    told = [p for p in pages if p.kind == "resolved"]
    if reached and known.policy is not None and known.policy.notify_on_resolve and not told:
        return False  # the engine has not written them yet
    for page in told:
        if page.status in ("pending", "sending"):
            return False
        if page.status == "sent" and page.delivery is None:
            sent_at = page.sent_at or page.created_at
            if now - sent_at < DELIVERY_REPORT_WAIT:
                return False
    return True


def _answerable(event: IncidentEvent) -> tuple[str, str, str] | None:
    """(person's name, channel, what to do) when the event reached someone who can answer."""
    if event.kind == "sent":
        match = _SENT.match(event.detail)
        if match is not None and match["what"] == "page" and match["channel"] == "sms":
            return match["name"], "sms", "reply ACK"
    if event.kind == "delivered":
        name, answered, _ = event.detail.partition(" answered the call")
        if answered:
            return name, "voice", "press 1"
    return None


def describe(
    event: IncidentEvent,
    *,
    incident: IncidentRow,
    policy: PolicySnapshot | None,
    after: str | None = None,
) -> list[str]:
    """The narration of one timeline event (empty: not worth a line), phone numbers masked.
    `after` is the kind of the incident's previous event."""
    name = label(incident.id)
    text = _describe(event.kind, event.detail, incident=incident, policy=policy, after=after)
    return [mask_phones(f"{name}  {text}")] if text else []


def _describe(
    kind: str,
    detail: str,
    *,
    incident: IncidentRow,
    policy: PolicySnapshot | None,
    after: str | None,
) -> str | None:
    if kind in ("opened", "reopened"):
        severity, _, figures = detail.partition(": ")
        return f"{kind.upper()}: {incident.probe} {severity.upper()}, {figures}"
    if kind == "severity":
        return f"{incident.probe} severity {detail}"
    if kind == "paging":
        return _paging(detail, policy=policy, after=after)
    if kind == "sent":
        return _sent(detail, policy)
    if kind == "delivered":
        text = _PAGE_NUMBER.sub("", detail)
        if "answered the call" in text:
            return f"{text}: it reads out the incident and waits for a key (1 acknowledges)"
        return text
    if kind == "delivery_failed":
        return f"not delivered: {detail}"
    if kind == "acknowledged":
        return f"ACKNOWLEDGED {detail}"
    if kind == "escalated":
        who, _, _ = detail.removeprefix("by ").partition(": ")
        return f"{who} asked to escalate now"
    if kind == "resolved":
        return f"RESOLVED: {detail}"
    if kind == "notify":
        return None  # the "resolved" messages follow, one line each
    return f"{kind}: {detail}"


def _paging(detail: str, *, policy: PolicySnapshot | None, after: str | None) -> str | None:
    match = _PAGING.match(detail)
    if match is None:
        return detail  # "trying Alice Meyer by voice instead"
    level, cycle = int(match["level"]), int(match["cycle"])
    if level == 1 and cycle == 1:
        return None  # the pages themselves follow, one line each
    if after == "escalated":
        return f"escalating to level {level}"
    if after == "ack_timeout":
        return f"paging again from level {level}"
    waited = ""
    if policy is not None and policy.levels:
        previous = policy.levels[(level - 2) % len(policy.levels)]
        waited = f" within {format_duration(previous.escalate_after)}"
    if level == 1:
        return f"no ACK{waited}: starting over at level 1 (cycle {cycle})"
    return f"no ACK{waited}: escalating to level {level}"


def _sent(detail: str, policy: PolicySnapshot | None) -> str:
    match = _SENT.match(detail)
    if match is None:
        return detail
    name, channel = match["name"], match["channel"]
    target = _target(policy, name)
    who = f"{name} ({_whom(target)})" if target is not None else name
    if match["what"] != "page":
        return f'"resolved" {_channel_word(channel)} to {name}'
    if channel == "sms":
        return f"SMS to {who}"
    if channel == "voice":
        return f"calling {who}"
    return f"page to {who} by {channel}"


def _whom(target: Target) -> str:
    role = f"{target.schedule}" if target.schedule else "named in the policy"
    return f"{role}, {mask_phone(target.phone)}" if target.phone else role


def _channel_word(channel: str) -> str:
    return {"sms": "SMS", "voice": "call"}.get(channel, f"{channel} message")


def _target(policy: PolicySnapshot | None, name: str) -> Target | None:
    if policy is None:
        return None
    return next((t for level in policy.levels for t in level.targets if t.name == name), None)
