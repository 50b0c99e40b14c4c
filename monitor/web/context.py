"""What the web app needs from the running monitor, handed over in one object."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.clock import Clock
from monitor.config.models import MonitorConfig
from monitor.escalation.answers import Responder
from monitor.escalation.delivery import DeliveryTracker
from monitor.escalation.messages import Messages
from monitor.storage.database import Database


@dataclass
class WebStats:
    webhook_rejections: Counter[str] = field(default_factory=Counter)  # by route
    webhooks: Counter[str] = field(default_factory=Counter)


@dataclass(kw_only=True)
class WebContext:
    db: Database
    clock: Clock
    config: Callable[[], MonitorConfig]
    responder: Responder
    tracker: DeliveryTracker
    messages: Messages
    # The address Twilio reaches us by; signatures are checked against it (a TLS-terminating
    # proxy in front changes scheme and host). None: the request's own URL (local use).
    public_url: str | None
    twilio_tokens: list[str]  # the auth token, and the secondary one during a rotation
    stats: WebStats = field(default_factory=WebStats)
