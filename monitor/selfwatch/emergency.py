"""Paging without the database: the one trouble the engine cannot page for is the database
itself (pages, leases and answers all live there). Then the self policy's first level gets an
SMS straight through the channel, again every `REPEAT` while it lasts, and an all-clear when
the monitor works again. No acknowledgement is possible (it would need the database): the repeat
is slow, and the message says what is wrong and that other alerts cannot page meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.channels.base import Channel, Page
from monitor.config.models import MonitorConfig
from monitor.escalation.policy import OnCall, Target, snapshot_policy
from monitor.masking import mask_phone

log = logging.getLogger(__name__)

REPEAT = timedelta(minutes=30)
# The channels that work without the database: a call's TwiML and every status callback are
# looked up there.
CHANNELS = ("sms", "console", "webhook")


@dataclass
class Emergency:
    """What happened while the database was gone, for the incident's timeline once it is back."""

    since: datetime
    figures: str  # the trouble as first paged
    notes: list[tuple[datetime, str]] = field(default_factory=list)
    record_attempts: int = 0  # checks that tried to write it down since the trouble ended


class EmergencyPager:
    def __init__(
        self,
        *,
        config: Callable[[], MonitorConfig],
        channels: Mapping[str, Channel],
        on_call: OnCall,
    ) -> None:
        self._config = config
        self._channels = channels
        self._on_call = on_call
        self._last_sent: dict[str, datetime] = {}  # person -> their last emergency SMS
        self.emergency: Emergency | None = None  # since the first page, until the all-clear
        self._reached: dict[str, tuple[Target, str]] = {}  # person -> (target, channel)
        self._failing: set[str] = set()  # persons whose last emergency SMS could not be sent

    def _targets(self, now: datetime) -> list[Target]:
        config = self._config()
        name = config.watch_self.policy or config.defaults.policy
        policy = next((p for p in config.policies if p.name == name), None)
        if policy is None:
            return []
        snapshot = snapshot_policy(config, policy, at=now, on_call=self._on_call)
        return list(snapshot.levels[0].targets) if snapshot.levels else []

    async def page(self, figures: str, *, now: datetime) -> None:
        if self.emergency is None:
            self.emergency = Emergency(since=now, figures=figures)
        text = (
            f"monitor-self: {figures}. Other alerts cannot page until this is fixed. "
            "No ACK possible; it repeats every 30m."
        )
        for target in self._targets(now):
            last = self._last_sent.get(target.person)
            if last is not None and now - last < REPEAT:
                continue
            # Only a sent SMS waits for the repeat: a failed one is tried again next check.
            channel = await self._send(target, text, kind="page")
            if channel is not None:
                self._reached[target.person] = (target, channel)
                self._last_sent[target.person] = now
                self._failing.discard(target.person)
            elif target.person in self._failing:
                continue  # tried again every check: said once, not 360 times an hour
            else:
                self._failing.add(target.person)
            # No number in the timeline: it is shown on the admin pages and in the API.
            said = f"sent by {channel}" if channel else "could not be sent"
            self.emergency.notes.append(
                (now, f"emergency SMS to {target.name} {said} (the database was unreachable)")
            )

    async def all_clear(self, *, now: datetime, incident: str | None = None) -> None:
        """Tell whoever was reached that it works again (`incident`: where the story is kept)."""
        down = now - self.emergency.since if self.emergency is not None else timedelta()
        text = (
            f"monitor-self: the monitor works again (broken for {int(down.total_seconds() // 60)}m)"
            + (f"; {incident} has the timeline." if incident else ".")
        )
        for target, _ in list(self._reached.values()):
            await self._send(target, text, kind="resolved")
        self._reached.clear()
        self._last_sent.clear()
        self._failing.clear()
        self.emergency = None

    async def _send(self, target: Target, text: str, *, kind: str) -> str | None:
        """The first channel of the person's that works without the database; its name."""
        for name in target.fallback:
            channel = self._channels.get(name)
            if name not in CHANNELS or channel is None:
                continue
            page = Page(
                id=0,  # no outbox row: the database is what is down
                incident_id=0,
                kind="resolved" if kind == "resolved" else "page",
                person_id=target.person,
                person_name=target.name,
                phone=target.phone,
                channel=name,
                text=text,
                probe="monitor-self",
                severity="major",
            )
            try:
                await channel.send(page)
            except Exception as error:  # DeliveryError or a channel bug: the next channel
                log.error(
                    "monitor-self: emergency %s to %s by %s failed: %s",
                    kind,
                    target.name,
                    name,
                    error,
                )
                continue
            log.warning(
                "monitor-self: emergency %s sent to %s (%s) by %s",
                kind,
                target.name,
                mask_phone(target.phone or ""),
                name,
            )
            return name
        return None
