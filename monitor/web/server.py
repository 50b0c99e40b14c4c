"""Serving the web app inside the monitor's own event loop (one process, one database pool)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 2.0


def parse_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:8080`, `0.0.0.0:80`, `:8080` (all interfaces), `[::1]:8080`."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen wants HOST:PORT, e.g. 127.0.0.1:8080, not {listen!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would take SIGINT/SIGTERM for itself; the monitor stops the web server in
        # its own shutdown order (after the engine finished its tick).
        yield


class WebServer:
    """uvicorn as a task of the running loop; `start()` returns once it listens."""

    def __init__(self, app: FastAPI, *, listen: str) -> None:
        host, port = parse_listen(listen)
        # Bound here, not by uvicorn: a taken port is an error at once, and with port 0 the
        # address is known before anything needs it (the callback URLs of the first pages).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
        except OSError as error:
            self.socket.close()
            raise OSError(f"cannot listen on {listen}: {error.strerror or error}") from error
        config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None)
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(
            self.server.serve(sockets=[self.socket]), name="web server"
        )
        async with asyncio.timeout(START_TIMEOUT):
            while not self.server.started:
                if self._task.done():
                    self._task.result()
                    raise OSError("the web server stopped while starting (is the port taken?)")
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        except SystemExit:  # uvicorn exits this way when it could not start
            pass
        finally:
            self.socket.close()
