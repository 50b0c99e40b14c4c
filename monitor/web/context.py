"""What the web app needs from the running monitor, handed over in one object."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from monitor.clock import Clock
from monitor.config.models import MonitorConfig
from monitor.escalation.answers import Responder
from monitor.escalation.delivery import DeliveryTracker
from monitor.escalation.engine import EngineStats
from monitor.escalation.messages import Messages
from monitor.probing.scheduler import SchedulerStats
from monitor.storage.database import Database
from monitor.storage.recorder import RecorderStats

if TYPE_CHECKING:
    from monitor.web.metrics import Metrics


@dataclass
class WebStats:
    webhook_rejections: Counter[str] = field(default_factory=Counter)  # by route
    webhooks: Counter[str] = field(default_factory=Counter)


class MonitorState(Protocol):
    """The running monitor as /readyz and /metrics see it (the Runtime implements it)."""

    def scheduler_running(self) -> bool: ...

    def scheduler_stats(self) -> SchedulerStats | None: ...

    def recorder_stats(self) -> RecorderStats | None: ...

    def engine_stats(self) -> EngineStats | None: ...

    def runs_probes(self) -> bool:
        """This instance runs probes (`--role all` or `probe`)."""
        ...

    def leads(self) -> bool:
        """This instance holds the leader lock: it detects and escalates."""
        ...

    def config_problems(self) -> list[str]:
        """Why the last config reload was refused (the previous config still runs)."""
        ...

    def self_troubles(self) -> list[str]:
        """What the self checks found wrong at their last pass."""
        ...


def _nothing() -> None:
    return None


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
    # MONITOR_ADMIN_TOKEN: the admin pages and the JSON API; None turns both off (401).
    admin_token: str | None = None
    # The escalation engine: an incident changed from the web (acknowledged, resolved,
    # escalated) and it should act now, not at its next tick.
    wake: Callable[[], None] = _nothing
    # None: the app serves without a running monitor around it (webhook tests, the harness).
    state: MonitorState | None = None
    # Probe runs counted as they finish (/metrics); None: only what is read at scrape time.
    metrics: Metrics | None = None
