"""The webhooks Twilio calls: inbound SMS, the words and keypad of a call, delivery status.

Each request's signature is checked before anything is read from it; a request that fails the
check gets 403 and changes nothing. Answers are TwiML (built with the twilio library).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from monitor.escalation.messages import IncidentFacts
from monitor.storage.delivery import page_info
from monitor.storage.incidents import IncidentRow, get_incident
from monitor.web.context import WebContext
from monitor.web.signatures import is_signed, signed_url

log = logging.getLogger(__name__)

KEYPAD_PROMPT = "Press 1 to acknowledge, 2 to resolve, 3 to escalate now, star to repeat."
GATHER_SECONDS = 10


def context(request: Request) -> WebContext:
    web: WebContext = request.app.state.web
    return web


Context = Annotated[WebContext, Depends(context)]


async def signed_form(request: Request) -> dict[str, str]:
    """The request's form fields, once its Twilio signature checked out; 403 otherwise."""
    web = context(request)
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    url = signed_url(request, web.public_url)
    route = request.scope.get("route")
    name = getattr(route, "path", request.url.path)
    if not is_signed(
        url=url,
        params=params,
        signature=request.headers.get("X-Twilio-Signature"),
        tokens=web.twilio_tokens,
    ):
        web.stats.webhook_rejections[name] += 1
        log.warning("rejected a request to %s: missing or wrong Twilio signature", name)
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    web.stats.webhooks[name] += 1
    return params


Form = Annotated[dict[str, str], Depends(signed_form)]
router = APIRouter(prefix="/twilio")


def twiml(document: MessagingResponse | VoiceResponse) -> Response:
    return Response(content=str(document), media_type="application/xml")


@router.post("/sms")
async def inbound_sms(web: Context, form: Form) -> Response:
    answer = await web.responder.sms(phone=form.get("From", ""), body=form.get("Body", ""))
    reply = MessagingResponse()
    if answer.reply:
        reply.message(answer.reply)
    return twiml(reply)


@router.post("/status/{page_id}")
async def status_callback(page_id: int, web: Context, form: Form) -> Response:
    await web.tracker.update(page_id, form)
    return Response(status_code=204)


@router.post("/voice/{page_id}")
async def voice(page_id: int, request: Request, web: Context, form: Form) -> Response:
    """What the call says when answered: the message twice, then the keypad."""
    response = VoiceResponse()
    page = await page_info(web.db, page_id)
    found = await get_incident(web.db, page.incident_id) if page is not None else None
    if page is None or found is None:
        response.say("This page is no longer known. Goodbye.")
        return twiml(response)
    # The TwiML request is the proof the call was answered (and by whom).
    answered = {"CallStatus": "in-progress", "AnsweredBy": form.get("AnsweredBy", "")}
    moved = await web.tracker.update(page_id, answered)
    incident = found[0]
    facts = IncidentFacts.of(incident)
    if page.kind == "resolved":
        text = web.messages.resolved(facts)
        response.say(text)
        response.pause(length=1)
        response.say(text)
        return twiml(response)
    text = web.messages.voice(facts)
    if moved is not None and moved.delivery == "answered-by-machine":
        # A voicemail box: leave the message once, no keypad (the next channel is tried).
        response.say(text)
        return twiml(response)
    if incident.state != "triggered":
        response.say(text)
        response.say(_settled_already(incident))
        return twiml(response)
    gather = Gather(
        num_digits=1,
        action=_url(request, web, f"/twilio/voice/{page_id}/gather"),
        method="POST",
        timeout=GATHER_SECONDS,
    )
    # Inside the Gather: a key pressed while the message is still being read counts.
    gather.say(text)
    gather.pause(length=1)
    gather.say(text)
    gather.say(KEYPAD_PROMPT)
    response.append(gather)
    response.say("No key pressed. The incident is not acknowledged. Goodbye.")
    return twiml(response)


@router.post("/voice/{page_id}/gather")
async def voice_gather(page_id: int, request: Request, web: Context, form: Form) -> Response:
    response = VoiceResponse()
    digits = form.get("Digits", "").strip()
    if digits.startswith("*") or not digits:
        response.redirect(_url(request, web, f"/twilio/voice/{page_id}"), method="POST")
        return twiml(response)
    answer = await web.responder.keypress(page_id=page_id, digits=digits)
    response.say(answer.say)
    if not answer.done:
        response.redirect(_url(request, web, f"/twilio/voice/{page_id}"), method="POST")
    return twiml(response)


def _url(request: Request, web: WebContext, path: str) -> str:
    base = web.public_url or str(request.base_url).rstrip("/")
    return base + path


def _settled_already(incident: IncidentRow) -> str:
    if incident.state == "resolved":
        return f"Incident {incident.id} is already resolved. Goodbye."
    who = incident.acknowledged_by or "someone"
    return f"Incident {incident.id} was already acknowledged by {who}. Goodbye."
