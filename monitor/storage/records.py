"""What the recorder stores for one probe run: a narrow row, with step details only when they
tell something (a failed run)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.probing.flow import RunResult


@dataclass(frozen=True, kw_only=True)
class ResultRecord:
    probe: str
    location: str
    due_at: datetime  # when the schedule wanted the run
    started_at: datetime  # when it really started: started_at - due_at is the lateness
    duration_ms: float
    ok: bool
    status: int | None  # of the failed step, else of the last step
    error_kind: str | None = None
    error_message: str | None = None  # one line: the failed step and why, secrets redacted
    failed_step: str | None = None
    details: list[dict[str, Any]] | None = None  # the steps as JSON, failed runs only
    # A run made to confirm a failure, not a scheduled one: counting it as scheduled would let
    # the confirmations of one failure inflate a failure ratio.
    confirmation: bool = False

    @property
    def lateness_ms(self) -> float:
        return (self.started_at - self.due_at).total_seconds() * 1000

    @classmethod
    def from_run(
        cls, run: RunResult, *, due_at: datetime, confirmation: bool = False
    ) -> ResultRecord:
        failed = run.first_failure
        ran = [step for step in run.steps if not step.skipped]
        status_step = failed or (ran[-1] if ran else None)
        return cls(
            probe=run.probe,
            location=run.location,
            due_at=due_at,
            started_at=run.started_at,
            duration_ms=run.duration_ms,
            ok=run.ok,
            status=status_step.status if status_step else None,
            error_kind=(str(failed.error.kind) if failed.error else "condition")
            if failed
            else None,
            error_message=None if run.ok else run.summary(),
            failed_step=failed.name if failed else None,
            details=None if run.ok else [step.to_json() for step in run.steps],
            confirmation=confirmation,
        )
