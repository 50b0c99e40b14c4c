"""Which Channel object carries each channel name a policy can use.

Without a provider configured every name prints on the console: a monitor started on a laptop
shows its pages instead of failing them. Twilio SMS and voice take over `sms` and `voice` when
configured (next issue).
"""

from __future__ import annotations

import sys
from typing import TextIO

from monitor.channels.base import Channel
from monitor.channels.console import ConsoleChannel
from monitor.channels.webhook import WebhookChannel
from monitor.config.oncall import CHANNEL_NAMES, ChannelsConfig


def channels_for(config: ChannelsConfig, *, stream: TextIO | None = None) -> dict[str, Channel]:
    console = ConsoleChannel(stream=stream or sys.stdout)
    channels: dict[str, Channel] = {name: console for name in CHANNEL_NAMES}
    if config.webhook is not None:
        channels["webhook"] = WebhookChannel(config.webhook)
    return channels
