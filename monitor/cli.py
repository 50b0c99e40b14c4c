"""The `monitor` command: parses arguments, calls the services, prints. No logic lives here."""

from __future__ import annotations

import asyncio
import enum
import getpass
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from monitor.channels.base import DeliveryError
from monitor.channels.test_page import TestPageResult, send_test_page
from monitor.channels.twilio import TwilioClient
from monitor.clock import SystemClock
from monitor.config import ConfigError, LoadedConfig, config_schema, load_config
from monitor.config.durations import parse_duration
from monitor.demo import (
    DemoError,
    demo_environment,
    find_examples,
    fresh_database_url,
    running_demo_api,
)
from monitor.demo_config import FAST, NORMAL
from monitor.demo_run import (
    MONITOR_LISTEN,
    SANDBOX_LISTEN,
    DemoOptions,
    SandboxAccount,
    choose_listen,
    run_demo,
)
from monitor.detection.backtest import BacktestReport, backtest
from monitor.detection.maintenance import MaintenanceWindow
from monitor.logging_setup import configure_logging, event_logger
from monitor.masking import mask_phone, mask_phones
from monitor.oncall import ScheduleStatus, config_warnings, schedule_status, sms_opt_out_warnings
from monitor.probing.flow import RunResult, run_probe
from monitor.report import print_results, print_run, result_json
from monitor.report_incidents import (
    event_json,
    incident_json,
    page_json,
    print_backtest,
    print_incident,
    print_incidents,
    print_silences,
    silence_json,
    silence_line,
    silence_state,
    silenced,
    stamp,
    table_time,
)
from monitor.runtime import Runtime, RuntimeOptions, serve
from monitor.sandbox import SandboxPerson, SandboxStartupError
from monitor.sandbox import serve as serve_sandbox
from monitor.settings import Settings, TwilioSettings, WebSettings
from monitor.storage.database import DatabaseError, describe_error, display_url
from monitor.storage.queries import (
    Answer,
    UnknownProbes,
    acknowledge,
    create_silence,
    finish_silence,
    query_incident,
    query_incidents,
    query_opt_outs,
    query_pages,
    query_recent,
    query_rolled_only,
    query_silences,
    replay_stored,
    upgrade_to_head,
)
from monitor.storage.queries import escalate as escalate_query
from monitor.storage.queries import resolve as resolve_query
from monitor.storage.repository import StoredResult
from monitor.storage.silences import SilenceRow
from monitor.web.incident_actions import REFUSED
from monitor.web.server import parse_listen


class RoleChoice(enum.StrEnum):
    all = "all"
    probe = "probe"
    engine = "engine"


class LogFormatChoice(enum.StrEnum):
    text = "text"
    json = "json"


app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Synthetic uptime monitor that pages the on-call engineer until a human answers.",
)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
T = TypeVar("T")

ConfigPath = Annotated[Path, typer.Argument(help="A YAML file, or a directory of them (merged).")]


def _load_or_exit(
    path: Path, console: Console, environ: Mapping[str, str] | None = None
) -> LoadedConfig:
    try:
        return load_config(path, environ=environ)
    except ConfigError as error:
        for problem in error.problems:
            console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        count = len(error.problems)
        console.print(f"{count} error{'s' if count != 1 else ''} in {path}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


@app.command()
def validate(path: ConfigPath) -> None:
    """Check a config and print every error as file:line:column: field: message."""
    console = Console(highlight=False)
    loaded = _load_or_exit(path, console)
    probes = loaded.probes
    steps = sum(len(probe.effective_steps()) for probe in probes)
    files = len(loaded.files)
    if not probes:
        Console(stderr=True).print("warning: no probes are defined", markup=False)
    console.print(
        f"ok: {len(probes)} probe{'s' if len(probes) != 1 else ''}, {steps} step{'s' if steps != 1 else ''} "
        f"in {files} file{'s' if files != 1 else ''}",
        markup=False,
    )
    # On stderr, after the verdict: they never make a config invalid, and stdout stays one line.
    err = Console(stderr=True, highlight=False)
    for warning in config_warnings(loaded.config, now=SystemClock().now()):
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)
    for warning in _opt_out_warnings(loaded):
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)


def _opt_out_warnings(loaded: LoadedConfig) -> list[str]:
    """People whose number replied STOP, from the monitor's database when there is one: the
    provider refuses to text them, so SMS pages fail over to their next channel."""
    try:
        opted_out = asyncio.run(query_opt_outs(Settings().database_url))
    except (DatabaseError, SQLAlchemyError, OSError, ValidationError):
        return []  # no database yet (validate runs before the first deploy too)
    return sms_opt_out_warnings(loaded.config, opted_out)


