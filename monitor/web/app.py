"""The monitor's web app (FastAPI): Twilio's webhooks, the public status page, the admin
pages, the JSON API (a sub-application at /api/v1, with its own OpenAPI document), health and
metrics. One app, one process, one database pool with the rest of the monitor."""

from __future__ import annotations

from fastapi import FastAPI

from monitor.web import admin, api, health, status_page, twilio_hooks
from monitor.web.context import WebContext
from monitor.web.status_page import StatusCache


def create_app(web: WebContext | None) -> FastAPI:
    """The app; `web` may be set later (app.state.web), before it serves a request."""
    app = FastAPI(title="monitor", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    app.state.status_cache = StatusCache()
    app.include_router(twilio_hooks.router)
    app.include_router(health.router)
    app.include_router(status_page.router)
    app.include_router(admin.router)
    api_app = create_api_app(app)
    app.mount("/api/v1", api_app)
    return app


def create_api_app(parent: FastAPI) -> FastAPI:
    """The API sub-app shares its parent's state: the same WebContext, also when set later."""
    api_app = api.create_api()
    api_app.state = parent.state
    return api_app
