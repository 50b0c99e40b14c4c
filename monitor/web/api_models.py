"""The JSON API's request and response bodies (pydantic): what /api/v1/openapi.json describes.

Built from the storage layer's frozen rows with `from_attributes`, so a field here is a field
there; phone numbers are masked to their last 4 digits before they get here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ResultOut(Model):
    probe: str
    location: str
    ok: bool
    due_at: datetime
    started_at: datetime
    duration_ms: float
    status: int | None
    error_kind: str | None
    error_message: str | None = Field(description="one line: the failed step and why, redacted")
    failed_step: str | None
    confirmation: bool
    details: list[dict[str, Any]] | None = Field(description="the steps, for failed runs only")


class IncidentOut(Model):
    id: int
    probe: str
    group: str
    severity: str = Field(description="degraded | partial | major")
    state: str = Field(description="triggered | acknowledged | resolved")
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    rule: str
    figures: str
    cause: str | None
    reopen_count: int
    peak_failure_ratio: float | None


class EventOut(Model):
    at: datetime
    kind: str
    detail: str


class PageOut(Model):
    id: int
    kind: str = Field(description="page | resolved")
    cycle: int
    level: int
    person: str
    channel: str
    status: str = Field(description="pending | sending | sent | delivered | failed | cancelled")
    delivery: str | None = Field(description="the provider's last word: delivered, no-answer ...")
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    error: str | None


class IncidentDetail(IncidentOut):
    events: list[EventOut]
    pages: list[PageOut]


class ProbeOut(Model):
    name: str
    group: str
    enabled: bool
    interval_seconds: float
    last_result: ResultOut | None
    open_incident: IncidentOut | None


class ProbeDetail(ProbeOut):
    results: list[ResultOut] = Field(description="the most recent runs, newest first")


class PersonOut(Model):
    id: str
    name: str
    phone: str | None = Field(description="masked to the last 4 digits")


class HandoffOut(Model):
    at: datetime
    from_person: PersonOut | None
    to_person: PersonOut | None


class OnCallOut(Model):
    schedule: str
    timezone: str
    person: PersonOut | None = Field(description="who is on call now; null: nobody")
    source: str | None
    handoffs: list[HandoffOut]


class SilenceOut(Model):
    id: int
    probes: list[str] | None = Field(description="null: every probe")
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    reason: str
    created_by: str | None
    created_at: datetime
    active: bool


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="api", min_length=1, max_length=200, description="who does it")


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probes: list[str] | None = Field(
        default=None, description="probe names; null or omitted: every probe"
    )
    duration: str = Field(description="how long from now, e.g. 30m, 2h", examples=["2h"])
    reason: str = Field(min_length=1, description="why: whoever gets no page should learn it")
    by: str = Field(default="api", min_length=1, max_length=200)
