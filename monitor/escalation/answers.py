"""Acting on what a paged person answers: an SMS reply or a key pressed on a call.

Codes are scoped to the replying number (DESIGN.md §4): the number must belong to a roster
person, and the incident must be one they were paged for or whose policy names them. Anyone else
gets no answer at all (a stranger learns nothing, not even that the number is a pager), and
nothing changes. Every action is confirmed by a reply; help texts and refusals are automatic
replies, at most AUTO_REPLIES_PER_HOUR per number, so two robots cannot text each other forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from monitor.clock import Clock
from monitor.config.models import MonitorConfig
from monitor.config.oncall import PersonConfig
from monitor.escalation.policy import PolicySnapshot
from monitor.escalation.replies import Command, parse_reply
from monitor.masking import mask_phone
from monitor.storage.database import Database
from monitor.storage.delivery import page_info
from monitor.storage.escalation import incident_policy
from monitor.storage.inbound import (
    auto_replies_since,
    latest_incident_paged_to,
    record_inbound,
    set_opted_out,
    was_paged,
)
from monitor.storage.incidents import (
    IncidentRow,
    acknowledge_incident,
    escalate_incident,
    get_incident,
    resolve_incident,
)

log = logging.getLogger(__name__)

AUTO_REPLIES_PER_HOUR = 5
HELP_TEXT = (
    "monitor: reply ACK 12 to acknowledge MON-12, RESOLVE 12 to resolve it, ESC 12 to page the "
    "next level. ACK alone answers your latest page."
)


@dataclass(frozen=True)
class SmsAnswer:
    action: str  # acknowledged, resolved, escalated, already, refused, help, ignored, stop, start
    reply: str | None  # the text to send back, if any
    incident_id: int | None = None


@dataclass(frozen=True)
class KeyAnswer:
    say: str
    done: bool  # hang up after saying it; False: listen for another key


class Responder:
    def __init__(
        self,
        db: Database,
        *,
        config: Callable[[], MonitorConfig],
        clock: Clock,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self._config = config
        self.clock = clock
        self._wake = wake  # the engine: an acknowledgement cancels pages, a resolution notifies

    # -- SMS ------------------------------------------------------------------------------

    async def sms(self, *, phone: str, body: str) -> SmsAnswer:
        person = _person_by_phone(self._config(), phone)
        reply = parse_reply(body)
        if reply.command in (Command.STOP, Command.START):
            # The provider answers STOP and START itself and blocks texts after STOP; we only
            # remember it so `validate` and readiness can say this number cannot get SMS.
            stopped = reply.command is Command.STOP
            await set_opted_out(self.db, phone=phone, at=self.clock.now(), opted_out=stopped)
            log.warning(
                "%s (%s) replied %s: %s",
                mask_phone(phone),
                person.name if person else "not on the roster",
                reply.command.value.upper(),
                "no more SMS pages to this number" if stopped else "SMS pages allowed again",
            )
            answer = SmsAnswer(reply.command.value, None)
        elif person is None:
            log.warning("SMS from %s ignored: not on the roster", mask_phone(phone))
            answer = SmsAnswer("ignored", None)
        elif reply.command in (Command.HELP, Command.UNKNOWN):
            answer = SmsAnswer("help", HELP_TEXT)
        else:
            answer = await self._act(person, reply.command, reply.incident)
        answer = await self._limit(phone, answer)
        await record_inbound(
            self.db,
            at=self.clock.now(),
            phone=phone,
            person=person.id if person else None,
            body=body,
            action=answer.action,
            incident_id=answer.incident_id,
            auto_reply=answer.action in _AUTOMATIC and answer.reply is not None,
        )
        return answer

    async def _limit(self, phone: str, answer: SmsAnswer) -> SmsAnswer:
        if answer.action not in _AUTOMATIC or answer.reply is None:
            return answer
        since = self.clock.now() - timedelta(hours=1)
        if await auto_replies_since(self.db, phone=phone, since=since) >= AUTO_REPLIES_PER_HOUR:
            log.warning(
                "no reply to %s: %s automatic replies this hour",
                mask_phone(phone),
                AUTO_REPLIES_PER_HOUR,
            )
            return SmsAnswer(answer.action, None, answer.incident_id)
        return answer

    async def _act(self, person: PersonConfig, command: Command, number: int | None) -> SmsAnswer:
        if number is None:
            number = await latest_incident_paged_to(self.db, person=person.id)
            if number is None:
                return SmsAnswer(
                    "refused", "No incident was paged to you. Reply HELP for commands."
                )
        found = await get_incident(self.db, number)
        if found is None or not await self._may_answer(person, number):
            return SmsAnswer(
                "refused", f"You were not paged for MON-{number}. Reply HELP for commands.", number
            )
        incident = found[0]
        by = f"{person.name} by SMS"
        return await self._apply(command, incident, by)

    async def _may_answer(self, person: PersonConfig, incident_id: int) -> bool:
        if await was_paged(self.db, incident_id=incident_id, person=person.id):
            return True
        policy = await incident_policy(self.db, incident_id)
        if policy is None:
            return False
        snapshot = PolicySnapshot.from_json(policy)
        return any(t.person == person.id for level in snapshot.levels for t in level.targets)

    async def _apply(self, command: Command, incident: IncidentRow, by: str) -> SmsAnswer:
        now = self.clock.now()
        label = f"MON-{incident.id} ({incident.probe})"
        if command is Command.ACK:
            done = await acknowledge_incident(self.db, incident_id=incident.id, at=now, by=by)
            text = f"Acknowledged {label}. Reply RESOLVE {incident.id} when fixed."
        elif command is Command.RESOLVE:
            done = await resolve_incident(
                self.db, incident_id=incident.id, at=now, detail=f"by {by}"
            )
            text = f"Resolved {label}."
        else:
            done = await escalate_incident(self.db, incident_id=incident.id, at=now, by=by)
            text = f"Escalating {label}: paging the next level now."
        if done:
            self._wake()
            return SmsAnswer(_DONE[command], text, incident.id)
        return SmsAnswer("already", await self._why_not(incident.id), incident.id)

    async def _why_not(self, incident_id: int) -> str:
        found = await get_incident(self.db, incident_id)
        incident = found[0] if found else None
        if incident is None or incident.state == "resolved":
            return f"MON-{incident_id} is already resolved."
        who = incident.acknowledged_by or "someone"
        return (
            f"MON-{incident_id} ({incident.probe}) was already acknowledged by {who}. "
            f"Reply RESOLVE {incident_id} when fixed."
        )

    # -- a key pressed on a call ----------------------------------------------------------

    async def keypress(self, *, page_id: int, digits: str) -> KeyAnswer:
        page = await page_info(self.db, page_id)
        if page is None:
            return KeyAnswer("This page is no longer known. Goodbye.", done=True)
        person = self._config().person(page.person)
        name = person.name if person else page.person
        found = await get_incident(self.db, page.incident_id)
        if found is None:
            return KeyAnswer("This incident is no longer known. Goodbye.", done=True)
        incident = found[0]
        command = _KEYS.get(digits[:1])
        if command is None:
            return KeyAnswer("Press 1 to acknowledge, 2 to resolve, 3 to escalate.", done=False)
        answer = await self._apply(command, incident, f"{name} by phone")
        if answer.action == "already":
            return KeyAnswer(
                f"{answer.reply} Goodbye.".replace("Reply RESOLVE", "Text RESOLVE"), done=True
            )
        spoken = {
            "acknowledged": f"Acknowledged incident {incident.id}. Goodbye.",
            "resolved": f"Resolved incident {incident.id}. Goodbye.",
            "escalated": f"Escalating incident {incident.id} to the next level. Goodbye.",
        }
        return KeyAnswer(spoken[answer.action], done=True)


_DONE = {Command.ACK: "acknowledged", Command.RESOLVE: "resolved", Command.ESCALATE: "escalated"}
_KEYS = {"1": Command.ACK, "2": Command.RESOLVE, "3": Command.ESCALATE}
# Replies nobody asked an action for: these count against the hourly limit.
_AUTOMATIC = frozenset({"help", "refused"})


def _person_by_phone(config: MonitorConfig, phone: str) -> PersonConfig | None:
    return next((person for person in config.people if person.phone == phone), None)
