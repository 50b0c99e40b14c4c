"""What every channel is handed and what it may answer (DESIGN.md §6).

A channel knows nothing of incidents beyond the Page: it sends, returns the provider's id for the
message (or None when the channel has none), or raises DeliveryError. The dispatcher stores the
error on the page: transient ones are retried with backoff, permanent ones (an invalid number, a
recipient who replied STOP) move on to the person's next channel at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

PageKind = Literal["page", "resolved"]


@dataclass(frozen=True, kw_only=True)
class Page:
    id: int  # the outbox row: also the idempotency key a provider can de-duplicate on
    incident_id: int
    kind: PageKind  # a page asking for an answer, or the "resolved" message
    person_id: str
    person_name: str
    phone: str | None  # E.164; None for a person reached only by webhook or console
    channel: str  # sms | voice | webhook | console
    text: str  # the rendered message (SMS-sized)
    voice_text: str | None = None  # what a call says (the voice template), when it differs
    probe: str
    severity: str
    attempt: int = 1  # 1 for the first try


class DeliveryError(Exception):
    """The channel could not deliver. `permanent`: trying again cannot help (invalid number,
    unsubscribed recipient, a 4xx that is not about load); transient errors are retried."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Channel(Protocol):
    name: str

    async def send(self, page: Page) -> str | None:
        """Deliver the page (or hand it to the provider); the provider's message id, if any.
        Raises DeliveryError; any other exception is treated as a transient failure."""
        ...
