"""The web app's context for tests and benchmarks, without a running monitor around it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.clock import Clock
from monitor.config.models import MonitorConfig
from monitor.escalation.answers import Responder
from monitor.escalation.delivery import DeliveryTracker
from monitor.escalation.engine import Engine
from monitor.escalation.messages import Messages
from monitor.oncall import on_call
from monitor.storage.database import Database
from monitor.web.context import WebContext


def web_context(
    db: Database,
    *,
    clock: Clock,
    config: Callable[[], MonitorConfig],
    engine: Engine | None = None,
    public_url: str | None = None,
    twilio_tokens: list[str] | None = None,
    **fields: Any,
) -> WebContext:
    """A WebContext over `db`: the responder and delivery tracker of a real monitor; `engine`
    (default: one with no channels) takes the fallbacks a failed delivery asks for. `fields`
    sets the rest (admin_token, wake, state, metrics)."""
    engine = engine or Engine(db, config=config, channels={}, clock=clock, on_call=on_call)
    return WebContext(
        db=db,
        clock=clock,
        config=config,
        responder=Responder(db, config=config, clock=clock),
        tracker=DeliveryTracker(db, clock=clock, config=config, engine=engine),
        messages=Messages(config().messages),
        public_url=public_url,
        twilio_tokens=twilio_tokens or [],
        **fields,
    )
