"""The phones page: each roster person's sandbox phone in a browser, to read the SMS and
calls the monitor sends and to answer them (reply, press keys) by hand.

Server-rendered and usable without JavaScript: forms post and redirect back (303). A few lines
of script refresh the conversation in place, leaving a half-typed reply alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from monitor.sandbox import messaging, voice
from monitor.sandbox.control import phone_param
from monitor.sandbox.runtime import Runtime, get_runtime
from monitor.sandbox.state import Call

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# Beside the module, so it is found in a wheel as well as in a checkout.
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters["phone_path"] = lambda phone: "/phone/" + quote(str(phone), safe="")
KEYPAD = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
_RECENT_CALLS = 5


def _render(template: str, **context: object) -> HTMLResponse:
    return HTMLResponse(_TEMPLATES.get_template(template).render(**context))


def _back(phone: str, notice: str | None = None) -> RedirectResponse:
    url = "/phone/" + quote(phone, safe="")
    if notice:
        url += "?" + urlencode({"notice": notice})
    return RedirectResponse(url, status_code=303)


def _waiting_call(runtime: Runtime, phone: str) -> Call | None:
    waiting = [call for call in runtime.sandbox.calls_to(phone) if call.waiting_for_digits]
    return waiting[-1] if waiting else None


@router.get("/", response_class=HTMLResponse)
async def index(runtime: RuntimeDep) -> HTMLResponse:
    roster = {person.phone for person in runtime.people}
    others = [phone for phone in runtime.sandbox.phones() if phone not in roster]
    return _render(
        "index.html",
        number=runtime.settings.number,
        people=runtime.people,
        others=others,
        inbound_sms_url=runtime.sandbox.inbound_sms_url,
    )


@router.get("/phone/{phone}", response_class=HTMLResponse)
async def phone_page(phone: str, runtime: RuntimeDep, notice: str | None = None) -> HTMLResponse:
    phone = phone_param(phone)
    calls = runtime.sandbox.calls_to(phone)
    active = next((call for call in reversed(calls) if not call.is_over), None)
    earlier = [call for call in reversed(calls) if call is not active][:_RECENT_CALLS]
    name = next((person.name for person in runtime.people if person.phone == phone), None)
    return _render(
        "phone.html",
        phone=phone,
        name=name,
        number=runtime.settings.number,
        messages=runtime.sandbox.messages_with(phone),
        active=active,
        earlier=earlier,
        keypad=KEYPAD,
        opted_out=phone in runtime.sandbox.opted_out,
        notice=notice,
    )


@router.post("/phone/{phone}/press")
async def press(
    phone: str, digits: Annotated[str, Form(pattern=r"^[0-9*#]+$")], runtime: RuntimeDep
) -> RedirectResponse:
    phone = phone_param(phone)
    call = _waiting_call(runtime, phone)
    if call is None:
        return _back(phone, "No call is waiting for keys.")
    try:
        await voice.press(call, digits)
    except voice.CallNotWaiting:
        return _back(phone, "The call stopped listening before the key arrived.")
    return _back(phone)


@router.post("/phone/{phone}/hangup")
async def hang_up(phone: str, runtime: RuntimeDep) -> RedirectResponse:
    phone = phone_param(phone)
    call = _waiting_call(runtime, phone)
    if call is None:
        return _back(phone, "No call to hang up.")
    try:
        await voice.hang_up(call)
    except voice.CallNotWaiting:
        return _back(phone, "The call is not waiting any more.")
    return _back(phone)


@router.post("/phone/{phone}/reply")
async def reply(
    phone: str, body: Annotated[str, Form(min_length=1)], runtime: RuntimeDep
) -> RedirectResponse:
    phone = phone_param(phone)
    outcome = await messaging.receive_sms(runtime, sender=phone, body=body)
    if outcome.error is not None:
        return _back(phone, f"Sent, but: {outcome.error}")
    return _back(phone)
