"""The application factory: every call builds an independent sandbox with its own state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from monitor.sandbox import api, control, phones
from monitor.sandbox.callbacks import WebhookSender
from monitor.sandbox.errors import TwilioApiError, handle_http_error, handle_twilio_error
from monitor.sandbox.runtime import Runtime
from monitor.sandbox.state import Sandbox, SandboxPerson, SandboxSettings
from monitor.sandbox.tasks import TaskSet

DEFAULT_NUMBER = "+15005550006"  # Twilio's magic "valid" test number


def create_app(
    *,
    account_sid: str,
    auth_token: str,
    inbound_sms_url: str | None = None,
    people: Sequence[SandboxPerson] = (),
    number: str = DEFAULT_NUMBER,
    callback_delay: float = 0.05,
    gather_timeout: float = 120.0,
) -> FastAPI:
    """A Twilio-compatible server for the given account; `app.state.sandbox` is its state.

    `callback_delay` is the pause before each step of a message or call (and so between its
    callbacks); `gather_timeout` how long a call waits for keys before it goes on.
    """
    settings = SandboxSettings(
        account_sid=account_sid,
        auth_token=auth_token,
        number=number,
        callback_delay=callback_delay,
        gather_timeout=gather_timeout,
    )
    sandbox = Sandbox(settings, inbound_sms_url=inbound_sms_url)
    runtime = Runtime(
        settings=settings,
        sandbox=sandbox,
        sender=WebhookSender(sandbox, auth_token=auth_token),
        tasks=TaskSet(),
        people=tuple(people),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.sender.start()
        try:
            yield
        finally:
            # Tasks first: a callback in flight still needs the client to fail cleanly.
            await runtime.tasks.cancel_all()
            await runtime.sender.aclose()

    app = FastAPI(
        title="Twilio sandbox",
        description="A local Twilio-compatible server: Messages, Calls, signed callbacks.",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    app.state.runtime = runtime
    app.add_exception_handler(TwilioApiError, handle_twilio_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    for module in (api, control, phones):
        app.include_router(module.router)
    return app
