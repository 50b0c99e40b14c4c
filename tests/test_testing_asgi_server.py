"""`serve_asgi`, the helper every server-backed test relies on: it serves, it stops, it fails loudly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from monitor.testing import ServerStartupError, serve_asgi


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def test_serves_over_real_tcp_and_stops() -> None:
    with serve_asgi(hello_app()) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/hello").json() == {"hello": "world"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/hello", timeout=2)


def test_two_servers_get_different_ports() -> None:
    with serve_asgi(hello_app()) as first, serve_asgi(hello_app()) as second:
        assert first != second
        assert httpx.get(f"{second}/hello").status_code == 200


def test_a_failing_startup_raises_with_the_reason() -> None:
    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("database unreachable at startup")
        yield

    with pytest.raises(ServerStartupError) as raised, serve_asgi(FastAPI(lifespan=broken)):
        pass
    assert "database unreachable at startup" in str(raised.value) + " ".join(raised.value.log_lines)
