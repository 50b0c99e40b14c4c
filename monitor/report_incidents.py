"""Incidents, silences and backtests as an engineer reads them in a terminal, and as JSON.

Times in tables are UTC in the form `monitor results` uses (the column header says UTC); a time
inside a sentence carries its zone: `2026-12-01T02:00:00Z`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.config.durations import format_duration
from monitor.detection.backtest import BacktestIncident, BacktestReport
from monitor.storage.escalation import PageView
from monitor.storage.incidents import IncidentEvent, IncidentRow
from monitor.storage.silences import SilenceRow

_SEVERITY_STYLE = {"major": "bold red", "partial": "yellow", "degraded": "cyan"}
_STATE_STYLE = {"triggered": "bold red", "acknowledged": "yellow", "resolved": "green"}


def table_time(moment: datetime) -> str:
    """A time in a table whose header says UTC, as `monitor results` shows it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def stamp(moment: datetime) -> str:
    """A UTC time inside a sentence."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(delta: timedelta) -> str:
    """A duration as a person reads it: whole seconds, whole minutes from an hour on."""
    seconds = max(0, round(delta.total_seconds()))
    if seconds >= 3600:
        seconds = round(seconds / 60) * 60
    return format_duration(timedelta(seconds=seconds))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _table(*columns: tuple[str, str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    return table


# --- incidents ------------------------------------------------------------------------------------


def incident_json(row: IncidentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "probe": row.probe,
        "group": row.group,
        "severity": row.severity,
        "state": row.state,
        "opened_at": row.opened_at.isoformat(),
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "rule": row.rule,
        "figures": row.figures,
        "cause": row.cause,
        "reopen_count": row.reopen_count,
        "peak_failure_ratio": row.peak_failure_ratio,
    }


def event_json(event: IncidentEvent) -> dict[str, Any]:
    return {"at": event.at.isoformat(), "kind": event.kind, "detail": event.detail}


def _lasted(row: IncidentRow, now: datetime) -> str:
    if row.resolved_at is not None:
        return span(row.resolved_at - row.opened_at)
    return f"{span(now - row.opened_at)} so far"


def print_incidents(
    console: Console, rows: Sequence[IncidentRow], *, now: datetime, empty: str
) -> None:
    """The incidents table, newest first as given; `empty` is the line shown when there are
    none ("no incidents in the last 7d")."""
    if not rows:
        console.print(empty, markup=False)
        return
    table = _table(
        ("#", "right"),
        ("probe", "left"),
        ("severity", "left"),
        ("state", "left"),
        ("opened (UTC)", "left"),
        ("lasted", "right"),
        ("rule", "left"),
        ("figures", "left"),
    )
    for row in rows:
        table.add_row(
            str(row.id),
            row.probe,
            Text(row.severity, style=_SEVERITY_STYLE.get(row.severity, "")),
            Text(row.state, style=_STATE_STYLE.get(row.state, "")),
            table_time(row.opened_at),
            _lasted(row, now),
            row.rule,
            row.figures,
        )
    console.print(table)
    still_open = sum(row.open for row in rows)
    console.print(f"{_plural(len(rows), 'incident')}, {still_open} open", markup=False)


def page_json(page: PageView) -> dict[str, Any]:
    return {
        "id": page.id,
        "kind": page.kind,
        "cycle": page.cycle,
        "level": None if page.level < 0 else page.level + 1,
        "person": page.person,
        "channel": page.channel,
        "status": page.status,
        "attempts": page.attempts,
        "created_at": page.created_at.isoformat(),
        "sent_at": None if page.sent_at is None else page.sent_at.isoformat(),
        "provider_id": page.provider_id,
        "error": page.error,
    }


def print_pages(console: Console, pages: Sequence[PageView]) -> None:
    """Who was paged how and when: one row per message, in the order they were written."""
    if not pages:
        console.print("nobody was paged", markup=False)
        return
    table = _table(
        ("written (UTC)", "left"),
        ("level", "right"),
        ("person", "left"),
        ("channel", "left"),
        ("status", "left"),
        ("sent (UTC)", "left"),
        ("tries", "right"),
        ("error", "left"),
    )
    for page in pages:
        table.add_row(
            table_time(page.created_at),
            "resolved" if page.kind == "resolved" else str(page.level + 1),
            page.person,
            page.channel,
            page.status,
            "-" if page.sent_at is None else table_time(page.sent_at),
            str(page.attempts),
            page.error or "",
        )
    console.print(table)


def print_incident(
    console: Console,
    row: IncidentRow,
    events: Sequence[IncidentEvent],
    *,
    now: datetime,
    pages: Sequence[PageView] = (),
) -> None:
    """One incident's fields, then its timeline, oldest event first."""
    group = f" (group {row.group})" if row.group != row.probe else ""
    console.print(Text(f"incident #{row.id}  {row.probe}{group}", style="bold"))
    fields: list[tuple[str, str]] = [
        ("severity", row.severity),
        ("state", row.state),
        ("opened", f"{stamp(row.opened_at)}"),
    ]
    if row.acknowledged_at is not None:
        by = f" by {row.acknowledged_by}" if row.acknowledged_by else ""
        fields.append(("acknowledged", f"{stamp(row.acknowledged_at)}{by}"))
    if row.resolved_at is not None:
        fields.append(("resolved", f"{stamp(row.resolved_at)}, after {_lasted(row, now)}"))
    else:
        fields.append(("open for", _lasted(row, now).removesuffix(" so far")))
    fields += [("rule", row.rule), ("figures", row.figures)]
    if row.cause:
        fields.append(("cause", row.cause))
    if row.peak_failure_ratio is not None:
        fields.append(("peak", f"{_ratio(row.peak_failure_ratio)} of runs failed"))
    if row.reopen_count:
        fields.append(("reopened", _plural(row.reopen_count, "time")))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        console.print(f"  {name:<{width}}  {value}", markup=False, soft_wrap=True)
    console.print()
    table = _table(("time (UTC)", "left"), ("event", "left"), ("detail", "left"))
    for event in events:
        table.add_row(table_time(event.at), event.kind, event.detail)
    console.print(table)
    console.print()
    print_pages(console, pages)


