"""The Twilio client the SMS and voice channels share, and what Twilio's errors mean for a page.

The real `twilio` library, asynchronous, aimed at TWILIO_API_BASE_URL (Twilio itself, or the
sandbox in tests and the demo). `environment={}`: TWILIO_EDGE or TWILIO_REGION in the process
environment would otherwise rewrite the host. The library applies no timeout of its own to
asynchronous requests, so every call is bounded here. Its request logger prints six lines per
request at INFO (URL, headers): it gets a logger of its own that stays quiet below WARNING.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from monitor.channels.base import DeliveryError
from monitor.masking import mask_phones
from monitor.settings import TwilioSettings

T = TypeVar("T")

_quiet = logging.getLogger("monitor.twilio.http")
_quiet.setLevel(logging.WARNING)

# Twilio error codes a page meets, in words an engineer reading the timeline understands.
KNOWN_ERRORS = {
    20003: "Twilio refused the credentials (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)",
    21211: "invalid phone number",
    21212: "invalid sender number (TWILIO_FROM)",
    21214: "the number cannot receive calls",
    21215: "calls to this country are not enabled on the account",
    21408: "SMS to this country are not enabled on the account",
    21606: "TWILIO_FROM cannot send SMS",
    21608: "trial account: the number is not verified",
    21610: "the recipient replied STOP: no SMS until they reply START",
    21612: "Twilio cannot route an SMS to this number",
    21614: "not a mobile number",
}


class TwilioClient:
    """One Twilio client per monitor (one connection pool), created inside the event loop."""

    def __init__(self, settings: TwilioSettings) -> None:
        if not settings.configured:
            raise ValueError(
                "Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM "
                "(or TWILIO_MESSAGING_SERVICE_SID)"
            )
        self.settings = settings
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            # Lazily: aiohttp wants its session created inside the running loop.
            self._http = AsyncTwilioHttpClient(logger=_quiet)
            token = self.settings.auth_token
            client = Client(
                self.settings.account_sid,
                token.get_secret_value() if token is not None else None,
                http_client=self._http,
                environment={},
            )
            client.api.base_url = self.settings.api_base_url.rstrip("/")
            self._client = client
        return self._client

    def sender(self) -> dict[str, str]:
        """`from_` or `messaging_service_sid`, as messages.create takes them."""
        if self.settings.messaging_service_sid:
            return {"messaging_service_sid": self.settings.messaging_service_sid}
        assert self.settings.from_number is not None
        return {"from_": self.settings.from_number}

    async def call(self, request: Awaitable[T]) -> T:
        """Await a request with the configured timeout, mapping failures to DeliveryError."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await request
        except TwilioRestException as error:
            raise delivery_error(error) from error
        except TimeoutError as error:
            raise DeliveryError(
                f"Twilio did not answer within {self.settings.timeout:g} s", permanent=False
            ) from error
        except (OSError, aiohttp.ClientError) as error:  # refused, DNS, TLS, disconnected
            raise DeliveryError(f"cannot reach Twilio: {error}", permanent=False) from error

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._client = None
        self._http = None


def delivery_error(error: TwilioRestException) -> DeliveryError:
    """5xx and 429 are Twilio's trouble or load: try again. Any other 4xx is about this request
    (an invalid number, a recipient who replied STOP): trying again cannot help."""
    code: Any = error.code
    status = int(error.status or 0)
    known = KNOWN_ERRORS.get(int(code)) if isinstance(code, int) else None
    what = known or " ".join(str(error.msg or "").split()) or "error"
    reason = mask_phones(f"Twilio {code or status}: {what}" if code else f"Twilio {status}: {what}")
    return DeliveryError(reason, permanent=400 <= status < 500 and status != 429)
