"""SMS pages through Twilio: one message, with a status callback to follow its delivery."""

from __future__ import annotations

from monitor.channels.base import DeliveryError, Page
from monitor.channels.twilio import TwilioClient


class TwilioSmsChannel:
    name = "sms"

    def __init__(self, twilio: TwilioClient, *, public_url: str | None) -> None:
        self.twilio = twilio
        # Without a public URL Twilio cannot report delivery: the page stays "sent".
        self.public_url = public_url

    async def send(self, page: Page) -> str | None:
        if page.phone is None:
            raise DeliveryError(f"{page.person_name} has no phone number", permanent=True)
        extra: dict[str, str] = {}
        if self.public_url:
            extra["status_callback"] = f"{self.public_url}/twilio/status/{page.id}"
        message = await self.twilio.call(
            self.twilio.client.messages.create_async(
                to=page.phone, body=page.text, **self.twilio.sender(), **extra
            )
        )
        return str(message.sid)
