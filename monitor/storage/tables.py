"""The schema as SQLAlchemy models. Alembic migrations must agree with it (a test checks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from monitor.storage.types import Timestamp

# Named constraints: Alembic can only alter or drop what it can name, and SQLite's batch mode
# (copy-and-rename) needs the names to recreate them. Without a convention every database would
# invent its own and autogenerate would not be stable.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# On SQLite the column must be declared exactly INTEGER to become an alias of the rowid: no
# separate key column, no extra index, new ids without a lookup.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Probe(Base):
    """One probe as the config last described it; results point here instead of repeating the
    name in every row."""

    __tablename__ = "probes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    group: Mapped[str] = mapped_column(Text)
    # None for a probe first seen in a result rather than in a config (its definition is unknown).
    config_hash: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(Timestamp)
    last_seen: Mapped[datetime] = mapped_column(Timestamp)


class Result(Base):
    """One probe run. Kept narrow (the bulk of the database): successful runs carry no text."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    probe_id: Mapped[int] = mapped_column(ForeignKey("probes.id", ondelete="CASCADE"))
    location: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(Timestamp)
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    duration_ms: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool]
    status: Mapped[int | None] = mapped_column(SmallInteger)
    error_kind: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    failed_step: Mapped[str | None] = mapped_column(Text)
    # JSON, not JSONB: kept as written (step order, key order) and it accepts any text, where
    # JSONB refuses some (a \u0000 in a response body), and a row refused would hold up its batch.
    details: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # A run made to confirm a failure, outside the schedule: the detector must not count it as
    # one more scheduled run. The server default gives rows written before 0002 a value.
    confirmation: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        # "results of probe P since T", newest first: the status page, the detector, the CLI.
        Index(None, "probe_id", "started_at"),
        # "all results since T" (the CLI without --probe) and retention (delete before T).
        # BRIN on PostgreSQL: rows come in time order, and a B-tree here was a tenth of the
        # database (alembic 0006).
        Index("ix_results_started_at", "started_at", postgresql_using="brin"),
    )


# The one condition both the partial unique index and the queries for open incidents use: they
# must agree, or "the open incident" would not be what the index keeps unique.
INCIDENT_OPEN = "state <> 'resolved'"


class Incident(Base):
    """A probe failing by a rule, from the detector opening it to its resolution. At most one
    per probe is open (not resolved): the database enforces it, so two detectors racing each
    other cannot both open one."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    probe_id: Mapped[int] = mapped_column(ForeignKey("probes.id", ondelete="CASCADE"))
    severity: Mapped[str] = mapped_column(Text)  # degraded | partial | major
    state: Mapped[str] = mapped_column(Text)  # triggered | acknowledged | resolved
    opened_at: Mapped[datetime] = mapped_column(Timestamp)
    acknowledged_at: Mapped[datetime | None] = mapped_column(Timestamp)
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp)
    rule: Mapped[str] = mapped_column(Text)  # as configured: "failure_ratio above 20% over 5m"
    figures: Mapped[str] = mapped_column(Text)  # what tripped it: "35% of 20 runs failed in 5m"
    cause: Mapped[str | None] = mapped_column(Text)  # the first failing condition
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    peak_failure_ratio: Mapped[float | None] = mapped_column(Float)
    # The escalation: the policy and the people it resolved to, copied when paging starts so a
    # config reload never changes an escalation in flight; NULL until then.
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # Position: the cycle through the levels (counts up, never resets, so every page of a new
    # round has a new key), the level paged last (NULL: start a round at next_action_at) and the
    # cycle the current round began with (NULL: no round yet), for `repeat`.
    esc_cycle: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    esc_level: Mapped[int | None] = mapped_column(Integer)
    esc_round_start: Mapped[int | None] = mapped_column(Integer)
    # When the engine must look at it next: set to "now" by every change (opened, acknowledged,
    # resolved, escalate now), to a deadline by the engine, NULL when there is nothing to do.
    next_action_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        # A typo in a state ('Resolved') would fall outside the unique index's WHERE and let a
        # second incident open: only known values get in.
        CheckConstraint("state IN ('triggered', 'acknowledged', 'resolved')", name="state"),
        CheckConstraint("severity IN ('degraded', 'partial', 'major')", name="severity"),
        Index(
            "ix_incidents_one_open_per_probe",
            "probe_id",
            unique=True,
            sqlite_where=text(INCIDENT_OPEN),
            postgresql_where=text(INCIDENT_OPEN),
        ),
        # The latest incident of a probe; also what ON DELETE CASCADE from probes looks up.
        Index(None, "probe_id", "opened_at"),
        # Listing, newest first.
        Index(None, "opened_at"),
        # The engine's one query per tick: what is due.
        Index(None, "next_action_at"),
    )


class IncidentEvent(Base):
    """One line of an incident's timeline, written in the transaction that changed the incident:
    the row that says what happened is also what notifies (DESIGN.md §6, the outbox)."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    incident_id: Mapped[int] = mapped_column(RowId, ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(Timestamp)
    # opened | severity | resolved | reopened | acknowledged | note. No CHECK: the escalation
    # engine will add kinds, and on SQLite changing a CHECK means rebuilding the table.
    kind: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index(None, "incident_id", "at"),)


