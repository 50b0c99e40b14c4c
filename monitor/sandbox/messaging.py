"""SMS: creating outbound messages with their status callbacks, and what a sandbox phone sends.

Status callbacks follow the recipient's behaviour (`Behaviour.sms`). Inbound SMS go to the
inbound webhook like Twilio's "A message comes in"; Twilio's own opt-out handling (STOP and
friends) sits in front of it, as it does in production.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.datastructures import FormData

from monitor.sandbox import forms
from monitor.sandbox.errors import TwilioApiError
from monitor.sandbox.resources import API_VERSION
from monitor.sandbox.runtime import Runtime
from monitor.sandbox.state import Message, SmsBehaviour, new_sid
from monitor.sandbox.twiml import TwimlError, message_texts

# Twilio's default opt-out and opt-in keywords, matched on the whole trimmed body.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
OPT_OUT_CONFIRMATION = (
    "You have successfully been unsubscribed. You will not receive any more messages from this "
    "number. Reply START to resubscribe."
)
OPT_IN_CONFIRMATION = (
    "You have successfully been re-subscribed to messages from this number. Reply HELP for help. "
    "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)

# The statuses a message goes through after `queued`, per behaviour. `silent` still moves on
# to `sent` (what Twilio shows when the carrier never confirms) but no callback reports it.
_STEPS: dict[SmsBehaviour, tuple[str, ...]] = {
    "deliver": ("sent", "delivered"),
    "fail": ("failed",),
    "undelivered": ("sent", "undelivered"),
    "silent": ("sent",),
}
_ERRORS = {
    "undelivered": (30003, "Unreachable destination handset"),
    "failed": (30008, "Unknown error"),
}


def create_message(runtime: Runtime, form: FormData) -> Message:
    """Validate a `Messages.json` request as Twilio does, store the message and start its
    status callbacks."""
    sandbox, settings = runtime.sandbox, runtime.settings
    to = forms.phone_number(
        form, "To", missing_code=21604, missing_message="A 'To' phone number is required."
    )
    sender = forms.text(form, "From")
    service = forms.text(form, "MessagingServiceSid")
    if sender is None and service is None:
        raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
    body = forms.required(form, "Body", code=21602, message="Message body is required.")
    if to in sandbox.opted_out:
        raise TwilioApiError(400, 21610, "Attempt to send to unsubscribed recipient")
    message = sandbox.add_message(
        Message(
            sid=new_sid("SM"),
            to=to,
            from_=sender or settings.number,
            body=body,
            direction="outbound-api",
            status="queued",
            messaging_service_sid=service,
            status_callback=forms.text(form, "StatusCallback"),
        )
    )
    runtime.tasks.spawn(_progress(runtime, message), name=f"sandbox sms {message.sid}")
    return message


async def _progress(runtime: Runtime, message: Message) -> None:
    behaviour = runtime.sandbox.behaviour(message.to)
    steps = _STEPS[behaviour.sms]
    # The resource advances in the true order; only the reports about it are shuffled.
    reported = tuple(reversed(steps)) if behaviour.out_of_order else steps
    for status, reported_status in zip(steps, reported, strict=True):
        await asyncio.sleep(runtime.settings.callback_delay)
        message.set_status(status)
        if status in _ERRORS:
            message.error_code, message.error_message = _ERRORS[status]
        if message.status_callback is not None and behaviour.sms != "silent":
            await runtime.sender.send(
                message.status_callback, _callback_params(runtime, message, reported_status)
            )


def _callback_params(runtime: Runtime, message: Message, status: str) -> dict[str, str]:
    params = {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "AccountSid": runtime.settings.account_sid,
        "From": message.from_,
        "To": message.to,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": API_VERSION,
    }
    if message.messaging_service_sid is not None:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if status in _ERRORS:
        params["ErrorCode"] = str(_ERRORS[status][0])
    return params


@dataclass(kw_only=True)
class ReplyOutcome:
    """What happened to an SMS a sandbox phone sent; the JSON of `POST /sandbox/reply`.

    `status` is the inbound webhook's HTTP status (None when it was not reached), `replies` the
    texts the phone received back, `error` why the webhook gave nothing usable.
    """

    status: int | None = None
    replies: list[str] = field(default_factory=list)
    error: str | None = None


async def receive_sms(
    runtime: Runtime,
    *,
    sender: str,
    body: str,
    url: str | None = None,
    signature: str | None = None,
) -> ReplyOutcome:
    """A sandbox phone sends `body`: forward it to the inbound webhook (or `url`), deliver the
    TwiML `<Message>` replies to the phone. `signature` replaces the real one (forgery tests)."""
    sandbox, settings = runtime.sandbox, runtime.settings
    inbound = sandbox.add_message(
        Message(
            sid=new_sid("SM"),
            to=settings.number,
            from_=sender,
            body=body,
            direction="inbound",
            status="received",
        )
    )
    keyword = body.strip().upper()
    confirmation = None
    if keyword in OPT_OUT_KEYWORDS:
        sandbox.opted_out.add(sender)
        confirmation = OPT_OUT_CONFIRMATION
    elif keyword in OPT_IN_KEYWORDS:
        sandbox.opted_out.discard(sender)
        confirmation = OPT_IN_CONFIRMATION

    outcome = ReplyOutcome()
    app_replies: list[str] = []
    target = url or sandbox.inbound_sms_url
    if target is None:
        outcome.error = "no inbound_sms_url is configured (POST /sandbox/config)"
    else:
        params = {
            "MessageSid": inbound.sid,
            "SmsSid": inbound.sid,
            "SmsMessageSid": inbound.sid,
            "AccountSid": settings.account_sid,
            "From": sender,
            "To": settings.number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": API_VERSION,
        }
        record = await runtime.sender.send(target, params, signature=signature)
        outcome.status, outcome.error = record.status, record.error
        if record.status is not None and 200 <= record.status < 300:
            try:
                app_replies = message_texts(record.body or "")
            except TwimlError as exc:
                outcome.error = f"invalid TwiML: {exc}"
        elif record.status is not None:
            outcome.error = f"the webhook answered HTTP {record.status}"

    if confirmation is not None:
        _deliver_reply(runtime, sender, confirmation)
        outcome.replies.append(confirmation)
    # Twilio answers an opt-out itself and drops the app's reply to it.
    if keyword not in OPT_OUT_KEYWORDS:
        for text in app_replies:
            if _deliver_reply(runtime, sender, text):
                outcome.replies.append(text)
    return outcome


def _deliver_reply(runtime: Runtime, phone: str, text: str) -> bool:
    """Record a reply to `phone`; one to an opted-out phone fails like Twilio's 21610."""
    opted_out = phone in runtime.sandbox.opted_out and text != OPT_OUT_CONFIRMATION
    reply = Message(
        sid=new_sid("SM"),
        to=phone,
        from_=runtime.settings.number,
        body=text,
        direction="outbound-reply",
        status="failed" if opted_out else "delivered",
    )
    if opted_out:
        reply.error_code, reply.error_message = 21610, "Attempt to send to unsubscribed recipient"
    runtime.sandbox.add_message(reply)
    return not opted_out
