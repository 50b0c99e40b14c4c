"""Fault injection: the partial outage of the story, reproducible and changeable live.

A load balancer that lost part of its capacity answers a share of requests itself with a 503,
adds latency to the rest, and a full disk makes writes fail while reads keep working.
"""

import asyncio
import random
import threading

from pydantic import BaseModel, ConfigDict
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from demo_api.values import ErrorRatio, LatencyMs

FAULT_HEADER = "X-Demo-Fault"


class Faults(BaseModel):
    """The faults in force; also the body of `GET /_admin/faults`."""

    model_config = ConfigDict(frozen=True)

    error_ratio: ErrorRatio = 0.0
    latency_ms: LatencyMs = 0
    disk_full: bool = False


class FaultPatch(BaseModel):
    """Body of `PUT /_admin/faults`: omitted (or null) fields keep their value.

    Strict and closed: `"disk_full": "yes"` or a typo like `error_rate` is a 422, never a
    silently ignored change that leaves a test or a demo believing the fault is on.
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    error_ratio: ErrorRatio | None = None
    latency_ms: LatencyMs | None = None
    disk_full: bool | None = None


class FaultInjector:
    """Current faults plus the seeded RNG that decides which requests fail.

    Shared by the event loop and any thread (uvicorn workers, a test poking at it), hence the
    lock; it is never held across an await.
    """

    def __init__(self, faults: Faults, *, seed: int | None) -> None:
        self._faults = faults
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def update(self, patch: FaultPatch) -> Faults:
        changes = patch.model_dump(exclude_none=True)
        with self._lock:
            self._faults = self._faults.model_copy(update=changes)
            return self._faults

    def should_fail(self) -> bool:
        """One draw per request, even at ratio 0 or 1, so a seed gives the same sequence of
        outcomes whatever ratios were set along the way."""
        with self._lock:
            return self._rng.random() < self._faults.error_ratio

    @property
    def disk_full(self) -> bool:
        return self.faults.disk_full


class FaultMiddleware:
    """Applies latency and the error ratio to requests under `prefix` (the API).

    Pure ASGI, in front of routing, like a load balancer: unknown paths and malformed bodies
    are affected too. `/healthz`, `/_admin` and the docs stay outside the prefix, so tests and
    `monitor demo` can always reach and repair the API.
    """

    def __init__(self, app: ASGIApp, *, injector: FaultInjector, prefix: str = "/api/") -> None:
        self.app = app
        self.injector = injector
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        latency_ms = self.injector.faults.latency_ms
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        if self.injector.should_fail():
            response = PlainTextResponse(
                "503 Service Unavailable: no healthy upstream\n",
                status_code=503,
                headers={FAULT_HEADER: "error_ratio"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
