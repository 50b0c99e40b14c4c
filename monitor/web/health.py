"""/healthz (the process answers), /readyz (the monitor can do its job) and /metrics.

/readyz is what an orchestrator or an external check should watch: 200 only while the database
answers, the scheduler runs probes and the escalation engine ticked recently; otherwise 503
naming each reason, in words a person woken at 3 a.m. can act on. People who cannot be texted
(they replied STOP) are listed as warnings: the monitor is still ready, but someone should know.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from monitor.oncall import sms_opt_out_warnings
from monitor.storage.database import Database, DatabaseError, describe_error
from monitor.storage.inbound import opted_out_phones
from monitor.web.auth import web_context
from monitor.web.context import WebContext
from monitor.web.metrics import CONTENT_TYPE, scrape

DATABASE_TIMEOUT = 2.0  # seconds: a database slower than this to say "1" is not ready
ENGINE_STALL = timedelta(seconds=10)
ERROR_LENGTH = 200  # characters of a driver's error kept in the answer

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _select_one(db: Database) -> None:
    # A connection out of the pool proves little (SQLite hands one out without reading the
    # file): the database has to answer a question.
    async with db.connection() as connection:
        await connection.execute(text("SELECT 1"))


def _short_error(error: BaseException) -> str:
    # DatabaseError wraps the driver's error in a sentence naming the database URL; /readyz
    # answers anyone, so only the driver's own words go out.
    if isinstance(error, DatabaseError) and error.__cause__ is not None:
        error = error.__cause__
    described = describe_error(error)
    return described if len(described) <= ERROR_LENGTH else described[: ERROR_LENGTH - 1] + "…"


async def _database_problem(web: WebContext) -> str | None:
    try:
        await asyncio.wait_for(_select_one(web.db), timeout=DATABASE_TIMEOUT)
    except TimeoutError:
        return f"database unreachable: no answer in {DATABASE_TIMEOUT:.0f} s"
    except Exception as error:  # whatever the driver raises, the answer is "not ready"
        return f"database unreachable: {_short_error(error)}"
    return None


def _runtime_problems(web: WebContext) -> dict[str, str | None]:
    state = web.state
    if state is None:  # the app without a running monitor (tests of the hooks, the harness)
        return {}
    problems: dict[str, str | None] = {}
    if state.runs_probes():
        running = state.scheduler_running()
        problems["scheduler"] = None if running else "scheduler not running: no probe runs"
    if not state.leads():
        # Another instance detects and escalates (or will, once it takes the lock): this one
        # is ready to do its part. /metrics says which instance leads.
        return problems
    engine_stats = state.engine_stats()
    last_tick = engine_stats.last_tick if engine_stats is not None else None
    if last_tick is None:
        engine: str | None = "escalation engine has not ticked yet: nobody would be paged"
    else:
        late = web.clock.now() - last_tick
        engine = (
            f"escalation engine stalled: last tick {late.total_seconds():.0f} s ago "
            f"(more than {ENGINE_STALL.total_seconds():.0f} s): nobody would be paged"
            if late > ENGINE_STALL
            else None
        )
    problems["engine"] = engine
    return problems


async def _warnings(web: WebContext) -> list[str]:
    try:
        opted_out = await opted_out_phones(web.db)
    except Exception:  # the database check reports the database; this is only advice
        return []
    return sms_opt_out_warnings(web.config(), opted_out)


async def readiness(web: WebContext) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, str | None] = {"database": await _database_problem(web)}
    checks.update(_runtime_problems(web))
    problems = [problem for problem in checks.values() if problem is not None]
    warnings = await _warnings(web) if checks["database"] is None else []
    # Neither makes the monitor unready: the previous config still runs, and monitor-self
    # pages for its own trouble. A restart by the orchestrator would help neither.
    config_errors = web.state.config_problems() if web.state is not None else []
    if config_errors:
        warnings.append(
            f"config reload refused ({len(config_errors)} errors): the previous config runs"
        )
    if web.state is not None:
        warnings.extend(f"monitor-self: {trouble}" for trouble in web.state.self_troubles())
    body = {
        "status": "not ready" if problems else "ready",
        "checks": {name: problem or "ok" for name, problem in checks.items()},
        "problems": problems,
        "warnings": warnings,
        "config_errors": config_errors,
    }
    return not problems, body


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    ready, body = await readiness(web_context(request))
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(await scrape(web_context(request)), media_type=CONTENT_TYPE)
