"""Channels carry a Page to a person: each one sends, or raises DeliveryError (DESIGN.md §6).

- `base`: the Page, DeliveryError and the Channel protocol every channel implements
- `console`: one line per page on a stream, what every channel is without a provider
- `webhook`: a JSON POST per page
- `registry`: which Channel carries each channel name a policy can use
"""

from monitor.channels.base import Channel, DeliveryError, Page
from monitor.channels.console import ConsoleChannel
from monitor.channels.webhook import WebhookChannel

__all__ = ["Channel", "ConsoleChannel", "DeliveryError", "Page", "WebhookChannel"]
