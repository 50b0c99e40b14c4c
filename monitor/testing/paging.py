"""The paging scenario harness (DESIGN.md §7): a manual clock, the real engine over a real
database, and phones that record what each person received.

    scenario.open("login")
    await scenario.fast_forward("5m")
    scenario.phone("alice").expect_sms("PARTIAL")
    await scenario.ack(incident, by="alice")

Time only moves when the scenario says so; between two moments the engine ticks at every
deadline it has (a level's escalate_after, a retry's backoff), so a 4-hour escalation runs in
a fraction of a second and every page lands at its exact minute. The phones stand behind a real
Channel; the next issue puts them behind the Twilio sandbox instead.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.channels.base import Channel, DeliveryError, Page
from monitor.clock import ManualClock
from monitor.config.durations import parse_duration
from monitor.config.models import MonitorConfig
from monitor.escalation.engine import Engine
from monitor.escalation.policy import OnCall
from monitor.storage.database import Database
from monitor.storage.escalation import next_deadline
from monitor.storage.incidents import (
    IncidentEvent,
    acknowledge_incident,
    escalate_incident,
    get_incident,
    open_incident,
    resolve_incident,
)


@dataclass(frozen=True)
class Received:
    at: datetime
    channel: str  # sms | voice | webhook | console
    kind: str  # page | resolved
    incident_id: int
    text: str


class UnexpectedPage(AssertionError):
    pass


class Phone:
    """What one person received, in order; each `expect_*` takes the oldest message and checks
    it, so anything not expected is left over and `Scenario.assert_quiet` fails on it."""

    def __init__(self, person: str) -> None:
        self.person = person
        self.inbox: deque[Received] = deque()
        self.all: list[Received] = []

    def _take(self, channel: str | None, contains: str, kind: str) -> Received:
        if not self.inbox:
            raise UnexpectedPage(f"{self.person} received nothing (expected {channel} {kind})")
        message = self.inbox.popleft()
        if (channel is not None and message.channel != channel) or message.kind != kind:
            raise UnexpectedPage(
                f"{self.person} expected {channel} {kind}, got {message.channel} {message.kind}: "
                f"{message.text!r}"
            )
        if contains not in message.text:
            raise UnexpectedPage(f"{self.person}: {contains!r} not in {message.text!r}")
        return message

    def expect_sms(self, contains: str = "") -> Received:
        return self._take("sms", contains, "page")

    def expect_call(self, contains: str = "") -> Received:
        return self._take("voice", contains, "page")

    def expect_page(self, channel: str, contains: str = "") -> Received:
        return self._take(channel, contains, "page")

    def expect_resolved(self, contains: str = "") -> Received:
        return self._take(None, contains, "resolved")

    def expect_nothing(self) -> None:
        if self.inbox:
            raise UnexpectedPage(f"{self.person} received {list(self.inbox)}")


class Phones:
    """The channel side: a Channel per name that records into the person's phone. A person or
    a channel can be made to fail (`fail`), transiently or permanently, for a number of tries."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.by_person: dict[str, Phone] = {}
        self._failures: dict[tuple[str, str], deque[DeliveryError]] = defaultdict(deque)

    def phone(self, person: str) -> Phone:
        return self.by_person.setdefault(person, Phone(person))

    def fail(self, person: str, channel: str, *, times: int, permanent: bool = False) -> None:
        reason = "recipient unreachable (test)" if permanent else "provider busy (test)"
        for _ in range(times):
            self._failures[(person, channel)].append(DeliveryError(reason, permanent=permanent))

    def channel(self, name: str) -> RecordingChannel:
        return RecordingChannel(name, self)


class RecordingChannel:
    def __init__(self, name: str, phones: Phones) -> None:
        self.name = name
        self.phones = phones

    async def send(self, page: Page) -> str | None:
        failures = self.phones._failures.get((page.person_id, page.channel))
        if failures:
            raise failures.popleft()
        spoken = page.channel == "voice" and page.voice_text is not None
        message = Received(
            at=self.phones.clock.now(),
            channel=page.channel,
            kind=page.kind,
            incident_id=page.incident_id,
            text=page.voice_text if spoken and page.voice_text else page.text,
        )
        phone = self.phones.phone(page.person_id)
        phone.inbox.append(message)
        phone.all.append(message)
        return f"test-{page.id}"


