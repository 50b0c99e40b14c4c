"""What detection sees of one probe run: when, where, whether it passed, how long it took."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.storage.records import ResultRecord
from monitor.storage.repository import StoredResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    at: datetime  # when the run started
    ok: bool
    duration_ms: float
    location: str = "local"
    confirmation: bool = False  # an extra run made to confirm a failure, not a scheduled one
    failure: str | None = None  # one line: the failed step and why (secrets already redacted)

    @classmethod
    def of(cls, result: ResultRecord | StoredResult) -> Sample:
        return cls(
            at=result.started_at,
            ok=result.ok,
            duration_ms=float(result.duration_ms),
            location=result.location,
            confirmation=result.confirmation,
            failure=result.error_message,
        )
