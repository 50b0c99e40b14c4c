"""The application factory: every call builds an independent API with its own data."""

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from demo_api import accounts, admin, groups, shares
from demo_api.dependencies import DemoState
from demo_api.faults import FAULT_HEADER, FaultInjector, FaultMiddleware
from demo_api.settings import DemoSettings
from demo_api.store import (
    ConflictError,
    DiskFullError,
    ForbiddenError,
    NotFoundError,
    Store,
    StoreError,
)

_STATUS_BY_ERROR: dict[type[StoreError], int] = {
    DiskFullError: 507,  # Insufficient Storage
    ConflictError: 409,
    NotFoundError: 404,
    ForbiddenError: 403,
}


def create_app(settings: DemoSettings | None = None) -> FastAPI:
    """Build the demo API; without `settings`, read them from the `DEMO_*` environment."""
    if settings is None:
        settings = DemoSettings.from_env(os.environ)
    injector = FaultInjector(settings.faults, seed=settings.seed)
    store = Store(is_disk_full=lambda: injector.disk_full)
    store.seed_user(settings.user_email, settings.user_password)

    app = FastAPI(
        title="demo_api",
        description="An in-memory signup/login/sharing API with fault injection.",
    )
    app.state.demo = DemoState(store=store, injector=injector)
    app.add_middleware(FaultMiddleware, injector=injector, prefix="/api/")
    app.add_exception_handler(StoreError, _store_error)
    for module in (accounts, shares, groups, admin):
        app.include_router(module.router)
    return app


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS_BY_ERROR.items() if isinstance(exc, kind)), 500)
    headers = {FAULT_HEADER: "disk_full"} if isinstance(exc, DiskFullError) else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
