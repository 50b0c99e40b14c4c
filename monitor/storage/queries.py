"""One-shot operations for the command line: each opens the database, does one thing, closes it,
and turns database trouble into a DatabaseError whose message names the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import exc, select

from monitor.storage.database import (
    Database,
    DatabaseError,
    describe_error,
    display_url,
    parse_url,
    sqlite_path,
)
from monitor.storage.escalation import PageView, pages_of
from monitor.storage.inbound import opted_out_phones
from monitor.storage.incidents import (
    IncidentEvent,
    IncidentRow,
    acknowledge_incident,
    escalate_incident,
    get_incident,
    list_incidents,
    resolve_incident,
)
from monitor.storage.migrations import current_revision, head_revision, revision_of, upgrade
from monitor.storage.repository import StoredResult, recent_results, replay_results
from monitor.storage.rollups import RolledOnly, rolled_only
from monitor.storage.silences import SilenceRow, add_silence, end_silence, list_silences
from monitor.storage.tables import Probe

T = TypeVar("T")


class UnknownProbes(LookupError):
    """Probe names the database has never seen: a silence of them would silence nothing."""

    def __init__(self, unknown: Sequence[str], *, known: Sequence[str], url: str) -> None:
        names = ", ".join(repr(name) for name in unknown)
        super().__init__(f"no probe named {names} in {url}")
        self.unknown = tuple(unknown)
        self.known = tuple(known)
        self.url = url


@dataclass(frozen=True, kw_only=True)
class EndedSilence:
    silence: SilenceRow
    # False when it was over already (expired, or ended by someone else): nothing was changed.
    changed: bool


def upgrade_to_head(url: str) -> str:
    """`monitor db upgrade`: migrate to the latest schema and return its revision."""
    upgrade(url)
    return current_revision(url) or head_revision()


@asynccontextmanager
async def _opened(url: str, *, doing: str, latest: bool = True) -> AsyncIterator[Database]:
    """The database at `url`, checked to be one the monitor created; `latest`: at the newest
    schema too (the incident tables arrived with a later migration). A driver error while in use
    becomes a DatabaseError "<doing> <database> failed: ...". A database the monitor never wrote
    to is an error: a typo in the URL should not look like "nothing there"."""
    parsed = parse_url(url)
    shown = display_url(parsed)
    path = sqlite_path(parsed)
    if path is not None and not path.exists():
        # Checked before connecting: opening would create an empty file.
        raise DatabaseError(
            f"no database at {path}: `monitor run` creates it (or `monitor db upgrade`)",
            url=shown,
        )
    db = Database.connect(url)
    try:
        revision = await revision_of(db)
        if revision is None:
            raise DatabaseError(
                f"the database {shown} has no monitor tables yet: run `monitor db upgrade` "
                "(or `monitor run`) first",
                url=shown,
            )
        if latest and revision != head_revision():
            # Without this the user would read "no such table: incidents" and guess.
            raise DatabaseError(
                f"the database {shown} is at schema revision {revision}, this monitor needs "
                f"{head_revision()}: run `monitor db upgrade` (or `monitor run`)",
                url=shown,
            )
        yield db
    except exc.DBAPIError as error:
        raise DatabaseError(
            f"{doing} {shown} failed: {describe_error(error)}", url=shown
        ) from error
    finally:
        await db.dispose()


async def query_recent(
    url: str,
    *,
    probe: str | None = None,
    since: datetime | None = None,
    failed_only: bool = False,
    limit: int = 100,
) -> list[StoredResult]:
    """`monitor results`: recent results, newest first."""
    # Any revision will do: the results table has been there since the first one.
    async with _opened(url, doing="reading results from", latest=False) as db:
        return await recent_results(
            db, probe=probe, since=since, failed_only=failed_only, limit=limit
        )


async def query_incidents(
    url: str,
    *,
    open_only: bool = False,
    probe: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[IncidentRow]:
    """`monitor incidents`: newest first; see `list_incidents`."""
    async with _opened(url, doing="reading incidents from") as db:
        return await list_incidents(db, open_only=open_only, probe=probe, since=since, limit=limit)


async def query_incident(
    url: str, incident_id: int
) -> tuple[IncidentRow, list[IncidentEvent]] | None:
    """`monitor incident show`: the incident and its timeline, oldest event first; None if there
    is no such incident."""
    async with _opened(url, doing="reading incidents from") as db:
        return await get_incident(db, incident_id)


async def query_pages(url: str, incident_id: int) -> list[PageView]:
    """`monitor incident show`: who was paged how and when."""
    async with _opened(url, doing="reading pages from") as db:
        return await pages_of(db, incident_id)


async def query_opt_outs(url: str) -> dict[str, datetime]:
    """`monitor validate`: numbers that replied STOP (the provider will not text them)."""
    async with _opened(url, doing="reading SMS opt-outs from") as db:
        return await opted_out_phones(db)


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What `monitor ack | resolve | escalate` did: `changed` False when the incident was not in a
    state that allows it (acknowledged already, resolved); `incident` as it is now."""

    incident: IncidentRow
    changed: bool