CHANNELS = ("sms", "voice", "webhook", "console")
# A page failing over to the next channel is due at once: a few ticks at one moment are normal.
MAX_TICKS_AT_ONE_MOMENT = 20


class Scenario:
    def __init__(
        self,
        db: Database,
        config: MonitorConfig,
        *,
        on_call: OnCall,
        start: datetime,
        engines: int = 1,
        channels: Mapping[str, Channel] | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock or ManualClock(start)
        self.phones = Phones(self.clock)
        # Real channels (Twilio aimed at the sandbox) instead of the recording phones.
        self.channels = channels
        self.on_call = on_call
        self.engine_count = engines
        self.engines = self._new_engines()
        self.start = start
        # Restart the engine (new objects over the same database) before every tick.
        self.restart_every_tick = False
        self.restarts = 0

    def _new_engines(self) -> list[Engine]:
        channels = self.channels or {name: self.phones.channel(name) for name in CHANNELS}
        return [
            Engine(
                self.db,
                config=lambda: self.config,
                channels=channels,
                clock=self.clock,
                on_call=self.on_call,
            )
            for _ in range(self.engine_count)
        ]

    def restart(self) -> None:
        """A crash and a restart: the engines' objects are gone, the database stays."""
        self.engines = self._new_engines()
        self.restarts += 1

    @property
    def engine(self) -> Engine:
        return self.engines[0]

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def minute(self) -> float:
        """Minutes since the scenario started, for timelines."""
        return (self.now - self.start).total_seconds() / 60

    def phone(self, person: str) -> Phone:
        return self.phones.phone(person)

    async def open(self, probe: str, *, severity: str = "partial") -> int:
        opened = await open_incident(
            self.db,
            probe=probe,
            severity=severity,  # type: ignore[arg-type]
            rule="failure_ratio above 20% over 5m",
            figures="35% of 20 runs failed in 5m",
            cause="sign in: [STATUS] (503) == 200",
            at=self.now,
        )
        await self.tick()
        return opened.incident.id

    async def tick(self) -> None:
        """One tick of every engine, concurrently: two engines over one database race for the
        same incidents and pages, as two processes would."""
        if self.restart_every_tick:
            self.restart()
        await asyncio.gather(*(engine.tick() for engine in self.engines))

    async def fast_forward(self, duration: str | timedelta) -> None:
        """Move time on by `duration`, ticking the engine at each deadline on the way and at the
        end, as a real engine ticking every second would act at each of those moments."""
        span = parse_duration(duration) if isinstance(duration, str) else duration
        end = self.now + span
        ticks_at_this_moment = 0
        while True:
            deadline = await next_deadline(self.db)
            if deadline is None or deadline > end:
                break
            if deadline > self.now:
                self.clock.advance(deadline - self.now)
                ticks_at_this_moment = 0
            ticks_at_this_moment += 1
            if ticks_at_this_moment > MAX_TICKS_AT_ONE_MOMENT:
                raise RuntimeError(f"the engine makes no progress at {self.now.isoformat()}")
            await self.tick()
        if end > self.now:
            self.clock.advance(end - self.now)
        await self.tick()

    async def ack(self, incident_id: int, *, by: str) -> bool:
        done = await acknowledge_incident(self.db, incident_id=incident_id, at=self.now, by=by)
        await self.tick()
        return done

    async def resolve(self, incident_id: int, *, detail: str = "resolved by hand") -> bool:
        done = await resolve_incident(self.db, incident_id=incident_id, at=self.now, detail=detail)
        await self.tick()
        return done

    async def escalate(self, incident_id: int, *, by: str = "test") -> bool:
        done = await escalate_incident(self.db, incident_id=incident_id, at=self.now, by=by)
        await self.tick()
        return done

    async def events(self, incident_id: int) -> list[IncidentEvent]:
        found = await get_incident(self.db, incident_id)
        assert found is not None, f"no incident {incident_id}"
        return found[1]

    async def state(self, incident_id: int) -> str:
        found = await get_incident(self.db, incident_id)
        assert found is not None, f"no incident {incident_id}"
        return found[0].state

    def assert_quiet(self, people: Iterable[str] | None = None) -> None:
        """Nobody (of `people`) has a message the test did not expect."""
        for person in people or list(self.phones.by_person):
            self.phone(person).expect_nothing()
