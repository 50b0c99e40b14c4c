"""The JSON API under /api/v1 (placeholder until it is written)."""

from fastapi import FastAPI


def create_api() -> FastAPI:
    return FastAPI(title="monitor API", version="1", docs_url=None, redoc_url=None)
