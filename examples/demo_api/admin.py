"""Health check and the live fault controls; both outside the fault middleware's prefix."""

from fastapi import APIRouter

from demo_api.dependencies import Demo
from demo_api.faults import FaultPatch, Faults
from demo_api.schemas import Health

router = APIRouter()


@router.get("/healthz", tags=["ops"])
async def healthz() -> Health:
    # Always 200, even under faults: it says "the process is up", which is what a parent
    # process waiting for start-up needs; it says nothing about the API's health.
    return Health(status="ok")


@router.get("/_admin/faults", tags=["faults"])
async def get_faults(demo: Demo) -> Faults:
    return demo.injector.faults


@router.put("/_admin/faults", tags=["faults"])
async def put_faults(patch: FaultPatch, demo: Demo) -> Faults:
    """Change faults live; omitted fields keep their value. Takes effect on the next request."""
    return demo.injector.update(patch)