Action = Callable[[Database], Awaitable[bool]]


async def _act(url: str, incident_id: int, action: Action, *, doing: str) -> Answer | None:
    async with _opened(url, doing=doing) as db:
        changed = await action(db)
        found = await get_incident(db, incident_id)
    if found is None:
        return None
    return Answer(incident=found[0], changed=changed)


async def acknowledge(url: str, *, incident_id: int, at: datetime, by: str) -> Answer | None:
    """`monitor ack`: None if there is no such incident."""
    return await _act(
        url,
        incident_id,
        lambda db: acknowledge_incident(db, incident_id=incident_id, at=at, by=by),
        doing="acknowledging in",
    )


async def resolve(url: str, *, incident_id: int, at: datetime, by: str) -> Answer | None:
    """`monitor resolve`: None if there is no such incident."""
    return await _act(
        url,
        incident_id,
        lambda db: resolve_incident(db, incident_id=incident_id, at=at, detail=f"by {by}"),
        doing="resolving in",
    )


async def escalate(url: str, *, incident_id: int, at: datetime, by: str) -> Answer | None:
    """`monitor escalate`: None if there is no such incident."""
    return await _act(
        url,
        incident_id,
        lambda db: escalate_incident(db, incident_id=incident_id, at=at, by=by),
        doing="escalating in",
    )


async def query_silences(
    url: str, *, at: datetime, include_expired: bool = False
) -> list[SilenceRow]:
    """`monitor silence list`: those not over at `at`, or all of them."""
    async with _opened(url, doing="reading silences from") as db:
        return await list_silences(db, at=at, include_expired=include_expired)


async def _probe_names(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.execute(select(Probe.name).order_by(Probe.name))).scalars())


async def create_silence(
    url: str,
    *,
    probes: Sequence[str] | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: str | None,
    at: datetime,
) -> SilenceRow:
    """`monitor silence add`. The names must be probes the database knows (UnknownProbes
    otherwise): a misspelt name would be stored, match nothing, and the page would come anyway.
    ValueError as `add_silence` raises it (no reason, ends before it starts)."""
    async with _opened(url, doing="adding a silence to") as db:
        if probes is not None:
            known = await _probe_names(db)
            unknown = [name for name in dict.fromkeys(probes) if name not in known]
            if unknown:
                raise UnknownProbes(unknown, known=known, url=db.url)
        return await add_silence(
            db,
            probes=probes,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=created_by,
            at=at,
        )


async def finish_silence(url: str, *, silence_id: int, at: datetime) -> EndedSilence | None:
    """`monitor silence end`: end (or, if it has not started, cancel) a silence at `at`. None if
    there is no such silence."""
    async with _opened(url, doing="ending a silence in") as db:
        # Read first only to tell the user whether this call changed anything: end_silence
        # returns the row either way. Silences are few; a race with another `end` only changes
        # which of the two messages is printed, never the stored end.
        before = {s.id: s for s in await list_silences(db, at=at, include_expired=True)}
        if silence_id not in before:
            return None
        was_over = not before[silence_id].effective_end > at
        ended = await end_silence(db, silence_id=silence_id, at=at)
        if ended is None:  # deleted in between
            return None
        return EndedSilence(silence=ended, changed=not was_over)


async def replay_stored(
    url: str,
    *,
    since: datetime,
    until: datetime,
    probes: Collection[str],
    replay: Callable[[AsyncIterator[StoredResult], list[SilenceRow]], Awaitable[T]],
) -> T:
    """`monitor backtest`: hand `replay` the stored results of `probes` that started in
    [since, until), oldest first, and every silence ever stored (expired and ended ones too:
    they were active during the history). The replay itself is the caller's: storage does not
    know the detector."""
    async with _opened(url, doing="replaying results from") as db:
        silences = await list_silences(db, at=until, include_expired=True)
        return await replay(replay_results(db, since=since, until=until, probes=probes), silences)


async def query_rolled_only(
    url: str, *, since: datetime, until: datetime, probes: Collection[str]
) -> RolledOnly | None:
    """`monitor backtest`: the part of the window retention left only rollups of."""
    async with _opened(url, doing="reading rollups from") as db:
        return await rolled_only(db, since=since, until=until, probes=probes)


__all__ = [
    "EndedSilence",
    "UnknownProbes",
    "create_silence",
    "finish_silence",
    "query_incident",
    "query_incidents",
    "query_recent",
    "query_rolled_only",
    "query_silences",
    "replay_stored",
    "upgrade_to_head",
]
