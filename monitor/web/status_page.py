"""The public status page: `/`, `/status.json`, `/feed.atom` and `/badge/{group}.svg`.

It is the page everyone reloads during an outage, so one snapshot (a few indexed queries over
incidents and daily rollups) serves every request for a few seconds, and concurrent requests
for an expired snapshot wait for one rebuild instead of each running the queries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from monitor.web.auth import web_context
from monitor.web.badges import badge_svg
from monitor.web.context import WebContext
from monitor.web.status_view import (
    PublicIncident,
    StatusSnapshot,
    build_snapshot,
)
from monitor.web.templating import templates

CACHE_SECONDS = 5.0
STALE_SECONDS = 30.0
# Browsers and proxies may keep a copy as long as the server does.
CACHE_CONTROL = f"public, max-age={int(CACHE_SECONDS)}"

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@dataclass
class StatusCache:
    """One snapshot for `ttl` seconds. Past that, the first request starts a rebuild and, for up
    to `stale_for` seconds more, every request (that one included) is served the previous
    snapshot meanwhile: during an outage's reload storm nobody waits for the queries. Only the
    very first request, or one after a long quiet spell, waits. `ttl` 0 turns caching off."""

    ttl: float = CACHE_SECONDS
    stale_for: float = STALE_SECONDS
    # Seconds that only go forward: the age of a snapshot, not a time anyone reads. A test
    # moves its own instead of sleeping.
    monotonic: Callable[[], float] = time.monotonic
    _snapshot: StatusSnapshot | None = None
    _built: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _rebuild: asyncio.Task[None] | None = None
    # Rendered bodies of the current snapshot, by format (the Atom feed's is made on demand).
    _bodies: dict[str, bytes] = field(default_factory=dict)

    def _age(self) -> float:
        return self.monotonic() - self._built

    async def snapshot(self, web: WebContext) -> StatusSnapshot:
        if self.ttl <= 0:
            return await self._build(web)
        current = self._snapshot
        if current is not None and self._age() < self.ttl:
            return current
        if current is not None and self._age() < self.ttl + self.stale_for:
            if self._rebuild is None or self._rebuild.done():
                self._rebuild = asyncio.create_task(self._refresh(web))
            return current
        async with self._lock:
            if self._snapshot is None or self._age() >= self.ttl:
                await self._store(web)
            assert self._snapshot is not None
            return self._snapshot

    async def _refresh(self, web: WebContext) -> None:
        async with self._lock:
            try:
                await self._store(web)
            except Exception:  # the stale snapshot stays; the next request tries again
                log.exception("status page: rebuilding the snapshot failed")

    async def _store(self, web: WebContext) -> None:
        snapshot = await self._build(web)
        # Rendered in a thread: 50 x 90 cells take tens of milliseconds of pure Python, and the
        # interpreter switches threads every few milliseconds, so the event loop keeps
        # answering the reloads meanwhile instead of stalling for the whole render.
        bodies = await asyncio.to_thread(prerender, snapshot)
        self._snapshot, self._bodies, self._built = snapshot, bodies, self.monotonic()

    async def _build(self, web: WebContext) -> StatusSnapshot:
        return await build_snapshot(web.db, config=web.config(), now=web.clock.now())

    async def rebuilt(self) -> None:
        """Wait for the rebuild under way, if any (tests, and a clean stop)."""
        if self._rebuild is not None:
            await self._rebuild

    def body(self, snapshot: StatusSnapshot, kind: str, render: Callable[[], bytes]) -> bytes:
        if snapshot is not self._snapshot or self.ttl <= 0:
            return render()
        if kind not in self._bodies:
            self._bodies[kind] = render()
        return self._bodies[kind]


async def _snapshot(request: Request) -> tuple[StatusSnapshot, StatusCache]:
    cache: StatusCache = request.app.state.status_cache  # made by create_app
    return await cache.snapshot(web_context(request)), cache


def _base_url(request: Request) -> str:
    public = web_context(request).public_url
    return public.rstrip("/") if public else str(request.base_url).rstrip("/")


def render_html(snapshot: StatusSnapshot) -> bytes:
    template = templates.get_template("status/page.html")
    return template.render(s=snapshot).encode()


def render_json(snapshot: StatusSnapshot) -> bytes:
    return bytes(JSONResponse(status_json(snapshot)).body)


def prerender(snapshot: StatusSnapshot) -> dict[str, bytes]:
    """The bodies every reload asks for, made once per snapshot."""
    return {"html": render_html(snapshot), "json": render_json(snapshot)}


@router.get("/", response_class=HTMLResponse)
async def status_page(request: Request) -> Response:
    snapshot, cache = await _snapshot(request)
    return Response(
        cache.body(snapshot, "html", lambda: render_html(snapshot)),
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": CACHE_CONTROL},
    )


def _incident_json(incident: PublicIncident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "component": incident.component,
        "impact": incident.severity,
        "status": incident.phase,
        "started_at": _iso(incident.started_at),
        "resolved_at": _iso(incident.resolved_at) if incident.resolved_at else None,
        "duration_seconds": int(incident.duration.total_seconds()),
        "updates": [
            {"at": _iso(update.at), "status": update.phase, "text": update.text}
            for update in incident.updates
        ],
    }


def status_json(snapshot: StatusSnapshot) -> dict[str, Any]:
    return {
        "generated_at": _iso(snapshot.generated_at),
        "status": {"indicator": snapshot.state, "description": snapshot.banner},
        "components": [
            {
                "name": component.name,
                "status": component.state,
                "description": component.label,
                "uptime_90d": component.uptime,
                "days": [
                    {"date": cell.day.isoformat(), "uptime": cell.uptime} for cell in component.days
                ],
            }
            for component in snapshot.components
        ],
        "incidents": [_incident_json(incident) for incident in snapshot.current],
        "history": [_incident_json(incident) for incident in snapshot.history],
    }


@router.get("/status.json")
async def status_document(request: Request) -> Response:
    snapshot, cache = await _snapshot(request)
    body = cache.body(snapshot, "json", lambda: render_json(snapshot))
    return Response(
        body,
        media_type="application/json",
        headers={"Cache-Control": CACHE_CONTROL, "Access-Control-Allow-Origin": "*"},
    )


@router.get("/feed.atom")
async def atom_feed(request: Request) -> Response:
    snapshot, cache = await _snapshot(request)
    base = _base_url(request)

    def render() -> bytes:
        entries = sorted(
            snapshot.current + snapshot.history, key=lambda i: i.updates[0].at, reverse=True
        )
        template = templates.get_template("status/feed.atom")
        return template.render(s=snapshot, entries=entries, base=base, iso=_iso).encode()

    # The base URL is part of the body: cache it per base (one in practice).
    return Response(
        cache.body(snapshot, f"atom {base}", render),
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": CACHE_CONTROL},
    )


@router.get("/badge/{group}.svg")
async def badge(request: Request, group: str) -> Response:
    snapshot, _ = await _snapshot(request)
    component = snapshot.component(group)
    if component is None:
        raise HTTPException(status_code=404, detail="no such component")
    return Response(
        badge_svg(component.name, component.label.lower(), component.state),
        media_type="image/svg+xml",
        headers={"Cache-Control": CACHE_CONTROL},
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
