"""What the admin pages show, assembled from storage and the config: plain data for the templates.

Nothing here renders HTML or reads a request; the routes (monitor/web/admin.py) hand the results
to the templates. Free text that may hold a phone number (a provider's error, a timeline entry)
goes through `mask_phones`; a person's own number is shown as its last 4 digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.config.durations import format_duration, parse_duration
from monitor.config.models import MonitorConfig, ProbeConfig
from monitor.masking import mask_phone, mask_phones
from monitor.oncall import schedule_status
from monitor.report_incidents import silence_state, silenced, span
from monitor.storage.database import Database
from monitor.storage.escalation import PageView, pages_of
from monitor.storage.incidents import IncidentEvent, IncidentRow, get_incident, list_incidents
from monitor.storage.repository import StoredResult, recent_results_per_probe
from monitor.storage.silences import SilenceRow, add_silence, list_silences
from monitor.web.context import WebContext

# Enough to see the shape of the last quarter of an hour of a 30 s probe; the page stays light.
RESULTS_PER_PROBE = 30
# Open incidents shown in full (timeline and pages each); more than this is a bad night, and
# the rest are listed by the CLI and the API.
OPEN_SHOWN = 50
RECENT_RESOLVED = 5
HANDOFFS_SHOWN = 3


# --- incidents ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PageLine:
    """One message sent (or being sent) for an incident."""

    id: int
    level: str  # "1", "2", ... or "resolved" for the all-clear
    person: str  # the person's name as configured (their id if no longer configured)
    channel: str
    status: str
    delivery: str | None
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class IncidentView:
    incident: IncidentRow
    events: list[IncidentEvent]
    pages: list[PageLine]
    open_for: str

    @property
    def name(self) -> str:
        return f"MON-{self.incident.id}"

    @property
    def can_acknowledge(self) -> bool:
        return self.incident.state == "triggered"


@dataclass(frozen=True, kw_only=True)
class PersonLine:
    id: str
    name: str
    phone: str | None  # masked to the last 4 digits


@dataclass(frozen=True, kw_only=True)
class HandoffLine:
    at: datetime
    from_person: PersonLine | None
    to_person: PersonLine | None


@dataclass(frozen=True, kw_only=True)
class OnCallLine:
    schedule: str
    timezone: str
    person: PersonLine | None  # None: nobody is on call
    source: str | None
    handoffs: list[HandoffLine]


@dataclass(frozen=True, kw_only=True)
class Dashboard:
    now: datetime
    open: list[IncidentView]
    more_open: bool  # more open incidents than shown
    resolved: list[IncidentRow]
    oncall: list[OnCallLine]


def _person(config: MonitorConfig, person_id: str | None) -> PersonLine | None:
    if person_id is None:
        return None
    person = config.person(person_id)
    if person is None:  # removed from the config since it was paged
        return PersonLine(id=person_id, name=person_id, phone=None)
    phone = mask_phone(person.phone) if person.phone else None
    return PersonLine(id=person.id, name=person.name, phone=phone)


def _page_line(page: PageView, names: Mapping[str, str]) -> PageLine:
    return PageLine(
        id=page.id,
        level="resolved" if page.kind == "resolved" else str(page.level + 1),
        person=names.get(page.person, page.person),
        channel=page.channel,
        status=page.status,
        delivery=page.delivery,
        attempts=page.attempts,
        # A provider's error may quote the number it could not reach.
        error=mask_phones(page.error) if page.error else None,
        created_at=page.created_at,
        sent_at=page.sent_at,
    )


def masked_event(event: IncidentEvent) -> IncidentEvent:
    """An event as the web shows it: a detail may quote a phone number (a failed call)."""
    return IncidentEvent(at=event.at, kind=event.kind, detail=mask_phones(event.detail))


async def _incident_view(
    db: Database, row: IncidentRow, *, names: Mapping[str, str], now: datetime
) -> IncidentView:
    found = await get_incident(db, row.id)
    incident, events = found if found is not None else (row, [])
    pages = await pages_of(db, row.id)
    return IncidentView(
        incident=incident,
        events=[masked_event(event) for event in events],
        pages=[_page_line(page, names) for page in pages],
        open_for=span(now - incident.opened_at),
    )


def oncall_lines(config: MonitorConfig, *, at: datetime) -> list[OnCallLine]:
    """Who is on call now in each schedule, and the next handoffs (as `monitor oncall` shows)."""
    lines: list[OnCallLine] = []
    for schedule in config.schedules:
        status = schedule_status(schedule, at=at, count=HANDOFFS_SHOWN)
        handoffs = [
            HandoffLine(
                at=handoff.at,
                from_person=_person(config, handoff.from_person),
                to_person=_person(config, handoff.to_person),
            )
            for handoff in status.handoffs
        ]
        lines.append(
            OnCallLine(
                schedule=status.schedule,
                timezone=status.timezone,
                person=_person(config, status.person),
                source=status.source,
                handoffs=handoffs,
            )
        )
    return lines


async def dashboard(web: WebContext) -> Dashboard:
    """GET /admin: the open incidents (newest first) in full, who is on call, the last few
    resolved incidents."""
    now = web.clock.now()
    config = web.config()
    names = {person.id: person.name for person in config.people}
    open_rows = await list_incidents(web.db, open_only=True, limit=OPEN_SHOWN + 1)
    shown = open_rows[:OPEN_SHOWN]
    views = [await _incident_view(web.db, row, names=names, now=now) for row in shown]
    return Dashboard(
        now=now,
        open=views,
        more_open=len(open_rows) > OPEN_SHOWN,
        resolved=await recent_resolved(web.db, open_count=len(open_rows)),
        oncall=oncall_lines(config, at=now),
    )


async def recent_resolved(db: Database, *, open_count: int) -> list[IncidentRow]:
    """The last few resolved incidents (by opening time), in one query: of the newest
    open_count + RECENT_RESOLVED incidents at most open_count are open, so the rest holds the
    RECENT_RESOLVED newest resolved ones (when there are that many)."""
    rows = await list_incidents(db, limit=open_count + RECENT_RESOLVED)
    return [row for row in rows if not row.open][:RECENT_RESOLVED]


# --- probes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FailedCondition:
    condition: str  # as configured: `[STATUS] == 200`
    resolved: str  # with the values it saw: `[STATUS] (503) == 200`


@dataclass(frozen=True, kw_only=True)
class FailedStep:
    name: str
    status: int | None
    error: str | None  # "timeout: ..." when the step failed before any condition was checked
    conditions: list[FailedCondition]


@dataclass(frozen=True, kw_only=True)
class Sparkline:
    """An inline SVG polyline of run durations, oldest on the left; failed runs are dots."""

    width: int
    height: int
    points: str  # "x,y x,y ..." for <polyline points>
    failed: list[tuple[float, float]]  # (x, y) of the failed runs
    min_ms: int
    max_ms: int
    count: int

    @property
    def label(self) -> str:
        return f"duration of the last {self.count} runs: {self.min_ms} to {self.max_ms} ms" + (
            f", {len(self.failed)} failed" if self.failed else ""
        )


@dataclass(frozen=True, kw_only=True)
class ProbeLine:
    name: str
    group: str
    description: str | None
    enabled: bool
    interval: str
    results: list[StoredResult]  # newest first
    sparkline: Sparkline | None
    failing: list[FailedStep]  # of the last result, when it failed

    @property
    def last(self) -> StoredResult | None:
        return self.results[0] if self.results else None

    @property
    def failures(self) -> int:
        return sum(not result.ok for result in self.results)


def sparkline(
    runs: Sequence[tuple[int, bool]], *, width: int = 160, height: int = 32
) -> Sparkline | None:
    """The sparkline of (duration_ms, ok) runs, oldest first; None without runs. The y axis
    starts at 0, so a flat line at 40 ms and one at 900 ms do not look the same."""
    if not runs:
        return None
    pad = 3.0  # room for a failed run's dot at the edges
    top = max(duration for duration, _ in runs) or 1
    step = (width - 2 * pad) / max(len(runs) - 1, 1)
    coordinates = [
        (round(pad + index * step, 1), round(height - pad - duration / top * (height - 2 * pad), 1))
        for index, (duration, _) in enumerate(runs)
    ]
    return Sparkline(
        width=width,
        height=height,
        points=" ".join(f"{x},{y}" for x, y in coordinates),
        failed=[xy for xy, (_, ok) in zip(coordinates, runs, strict=True) if not ok],
        min_ms=min(duration for duration, _ in runs),
        max_ms=max(duration for duration, _ in runs),
        count=len(runs),
    )


def failing_steps(details: Sequence[Mapping[str, Any]] | None) -> list[FailedStep]:
    """The failed steps of a stored failed run (its `details`: StepResult.to_json of each step)
    with their failing conditions, as configured and with the values seen. Skipped steps (after
    the failure) are left out: they did not fail, they did not run."""
    steps: list[FailedStep] = []
    for step in details or ():
        if step.get("ok", True) or step.get("skipped"):
            continue
        error = step.get("error")
        conditions = [
            FailedCondition(condition=str(c.get("condition", "")), resolved=str(c.get("resolved")))
            for c in step.get("conditions") or ()
            if not c.get("ok", True)
        ]
        steps.append(
            FailedStep(
                name=str(step.get("name", "")),
                status=step.get("status"),
                error=f"{error.get('kind')}: {error.get('message')}"
                if isinstance(error, Mapping)
                else None,
                conditions=conditions,
            )
        )
    return steps


def _probe_line(probe: ProbeConfig, results: list[StoredResult]) -> ProbeLine:
    last = results[0] if results else None
    oldest_first = [(result.duration_ms, result.ok) for result in reversed(results)]
    return ProbeLine(
        name=probe.name,
        group=probe.group or probe.name,
        description=probe.description,
        enabled=probe.enabled,
        interval=format_duration(probe.interval),
        results=results,
        sparkline=sparkline(oldest_first),
        failing=failing_steps(last.details) if last is not None and not last.ok else [],
    )


async def probe_lines(web: WebContext) -> list[ProbeLine]:
    """GET /admin/probes: each configured probe, in config order, with its last results."""
    probes = web.config().probes
    results = await recent_results_per_probe(
        web.db, [probe.name for probe in probes], limit=RESULTS_PER_PROBE
    )
    return [_probe_line(probe, results.get(probe.name, [])) for probe in probes]


# --- silences -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SilenceLine:
    silence: SilenceRow
    state: str  # active | planned
    what: str  # "login, signup" or "all probes"
    left: str  # how long until it ends


async def silence_lines(web: WebContext) -> list[SilenceLine]:
    """GET /admin/silences: the silences not over yet (active and planned), by start."""
    now = web.clock.now()
    return [
        SilenceLine(
            silence=row,
            state=silence_state(row, now),
            what=silenced(row),
            left=span(row.effective_end - now),
        )
        for row in await list_silences(web.db, at=now)
    ]


class SilenceFormError(ValueError):
    """What is wrong with a submitted silence form, in words for the person who sent it."""


@dataclass(frozen=True, kw_only=True)
class SilenceRequest:
    probes: tuple[str, ...] | None  # None: all probes
    length: timedelta
    reason: str


def silence_request(
    *, scope: str, probes: Sequence[str], duration: str, reason: str, known: Sequence[str]
) -> SilenceRequest:
    """The silence form read as the CLI's `silence add` reads its options (same refusals):
    `scope` "all" or "selected" with `probes`, `duration` like 30m or 2h, a reason."""
    if scope == "all":
        if probes:
            # Silencing everything when a few were ticked would hide pages nobody meant to.
            raise SilenceFormError(
                "probes are ticked but all probes is chosen: choose the ticked ones only, "
                "or untick them"
            )
        names: tuple[str, ...] | None = None
    elif scope == "selected":
        if not probes:
            raise SilenceFormError("choose the probes to silence, or all probes")
        names = tuple(dict.fromkeys(probes))
        unknown = [name for name in names if name not in known]
        if unknown:
            listed = ", ".join(known) or "none"
            raise SilenceFormError(
                f"no probe named {', '.join(repr(n) for n in unknown)} (configured: {listed}); "
                "a misspelt name would silence nothing"
            )
    else:
        raise SilenceFormError("say what to silence: all probes, or the selected ones")
    try:
        length = parse_duration(duration)
    except ValueError as error:
        raise SilenceFormError(f"duration: {error}") from None
    if length <= timedelta(0):
        raise SilenceFormError(f"a silence of {duration} silences nothing: give e.g. 30m or 2h")
    if not reason.strip():
        raise SilenceFormError("a silence needs a reason: whoever gets no page should learn why")
    return SilenceRequest(probes=names, length=length, reason=reason.strip())


async def create_silence(web: WebContext, request: SilenceRequest, *, by: str) -> SilenceRow:
    """Store the silence, starting now. SilenceFormError as `add_silence` refuses it."""
    now = web.clock.now()
    try:
        return await add_silence(
            web.db,
            probes=request.probes,
            starts_at=now,
            ends_at=now + request.length,
            reason=request.reason,
            created_by=by,
            at=now,
        )
    except ValueError as error:
        raise SilenceFormError(str(error)) from error
