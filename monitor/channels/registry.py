"""Which Channel object carries each channel name a policy can use.

Without a provider configured every name prints on the console: a monitor started on a laptop
shows its pages instead of failing them. With Twilio configured (TWILIO_* in the environment),
`sms` and `voice` go through Twilio.
"""

from __future__ import annotations

import sys
from typing import TextIO

from monitor.channels.base import Channel
from monitor.channels.console import ConsoleChannel
from monitor.channels.twilio import TwilioClient
from monitor.channels.twilio_sms import TwilioSmsChannel
from monitor.channels.twilio_voice import TwilioVoiceChannel
from monitor.channels.webhook import WebhookChannel
from monitor.config.oncall import CHANNEL_NAMES, ChannelsConfig


def channels_for(
    config: ChannelsConfig,
    *,
    stream: TextIO | None = None,
    twilio: TwilioClient | None = None,
    public_url: str | None = None,
) -> dict[str, Channel]:
    console = ConsoleChannel(stream=stream or sys.stdout)
    channels: dict[str, Channel] = {name: console for name in CHANNEL_NAMES}
    if config.webhook is not None:
        channels["webhook"] = WebhookChannel(config.webhook)
    if twilio is not None:
        channels["sms"] = TwilioSmsChannel(twilio, public_url=public_url)
        channels["voice"] = TwilioVoiceChannel(twilio, public_url=public_url)
    return channels
