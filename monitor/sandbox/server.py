"""Running the sandbox on a real port inside the caller's event loop (`monitor sandbox`,
`monitor demo`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence

import uvicorn

from monitor.sandbox.app import create_app
from monitor.sandbox.state import SandboxPerson


class SandboxStartupError(RuntimeError):
    """The server could not listen (port taken, bad host)."""


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: Callable[[str], None] | None) -> None:
        super().__init__(config)
        self._ready = ready
        self.base_url: str | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The caller owns the process's signals: Ctrl-C cancels its task (asyncio.run does
        # that), and `serve` shuts down gracefully on cancellation.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        # Port 0 asks the kernel for a free one: read the port from the listening socket.
        port = int(self.servers[0].sockets[0].getsockname()[1])
        self.base_url = f"http://{_url_host(self.config.host)}:{port}"
        if self._ready is not None:
            self._ready(self.base_url)


def _url_host(host: str) -> str:
    """A host that a client on this machine can reach the server at."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


async def serve(
    *,
    host: str,
    port: int,
    account_sid: str,
    auth_token: str,
    inbound_sms_url: str | None,
    people: Sequence[SandboxPerson],
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve a sandbox on host:port (0 = a free port) until `stop` is set or the task is
    cancelled; `ready(base_url)` is called once it listens. Raises `SandboxStartupError`."""
    app = create_app(
        account_sid=account_sid,
        auth_token=auth_token,
        inbound_sms_url=inbound_sms_url,
        people=people,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        # None: leave the process's logging configuration to the caller.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, ready)
    serving = asyncio.create_task(server.serve(), name="sandbox server")
    stopping = asyncio.create_task(stop.wait() if stop else asyncio.Event().wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        server.should_exit = True
        # Also after a cancellation: the lifespan must run so callbacks and the client close.
        try:
            await serving
        except SystemExit as exc:
            # uvicorn exits the process when it cannot start; the caller decides that here.
            raise SandboxStartupError(
                f"the Twilio sandbox could not listen on {host}:{port}"
            ) from exc
