"""Following each page after it left: the provider's status callbacks (DESIGN.md §4).

A page counts as delivered only when Twilio says `delivered` (SMS) or a person answered the
call; `AnsweredBy=machine_*` (voicemail) is not an answer. A page that failed, came back
undelivered, rang busy or unanswered makes the engine try the person's next channel at once
(an SMS that failed -> a call now) instead of waiting for the level's timeout. Every settled
page is in the incident's timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from monitor.clock import Clock
from monitor.config.models import MonitorConfig
from monitor.storage.database import Database
from monitor.storage.delivery import DeliveredPage, failure_reason, record_delivery
from monitor.storage.escalation import add_event

log = logging.getLogger(__name__)


class ChannelHealth(Protocol):
    def channel_failed(self, channel: str, reason: str) -> None: ...

    def channel_worked(self, channel: str) -> None: ...


class FallsBack(Protocol):
    @property
    def stats(self) -> ChannelHealth: ...

    async def delivery_failed(self, page: DeliveredPage, *, now: datetime) -> None: ...


def delivery_of(params: Mapping[str, str]) -> tuple[str, str | None] | None:
    """(status, error code) from a Twilio status callback's fields; None if it has none."""
    error = params.get("ErrorCode") or None
    if "MessageStatus" in params or "SmsStatus" in params:
        status = params.get("MessageStatus") or params.get("SmsStatus") or ""
        return status.strip().lower(), error
    if "CallStatus" in params:
        status = params["CallStatus"].strip().lower()
        answered_by = params.get("AnsweredBy", "").strip().lower()
        if status in ("in-progress", "completed") and (
            answered_by.startswith("machine") or answered_by == "fax"
        ):
            return "answered-by-machine", None
        return status, error
    return None


class DeliveryTracker:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        config: Callable[[], MonitorConfig],
        engine: FallsBack,
    ) -> None:
        self.db = db
        self.clock = clock
        self._config = config
        self.engine = engine

    async def update(self, page_id: int, params: Mapping[str, str]) -> DeliveredPage | None:
        """Apply one status callback; the page when it moved, None when the status was old
        news (out of order, repeated) or not about a page we know."""
        found = delivery_of(params)
        if found is None:
            return None
        status, error = found
        now = self.clock.now()
        page = await record_delivery(
            self.db, page_id=page_id, delivery=status, error_code=error, now=now
        )
        if page is None or page.settled is None:
            return page
        name = self._name(page.person)
        what = "resolved message" if page.kind == "resolved" else "page"
        if page.settled == "delivered":
            verb = "answered the call" if page.channel == "voice" else f"received the {what}"
            detail = f"{name} {verb} (#{page.id})"
            await add_event(
                self.db, incident_id=page.incident_id, at=now, kind="delivered", detail=detail
            )
            self.engine.stats.channel_worked(page.channel)
            return page
        reason = failure_reason(status, error)
        if status == "failed":  # the provider's failure; busy, unanswered are the person's
            self.engine.stats.channel_failed(page.channel, reason)
        log.warning("page %s to %s by %s: %s", page.id, name, page.channel, reason)
        await add_event(
            self.db,
            incident_id=page.incident_id,
            at=now,
            kind="delivery_failed",
            detail=f"{name} by {page.channel}: {reason}",
        )
        await self.engine.delivery_failed(page, now=now)
        return page

    def _name(self, person_id: str) -> str:
        person = self._config().person(person_id)
        return person.name if person is not None else person_id
