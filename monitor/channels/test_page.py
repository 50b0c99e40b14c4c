"""`monitor page --test`: a real page through the configured provider, followed to its end.

The way to prove the pager works before the night it is needed: the message or call goes
through Twilio exactly as a page would, and the provider is asked for its status until it is
final (no status callback: the command may run where Twilio cannot reach it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from monitor.channels.twilio import TwilioClient

SMS_FINAL = frozenset({"delivered", "read", "undelivered", "failed", "canceled"})
CALL_FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# The first answer comes within a second or so; then no need to ask more than once a second.
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.2, 1.0


@dataclass(frozen=True)
class TestPageResult:
    sid: str
    status: str  # the provider's last word, or "timeout"
    ok: bool  # delivered (SMS) or answered by a person (call)
    detail: str


def test_sms_text(name: str) -> str:
    return f"monitor test page for {name}: if you can read this, SMS paging works. No reply needed."


def test_call_twiml(name: str) -> str:
    response = VoiceResponse()
    words = f"This is a test page from monitor for {name}. If you hear this, phone paging works."
    response.say(words)
    response.pause(length=1)
    response.say(words + " Goodbye.")
    return str(response)


async def send_test_page(
    twilio: TwilioClient,
    *,
    phone: str,
    name: str,
    via: str,
    wait: float,
    on_status: Callable[[str], None] = lambda status: None,
) -> TestPageResult:
    """Send, then report each new status through `on_status` until a final one or `wait`
    seconds. Raises DeliveryError when the provider refuses the request."""
    client = twilio.client
    if via == "sms":
        message = await twilio.call(
            client.messages.create_async(to=phone, body=test_sms_text(name), **twilio.sender())
        )
        sid = str(message.sid)
        final = SMS_FINAL
    else:
        sender = twilio.settings.from_number
        if sender is None:
            raise ValueError("calls need TWILIO_FROM (a messaging service cannot call)")
        call = await twilio.call(
            client.calls.create_async(
                to=phone, from_=sender, twiml=test_call_twiml(name), machine_detection="Enable"
            )
        )
        sid = str(call.sid)
        final = CALL_FINAL
    seen: str | None = None
    resource: Any = None
    poll = FIRST_POLL_SECONDS
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        context = client.messages(sid) if via == "sms" else client.calls(sid)
        resource = await twilio.call(context.fetch_async())
        status = str(resource.status)
        if status != seen:
            seen = status
            on_status(status)
        if status in final:
            break
        if loop.time() >= deadline:
            return TestPageResult(sid, "timeout", False, f"still {status} after {wait:g} s")
        await asyncio.sleep(poll)
        poll = min(MAX_POLL_SECONDS, poll * 1.5)
    return _judge(sid, via, resource)


def _judge(sid: str, via: str, resource: object) -> TestPageResult:
    status = str(getattr(resource, "status", ""))
    if via == "sms":
        ok = status in ("delivered", "read")
        code = getattr(resource, "error_code", None)
        detail = "delivered" if ok else f"{status}" + (f" (error {code})" if code else "")
        return TestPageResult(sid, status, ok, detail)
    answered_by = str(getattr(resource, "answered_by", None) or "")
    if status == "completed" and answered_by.startswith("machine"):
        return TestPageResult(sid, status, False, "a voicemail box answered, not a person")
    ok = status == "completed"
    return TestPageResult(sid, status, ok, "answered" if ok else status)