@app.command()
def probe(
    path: ConfigPath,
    name: Annotated[
        list[str] | None, typer.Option("--name", "-n", help="Run only this probe (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per probe run.")] = False,
) -> None:
    """Run probes once, now, and print each step; exit 1 if any failed."""
    err = Console(stderr=True, highlight=False)
    loaded = _load_or_exit(path, err)
    try:
        selected = (
            [loaded.probe(n) for n in name] if name else [p for p in loaded.probes if p.enabled]
        )
    except KeyError as error:
        err.print(f"error: {error.args[0]}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    if not selected:
        err.print(f"error: no probes to run in {path}", markup=False)
        raise typer.Exit(EXIT_CONFIG)
    results = asyncio.run(_run_all(loaded, [p.name for p in selected]))
    if as_json:
        for result in results:
            sys.stdout.write(json.dumps(result.to_json()) + "\n")
    else:
        console = Console(highlight=False)
        for result in results:
            print_run(console, result)
    raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)


async def _run_all(loaded: LoadedConfig, names: list[str]) -> list[RunResult]:
    clock = SystemClock()
    return list(
        await asyncio.gather(
            *(run_probe(loaded.probe(n), clock=clock, env_values=loaded.env_values) for n in names)
        )
    )


@app.command()
def demo(
    examples: Annotated[
        Path | None, typer.Option(help="The examples directory (default: ./examples).")
    ] = None,
    error_ratio: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="Start the API broken: this share of its requests fail with 503 "
            "(the demo then injects no outage of its own).",
        ),
    ] = 0.0,
    disk_full: Annotated[
        bool, typer.Option(help="Start the API with a full disk: its writes fail with 507.")
    ] = False,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run every probe once, store, exit (no sandbox, no paging)."),
    ] = False,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="The whole story in well under a minute: outage after 5s, escalation every 10s.",
        ),
    ] = False,
    exit_when_done: Annotated[
        bool,
        typer.Option(
            "--exit-when-done",
            help="Exit 0 once the incident is resolved and everyone paged was told.",
        ),
    ] = False,
    listen: Annotated[
        str | None,
        typer.Option(
            help=f"HOST:PORT of the monitor's web server (default {MONITOR_LISTEN}, "
            "or a free port when that one is taken).",
            show_default=False,
        ),
    ] = None,
    sandbox_listen: Annotated[
        str | None,
        typer.Option(
            help=f"HOST:PORT of the Twilio sandbox and its phone pages (default "
            f"{SANDBOX_LISTEN}, or a free port when that one is taken).",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL (default: SQLite in a new temporary directory).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The whole story on this machine: the example API, a Twilio sandbox with a phone per
    person, and the monitor; the API breaks, the on-call engineer is paged by SMS and phone
    until someone answers ACK, then it heals (Ctrl-C to stop)."""
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)

    def say(line: str) -> None:
        console.print(line, markup=False, soft_wrap=True)

    settings = _settings(database_url or fresh_database_url())
    try:
        web_listen, web_note = choose_listen(listen, MONITOR_LISTEN)
        sandbox_at, sandbox_note = choose_listen(sandbox_listen, SANDBOX_LISTEN)
    except ValueError as error:
        _fail(err, str(error))
    try:
        examples_dir = find_examples(examples)
        faults = {"DEMO_ERROR_RATIO": str(error_ratio), "DEMO_DISK_FULL": str(disk_full).lower()}
        with running_demo_api(examples_dir, faults=faults) as url:
            loaded = _load_or_exit(examples_dir, console, environ=demo_environment(url))
            say(
                f"Example API at {url} (error ratio {error_ratio:.0%}, disk full: {disk_full}); "
                f"results in {display_url(settings.database_url)}"
            )
            if once:
                results: list[RunResult] = []
                runtime = Runtime(
                    loaded,
                    options=RuntimeOptions(database_url=settings.database_url, summary_every=15),
                    clock=SystemClock(),
                    emit=say,
                    on_result=results.append,
                )

                def show_first_pass() -> None:
                    for result in in_config_order(results, loaded):
                        print_run(console, result)

                asyncio.run(serve(runtime, once=True, first_pass=show_first_pass))
                first = results[: len(runtime.probes)]
                raise typer.Exit(EXIT_OK if all(r.ok for r in first) else EXIT_FAILED)
            for note in (web_note, sandbox_note):
                if note is not None:
                    say(note)

            def show_first(runs: list[RunResult]) -> None:
                # The first run of each probe: a failure's confirmation runs may come in early.
                first: dict[str, RunResult] = {}
                for taken in runs:
                    first.setdefault(taken.probe, taken)
                for result in in_config_order(list(first.values()), loaded):
                    print_run(console, result)

            code = run_demo(
                loaded,
                DemoOptions(
                    api_base=url,
                    database_url=settings.database_url,
                    pace=FAST if fast else NORMAL,
                    started_broken=error_ratio > 0,
                    disk_full=disk_full,
                    listen=web_listen,
                    sandbox_listen=sandbox_at,
                    account=SandboxAccount(
                        account_sid=SANDBOX_ACCOUNT_SID,
                        auth_token=SANDBOX_AUTH_TOKEN,
                        number=SANDBOX_NUMBER,
                    ),
                    exit_when_done=exit_when_done,
                ),
                say=say,
                first_pass=show_first,
            )
    except (DemoError, DatabaseError) as error:
        _fail(err, str(error))
    except KeyboardInterrupt:  # Ctrl-C before the demo took the signals over: stopped, fine
        raise typer.Exit(EXIT_OK) from None
    raise typer.Exit(code)


def in_config_order(results: list[RunResult], loaded: LoadedConfig) -> list[RunResult]:
    position = {probe.name: index for index, probe in enumerate(loaded.probes)}
    return sorted(results, key=lambda result: position.get(result.probe, len(position)))


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (default: $MONITOR_DATABASE_URL, else sqlite ./monitor.db).",
        show_default=False,
    ),
]


def _settings(database_url: str | None, max_concurrency: int | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if database_url is not None:
        overrides["database_url"] = database_url
    if max_concurrency is not None:
        overrides["max_concurrency"] = max_concurrency
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        err = Console(stderr=True, highlight=False)
        for problem in error.errors(include_url=False):
            name = "MONITOR_" + "_".join(str(part) for part in problem["loc"]).upper()
            err.print(f"error: {name}: {problem['msg']}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


def _env_errors(err: Console, error: ValidationError, prefix: str) -> NoReturn:
    for problem in error.errors(include_url=False):
        name = "_".join(str(part) for part in problem["loc"]).upper()
        name = name if name.startswith(prefix) else prefix + name
        err.print(f"error: {name}: {problem['msg']}", markup=False)
    raise typer.Exit(EXIT_CONFIG)


def _web_settings(err: Console) -> WebSettings:
    try:
        return WebSettings()
    except ValidationError as error:
        _env_errors(err, error, "MONITOR_")


def _twilio_settings(err: Console) -> TwilioSettings:
    try:
        return TwilioSettings()
    except ValidationError as error:
        _env_errors(err, error, "TWILIO_")


@app.command()
def run(
    path: ConfigPath,
    once: Annotated[
        bool, typer.Option("--once", help="Run every probe once, store, exit.")
    ] = False,
    database_url: DatabaseOption = None,
    max_concurrency: Annotated[
        int | None, typer.Option(min=1, help="Probe runs in flight at once (default 100).")
    ] = None,
    summary_every: Annotated[
        str, typer.Option(help="How often to print a summary line; 0s for never.")
    ] = "60s",
    listen: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT of the web server (Twilio's webhooks) "
            "(default: $MONITOR_LISTEN, else 127.0.0.1:8080).",
            show_default=False,
        ),
    ] = None,
    role: Annotated[
        RoleChoice,
        typer.Option(
            help="all: probes, plus detection and escalation while this instance leads; probe: "
            "probes only; engine: detection and escalation only. Several instances share one "
            "PostgreSQL database; one leads at a time (an advisory lock).",
        ),
    ] = RoleChoice.all,
    location: Annotated[
        str,
        typer.Option(
            help="Where this instance probes from: it runs the probes whose `locations` list "
            "it, and tags their results with it (quorum rules compare locations).",
        ),
    ] = "local",
    log_format: Annotated[
        LogFormatChoice,
        typer.Option(
            "--log-format",
            help="text: lines for people; json: one JSON object per line (a log shipper's "
            "input), the monitor's own lines included. Always on stdout.",
        ),
    ] = LogFormatChoice.text,
) -> None:
    """Run the probes on their schedule and store every result, until Ctrl-C or SIGTERM."""
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    json_logs = log_format is LogFormatChoice.json
    if once and role is RoleChoice.engine:
        err.print("error: --once runs probes; --role engine runs none", markup=False)
        raise typer.Exit(EXIT_CONFIG)
    # Text keeps the console quiet below warnings (the monitor's own lines say what happens);
    # JSON carries everything, for a log pipeline to filter.
    configure_logging(log_format.value, level=logging.INFO if json_logs else logging.WARNING)
    loaded = _load_or_exit(path, err)
    settings = _settings(database_url, max_concurrency)
    try:
        every = parse_duration(summary_every).total_seconds()
    except ValueError as error:
        err.print(f"error: --summary-every: {error}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    web, twilio = _web_settings(err), _twilio_settings(err)
    results: list[RunResult] = []
    emit = (
        event_logger()
        if json_logs
        else (lambda line: console.print(mask_phones(line), markup=False, soft_wrap=True))
    )
    runtime = Runtime(
        loaded,
        options=RuntimeOptions(
            database_url=settings.database_url,
            max_concurrency=settings.max_concurrency,
            summary_every=every,
            listen=None if once else (listen or web.listen),
            public_url=web.public_url,
            twilio=twilio,
            admin_token=web.admin_token.get_secret_value() if web.admin_token else None,
            config_path=None if once else Path(path),
            role=role.value,
            location=location,
        ),
        clock=SystemClock(),
        emit=emit,
        on_result=results.append if once else None,
    )
    enabled = len(runtime.probes)
    emit(
        f"monitor: {enabled} probe{'s' if enabled != 1 else ''} from {path}; "
        f"results in {display_url(settings.database_url)}" + ("" if once else "; Ctrl-C to stop")
    )
    try:
        asyncio.run(serve(runtime, once=once))
    except DatabaseError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except SQLAlchemyError as error:
        shown = display_url(settings.database_url)
        err.print(f"error: database {shown}: {describe_error(error)}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except OSError as error:  # the web server's port
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    if runtime.unwritten:
        # A supervisor must see that results were lost, not a clean exit.
        err.print(
            f"error: {runtime.unwritten} results were not written to "
            f"{display_url(settings.database_url)}; the warnings above say why (a locked SQLite "
            "file, a full disk, an unreachable server)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILED)
    if once:
        if not json_logs:  # with JSON logs, the events above said it line by line
            for result in in_config_order(results, loaded):
                print_run(console, result)
        raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)


@app.command()
def results(
    probe: Annotated[str | None, typer.Option("--probe", "-p", help="Only this probe.")] = None,
    since: Annotated[str, typer.Option(help="How far back, e.g. 15m, 1h, 2d.")] = "1h",
    failed: Annotated[bool, typer.Option("--failed", help="Only failed runs.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per result.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Show recent results from the database, newest first."""
    err = Console(stderr=True, highlight=False)
    settings = _settings(database_url)
    try:
        window = parse_duration(since)
    except ValueError as error:
        err.print(f"error: --since: {error}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    clock = SystemClock()
    try:
        rows = asyncio.run(
            query_recent(
                settings.database_url,
                probe=probe,
                since=clock.now() - window,
                failed_only=failed,
                limit=limit,
            )
        )
    except DatabaseError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(result_json(row)) + "\n")
        return
    print_results(Console(highlight=False), rows, since=since)


def _run_query(query: Coroutine[Any, Any, T], err: Console) -> T:
    """Run a one-shot database operation; a DatabaseError is printed and exits 2."""
    try:
        return asyncio.run(query)
    except DatabaseError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None


def _fail(err: Console, message: str, code: int = EXIT_CONFIG) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _duration_or_exit(text: str, *, option: str, err: Console) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        _fail(err, f"{option}: {error}")


def _instant(text: str) -> datetime:
    """An ISO 8601 time with its zone (`2026-12-01T02:00Z`). A time without one is refused, not
    guessed: read as UTC by one person and as local time by another, a silence would start hours
    off."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{text!r} has no time zone: add Z for UTC ({text.strip()}Z) or an offset (+01:00)"
        )
    return moment.astimezone(UTC)


def _instant_or_exit(text: str, *, option: str, err: Console) -> datetime:
    try:
        return _instant(text)
    except ValueError as error:
        message = str(error)
        if "time zone" not in message:
            message = f"{text!r} is not a time: write e.g. 2026-12-01T02:00Z"
        _fail(err, f"{option}: {message}")


def _moment_or_exit(text: str, *, now: datetime, option: str, err: Console) -> datetime:
    """`30d` (that long before now) or a time (`2026-12-01T02:00Z`)."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return _instant(text)
    except ValueError as error:
        message = str(error)
        if "time zone" not in message:
            message = (
                f"{text!r} is neither a duration back from now (30d, 12h) nor a time "
                "(2026-12-01T02:00Z)"
            )
        _fail(err, f"{option}: {message}")


@app.command()
def incidents(
    open_only: Annotated[
        bool, typer.Option("--open", help="Only open ones (triggered or acknowledged).")
    ] = False,
    probe: Annotated[str | None, typer.Option("--probe", "-p", help="Only this probe.")] = None,
    since: Annotated[
        str, typer.Option(help="Those open at some moment in the last 1h, 2d, 7d...")
    ] = "7d",
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per incident.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List incidents, newest first: severity, state, how long, what the rule saw."""
    err = Console(stderr=True, highlight=False)
    settings = _settings(database_url)
    window = _duration_or_exit(since, option="--since", err=err)
    now = SystemClock().now()
    rows = _run_query(
        query_incidents(
            settings.database_url,
            open_only=open_only,
            probe=probe,
            since=now - window,
            limit=limit,
        ),
        err,
    )
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(incident_json(row)) + "\n")
        return
    what = ("open incidents" if open_only else "incidents") + (f" of {probe}" if probe else "")
    print_incidents(Console(highlight=False), rows, now=now, empty=f"no {what} in the last {since}")


incident_app = typer.Typer(no_args_is_help=True, help="One incident: its details and timeline.")
app.add_typer(incident_app, name="incident")


@incident_app.command("show")
def incident_show(
    incident_id: Annotated[int, typer.Argument(metavar="ID", help="The incident's number.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object, its timeline under `events`.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Show an incident and its timeline (oldest event first)."""
    err = Console(stderr=True, highlight=False)
    settings = _settings(database_url)
    found = _run_query(query_incident(settings.database_url, incident_id), err)
    if found is None:
        _fail(err, f"no incident #{incident_id} in {display_url(settings.database_url)}", 1)
    row, events = found
    pages = _run_query(query_pages(settings.database_url, incident_id), err)
    if as_json:
        shown = {
            **incident_json(row),
            "events": [event_json(event) for event in events],
            "pages": [page_json(page) for page in pages],
        }
        sys.stdout.write(json.dumps(shown) + "\n")
        return
    print_incident(Console(highlight=False), row, events, now=SystemClock().now(), pages=pages)


ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who does it (a person's id or name); default: your user name."),
]


def _answer(
    action: Callable[..., Coroutine[Any, Any, Answer | None]],
    incident_id: int,
    by: str | None,
    database_url: str | None,
    *,
    done: str,
    refused: str,
) -> None:
    """ack / resolve / escalate: exit 0 when done, 1 when there is no such incident or its
    state does not allow it (already acknowledged, resolved), 2 on a database error."""
    err = Console(stderr=True, highlight=False)
    settings = _settings(database_url)
    who = by or _user_name()
    answer = _run_query(
        action(settings.database_url, incident_id=incident_id, at=SystemClock().now(), by=who),
        err,
    )
    if answer is None:
        _fail(err, f"no incident #{incident_id} in {display_url(settings.database_url)}", 1)
    incident = answer.incident
    if not answer.changed:
        _fail(err, f"incident #{incident_id} ({incident.probe}) is {incident.state}: {refused}", 1)
    sys.stdout.write(f"{done} incident #{incident_id} ({incident.probe}) by {who}\n")


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return "command line"


@app.command()
def ack(
    incident_id: Annotated[int, typer.Argument(metavar="ID", help="The incident's number.")],
    by: ByOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Acknowledge an incident: no more pages for it (until its policy's ack_timeout)."""
    _answer(
        acknowledge,
        incident_id,
        by,
        database_url,
        done="acknowledged",
        refused=REFUSED["acknowledge"],
    )


@app.command()
def resolve(
    incident_id: Annotated[int, typer.Argument(metavar="ID", help="The incident's number.")],
    by: ByOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Resolve an incident: paging stops and everyone paged is told."""
    _answer(
        resolve_query,
        incident_id,
        by,
        database_url,
        done="resolved",
        refused=REFUSED["resolve"],
    )


@app.command()
def escalate(
    incident_id: Annotated[int, typer.Argument(metavar="ID", help="The incident's number.")],
    by: ByOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Page the incident's next escalation level now (an acknowledged one is triggered again)."""
    _answer(
        escalate_query,
        incident_id,
        by,
        database_url,
        done="escalated",
        refused=REFUSED["escalate"],
    )


silence_app = typer.Typer(
    no_args_is_help=True,
    help="Silences: quiet times in which failures open no incident and page no one.",
)
app.add_typer(silence_app, name="silence")


@silence_app.command("add")
def silence_add(
    duration: Annotated[
        str, typer.Option("--for", help="How long, e.g. 30m, 2h.", show_default=False)
    ],
    reason: Annotated[
        str, typer.Option(help="Why: whoever gets no page should learn it.", show_default=False)
    ],
    probe: Annotated[
        list[str] | None,
        typer.Option("--probe", "-p", help="A probe to silence (repeatable).", show_default=False),
    ] = None,
    all_probes: Annotated[bool, typer.Option("--all", help="Silence every probe.")] = False,
    starts: Annotated[
        str | None,
        typer.Option(help="When it starts, with a zone: 2026-12-01T02:00Z (default: now)."),
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who asked for it.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Silence probes (or all) for a while: their failures open no incident, page no one."""
    err = Console(stderr=True, highlight=False)
    if bool(probe) == all_probes:
        _fail(err, "say what to silence: --probe NAME (repeatable) or --all, not both")
    settings = _settings(database_url)
    length = _duration_or_exit(duration, option="--for", err=err)
    if length <= timedelta(0):
        _fail(err, f"--for: a silence of {duration} silences nothing: give e.g. 30m or 2h")
    now = SystemClock().now()
    starts_at = now if starts is None else _instant_or_exit(starts, option="--starts", err=err)
    ends_at = starts_at + length
    if ends_at <= now:
        _fail(err, f"that silence would have ended at {stamp(ends_at)}, before now")
    try:
        silence = _run_query(
            create_silence(
                settings.database_url,
                probes=None if all_probes else probe,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason,
                created_by=by,
                at=now,
            ),
            err,
        )
    except UnknownProbes as error:
        known = ", ".join(error.known) or "none yet: `monitor run` records them"
        _fail(err, f"{error} (known: {known}); a misspelt name would silence nothing")
    except ValueError as error:
        _fail(err, str(error))
    Console(highlight=False).print(silence_line(silence, now=now), markup=False, soft_wrap=True)


@silence_app.command("list")
def silence_list(
    include_expired: Annotated[
        bool, typer.Option("--all", help="Also those that expired or were ended.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per silence.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List active and planned silences (with --all: every one), by start time."""
    err = Console(stderr=True, highlight=False)
    settings = _settings(database_url)
    now = SystemClock().now()
    rows = _run_query(
        query_silences(settings.database_url, at=now, include_expired=include_expired), err
    )
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(silence_json(row, now=now)) + "\n")
        return
    empty = "no silences" if include_expired else "no active or planned silences"
    print_silences(Console(highlight=False), rows, now=now, empty=empty)


@silence_app.command("end")
def silence_end(
    silence_id: Annotated[int, typer.Argument(metavar="ID", help="The silence's number.")],
    database_url: DatabaseOption = None,
) -> None:
    """End a silence now (one not started yet is cancelled)."""
    err = Console(stderr=True, highlight=False)
    settings = _settings(database_url)
    now = SystemClock().now()
    ended = _run_query(finish_silence(settings.database_url, silence_id=silence_id, at=now), err)
    if ended is None:
        _fail(err, f"no silence #{silence_id} in {display_url(settings.database_url)}", 1)
    silence = ended.silence
    what = f"{silenced(silence)} ({silence.reason})"
    if not ended.changed:
        line = f"silence #{silence.id} was already over at {stamp(silence.effective_end)}: {what}"
    elif silence_state(silence, now) == "cancelled":
        line = f"silence #{silence.id} cancelled before it started: {what}"
    else:
        line = f"silence #{silence.id} ended: {what}"
    Console(highlight=False).print(line, markup=False, soft_wrap=True)


@app.command("backtest")
def backtest_command(
    path: ConfigPath,
    since: Annotated[
        str,
        typer.Option(
            help="Replay from this long ago (30d, 12h) or from a time (2026-12-01T02:00Z).",
            show_default=False,
        ),
    ],
    until: Annotated[
        str | None,
        typer.Option(help="Replay up to this long ago or this time (default: now)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON object.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Replay stored results through the config's rules: which incidents would have opened."""
    err = Console(stderr=True, highlight=False)
    loaded = _load_or_exit(path, err)
    settings = _settings(database_url)
    now = SystemClock().now()
    start = _moment_or_exit(since, now=now, option="--since", err=err)
    end = now if until is None else _moment_or_exit(until, now=now, option="--until", err=err)
    if start >= end:
        _fail(err, f"--since ({stamp(start)}) must be before --until ({stamp(end)})")
    probes = loaded.probes
    maintenance = [MaintenanceWindow.from_config(window) for window in loaded.config.maintenance]

    async def replay(
        history: AsyncIterator[StoredResult], silences: list[SilenceRow]
    ) -> BacktestReport:
        return await backtest(
            history,
            probes=probes,
            maintenance=maintenance,
            silences=silences,
            since=start,
            until=end,
        )

    report = _run_query(
        replay_stored(
            settings.database_url,
            since=start,
            until=end,
            probes=[probe.name for probe in probes],
            replay=replay,
        ),
        err,
    )
    rolled = _run_query(
        query_rolled_only(
            settings.database_url, since=start, until=end, probes=[p.name for p in probes]
        ),
        err,
    )
    if rolled is not None:
        uptime = rolled.counts.uptime or 0.0
        err.print(
            f"note: from {stamp(rolled.since)} to {stamp(rolled.until)} retention kept only "
            f"hourly rollups ({rolled.counts.runs} runs, {rolled.counts.failures} failed, "
            f"{uptime:.2%} up): the rules replay raw runs, from {stamp(rolled.until)} on",
            markup=False,
            soft_wrap=True,
        )
    if report.runs == 0 and rolled is None:
        # Zero runs usually means the wrong database or window, not a quiet history.
        err.print(
            f"warning: no results of the probes in {path} between {stamp(start)} and "
            f"{stamp(end)} in {display_url(settings.database_url)}",
            markup=False,
            soft_wrap=True,
        )
    if as_json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
        return
    print_backtest(Console(highlight=False), report)


OptionalConfigPath = Annotated[
    Path | None,
    typer.Argument(
        envvar="MONITOR_CONFIG",
        show_default=False,
        help="A YAML file, or a directory of them (merged).",
    ),
]


@app.command()
def oncall(
    path: OptionalConfigPath = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="The moment to ask about, with a zone: 2026-12-01T02:00Z (default: now)."
        ),
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", "-s", help="Only this schedule.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per schedule.")] = False,
) -> None:
    """Who is on call in each schedule, and the next 3 handoffs."""
    err = Console(stderr=True, highlight=False)
    if path is None:
        _fail(err, "give a config PATH, or set MONITOR_CONFIG to one")
    loaded = _load_or_exit(path, err)
    config = loaded.config
    moment = SystemClock().now() if at is None else _instant_or_exit(at, option="--at", err=err)
    selected = config.schedules
    if schedule is not None:
        found = config.schedule(schedule)
        if found is None:
            known = ", ".join(s.name for s in config.schedules) or "none"
            _fail(err, f"no schedule `{schedule}` in {path} (defined: {known})")
        selected = [found]
    statuses = [schedule_status(s, at=moment) for s in selected]
    names = {person.id: person.name for person in config.people}
    if as_json:
        for status in statuses:
            sys.stdout.write(json.dumps(status.to_json(names)) + "\n")
        return
    _print_oncall(Console(highlight=False), statuses, names, at=moment, path=path)


def _print_oncall(
    console: Console,
    statuses: list[ScheduleStatus],
    names: Mapping[str, str],
    *,
    at: datetime,
    path: Path,
) -> None:
    if not statuses:
        console.print(f"no schedules in {path}", markup=False)
        return

    def who(person: str | None) -> Text:
        if person is None:
            return Text("nobody", style="bold red")
        return Text(f"{names.get(person, person)} ({person})")

    now = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("schedule", "time zone", f"on call at {table_time(at)} (UTC)", "source"):
        now.add_column(column)
    for status in statuses:
        now.add_row(status.schedule, status.timezone, who(status.person), status.source or "")
    console.print(now)
    console.print()
    upcoming = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("schedule", "handoff (UTC)", "from", "to"):
        upcoming.add_column(column)
    for status in statuses:
        if not status.handoffs:
            upcoming.add_row(status.schedule, "none within a year", "", "")
        for handoff in status.handoffs:
            upcoming.add_row(
                status.schedule,
                table_time(handoff.at),
                who(handoff.from_person),
                who(handoff.to_person),
            )
    console.print(upcoming)


db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
app.add_typer(db_app, name="db")


class Via(StrEnum):
    sms = "sms"
    voice = "voice"


@app.command()
def page(
    test: Annotated[
        str,
        typer.Option("--test", help="The person (id from the config) to send a test page to."),
    ],
    path: OptionalConfigPath = None,
    via: Annotated[Via, typer.Option(help="How to page.")] = Via.sms,
    wait: Annotated[
        str, typer.Option(help="How long to wait for the final delivery status.")
    ] = "90s",
) -> None:
    """Send a real test page through Twilio and wait for its delivery status."""
    err = Console(stderr=True, highlight=False)
    if path is None:
        _fail(err, "give a config PATH, or set MONITOR_CONFIG to one")
    config = _load_or_exit(path, err).config
    person = config.person(test)
    if person is None:
        known = ", ".join(p.id for p in config.people) or "none"
        _fail(err, f"no person `{test}` in {path} (people: {known})")
    if person.phone is None:
        _fail(err, f"{person.name} has no phone number in {path}")
    twilio_settings = _twilio_settings(err)
    if not twilio_settings.configured:
        _fail(
            err,
            "Twilio is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM "
            "(and TWILIO_API_BASE_URL for a sandbox)",
        )
    seconds = _duration_or_exit(wait, option="--wait", err=err).total_seconds()
    console = Console(highlight=False)
    console.print(
        f"test page to {person.name} ({mask_phone(person.phone)}) by {via.value} "
        f"through {twilio_settings.api_base_url}",
        markup=False,
        soft_wrap=True,
    )

    async def send() -> TestPageResult:
        twilio = TwilioClient(twilio_settings)
        try:
            return await send_test_page(
                twilio,
                phone=person.phone or "",
                name=person.name,
                via=via.value,
                wait=seconds,
                on_status=lambda status: console.print(f"  {status}", markup=False),
            )
        finally:
            await twilio.aclose()

    try:
        result = asyncio.run(send())
    except DeliveryError as error:
        _fail(err, f"the provider refused the test page: {error.reason}", EXIT_FAILED)
    verdict = "OK" if result.ok else "FAILED"
    console.print(f"{verdict}: {result.detail} ({result.sid})", markup=False)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


SANDBOX_ACCOUNT_SID = "AC" + "5a" * 16
SANDBOX_AUTH_TOKEN = "sandbox-auth-token"  # a local fake: not a secret
SANDBOX_NUMBER = "+15005550006"


@app.command()
def sandbox(
    path: OptionalConfigPath = None,
    listen: Annotated[str, typer.Option(help="HOST:PORT of the sandbox.")] = "127.0.0.1:8090",
    monitor_url: Annotated[
        str,
        typer.Option(help="Where the monitor's webhooks are (inbound SMS go to URL/twilio/sms)."),
    ] = "http://127.0.0.1:8080",
) -> None:
    """Run the local Twilio-compatible sandbox alone, with a phone page per roster person."""
    err = Console(stderr=True, highlight=False)
    console = Console(highlight=False)
    people: list[SandboxPerson] = []
    if path is not None:
        config = _load_or_exit(path, err).config
        people = [SandboxPerson(name=p.name, phone=p.phone) for p in config.people if p.phone]
    twilio = _twilio_settings(err)
    sid = twilio.account_sid or SANDBOX_ACCOUNT_SID
    token = twilio.auth_token.get_secret_value() if twilio.auth_token else SANDBOX_AUTH_TOKEN
    try:
        host, port = parse_listen(listen)
    except ValueError as error:
        _fail(err, str(error))

    def ready(url: str) -> None:
        console.print(
            f"Twilio sandbox at {url} (phones: {url}/); point the monitor at it with:\n"
            f"  TWILIO_API_BASE_URL={url} TWILIO_ACCOUNT_SID={sid} "
            f"TWILIO_AUTH_TOKEN={'<your TWILIO_AUTH_TOKEN>' if twilio.auth_token else token} "
            f"TWILIO_FROM={SANDBOX_NUMBER}\n"
            f"inbound SMS go to {monitor_url.rstrip('/')}/twilio/sms; Ctrl-C to stop",
            markup=False,
            soft_wrap=True,
        )

    try:
        asyncio.run(
            serve_sandbox(
                host=host,
                port=port,
                account_sid=sid,
                auth_token=token,
                inbound_sms_url=f"{monitor_url.rstrip('/')}/twilio/sms",
                people=people,
                ready=ready,
            )
        )
    except SandboxStartupError as error:
        _fail(err, f"the sandbox cannot listen on {listen}: {error}")
    except KeyboardInterrupt:
        pass


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Create or migrate the database schema to the latest version."""
    settings = _settings(database_url)
    err = Console(stderr=True, highlight=False)
    try:
        revision = upgrade_to_head(settings.database_url)
    except DatabaseError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    Console(highlight=False).print(
        f"{display_url(settings.database_url)} is at revision {revision} (latest)", markup=False
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of the config (for editor completion)."""
    sys.stdout.write(json.dumps(config_schema(), indent=2) + "\n")


def main() -> None:
    # On stdout, masked, for every command; `run --log-format` picks the format.
    configure_logging("text", level=logging.WARNING)
    app()
