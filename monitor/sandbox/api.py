"""The Twilio REST routes: Messages and Calls, create and fetch, behind Twilio's basic auth.

Requests are read as raw forms rather than FastAPI parameters: Twilio's validation errors (and
their codes) are part of what clients are tested against, a FastAPI 422 is not.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from monitor.sandbox import messaging, voice
from monitor.sandbox.errors import TwilioApiError, not_found
from monitor.sandbox.resources import API_VERSION, call_resource, message_resource
from monitor.sandbox.runtime import Runtime, get_runtime

router = APIRouter(prefix=f"/{API_VERSION}/Accounts/{{account_sid}}")


def authenticate(
    account_sid: str, request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Runtime:
    """Basic auth with the account SID and auth token, then the SID in the path must be that
    account's: Twilio's 20003 and 20404."""
    settings = runtime.settings
    username, password = _basic_credentials(request.headers.get("Authorization"))
    expected = f"{settings.account_sid}:{settings.auth_token}".encode()
    if not hmac.compare_digest(f"{username}:{password}".encode(), expected):
        raise TwilioApiError(
            401,
            20003,
            "Authenticate",
            headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
        )
    if account_sid != settings.account_sid:
        raise not_found(request.url.path)
    return runtime


Authenticated = Annotated[Runtime, Depends(authenticate)]


def _basic_credentials(header: str | None) -> tuple[str, str]:
    if header is None or not header.lower().startswith("basic "):
        return "", ""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password


async def _suffer_fault(runtime: Runtime) -> None:
    fault = runtime.sandbox.take_fault()
    if fault is None:
        return
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.status is not None:
        raise TwilioApiError(
            fault.status,
            fault.code if fault.code is not None else 20500,
            fault.message or "An internal server error has occurred",
        )


@router.post("/Messages.json", status_code=201)
async def create_message(request: Request, runtime: Authenticated) -> JSONResponse:
    # The body is read before any delay: a client that gives up has still sent its request,
    # which is then carried out, as a slow Twilio would.
    form = await request.form()
    await _suffer_fault(runtime)
    message = messaging.create_message(runtime, form)
    return JSONResponse(
        message_resource(message, account_sid=runtime.settings.account_sid), status_code=201
    )


@router.get("/Messages/{sid}.json")
async def fetch_message(sid: str, request: Request, runtime: Authenticated) -> JSONResponse:
    message = runtime.sandbox.messages.get(sid)
    if message is None:
        raise not_found(request.url.path)
    return JSONResponse(message_resource(message, account_sid=runtime.settings.account_sid))


@router.post("/Calls.json", status_code=201)
async def create_call(request: Request, runtime: Authenticated) -> JSONResponse:
    form = await request.form()
    await _suffer_fault(runtime)
    call = voice.create_call(runtime, form)
    return JSONResponse(
        call_resource(call, account_sid=runtime.settings.account_sid), status_code=201
    )


@router.get("/Calls/{sid}.json")
async def fetch_call(sid: str, request: Request, runtime: Authenticated) -> JSONResponse:
    call = runtime.sandbox.calls.get(sid)
    if call is None:
        raise not_found(request.url.path)
    return JSONResponse(call_resource(call, account_sid=runtime.settings.account_sid))
