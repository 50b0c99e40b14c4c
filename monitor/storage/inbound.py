"""Texts that reached the monitor, numbers that opted out of SMS, and which incidents were
paged to whom (what a reply may act on)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, delete, func, select

from monitor.storage.database import Database
from monitor.storage.tables import InboundSms, Incident, PageRow, SmsOptOut

# A page that reached (or may have reached) the person: a bare `ACK` refers to it.
_SENT = ("sent", "delivered")


async def record_inbound(
    db: Database,
    *,
    at: datetime,
    phone: str,
    person: str | None,
    body: str,
    action: str,
    incident_id: int | None,
    auto_reply: bool,
) -> None:
    async with db.session() as session, session.begin():
        session.add(
            InboundSms(
                at=at,
                phone=phone,
                person=person,
                body=body[:1600],  # Twilio's own limit for one message
                action=action,
                incident_id=incident_id,
                auto_reply=auto_reply,
            )
        )


async def auto_replies_since(db: Database, *, phone: str, since: datetime) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(InboundSms)
            .where(InboundSms.phone == phone, InboundSms.at >= since, InboundSms.auto_reply)
        )
        return int(count or 0)


async def latest_incident_paged_to(db: Database, *, person: str) -> int | None:
    """The incident a bare `ACK` from this person means: the latest one paged to them that is
    still open, else the latest one paged at all (its reply then says it is resolved)."""
    still_open = case((Incident.state != "resolved", 1), else_=0)
    async with db.session() as session:
        return await session.scalar(
            select(PageRow.incident_id)
            .join(Incident, Incident.id == PageRow.incident_id)
            .where(PageRow.person == person, PageRow.kind == "page", PageRow.status.in_(_SENT))
            .order_by(still_open.desc(), PageRow.sent_at.desc(), PageRow.id.desc())
            .limit(1)
        )


async def was_paged(db: Database, *, incident_id: int, person: str) -> bool:
    """Whether any page of the incident was written for the person (sent, failed, pending):
    they were asked to answer it."""
    async with db.session() as session:
        found = await session.scalar(
            select(PageRow.id)
            .where(
                PageRow.incident_id == incident_id,
                PageRow.person == person,
                PageRow.kind == "page",
                PageRow.status != "cancelled",
            )
            .limit(1)
        )
        return found is not None


async def set_opted_out(db: Database, *, phone: str, at: datetime, opted_out: bool) -> None:
    async with db.session() as session, session.begin():
        await session.execute(delete(SmsOptOut).where(SmsOptOut.phone == phone))
        if opted_out:
            session.add(SmsOptOut(phone=phone, at=at))


async def opted_out_phones(db: Database) -> dict[str, datetime]:
    """Numbers that replied STOP (and not START since), with when."""
    async with db.session() as session:
        rows = await session.execute(select(SmsOptOut.phone, SmsOptOut.at))
        return {phone: at for phone, at in rows.all()}
