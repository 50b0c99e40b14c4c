"""The JSON API under /api/v1: probes, results, incidents (list, show, ack, resolve, escalate),
on-call, silences. Every route takes `Authorization: Bearer <MONITOR_ADMIN_TOKEN>` (401
without); the guard sits on the app, so no route can forget it. The OpenAPI document
(/api/v1/openapi.json) is served without the token: it holds no data, and a client needs it to
learn how to authenticate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from monitor.config.models import ProbeConfig
from monitor.masking import mask_phones
from monitor.storage.escalation import pages_of
from monitor.storage.incidents import (
    IncidentRow,
    get_incident,
    list_incidents,
    open_incidents,
)
from monitor.storage.repository import StoredResult, recent_results, recent_results_per_probe
from monitor.storage.silences import SilenceRow, end_silence, list_silences
from monitor.web.admin_views import (
    SilenceFormError,
    create_silence,
    masked_event,
    oncall_lines,
    silence_request,
)
from monitor.web.api_models import (
    ActionIn,
    EventOut,
    IncidentDetail,
    IncidentOut,
    OnCallOut,
    PageOut,
    ProbeDetail,
    ProbeOut,
    ResultOut,
    SilenceIn,
    SilenceOut,
)
from monitor.web.auth import token_matches, web_context
from monitor.web.context import WebContext
from monitor.web.incident_actions import REFUSED, Action, change_incident

_bearer = HTTPBearer(auto_error=False, description="MONITOR_ADMIN_TOKEN")


async def authorized(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> WebContext:
    web = web_context(request)
    if web.admin_token is None:
        raise HTTPException(
            status_code=401,
            detail="the API is off: MONITOR_ADMIN_TOKEN is not set",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if credentials is None or not token_matches(credentials.credentials, web.admin_token):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return web


Web = Annotated[WebContext, Depends(authorized)]
IncidentId = Annotated[int, Path(ge=1, description="the incident's number (MON-12 is 12)")]
router = APIRouter()


def create_api() -> FastAPI:
    api = FastAPI(
        title="monitor API",
        version="1",
        description="Probes, results, incidents, on-call and silences of a running monitor.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(authorized)],
    )
    api.include_router(router)
    return api


# -- probes and results -----------------------------------------------------------------------


@router.get("/probes", tags=["probes"])
async def probes(web: Web) -> list[ProbeOut]:
    """Every configured probe with its last result and its open incident, if any."""
    configured = web.config().probes
    last = await recent_results_per_probe(web.db, [probe.name for probe in configured], limit=1)
    incidents = {row.probe: row for row in await open_incidents(web.db)}
    return [
        _probe(probe, last=last.get(probe.name, []), incident=incidents.get(probe.name))
        for probe in configured
    ]


def _probe(
    probe: ProbeConfig, *, last: list[StoredResult], incident: IncidentRow | None
) -> ProbeOut:
    return ProbeOut(
        name=probe.name,
        group=probe.component,
        enabled=probe.enabled,
        interval_seconds=probe.interval.total_seconds(),
        last_result=ResultOut.model_validate(last[0]) if last else None,
        open_incident=IncidentOut.model_validate(incident) if incident else None,
    )


@router.get("/probes/{name}", tags=["probes"])
async def probe(
    web: Web, name: str, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> ProbeDetail:
    """One probe and its most recent runs."""
    configured = next((p for p in web.config().probes if p.name == name), None)
    if configured is None:
        raise HTTPException(
            status_code=404,
            detail=f"no probe named {name!r} in the config (GET /probes lists them)",
        )
    results = await recent_results(web.db, probe=name, limit=limit)
    incident = next((row for row in await open_incidents(web.db) if row.probe == name), None)
    summary = _probe(configured, last=results[:1], incident=incident)
    return ProbeDetail(**dict(summary), results=[ResultOut.model_validate(row) for row in results])


@router.get("/results", tags=["probes"])
async def results(
    web: Web,
    probe: str | None = None,
    since: datetime | None = Query(default=None, description="ISO 8601 with an offset"),
    failed: bool = Query(default=False, description="only failed runs"),
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ResultOut]:
    """Runs newest first."""
    if since is not None and since.utcoffset() is None:
        raise HTTPException(
            status_code=422,
            detail=f"since: {since.isoformat()} has no time zone; add Z or an offset like +01:00",
        )
    rows = await recent_results(web.db, probe=probe, since=since, failed_only=failed, limit=limit)
    return [ResultOut.model_validate(row) for row in rows]


# -- incidents -----------------------------------------------------------------------------------


@router.get("/incidents", tags=["incidents"])
async def incidents(
    web: Web,
    open: bool = Query(default=False, description="only triggered and acknowledged ones"),
    probe: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[IncidentOut]:
    """Incidents newest first."""
    rows = await list_incidents(web.db, open_only=open, probe=probe, limit=limit)
    return [IncidentOut.model_validate(row) for row in rows]


async def _detail(web: WebContext, incident_id: int) -> IncidentDetail:
    found = await get_incident(web.db, incident_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no incident MON-{incident_id}")
    row, events = found
    pages = await pages_of(web.db, incident_id)
    return IncidentDetail(
        **IncidentOut.model_validate(row).model_dump(),
        # As on the admin pages: a provider's error or an event may quote a phone number.
        events=[EventOut.model_validate(masked_event(event)) for event in events],
        pages=[
            PageOut.model_validate(page).model_copy(
                update={"error": mask_phones(page.error) if page.error else None}
            )
            for page in pages
        ],
    )


@router.get("/incidents/{incident_id}", tags=["incidents"])
async def incident(web: Web, incident_id: IncidentId) -> IncidentDetail:
    """One incident with its timeline and every page sent for it."""
    return await _detail(web, incident_id)


async def _act(
    web: WebContext, incident_id: int, body: ActionIn | None, action: Action
) -> IncidentDetail:
    current = await _detail(web, incident_id)  # 404 first
    if not await change_incident(web, action, incident_id, by=(body or ActionIn()).by):
        raise HTTPException(
            status_code=409, detail=f"MON-{incident_id} is {current.state}: {REFUSED[action]}"
        )
    return await _detail(web, incident_id)


@router.post("/incidents/{incident_id}/ack", tags=["incidents"])
async def ack(web: Web, incident_id: IncidentId, body: ActionIn | None = None) -> IncidentDetail:
    """Acknowledge: no more pages (until the policy's ack_timeout). 409 unless triggered."""
    return await _act(web, incident_id, body, "acknowledge")


@router.post("/incidents/{incident_id}/resolve", tags=["incidents"])
async def resolve(
    web: Web, incident_id: IncidentId, body: ActionIn | None = None
) -> IncidentDetail:
    """Resolve: paging stops and everyone paged is told. 409 when resolved already."""
    return await _act(web, incident_id, body, "resolve")


@router.post("/incidents/{incident_id}/escalate", tags=["incidents"])
async def escalate(
    web: Web, incident_id: IncidentId, body: ActionIn | None = None
) -> IncidentDetail:
    """Page the next level now (an acknowledged incident is triggered again)."""
    return await _act(web, incident_id, body, "escalate")


# -- on-call and silences ------------------------------------------------------------------------


@router.get("/oncall", tags=["on-call"])
async def oncall(web: Web) -> list[OnCallOut]:
    """Who is on call now in each schedule, and the next handoffs; phones masked."""
    return [
        OnCallOut.model_validate(line) for line in oncall_lines(web.config(), at=web.clock.now())
    ]


def _silence(row: SilenceRow, *, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=row.id,
        probes=list(row.probes) if row.probes is not None else None,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        ended_at=row.ended_at,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        active=row.active(now),
    )


@router.get("/silences", tags=["silences"])
async def silences(
    web: Web, all: bool = Query(default=False, description="also those over")
) -> list[SilenceOut]:
    """Active and planned silences (with `all`, also expired and ended ones)."""
    now = web.clock.now()
    rows = await list_silences(web.db, at=now, include_expired=all)
    return [_silence(row, now=now) for row in rows]


@router.post("/silences", tags=["silences"], status_code=201)
async def add_silence(web: Web, body: SilenceIn) -> SilenceOut:
    """Silence the named probes (or every probe) from now for `duration`."""
    try:
        request = silence_request(
            scope="all" if body.probes is None else "selected",
            probes=body.probes or [],
            duration=body.duration,
            reason=body.reason,
            known=[probe.name for probe in web.config().probes],
        )
        row = await create_silence(web, request, by=body.by)
    except SilenceFormError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    return _silence(row, now=web.clock.now())


@router.post("/silences/{silence_id}/end", tags=["silences"])
async def end(web: Web, silence_id: Annotated[int, Path(ge=1)]) -> SilenceOut:
    """End a silence now (one not started yet is cancelled)."""
    now = web.clock.now()
    row = await end_silence(web.db, silence_id=silence_id, at=now)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no silence #{silence_id}")
    return _silence(row, now=now)
