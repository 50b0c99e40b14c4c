"""The schema as SQLAlchemy models. Alembic migrations must agree with it (a test checks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Text,
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

    __table_args__ = (
        # "results of probe P since T", newest first: the status page, the detector, the CLI.
        Index(None, "probe_id", "started_at"),
        # "all results since T" (the CLI without --probe) and retention (delete before T).
        Index(None, "started_at"),
    )
