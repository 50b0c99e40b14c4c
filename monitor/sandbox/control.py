"""The `/sandbox` JSON API: what tests and scripts use to look inside the sandbox, to act as a
phone (reply, press keys, hang up) and to set behaviours and faults. No auth: it is local.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.sandbox import messaging, voice
from monitor.sandbox.forms import is_e164
from monitor.sandbox.runtime import Runtime, get_runtime
from monitor.sandbox.state import (
    Behaviour,
    Call,
    Fault,
    Message,
    SmsBehaviour,
    VoiceBehaviour,
    WebhookRecord,
)

router = APIRouter(prefix="/sandbox", tags=["sandbox"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class _Body(BaseModel):
    # Closed: a typo like "out_of_ordr" is a 422, not a setting silently left unchanged.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ReplyBody(_Body):
    sender: str = Field(alias="from")
    body: str
    signature: str | None = None
    url: str | None = None


class PressBody(_Body):
    digits: str = Field(pattern=r"^[0-9*#]+$")


class BehaviourBody(_Body):
    sms: SmsBehaviour | None = None
    voice: VoiceBehaviour | None = None
    out_of_order: bool | None = None


class FaultBody(_Body):
    times: int = Field(default=1, ge=1)
    status: int | None = Field(default=None, ge=400, le=599)
    code: int | None = None
    message: str | None = None
    delay: float = Field(default=0.0, ge=0.0, le=600.0)

    @model_validator(mode="after")
    def _does_something(self) -> FaultBody:
        if self.status is None and self.delay == 0:
            raise ValueError("a fault needs a status, a delay, or both")
        return self


class ConfigBody(_Body):
    inbound_sms_url: str | None


def phone_param(phone: str) -> str:
    """A phone number in a path or query; a bare `+` in a query string decodes to a space,
    so ` 4915...` is read as `+4915...`."""
    phone = phone.strip()
    if phone.isdigit():
        phone = f"+{phone}"
    if not is_e164(phone):
        raise HTTPException(422, f"{phone!r} is not an E.164 phone number")
    return phone


def message_json(message: Message) -> dict[str, object]:
    return {
        "sid": message.sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
        "direction": message.direction,
        "error_code": message.error_code,
        "created_at": message.created_at.isoformat(),
    }


def call_json(call: Call) -> dict[str, object]:
    return {
        "sid": call.sid,
        "to": call.to,
        "from": call.from_,
        "status": call.status,
        "answered_by": call.answered_by,
        "transcript": list(call.transcript),
        "digits": list(call.digits),
        "waiting_for_digits": call.waiting_for_digits,
        "pending_digits": call.pending_digits,
        "twiml_url": call.twiml_url,
        "duration": call.duration,
        "created_at": call.created_at.isoformat(),
    }


def behaviour_json(phone: str, behaviour: Behaviour) -> dict[str, object]:
    return {
        "phone": phone,
        "sms": behaviour.sms,
        "voice": behaviour.voice,
        "out_of_order": behaviour.out_of_order,
    }


def fault_json(fault: Fault | None) -> dict[str, object] | None:
    if fault is None:
        return None
    return {
        "times": fault.times,
        "status": fault.status,
        "code": fault.code,
        "message": fault.message,
        "delay": fault.delay,
    }


def webhook_json(record: WebhookRecord) -> dict[str, object]:
    return {
        "method": record.method,
        "url": record.url,
        "params": record.params,
        "signature": record.signature,
        "status": record.status,
        "body": record.body,
        "error": record.error,
        "done": record.done,
        "at": record.at.isoformat(),
    }


def config_json(runtime: Runtime) -> dict[str, object]:
    return {
        "account_sid": runtime.settings.account_sid,
        "number": runtime.settings.number,
        "inbound_sms_url": runtime.sandbox.inbound_sms_url,
    }


@router.get("/messages")
async def list_messages(runtime: RuntimeDep, to: str | None = None) -> list[dict[str, object]]:
    """Messages to or from the phone `to` (all when omitted), oldest first."""
    phone = None if to is None else phone_param(to)
    return [message_json(message) for message in runtime.sandbox.messages_with(phone)]


@router.get("/calls")
async def list_calls(runtime: RuntimeDep, to: str | None = None) -> list[dict[str, object]]:
    phone = None if to is None else phone_param(to)
    return [call_json(call) for call in runtime.sandbox.calls_to(phone)]


def _call(runtime: Runtime, sid: str) -> Call:
    call = runtime.sandbox.calls.get(sid)
    if call is None:
        raise HTTPException(404, f"no call {sid}")
    return call


@router.get("/calls/{sid}")
async def get_call(sid: str, runtime: RuntimeDep) -> dict[str, object]:
    return call_json(_call(runtime, sid))


@router.post("/calls/{sid}/press")
async def press(sid: str, body: PressBody, runtime: RuntimeDep) -> dict[str, object]:
    call = _call(runtime, sid)
    try:
        await voice.press(call, body.digits)
    except voice.CallNotWaiting as exc:
        raise HTTPException(409, f"call {sid} is {call.status}, not waiting for digits") from exc
    return call_json(call)


@router.post("/calls/{sid}/hangup")
async def hang_up(sid: str, runtime: RuntimeDep) -> dict[str, object]:
    call = _call(runtime, sid)
    try:
        await voice.hang_up(call)
    except voice.CallNotWaiting as exc:
        raise HTTPException(409, f"call {sid} is {call.status}, not waiting for digits") from exc
    return call_json(call)


@router.post("/reply")
async def reply(body: ReplyBody, runtime: RuntimeDep) -> dict[str, object]:
    outcome = await messaging.receive_sms(
        runtime,
        sender=phone_param(body.sender),
        body=body.body,
        url=body.url,
        signature=body.signature,
    )
    return {"status": outcome.status, "replies": outcome.replies, "error": outcome.error}


@router.get("/numbers/{phone}")
async def get_number(phone: str, runtime: RuntimeDep) -> dict[str, object]:
    phone = phone_param(phone)
    return behaviour_json(phone, runtime.sandbox.behaviour(phone))


@router.post("/numbers/{phone}")
async def set_number(phone: str, body: BehaviourBody, runtime: RuntimeDep) -> dict[str, object]:
    """Change how a phone behaves; omitted fields keep their value."""
    phone = phone_param(phone)
    behaviour = runtime.sandbox.behaviour(phone)
    changed = Behaviour(
        sms=body.sms or behaviour.sms,
        voice=body.voice or behaviour.voice,
        out_of_order=behaviour.out_of_order if body.out_of_order is None else body.out_of_order,
    )
    runtime.sandbox.behaviours[phone] = changed
    return behaviour_json(phone, changed)


@router.get("/faults")
async def get_fault(runtime: RuntimeDep) -> dict[str, object]:
    return {"fault": fault_json(runtime.sandbox.fault)}


@router.post("/faults")
async def set_fault(body: FaultBody, runtime: RuntimeDep) -> dict[str, object]:
    """Replace the fault in force: the next `times` Messages/Calls creations suffer it."""
    runtime.sandbox.fault = Fault(**body.model_dump())
    return {"fault": fault_json(runtime.sandbox.fault)}


@router.delete("/faults")
async def clear_fault(runtime: RuntimeDep) -> dict[str, object]:
    runtime.sandbox.fault = None
    return {"fault": None}


@router.get("/webhooks")
async def list_webhooks(runtime: RuntimeDep) -> list[dict[str, object]]:
    return [webhook_json(record) for record in runtime.sandbox.webhooks]


@router.get("/config")
async def get_config(runtime: RuntimeDep) -> dict[str, object]:
    return config_json(runtime)


@router.post("/config")
async def set_config(body: ConfigBody, runtime: RuntimeDep) -> dict[str, object]:
    runtime.sandbox.inbound_sms_url = body.inbound_sms_url
    return config_json(runtime)


@router.post("/reset")
async def reset(runtime: RuntimeDep) -> dict[str, object]:
    await runtime.reset()
    return {"reset": True}
