"""The monitor's web app (FastAPI): Twilio's webhooks now; status page, admin and API later."""

from __future__ import annotations

from fastapi import FastAPI

from monitor.web import twilio_hooks
from monitor.web.context import WebContext


def create_app(web: WebContext | None) -> FastAPI:
    """The app; `web` may be set later (app.state.web), before it serves a request."""
    app = FastAPI(title="monitor", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    app.include_router(twilio_hooks.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
