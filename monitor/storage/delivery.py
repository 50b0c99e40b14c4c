"""What the provider says became of a page: status callbacks, applied monotonically.

Twilio does not promise the order of its callbacks: a `sent` may arrive after `delivered`. Each
channel's statuses have a rank; a callback only moves a page's `delivery` to a higher rank, in
one compare-and-swap UPDATE, so a late or repeated callback changes nothing. A terminal status
settles the page: `delivered` (SMS delivered, call answered by a human) or `failed` (failed,
undelivered, busy, no answer, a machine answered), and a failed page makes the engine try the
person's next channel at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from monitor.storage.database import Database
from monitor.storage.tables import PageRow

# Rank of each status a provider reports; terminal ones share the top rank.
SMS_RANK = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}
VOICE_RANK = {
    "queued": 1,
    "initiated": 2,
    "ringing": 3,
    "in-progress": 4,
    "completed": 5,
    "busy": 5,
    "no-answer": 5,
    "failed": 5,
    "canceled": 5,
    "answered-by-machine": 5,
}
DELIVERED = frozenset({"delivered", "read", "in-progress", "completed"})
FAILED = frozenset(
    {"undelivered", "failed", "canceled", "busy", "no-answer", "answered-by-machine"}
)

_FAILURE_REASONS = {
    "undelivered": "the SMS was not delivered",
    "failed": "the provider could not send it",
    "canceled": "the provider cancelled it",
    "busy": "the line was busy",
    "no-answer": "nobody answered the call",
    "answered-by-machine": "voicemail answered, not a person",
}


def ranks_for(channel: str) -> dict[str, int]:
    return VOICE_RANK if channel == "voice" else SMS_RANK


def failure_reason(delivery: str, error_code: str | None = None) -> str:
    reason = _FAILURE_REASONS.get(delivery, delivery)
    return f"{reason} (error {error_code})" if error_code else reason


@dataclass(frozen=True, kw_only=True)
class DeliveredPage:
    """A page whose delivery a callback just moved on."""

    id: int
    incident_id: int
    kind: str
    cycle: int
    level: int
    person: str
    channel: str
    delivery: str
    settled: str | None  # "delivered" or "failed" when this callback settled the page


@dataclass(frozen=True, kw_only=True)
class PageInfo:
    id: int
    incident_id: int
    kind: str
    cycle: int
    level: int
    person: str
    channel: str
    status: str
    delivery: str | None
    provider_id: str | None


async def page_info(db: Database, page_id: int) -> PageInfo | None:
    async with db.session() as session:
        row = await session.get(PageRow, page_id)
        if row is None:
            return None
        return PageInfo(
            id=row.id,
            incident_id=row.incident_id,
            kind=row.kind,
            cycle=row.cycle,
            level=row.level,
            person=row.person,
            channel=row.channel,
            status=row.status,
            delivery=row.delivery,
            provider_id=row.provider_id,
        )


async def record_delivery(
    db: Database,
    *,
    page_id: int,
    delivery: str,
    now: datetime,
    error_code: str | None = None,
) -> DeliveredPage | None:
    """Move the page's delivery to `delivery` if that is further along than what it has.
    None when it is not (a late, repeated or unknown status) or the page does not exist."""
    async with db.session() as session, session.begin():
        page = await session.get(PageRow, page_id)
        if page is None:
            return None
        ranks = ranks_for(page.channel)
        rank = ranks.get(delivery)
        if rank is None:
            return None
        lower = [status for status, r in ranks.items() if r < rank]
        moved = (
            await session.execute(
                update(PageRow)
                .where(
                    PageRow.id == page_id,
                    or_(PageRow.delivery.is_(None), PageRow.delivery.in_(lower)),
                )
                .values(delivery=delivery, delivery_at=now, updated_at=now)
                .returning(PageRow.id)
            )
        ).scalar_one_or_none()
        if moved is None:
            return None
        settled = await _settle(session, page_id, delivery, now, error_code)
        return DeliveredPage(
            id=page.id,
            incident_id=page.incident_id,
            kind=page.kind,
            cycle=page.cycle,
            level=page.level,
            person=page.person,
            channel=page.channel,
            delivery=delivery,
            settled=settled,
        )


async def _settle(
    session: AsyncSession, page_id: int, delivery: str, now: datetime, error_code: str | None
) -> str | None:
    if delivery in DELIVERED:
        values: dict[str, object] = {"status": "delivered"}
    elif delivery in FAILED:
        values = {"status": "failed", "error": failure_reason(delivery, error_code)}
    else:
        return None
    # Only a page the channel finished with: one still `sending` is settled by the sender
    # when it records the outcome (see settle_early_deliveries).
    settled = (
        await session.execute(
            update(PageRow)
            .where(PageRow.id == page_id, PageRow.status == "sent")
            .values(updated_at=now, **values)
            .returning(PageRow.id)
        )
    ).scalar_one_or_none()
    return str(values["status"]) if settled is not None else None


async def settle_early_deliveries(db: Database, page_ids: list[int], *, now: datetime) -> list[int]:
    """Pages just recorded as sent whose final status came back before the sender recorded the
    send (a fast provider): settle them now. Returns the ids that turned out failed."""
    if not page_ids:
        return []
    failed: list[int] = []
    async with db.session() as session, session.begin():
        rows = (
            await session.execute(
                select(PageRow.id, PageRow.delivery).where(
                    PageRow.id.in_(page_ids),
                    PageRow.status == "sent",
                    PageRow.delivery.in_(DELIVERED | FAILED),
                )
            )
        ).all()
        for page_id, delivery in rows:
            if (
                delivery is not None
                and await _settle(session, page_id, delivery, now, None) == "failed"
            ):
                failed.append(page_id)
    return failed
