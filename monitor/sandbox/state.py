"""The sandbox's in-memory model: messages, calls, per-number behaviour, faults and the log of
every webhook it sent.

Everything here is plain data mutated synchronously from the app's single event loop: no method
awaits, so no other coroutine can observe a half-made change and no lock is needed. The one
place where ordering matters across awaits, a call's dialogue, is owned by that call's own
task (see `voice.py`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

SmsBehaviour = Literal["deliver", "fail", "undelivered", "silent"]
VoiceBehaviour = Literal["answer", "no-answer", "busy", "fail", "machine"]
MessageDirection = Literal["outbound-api", "outbound-reply", "inbound"]

# Calls in these states will not change any more.
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def now() -> datetime:
    return datetime.now(UTC)


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True, kw_only=True)
class SandboxPerson:
    """A roster person, listed on the phones page."""

    name: str
    phone: str  # E.164


@dataclass(frozen=True, kw_only=True)
class SandboxSettings:
    """What `create_app` was given; fixed for the app's lifetime."""

    account_sid: str
    auth_token: str
    number: str
    callback_delay: float
    gather_timeout: float


@dataclass(kw_only=True)
class Message:
    sid: str
    to: str
    from_: str
    body: str
    direction: MessageDirection
    status: str
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    sent_at: datetime | None = None

    def set_status(self, status: str) -> None:
        self.status = status
        self.updated_at = now()
        if status == "sent" and self.sent_at is None:
            self.sent_at = self.updated_at


@dataclass(kw_only=True)
class PendingGather:
    """A `<Gather>` the call is waiting on."""

    action: str
    method: str
    num_digits: int | None
    finish_on_key: str


@dataclass(kw_only=True)
class Call:
    sid: str
    to: str
    from_: str
    twiml_url: str | None
    twiml: str | None
    method: str
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    machine_detection: str | None
    timeout: int
    status: str = "queued"
    answered_by: str | None = None
    transcript: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    pending_digits: str = ""
    gather: PendingGather | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    # The call's task reads (digits or hang-up, reply future) from here; see voice.py.
    inbox: asyncio.Queue[tuple[str | None, asyncio.Future[None]]] = field(
        default_factory=asyncio.Queue
    )

    @property
    def waiting_for_digits(self) -> bool:
        return self.gather is not None and self.status == "in-progress"

    @property
    def is_over(self) -> bool:
        return self.status in FINAL_CALL_STATUSES

    def set_status(self, status: str) -> None:
        self.status = status
        self.updated_at = now()


@dataclass(kw_only=True)
class Behaviour:
    """How a sandbox phone reacts to what it is sent; also the JSON of `/sandbox/numbers`."""

    sms: SmsBehaviour = "deliver"
    voice: VoiceBehaviour = "answer"
    out_of_order: bool = False


@dataclass(kw_only=True)
class Fault:
    """What the next `times` create requests suffer: a delay, then an error if `status` is set."""

    times: int
    status: int | None = None
    code: int | None = None
    message: str | None = None
    delay: float = 0.0


@dataclass(kw_only=True)
class WebhookRecord:
    """One request the sandbox sent: a status callback, a TwiML fetch or an inbound SMS."""

    method: str
    url: str
    params: dict[str, str]
    signature: str
    status: int | None = None
    body: str | None = None
    error: str | None = None
    # False while the request is in flight: the record is logged when it goes out.
    done: bool = False
    at: datetime = field(default_factory=now)


class Sandbox:
    """All the sandbox's data; `app.state.sandbox`."""

    def __init__(self, settings: SandboxSettings, *, inbound_sms_url: str | None) -> None:
        self.settings = settings
        self.inbound_sms_url = inbound_sms_url
        self.messages: dict[str, Message] = {}
        self.calls: dict[str, Call] = {}
        self.behaviours: dict[str, Behaviour] = {}
        self.opted_out: set[str] = set()
        self.fault: Fault | None = None
        self.webhooks: list[WebhookRecord] = []

    @property
    def number(self) -> str:
        return self.settings.number

    def add_message(self, message: Message) -> Message:
        self.messages[message.sid] = message
        return message

    def add_call(self, call: Call) -> Call:
        self.calls[call.sid] = call
        return call

    def behaviour(self, phone: str) -> Behaviour:
        return self.behaviours.get(phone, Behaviour())

    def take_fault(self) -> Fault | None:
        """The fault for this request, counting it against `times`."""
        fault = self.fault
        if fault is None:
            return None
        fault.times -= 1
        if fault.times <= 0:
            self.fault = None
        return fault

    def messages_with(self, phone: str | None) -> list[Message]:
        """Messages to or from `phone` (all when None), in order of creation."""
        return [m for m in self.messages.values() if phone is None or phone in (m.to, m.from_)]

    def calls_to(self, phone: str | None) -> list[Call]:
        return [c for c in self.calls.values() if phone is None or c.to == phone]

    def phones(self) -> Iterable[str]:
        """Every phone number the sandbox has talked to, except its own."""
        seen = dict.fromkeys(
            [m.to if m.direction != "inbound" else m.from_ for m in self.messages.values()]
            + [c.to for c in self.calls.values()]
        )
        return [phone for phone in seen if phone != self.number]

    def reset(self) -> None:
        self.messages.clear()
        self.calls.clear()
        self.behaviours.clear()
        self.opted_out.clear()
        self.fault = None
        self.webhooks.clear()
