"""`monitor demo` without `--once`: the Twilio sandbox, the monitor (probes, detection, paging,
webhooks) and the story, in one event loop; stopped in order on Ctrl-C, SIGTERM, or when the
story is over with `--exit-when-done`.

The example API is a separate process, started and stopped by the caller (`demo.running_demo_api`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from monitor.clock import SystemClock
from monitor.config import LoadedConfig
from monitor.config.models import MonitorConfig
from monitor.demo import DemoError
from monitor.demo_banner import banner, phone_page
from monitor.demo_config import Pace, speed_up, story_probe
from monitor.demo_narrator import Narrator
from monitor.demo_story import Plot, Story
from monitor.probing.flow import RunResult
from monitor.runtime import Runtime, RuntimeOptions, unless_stopped
from monitor.sandbox import SandboxPerson
from monitor.sandbox import serve as serve_sandbox
from monitor.settings import DEFAULT_LISTEN, TwilioSettings
from monitor.storage.database import Database, display_url
from monitor.web.server import parse_listen

SANDBOX_START_TIMEOUT = 15.0
MONITOR_LISTEN = DEFAULT_LISTEN
SANDBOX_LISTEN = "127.0.0.1:8090"  # as `monitor sandbox`


@dataclass(frozen=True, kw_only=True)
class SandboxAccount:
    """The sandbox's fake Twilio account (the `monitor sandbox` command's)."""

    account_sid: str
    auth_token: str
    number: str


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    api_base: str
    database_url: str
    pace: Pace
    started_broken: bool  # --error-ratio above 0: the outage is there from the start
    disk_full: bool
    listen: str  # the monitor's web server
    sandbox_listen: str
    account: SandboxAccount
    exit_when_done: bool
    # The admin pages' token, made up for this demo and printed with the URLs.
    admin_token: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(12))


def choose_listen(given: str | None, default: str) -> tuple[str, str | None]:
    """The address to listen on and, when the default port is taken, a note saying so. A port
    given explicitly is used as given (taken, the server says so and the demo stops).
    ValueError on a malformed HOST:PORT."""
    if given is not None:
        # Checked here as well: a server that cannot bind ends uvicorn with SystemExit, which
        # tears through the event loop instead of coming back as an error to report.
        if free_or_fallback(given)[1]:
            raise ValueError(f"cannot listen on {given}: the port is taken")
        return given, None
    listen, moved = free_or_fallback(default)
    return listen, f"{default} is taken: using a free port" if moved else None


def free_or_fallback(listen: str) -> tuple[str, bool]:
    """`listen`, or the same host with port 0 (any free port) when that port is taken; True
    when it fell back. Checked by binding as the servers do (SO_REUSEADDR), so a port in
    TIME_WAIT counts as free. ValueError on a malformed HOST:PORT."""
    host, port = parse_listen(listen)
    if port == 0:
        return listen, False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            shown = f"[{host}]" if ":" in host else host
            return f"{shown}:0", True
    return listen, False


def sandbox_twilio(base_url: str, account: SandboxAccount) -> TwilioSettings:
    """Twilio settings aimed at the sandbox, every field given: TWILIO_* variables of the
    user's environment (a real account, a messaging service) must not leak into the demo."""
    values: dict[str, object] = {}
    for name, field in TwilioSettings.model_fields.items():
        key = field.validation_alias if isinstance(field.validation_alias, str) else name
        values[key] = field.get_default(call_default_factory=True)
    values.update(
        {
            "account_sid": account.account_sid,
            "auth_token": account.auth_token,
            "TWILIO_FROM": account.number,
            "api_base_url": base_url,
        }
    )
    return TwilioSettings.model_validate(values)


def run_demo(
    loaded: LoadedConfig,
    options: DemoOptions,
    *,
    say: Callable[[str], None],
    first_pass: Callable[[list[RunResult]], None],
) -> int:
    """Run until stopped; the exit code (1 when results could not be written, else 0).
    Raises DemoError when a server cannot start."""
    # The narration tells every page's fate; the escalation's warnings about the same pages
    # would tell it twice, out of turn. Errors still show.
    logging.getLogger("monitor.escalation").setLevel(logging.ERROR)
    try:
        return asyncio.run(_run(loaded, options, say=say, first_pass=first_pass))
    finally:
        # Everything is stopped or stopping; only the example API's process is left to end.
        # A signal now must not kill the demo before it has ended that (closing its loop gave
        # the signals their default actions back).
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