# --- silences -------------------------------------------------------------------------------------


def silence_state(row: SilenceRow, now: datetime) -> str:
    """active, planned, expired (ran its course), ended (early, by hand) or cancelled (ended
    before it started)."""
    if row.active(now):
        return "active"
    if row.ended_at is not None and row.ended_at <= now:
        return "cancelled" if row.ended_at <= row.starts_at else "ended"
    return "planned" if now < row.starts_at else "expired"


def silenced(row: SilenceRow) -> str:
    """What it silences: `login, signup` or `all probes`."""
    return "all probes" if row.probes is None else ", ".join(row.probes)


def silence_line(row: SilenceRow, *, now: datetime) -> str:
    """`silence #3: login until 2026-12-01T04:00:00Z (LB swap)`, with the start when later."""
    starts = f" from {stamp(row.starts_at)}" if row.starts_at > now else ""
    return (
        f"silence #{row.id}: {silenced(row)}{starts} until {stamp(row.effective_end)} "
        f"({row.reason})"
    )


def silence_json(row: SilenceRow, *, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "probes": None if row.probes is None else list(row.probes),
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "state": silence_state(row, now),
        "reason": row.reason,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
    }


def print_silences(
    console: Console, rows: Sequence[SilenceRow], *, now: datetime, empty: str
) -> None:
    if not rows:
        console.print(empty, markup=False)
        return
    table = _table(
        ("#", "right"),
        ("probes", "left"),
        ("starts (UTC)", "left"),
        ("ends (UTC)", "left"),
        ("state", "left"),
        ("reason", "left"),
        ("by", "left"),
    )
    for row in rows:
        state = silence_state(row, now)
        table.add_row(
            str(row.id),
            silenced(row),
            table_time(row.starts_at),
            # A cancelled one never ran: its planned end says more than the moment it was cancelled.
            table_time(row.ends_at if state == "cancelled" else row.effective_end),
            Text(state, style="bold" if state == "active" else "dim" if state != "planned" else ""),
            row.reason,
            row.created_by or "",
        )
    console.print(table)


# --- backtest -------------------------------------------------------------------------------------


def _end(incident: BacktestIncident) -> str:
    end = "open" if incident.end is None else table_time(incident.end)
    return end + (f" (reopened {incident.reopened}x)" if incident.reopened else "")


def print_backtest(console: Console, report: BacktestReport) -> None:
    """The incidents the rules would have opened, the count of every probe, then one line with
    the totals."""
    if report.incidents:
        table = _table(
            ("probe", "left"),
            ("start (UTC)", "left"),
            ("end (UTC)", "left"),
            ("duration", "right"),
            ("severity", "left"),
            ("rule", "left"),
            ("figures", "left"),
            ("peak", "right"),
        )
        for incident in report.incidents:
            duration = incident.duration
            table.add_row(
                incident.probe,
                table_time(incident.start),
                _end(incident),
                "-" if duration is None else span(duration),
                Text(incident.severity, style=_SEVERITY_STYLE.get(incident.severity, "")),
                incident.rule,
                incident.figures,
                _ratio(incident.peak_failure_ratio),
            )
        console.print(table)
    else:
        console.print("no incident would have opened", markup=False)
    console.print()
    counts = _table(("probe", "left"), ("incidents", "right"))
    for probe, count in report.per_probe.items():
        counts.add_row(probe, str(count))
    console.print(counts)
    console.print()
    total = len(report.incidents)
    console.print(
        f"{_plural(total, 'incident')} would have opened in {_plural(report.runs, 'run')} "
        f"replayed from {stamp(report.since)} to {stamp(report.until)}",
        markup=False,
        soft_wrap=True,
    )