class Silence(Base):
    """A planned quiet time: incidents of the listed probes (all when `probes` is NULL) page no
    one between starts_at and ends_at, or until someone ends it early (ended_at)."""

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    # none_as_null: None must be SQL NULL ("every probe"), not the JSON text 'null'.
    probes: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    starts_at: Mapped[datetime] = mapped_column(Timestamp)
    ends_at: Mapped[datetime] = mapped_column(Timestamp)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # Active silences: those not yet over. Expired ones pile up; started ones are few.
        Index(None, "ends_at"),
    )


PAGE_STATES = ("pending", "sending", "sent", "delivered", "failed", "cancelled")


class PageRow(Base):
    """One message to one person on one channel: the outbox row, written before the channel is
    called. The key (incident, kind, cycle, level, person, channel) makes a page impossible to
    write twice, also by two engines; `status` moves pending -> sending -> sent (-> delivered)
    or failed, or pending -> cancelled when the incident was acknowledged or resolved first."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    incident_id: Mapped[int] = mapped_column(RowId, ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)  # page | resolved
    cycle: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)  # -1 for a "resolved" message
    person: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    # Pending: when it may be sent (later after a transient failure). Sending: the lease; a
    # sender that died leaves it to be taken again when it runs out.
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    provider_id: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # The provider's own word on the page (Twilio's MessageStatus / CallStatus, or
    # `answered-by-machine`): it only moves forward, whatever order the callbacks come in.
    delivery: Mapped[str | None] = mapped_column(Text)
    delivery_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'cancelled')",
            name="status",
        ),
        CheckConstraint("kind IN ('page', 'resolved')", name="kind"),
        Index(
            "uq_pages_key",
            "incident_id",
            "kind",
            "cycle",
            "level",
            "person",
            "channel",
            unique=True,
        ),
        # The dispatcher's query: pages waiting (or whose lease ran out), by when they are due.
        Index(None, "status", "next_attempt_at"),
    )


class SmsOptOut(Base):
    """A number that replied STOP: the provider refuses to text it until it replies START.
    Kept so `monitor validate` and the readiness check can say who cannot be reached by SMS."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(Text, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp)


class InboundSms(Base):
    """Every text that reached the monitor, what it did, and whether an automatic reply went
    back: the audit trail of acknowledgements by SMS and the count behind the auto-reply limit."""

    __tablename__ = "inbound_sms"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp)
    phone: Mapped[str] = mapped_column(Text)
    person: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)  # acknowledged, resolved, refused, help, ignored ...
    incident_id: Mapped[int | None] = mapped_column(RowId)
    # A reply that was not the confirmation of an action (help, refusal): at most a few an hour.
    auto_reply: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index(None, "phone", "at"),)


class HourlyRollup(Base):
    """One probe's scheduled runs from one location in one UTC hour, summed up: what the
    status page's history and (after retention deletes the raw rows) backtests read. Written
    once the hour is over, exactly from the raw results (confirmation runs excluded: they are
    extra runs after a failure and would count one failure many times)."""

    __tablename__ = "rollups_hourly"

    probe_id: Mapped[int] = mapped_column(
        ForeignKey("probes.id", ondelete="CASCADE"), primary_key=True
    )
    location: Mapped[str] = mapped_column(Text, primary_key=True)
    hour: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    runs: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    duration_sum_ms: Mapped[int] = mapped_column(BigInteger)
    duration_p50_ms: Mapped[int] = mapped_column(Integer)
    duration_p95_ms: Mapped[int] = mapped_column(Integer)
    duration_max_ms: Mapped[int] = mapped_column(Integer)

    # "every probe's hours since T" (the daily sums, retention of rollups).
    __table_args__ = (Index(None, "hour"),)


class DailyRollup(Base):
    """One probe's runs in one UTC day, all locations: the status page's 90-day bars read
    1,000 probes x 90 days = 90,000 narrow rows instead of millions of results."""

    __tablename__ = "rollups_daily"

    probe_id: Mapped[int] = mapped_column(
        ForeignKey("probes.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)  # 00:00 UTC
    runs: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index(None, "day"),)


class RollupProgress(Base):
    """How far the rollups go: every hour before `rolled_until` is in rollups_hourly and
    rollups_daily; results after it are read raw. One row per kind of rollup."""

    __tablename__ = "rollup_progress"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    rolled_until: Mapped[datetime] = mapped_column(Timestamp)


class ConfirmationRequest(Base):
    """The leader asking every instance that runs a probe for confirmation runs from its own
    location (after a failure, or before resolving): the instances read new rows by id. Kept
    an hour; they matter for seconds."""

    __tablename__ = "confirmation_requests"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    probe: Mapped[str] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer)
    every_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (Index(None, "at"),)
