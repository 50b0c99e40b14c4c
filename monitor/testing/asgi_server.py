"""Run an ASGI app on a real uvicorn server in a background thread, for tests.

Tests talk to it over real TCP, exactly as the monitor's probes talk to a target, so the HTTP
client, timeouts, cookies and connection handling are all exercised. The server gets its own
thread and event loop: a blocked or sync test cannot stall it, and an async test's loop is
never shared with the app under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import threading
from collections.abc import Iterator
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

_HOST = "127.0.0.1"
_UVICORN_LOGGER = "uvicorn.error"


class ServerStartupError(RuntimeError):
    """The server did not start listening; the message carries uvicorn's reason.

    `log_lines` are the errors uvicorn logged while starting; `__cause__` is the app's own
    exception when uvicorn logged one.
    """

    def __init__(self, message: str, *, log_lines: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.log_lines = log_lines


class _ThreadErrors(logging.Handler):
    """Collects ERROR records that uvicorn logs from one thread.

    uvicorn reports startup failures (a failing lifespan, a busy port) only by logging and then
    calling `sys.exit`; keeping those records lets the failure surface as a readable exception
    instead of "the server never came up". Filtering by thread keeps parallel servers apart.
    """

    def __init__(self, thread_name: str) -> None:
        super().__init__(level=logging.ERROR)
        self.thread_name = thread_name
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName == self.thread_name:
            self.records.append(record)

    def lines(self) -> tuple[str, ...]:
        return tuple(record.getMessage() for record in self.records)

    def first_exception(self) -> BaseException | None:
        for record in self.records:
            if record.exc_info and record.exc_info[1] is not None:
                return record.exc_info[1]
        return None


class _Server(uvicorn.Server):
    """A uvicorn server that tells a waiting thread the moment it listens, or dies, and that
    another thread can cancel outright."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.port: int | None = None
        self.crash: BaseException | None = None
        self.cancelled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        await super().serve(sockets=sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            # Port 0 was asked for: the kernel chose one, read it from the listening socket.
            listening = self.servers[0].sockets
            self.port = int(listening[0].getsockname()[1])
        self.ready.set()

    def run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # uvicorn reports a failed startup with SystemExit
            self.crash = exc
        finally:
            # Wake the waiter on every path, so a failure is reported at once, not at the deadline.
            self.ready.set()

    def cancel(self) -> None:
        """Cancel the whole server from another thread.

        `should_exit` is only checked once uvicorn is serving; an app whose startup never
        returns, or a shutdown stuck on a connection, needs its task cancelled instead.
        """
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            self.cancelled = True
            # The loop may close between the check and the call: then there is nothing to do.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)


@contextlib.contextmanager
def serve_asgi(
    app: ASGIApp,
    *,
    startup_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    lifespan: Literal["auto", "on", "off"] = "on",
    access_log: bool = False,
) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 with a free port; yield its base URL, e.g. `http://127.0.0.1:5731`.

    Startup is awaited with a deadline (no sleeps) and failures raise `ServerStartupError`.
    On exit the server stops gracefully: requests still running after half of
    `shutdown_timeout` are cancelled, and a server still alive after that is cancelled outright,
    so a hung handler cannot hang the test run.

    `lifespan="on"` by default because with "auto" uvicorn treats an exception in the app's
    startup as "lifespan unsupported" and serves a half-initialised app.
    """
    config = uvicorn.Config(
        app,
        host=_HOST,
        port=0,
        lifespan=lifespan,
        # None: leave the process's logging configuration alone (uvicorn's default would
        # reconfigure logging for the whole test session); records still reach pytest.
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=max(1, math.ceil(shutdown_timeout / 2)),
    )
    server = _Server(config)
    # A unique name, known before the thread runs, so no record it logs can be missed.
    thread_name = f"serve_asgi-{id(server):x}"
    errors = _ThreadErrors(thread_name)
    # daemon: a server that will not stop must not also keep pytest from exiting.
    thread = threading.Thread(target=server.run_in_thread, name=thread_name, daemon=True)

    uvicorn_logger = logging.getLogger(_UVICORN_LOGGER)
    uvicorn_logger.addHandler(errors)
    try:
        thread.start()
        came_up = server.ready.wait(timeout=startup_timeout)
    finally:
        uvicorn_logger.removeHandler(errors)

    if not came_up or server.port is None:
        # Nothing to drain: a server that did not start is cancelled, not shut down gently.
        _stop(server, thread, timeout=shutdown_timeout, graceful=False)
        raise _startup_error(app, errors, server, timed_out=not came_up, timeout=startup_timeout)

    try:
        yield f"http://{_HOST}:{server.port}"
    finally:
        _stop(server, thread, timeout=shutdown_timeout)


def _stop(
    server: _Server, thread: threading.Thread, *, timeout: float, graceful: bool = True
) -> None:
    if graceful:
        server.should_exit = True
        thread.join(timeout=timeout)
    if thread.is_alive():
        server.force_exit = True
        server.cancel()
        thread.join(timeout=timeout)
    if thread.is_alive():
        raise RuntimeError(f"uvicorn server thread {thread.name} did not stop; it is abandoned")


def _startup_error(
    app: ASGIApp,
    errors: _ThreadErrors,
    server: _Server,
    *,
    timed_out: bool,
    timeout: float,
) -> ServerStartupError:
    lines = errors.lines()
    reason = f"did not start listening within {timeout:g}s" if timed_out else "failed to start"
    crash = server.crash
    if isinstance(crash, SystemExit) or (
        server.cancelled and isinstance(crash, asyncio.CancelledError)
    ):
        crash = None  # our own doing, or uvicorn's way of exiting after it logged the reason
    detail = "\n".join(lines) if lines else "uvicorn logged no error"
    if crash is not None:
        detail = f"{detail}\n{type(crash).__name__}: {crash}"
    error = ServerStartupError(
        f"ASGI app {app!r} {reason} on {_HOST}:\n{detail}",
        log_lines=lines,
    )
    # Chain the app's own exception (e.g. from its lifespan) so pytest shows its traceback.
    error.__cause__ = errors.first_exception() or crash
    return error
