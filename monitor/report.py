"""Probe results as a tired engineer reads them in a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.probing.flow import RunResult, StepResult
from monitor.storage.repository import StoredResult


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _verdict(ok: bool, skipped: bool = False) -> Text:
    if skipped:
        return Text("SKIP", style="dim")
    return Text("PASS", style="bold green") if ok else Text("FAIL", style="bold red")


def _days_left(step: StepResult, result: RunResult) -> str | None:
    if step.certificate_not_after is None:
        return None
    days = (step.certificate_not_after - result.started_at).total_seconds() / 86400
    return f"certificate expires in {days:.0f} days" if days >= 0 else "certificate EXPIRED"


def print_run(console: Console, result: RunResult) -> None:
    line = Text()
    line.append_text(_verdict(result.ok))
    line.append(f"  {result.probe}", style="bold")
    line.append(f"  {_ms(result.duration_ms)}")
    if not result.ok:
        line.append(f"  {result.summary()}", style="red")
    console.print(line, soft_wrap=True)
    width = max((len(step.name) for step in result.steps), default=0)
    for step in result.steps:
        _print_step(console, step, width, certificate=_days_left(step, result))


def _print_step(console: Console, step: StepResult, width: int, certificate: str | None) -> None:
    line = Text("  ")
    line.append_text(_verdict(step.ok, step.skipped))
    line.append(f"  {step.name:<{width}}")
    if step.skipped:
        line.append(f"  skipped: {step.skip_reason}", style="dim")
        console.print(line, soft_wrap=True)
        return
    status = str(step.status) if step.status is not None else "---"
    line.append(f"  {status}  {_ms(step.duration_ms):>8}")
    if step.timings is not None:
        line.append(
            f"  (connect {_ms(step.timings.connect_ms)}, tls {_ms(step.timings.tls_ms)},"
            f" first byte {_ms(step.timings.ttfb_ms)})",
            style="dim",
        )
    if certificate is not None:
        line.append(f"  {certificate}", style="dim")
    if step.always_run:
        line.append("  [always run]", style="dim")
    console.print(line, soft_wrap=True)
    if step.error is not None:
        console.print(
            Text(f"        error ({step.error.kind}): {step.error.message}", style="red"),
            soft_wrap=True,
        )
    for condition in step.failed_conditions:
        console.print(Text(f"        {condition.resolved}", style="red"), soft_wrap=True)


def result_json(row: StoredResult) -> dict[str, Any]:
    return {
        "probe": row.probe,
        "location": row.location,
        "ok": row.ok,
        "due_at": row.due_at.isoformat(),
        "started_at": row.started_at.isoformat(),
        "lateness_ms": round((row.started_at - row.due_at).total_seconds() * 1000),
        "duration_ms": row.duration_ms,
        "status": row.status,
        "error_kind": row.error_kind,
        "error": row.error_message,
        "failed_step": row.failed_step,
        "confirmation": row.confirmation,
        "steps": row.details,
    }


def print_results(console: Console, rows: Sequence[StoredResult], *, since: str) -> None:
    if not rows:
        console.print(f"no results in the last {since}", markup=False)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column, justify in (
        ("started (UTC)", "left"),
        ("probe", "left"),
        ("result", "left"),
        ("status", "right"),
        ("duration", "right"),
        ("late", "right"),
        ("what failed", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        late = (row.started_at - row.due_at).total_seconds() * 1000
        table.add_row(
            row.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            row.probe if row.location == "local" else f"{row.probe}@{row.location}",
            _verdict(row.ok) + (" (confirming)" if row.confirmation else ""),
            "" if row.status is None else str(row.status),
            _ms(row.duration_ms),
            _ms(late),
            Text(row.error_message or "", style="red"),
        )
    console.print(table)
    failed = sum(not row.ok for row in rows)
    console.print(
        f"{len(rows)} result{'s' if len(rows) != 1 else ''}, {failed} failed", markup=False
    )
