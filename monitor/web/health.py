"""/healthz, /readyz and /metrics (placeholder: /healthz only, until the rest is written)."""

from fastapi import APIRouter

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
