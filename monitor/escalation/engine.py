"""The escalation engine: durable and clock-driven (DESIGN.md §4, §6).

`tick()` runs a fixed list of steps, each isolated (an exception in one is logged and counted,
the others still run):
1. escalate: every incident whose `next_action_at` is due is claimed and moved on: paging
   starts (the policy is snapshotted), the next level is paged, an acknowledgement times out,
   a resolution tells everyone who was paged. Pages are outbox rows written in the same
   transaction as the position, before any channel is called.
2. dispatch: pending pages are claimed (with a lease), sent, and their outcome recorded;
   transient failures are retried with backoff, a page that cannot be delivered moves on to the
   person's next channel at once.

A crash between claiming a page and recording its outcome leaves it `sending` until its lease
runs out; then it is sent again: at most the page in flight is repeated, none is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.channels.base import Channel, DeliveryError, Page
from monitor.clock import Clock
from monitor.config.models import SELF_PROBE, MonitorConfig
from monitor.escalation.messages import IncidentFacts, Messages
from monitor.escalation.policy import (
    OnCall,
    Phase,
    PolicySnapshot,
    Position,
    Target,
    next_step,
    snapshot_policy,
)
from monitor.masking import mask_phones
from monitor.storage.database import Database
from monitor.storage.delivery import DeliveredPage, settle_early_deliveries
from monitor.storage.escalation import (
    BATCH,
    Change,
    ClaimedPage,
    EscalationRow,
    Outcome,
    PageKey,
    add_event,
    add_page,
    channels_tried,
    claim_pages,
    finish_pages,
    incident_policy,
    incident_state,
    next_deadline,
    process_due,
)

log = logging.getLogger(__name__)

# How long a sender holds a page: longer than any channel call may take (their own timeouts are
# seconds), short enough that a crashed sender's page goes out again within a minute.
LEASE = timedelta(seconds=60)
SEND_TIMEOUT_SECONDS = 30.0
# Transient failures: 2 s, 4 s, 8 s, 16 s ... between attempts, at most a minute.
FIRST_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(seconds=60)
CONCURRENT_SENDS = 50
# Rounds of dispatch per tick: a person's channels one after the other (sms, voice, webhook).
DISPATCH_ROUNDS = 4


def backoff(attempts: int) -> timedelta:
    delay: timedelta = FIRST_BACKOFF * (2 ** max(0, attempts - 1))
    return min(MAX_BACKOFF, delay)


# A provider's 201 only says it took the request: these channels work when a callback says
# delivered (or answered), and fail when it says failed.
CONFIRMED_BY_CALLBACK = frozenset({"sms", "voice"})


@dataclass
class EngineStats:
    ticks: int = 0
    last_tick: datetime | None = None
    step_errors: Counter[str] = field(default_factory=Counter)
    pages_sent: Counter[str] = field(default_factory=Counter)  # by channel
    pages_failed: Counter[str] = field(default_factory=Counter)
    # Attempts failing in a row per channel, retried ones included: a provider that refuses
    # everything shows here long before pages run out of retries.
    failing_in_a_row: Counter[str] = field(default_factory=Counter)
    last_failure: dict[str, str] = field(default_factory=dict)  # channel -> its last reason

    def channel_failed(self, channel: str, reason: str) -> None:
        self.failing_in_a_row[channel] += 1
        self.last_failure[channel] = reason

    def channel_worked(self, channel: str) -> None:
        self.failing_in_a_row[channel] = 0


class Engine:
    def __init__(
        self,
        db: Database,
        *,
        config: Callable[[], MonitorConfig],
        channels: Mapping[str, Channel],
        clock: Clock,
        on_call: OnCall,
        messages: Messages | None = None,
    ) -> None:
        self.db = db
        self._config = config
        self.channels = channels
        self.clock = clock
        self.on_call = on_call
        self.messages = messages or Messages(config().messages)
        self.stats = EngineStats()
        self._wake = asyncio.Event()
        self._sends = asyncio.Semaphore(CONCURRENT_SENDS)

    # -- the loop -------------------------------------------------------------------------

    def wake(self) -> None:
        """Something changed (an incident opened, acknowledged, resolved): tick now."""
        self._wake.set()

    async def run(self, *, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Tick at least every `interval` seconds, and whenever woken, until `stop` is set;
        a tick under way finishes first."""
        while not stop.is_set():
            self._wake.clear()
            await self.tick()
            waiters = {
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(stop.wait()),
            }
            try:
                await asyncio.wait(
                    waiters,
                    timeout=await self._pause(interval),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _pause(self, interval: float) -> float:
        """Until the next deadline (a level's timeout, a retry), at most `interval`: a page
        due at 09:05:00.000 goes out then, not up to a second later."""
        try:
            deadline = await next_deadline(self.db)
        except Exception:
            log.exception("escalation engine: reading the next deadline failed")
            return interval
        if deadline is None:
            return interval
        return max(0.0, min(interval, (deadline - self.clock.now()).total_seconds()))

    async def tick(self) -> None:
        now = self.clock.now()
        for name, step in (("escalate", self.escalate), ("dispatch", self.dispatch)):
            try:
                await step(now)
            except Exception:  # isolation: one broken step must not stop the other
                self.stats.step_errors[name] += 1
                log.exception("escalation engine: the %s step failed", name)
        self.stats.ticks += 1
        self.stats.last_tick = now

    # -- step 1: escalate -----------------------------------------------------------------

    async def escalate(self, now: datetime) -> None:
        """Escalate what is due, a batch at a time, sending each batch's pages before the
        next batch: with 1,000 incidents due at once the first pages go out in milliseconds."""
        while True:
            claimed = await process_due(
                self.db, now=now, decide=lambda row, sent: self._decide(row, sent, now)
            )
            if claimed < BATCH:
                return
            await self.dispatch(now)

    def _decide(
        self, row: EscalationRow, sent: list[tuple[str, str]], now: datetime
    ) -> Change | None:
        position = Position(row.esc_cycle, row.esc_level, row.esc_round_start)
        if row.state == "resolved":
            return self._tell_resolved(row, sent, position)
        snapshot, new = self._policy(row, now)
        if snapshot is None:
            return _stay(
                position,
                events=[
                    ("unpaged", f"no escalation policy pages for {row.probe}: nobody is paged")
                ],
            )
        state: Phase = "acknowledged" if row.state == "acknowledged" else "triggered"
        step = next_step(
            state=state,
            position=position,
            policy=snapshot,
            now=now,
            acknowledged_at=row.acknowledged_at,
        )
        events = list(step.events)
        pages: list[PageKey] = []
        if step.page_level is not None:
            level = snapshot.levels[step.page_level]
            for target in level.targets:
                pages.extend(
                    PageKey(
                        cycle=step.position.cycle,
                        level=step.page_level,
                        person=target.person,
                        channel=channel,
                    )
                    for channel in target.via
                )
            who = ", ".join(f"{t.name} by {' and '.join(t.via)}" for t in level.targets)
            cycle = step.position.cycle - (step.position.round_start or 0) + 1
            events.append(("paging", f"level {step.page_level + 1} (cycle {cycle}): {who}"))
        return Change(
            esc_cycle=step.position.cycle,
            esc_level=step.position.level,
            esc_round_start=step.position.round_start,
            next_action_at=step.next_action_at,
            policy=snapshot.to_json() if new else None,
            retrigger=step.retrigger,
            pages=pages,
            events=events,
        )

    def _policy(self, row: EscalationRow, now: datetime) -> tuple[PolicySnapshot | None, bool]:
        if row.policy is not None:
            return PolicySnapshot.from_json(row.policy), False
        config = self._config()
        probe = next((p for p in config.probes if p.name == row.probe), None)
        if probe is not None:
            policy = config.policy_of(probe)
        else:
            # The monitor's own incident pages by `self.policy`; a probe gone from the config
            # still has its incident paged by the default.
            name = config.defaults.policy
            if row.probe == SELF_PROBE and config.watch_self.policy is not None:
                name = config.watch_self.policy
            policy = next((p for p in config.policies if p.name == name), None)
        if policy is None:
            return None, False
        return snapshot_policy(config, policy, at=now, on_call=self.on_call), True

    def _tell_resolved(
        self, row: EscalationRow, sent: list[tuple[str, str]], position: Position
    ) -> Change:
        snapshot = PolicySnapshot.from_json(row.policy) if row.policy is not None else None
        if snapshot is None or not snapshot.notify_on_resolve or not sent:
            return _stay(position)
        # One message per person, by SMS where they have it: a phone call at 4 am to say
        # "never mind" would be cruel.
        channel_of: dict[str, str] = {}
        for person, channel in sent:
            if person in channel_of:
                continue
            target = _target(snapshot, person)
            reachable = target.fallback if target is not None else (channel,)
            channel_of[person] = "sms" if "sms" in reachable else channel
        pages = [
            PageKey(cycle=row.esc_cycle, level=-1, person=person, channel=channel)
            for person, channel in channel_of.items()
        ]
        names = ", ".join(
            f"{_name(snapshot, person)} by {channel}" for person, channel in channel_of.items()
        )
        return Change(
            esc_cycle=position.cycle,
            esc_level=position.level,
            esc_round_start=position.round_start,
            next_action_at=None,
            pages=pages,
            page_kind="resolved",
            events=[("notify", f"telling who was paged that it is resolved: {names}")],
        )

    # -- step 2: dispatch -----------------------------------------------------------------

    async def dispatch(self, now: datetime) -> None:
        # A page that failed for good puts the person's next channel in the outbox, due at
        # once: it goes out in this tick, not a second later.
        for _ in range(DISPATCH_ROUNDS):
            claimed = await claim_pages(self.db, now=now, lease_until=now + LEASE)
            if not claimed:
                return
            outcomes = await asyncio.gather(*(self._send(page, now) for page in claimed))
            recorded = await finish_pages(self.db, outcomes, now=now)
            # A fast provider may report the final status before the send was recorded.
            early_failures = set(
                await settle_early_deliveries(
                    self.db,
                    [o.page.id for o in outcomes if o.status == "sent" and o.page.id in recorded],
                    now=now,
                )
            )
            for outcome in outcomes:
                failed = outcome.status == "failed" or outcome.page.id in early_failures
                if failed and outcome.page.id in recorded:
                    await self._fall_back(outcome.page, now)

    async def _send(self, page: ClaimedPage, now: datetime) -> Outcome:
        async with self._sends:
            return await self._send_one(page, now)

    async def _send_one(self, page: ClaimedPage, now: datetime) -> Outcome:
        incident = page.incident
        wanted = "resolved" if page.kind == "resolved" else "triggered"
        if incident.state != wanted:
            # Acknowledged or resolved after the page was written (or re-opened before the
            # "resolved" message went): not sent.
            return Outcome(page=page, status="cancelled")
        target = _target(_snapshot(incident), page.person)
        channel = self.channels.get(page.channel)
        if target is None or channel is None:
            reason = (
                f"no channel `{page.channel}` is configured"
                if channel is None
                else "the person is not in the incident's policy"
            )
            return self._failed(page, target, reason)
        message = self._message(page, target)
        try:
            provider_id = await asyncio.wait_for(channel.send(message), SEND_TIMEOUT_SECONDS)
        except DeliveryError as error:
            return self._attempt_failed(page, target, now, error.reason, permanent=error.permanent)
        except Exception as error:  # a channel's bug or a timeout: worth another try
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            return self._attempt_failed(page, target, now, reason, permanent=False)
        self.stats.pages_sent[page.channel] += 1
        if page.channel not in CONFIRMED_BY_CALLBACK:
            self.stats.channel_worked(page.channel)
        what = "resolved message" if page.kind == "resolved" else "page"
        detail = f"{what} sent to {target.name} by {page.channel}"
        if provider_id:
            detail += f" ({provider_id})"
        return Outcome(page=page, status="sent", provider_id=provider_id, event=("sent", detail))

    def _message(self, page: ClaimedPage, target: Target) -> Page:
        facts = IncidentFacts.of(page.incident)
        if page.kind == "resolved":
            text, voice = self.messages.resolved(facts), None
        else:
            text = self.messages.sms(facts)
            voice = self.messages.voice(facts) if page.channel == "voice" else None
        return Page(
            id=page.id,
            incident_id=page.incident.id,
            kind="resolved" if page.kind == "resolved" else "page",
            person_id=target.person,
            person_name=target.name,
            phone=target.phone,
            channel=page.channel,
            text=text,
            voice_text=voice,
            probe=page.incident.probe,
            severity=page.incident.severity,
            attempt=page.attempts,
        )

    def _attempt_failed(
        self, page: ClaimedPage, target: Target, now: datetime, reason: str, *, permanent: bool
    ) -> Outcome:
        reason = mask_phones(reason)
        self.stats.channel_failed(page.channel, reason)
        attempts_allowed = self._config().channels.attempts
        if not permanent and page.attempts < attempts_allowed:
            log.warning(
                "page %s to %s by %s failed (attempt %s of %s), retrying: %s",
                page.id,
                target.name,
                page.channel,
                page.attempts,
                attempts_allowed,
                reason,
            )
            return Outcome(
                page=page, status="pending", error=reason, retry_at=now + backoff(page.attempts)
            )
        return self._failed(page, target, reason)

    def _failed(self, page: ClaimedPage, target: Target | None, reason: str) -> Outcome:
        self.stats.pages_failed[page.channel] += 1
        name = target.name if target is not None else page.person
        tries = f" after {page.attempts} attempts" if page.attempts > 1 else ""
        log.error("page %s to %s by %s failed%s: %s", page.id, name, page.channel, tries, reason)
        return Outcome(
            page=page,
            status="failed",
            error=reason,
            event=("delivery_failed", f"{name} by {page.channel} failed{tries}: {reason}"),
        )

    async def _fall_back(self, page: ClaimedPage, now: datetime) -> None:
        if page.kind != "page":
            return
        await self._try_next_channel(
            incident_id=page.incident.id,
            snapshot=_snapshot(page.incident),
            cycle=page.cycle,
            level=page.level,
            person=page.person,
            now=now,
        )

    async def delivery_failed(self, page: DeliveredPage, *, now: datetime) -> None:
        """The provider reported a page undelivered (failed, busy, no answer): the person's
        next channel now, while the incident still waits for an answer."""
        if page.kind != "page":
            return
        state = await incident_state(self.db, page.incident_id)
        if state != "triggered":
            return
        policy = await incident_policy(self.db, page.incident_id)
        await self._try_next_channel(
            incident_id=page.incident_id,
            snapshot=PolicySnapshot.from_json(policy) if policy is not None else None,
            cycle=page.cycle,
            level=page.level,
            person=page.person,
            now=now,
        )
        self.wake()

    async def _try_next_channel(
        self,
        *,
        incident_id: int,
        snapshot: PolicySnapshot | None,
        cycle: int,
        level: int,
        person: str,
        now: datetime,
    ) -> None:
        """The person's next channel, at once, instead of waiting for the level's timeout."""
        target = _target(snapshot, person)
        if target is None:
            return
        tried = await channels_tried(
            self.db, incident_id=incident_id, cycle=cycle, level=level, person=person
        )
        following = next((c for c in target.fallback if c not in tried), None)
        if following is None:
            await add_event(
                self.db,
                incident_id=incident_id,
                at=now,
                kind="unreachable",
                detail=f"{target.name} could not be reached on any channel",
            )
            return
        await add_page(
            self.db,
            incident_id=incident_id,
            kind="page",
            key=PageKey(cycle=cycle, level=level, person=person, channel=following),
            now=now,
            event=("paging", f"trying {target.name} by {following} instead"),
        )


def _snapshot(incident: EscalationRow) -> PolicySnapshot | None:
    return PolicySnapshot.from_json(incident.policy) if incident.policy is not None else None


def _stay(position: Position, events: list[tuple[str, str]] | None = None) -> Change:
    return Change(
        esc_cycle=position.cycle,
        esc_level=position.level,
        esc_round_start=position.round_start,
        next_action_at=None,
        events=events or [],
    )


def _target(snapshot: PolicySnapshot | None, person: str) -> Target | None:
    if snapshot is None:
        return None
    for level in snapshot.levels:
        for target in level.targets:
            if target.person == person:
                return target
    return None


def _name(snapshot: PolicySnapshot, person: str) -> str:
    target = _target(snapshot, person)
    return target.name if target is not None else person