async def _run(
    loaded: LoadedConfig,
    options: DemoOptions,
    *,
    say: Callable[[str], None],
    first_pass: Callable[[list[RunResult]], None],
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C and SIGTERM mean "stop" from start-up to the last server closed, however often
    # they come.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sandbox: asyncio.Task[None] | None = None
    try:
        sandbox, sandbox_url = await _start_sandbox(loaded.config, options, stop)
        if sandbox_url is None:
            return 0
        return await _monitor(loaded, options, sandbox_url, stop, say=say, first_pass=first_pass)
    finally:
        stop.set()
        if sandbox is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await sandbox
        # The handlers stay until the loop closes (asyncio.run's own clean-up takes a moment).


async def _start_sandbox(
    config: MonitorConfig, options: DemoOptions, stop: asyncio.Event
) -> tuple[asyncio.Task[None], str | None]:
    """The sandbox's task and URL once it listens (None: stopped first). Raises DemoError."""
    host, port = parse_listen(options.sandbox_listen)
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def listening(url: str) -> None:
        if not ready.done():
            ready.set_result(url)

    task = asyncio.create_task(
        serve_sandbox(
            host=host,
            port=port,
            account_sid=options.account.account_sid,
            auth_token=options.account.auth_token,
            inbound_sms_url=None,  # the monitor's address is known once it listens
            people=[SandboxPerson(name=p.name, phone=p.phone) for p in config.people if p.phone],
            ready=listening,
            stop=stop,
        ),
        name="demo sandbox",
    )
    stopping = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[Any]] = {ready, task, stopping}
    try:
        await asyncio.wait(
            waiting,
            timeout=SANDBOX_START_TIMEOUT,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        stopping.cancel()
    if ready.done():
        return task, ready.result()
    if task.done():
        try:
            task.result()
        except Exception as error:
            raise DemoError(
                f"the Twilio sandbox cannot listen on {options.sandbox_listen}"
            ) from error
        raise DemoError("the Twilio sandbox stopped while starting")
    if stop.is_set():
        return task, None
    raise DemoError(f"the Twilio sandbox did not start within {SANDBOX_START_TIMEOUT:.0f}s")


async def _monitor(
    loaded: LoadedConfig,
    options: DemoOptions,
    sandbox_url: str,
    stop: asyncio.Event,
    *,
    say: Callable[[str], None],
    first_pass: Callable[[list[RunResult]], None],
) -> int:
    clock = SystemClock()
    since = clock.now()
    probe = story_probe(loaded.config)
    # Started broken, every probe pages as it would in production; otherwise one probe does,
    # so that the outage the demo injects makes one incident, not one per probe.
    pages_for = None if options.started_broken or probe is None else probe.name
    faster = speed_up(loaded, options.pace, pages_for=pages_for)
    paging = [p.name for p in faster.probes if pages_for is None or p.name == pages_for]
    results: list[RunResult] = []
    started = asyncio.Event()
    story: Story | None = None

    def on_result(result: RunResult) -> None:
        if story is not None:
            story.on_result(result)
        else:
            results.append(result)

    runtime = Runtime(
        faster,
        options=RuntimeOptions(
            database_url=options.database_url,
            summary_every=0,  # the story tells what matters; a summary every few seconds would not
            listen=options.listen,
            twilio=sandbox_twilio(sandbox_url, options.account),
            admin_token=options.admin_token,
            expect_new_database=True,  # a fresh temporary file unless --database-url says
        ),
        clock=clock,
        emit=_quiet(say),
        on_result=on_result,
    )

    def after_first_pass() -> None:
        first_pass(results)
        started.set()

    async def tell() -> None:
        nonlocal story
        if not await unless_stopped(started.wait(), stop):
            return
        monitor_url = runtime.public_url or ""
        try:
            await _point_sandbox_at(sandbox_url, monitor_url)
        except DemoError:
            stop.set()  # no story without replies reaching the monitor: stop, and say why
            raise
        database = Database.connect(options.database_url)
        try:
            narrator = Narrator(
                database, since=since, phone_page=lambda phone: phone_page(sandbox_url, phone)
            )
            story = Story(
                Plot(
                    api_base=options.api_base,
                    outage_after=None if options.started_broken else options.pace.outage_after,
                    disk_full=options.disk_full,
                    recover_after=options.pace.recover_after,
                    database_url=display_url(options.database_url),
                    exit_when_done=options.exit_when_done,
                ),
                narrator=narrator,
                clock=clock,
                say=say,
                stop=stop,
                paging_probes=paging,
            )
            for line in banner(
                faster.config,
                api_base=options.api_base,
                sandbox_url=sandbox_url,
                monitor_url=monitor_url,
                admin_token=options.admin_token,
                paging=paging,
                pace=options.pace,
                started_broken=options.started_broken,
                disk_full=options.disk_full,
            ):
                say(line)
            await story.run()
        finally:
            await database.dispose()

    telling = asyncio.create_task(tell(), name="demo story")
    try:
        await _serve(runtime, stop, first_pass=after_first_pass)
    except OSError as error:  # the web server's port
        raise DemoError(str(error)) from error
    finally:
        stop.set()
        await _finish(telling)
    return 1 if runtime.unwritten else 0


async def _serve(runtime: Runtime, stop: asyncio.Event, *, first_pass: Callable[[], None]) -> None:
    """`runtime.serve`'s course (start, every probe once, then the schedule, until `stop`)
    with the signals left to `_run`: they must keep meaning "stop" while the monitor, the story
    and the sandbox shut down, where `serve` hands them back before the monitor has stopped
    (a second Ctrl-C then ends in a traceback)."""
    try:
        if not await unless_stopped(runtime.start(schedule=False), stop):
            return
        if not await unless_stopped(runtime.run_once(), stop):
            return
        first_pass()
        await runtime.begin_schedule()
        await stop.wait()
    finally:
        await runtime.stop()


async def _finish(task: asyncio.Task[None]) -> None:
    try:
        await asyncio.wait_for(task, timeout=2.0)
    except TimeoutError:
        pass  # wait_for cancelled it
    except DemoError:
        raise
    except Exception:  # the story's own trouble must not hide why the demo stopped
        pass


async def _point_sandbox_at(sandbox_url: str, monitor_url: str) -> None:
    """Replies typed on a sandbox phone go to the monitor's SMS webhook."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.post(
                f"{sandbox_url}/sandbox/config",
                json={"inbound_sms_url": f"{monitor_url}/twilio/sms"},
            )
            response.raise_for_status()
    except httpx.HTTPError as error:
        raise DemoError(f"could not point the sandbox at the monitor: {error}") from error


def _quiet(say: Callable[[str], None]) -> Callable[[str], None]:
    """The runtime's lines without those stamped with a time: a line per failed run and per
    incident change, which the story tells from the database instead (at this pace, failed runs
    alone are a line a second). Its start and stop lines still show."""

    def emit(line: str) -> None:
        if not line[:4].isdigit():
            say(line)

    return emit
