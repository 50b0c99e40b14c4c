"""Voice pages through Twilio: a call whose words and keypad the monitor serves as TwiML.

Twilio fetches `/twilio/voice/{page}` when the call is answered; machine detection tells a
person from a voicemail box (a voicemail is not an answer). The status callbacks report
ringing, answered, and how the call ended (busy and no-answer try the person's next channel).
"""

from __future__ import annotations

from monitor.channels.base import DeliveryError, Page
from monitor.channels.twilio import TwilioClient

# Seconds the phone rings before Twilio gives up (`no-answer`); a pager call should ring long
# enough to wake someone, and end before most voicemail boxes pick up.
RING_SECONDS = 25


class TwilioVoiceChannel:
    name = "voice"

    def __init__(self, twilio: TwilioClient, *, public_url: str | None) -> None:
        self.twilio = twilio
        self.public_url = public_url

    async def send(self, page: Page) -> str | None:
        if page.phone is None:
            raise DeliveryError(f"{page.person_name} has no phone number", permanent=True)
        if not self.public_url:
            # Twilio must fetch what the call says from the monitor: without an address the
            # call would be silent. Permanent: the next channel is tried at once.
            raise DeliveryError(
                "MONITOR_PUBLIC_URL is not set: Twilio cannot fetch the call's words",
                permanent=True,
            )
        sender = self.twilio.settings.from_number
        if sender is None:
            raise DeliveryError(
                "calls need TWILIO_FROM (a messaging service cannot call)", permanent=True
            )
        call = await self.twilio.call(
            self.twilio.client.calls.create_async(
                to=page.phone,
                from_=sender,
                url=f"{self.public_url}/twilio/voice/{page.id}",
                method="POST",
                status_callback=f"{self.public_url}/twilio/status/{page.id}",
                status_callback_method="POST",
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                machine_detection="Enable",
                timeout=RING_SECONDS,
            )
        )
        return str(call.sid)
